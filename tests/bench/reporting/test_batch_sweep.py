"""The batch-size sweep's table and what a CUDA graph buys over eager steps."""

import pandas as pd
import pytest
import torch

from bench.analysis import tables
from bench.reporting.speed import graph_gain
from bench.study import speed


def sweep_rows(rows):
    """speed.csv rows, two epochs each: (device, step mode, batch, step ms, epoch s)."""
    return pd.DataFrame([
        {"device": device, "step_mode": mode, "batch_size": batch, "epoch": epoch,
         "step_ms": step * factor, "samples_per_s": batch / (step * factor) * 1e3,
         "epoch_s": seconds * factor, "floor_s": 0.01}
        for device, mode, batch, step, seconds in rows for epoch, factor in ((1, 1.0), (2, 1.2))
    ])  # fmt: skip


def test_the_table_keeps_step_modes_apart():
    per = tables.batch_sweep(sweep_rows([("cuda", "cuda-graph", 256, 0.1, 0.02),
                                         ("cuda", "eager", 256, 0.3, 0.07),
                                         ("cpu", "eager", 256, 0.2, 0.05)]))  # fmt: skip
    assert list(zip(per["device"], per["step_mode"], strict=True)) == [
        ("cpu", "eager"), ("cuda", "cuda-graph"), ("cuda", "eager")]
    assert per["step_ms"].tolist() == pytest.approx([0.22, 0.11, 0.33])  # median of 1× and 1.2×


def test_graph_gain_is_the_eager_step_over_the_graphs_per_batch():
    per = tables.batch_sweep(sweep_rows([("cuda", "cuda-graph", 64, 0.05, 0.05),
                                         ("cuda", "eager", 64, 0.2, 0.2),
                                         ("cuda", "cuda-graph", 256, 0.1, 0.02),
                                         ("cuda", "eager", 256, 0.25, 0.05)]))  # fmt: skip
    text = " ".join(graph_gain(per))
    assert "batch 64: 55 µs against 220 µs (4.0×)" in text
    assert "batch 256: 110 µs against 275 µs (2.5×)" in text


def test_no_graph_gain_without_both_modes():
    per = tables.batch_sweep(sweep_rows([("cpu", "eager", 256, 0.2, 0.05)]))
    assert graph_gain(per) == []


def test_the_sweep_adds_eager_steps_where_steps_can_be_graphs(monkeypatch):
    assert speed.modes("cpu", "auto") == ["auto"]
    monkeypatch.setattr(speed.graphs, "available", lambda device: True)
    assert speed.modes("cuda", "auto") == ["auto", "eager"]
    assert speed.modes("cuda", "eager") == ["eager"]  # an explicit mode is kept alone
    assert speed.modes("cuda", "cuda-graph") == ["cuda-graph"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_sweep_on_a_gpu_runs_graphs_and_eager_steps(make_data):
    rows = speed.sweep(make_data(n_train=600), ["cuda"], [64], lr=0.1, epochs=1)
    assert sorted(r["step_mode"] for r in rows) == ["cuda-graph", "eager"]
    assert all(r["floor_s"] > 0 for r in rows)


def test_the_textbook_loop_side_by_side_reads_medians_and_fastest_epochs():
    from bench.reporting.speed import side_by_side

    pairs = pd.DataFrame({"batch_size": 256, "epoch": [1, 2, 3],
                          "textbook_s": [3.6, 3.3, 3.5], "lossbench_s": [0.45, 0.32, 0.33]})
    (text,) = [line for line in side_by_side(pairs, 0.1) if line]
    assert "batch 256 and rate 0.1" in text
    # medians 3.5 and 0.33; fastest epochs 3.3 and 0.32; per epoch 8.0, 10.3125, 10.6
    assert "3.50 s per epoch and lossbench's 0.330 s (medians over 3 epochs each)" in text
    assert "**10.6× faster**" in text
    assert "3.30 s against 0.320 s, 10.3×" in text
    assert "Epoch by epoch: 8.0× to 10.6×" in text


def test_a_ratio_keeps_its_decimal_below_20():
    from bench.reporting.speed import times

    assert (times(9.96), times(9.5), times(46.4)) == ("10.0×", "9.5×", "46×")
