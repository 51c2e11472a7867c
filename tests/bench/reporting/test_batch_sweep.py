"""The batch-size sweep's table and what a CUDA graph buys over eager steps."""

import pandas as pd
import pytest
import torch

from bench.analysis import tables
from bench.reporting.speed import graph_gain
from bench.study import speed


def sweep_rows(rows):
    """speed.csv rows, two epochs each: (device, step mode, batch, step ms, epoch s)."""
    return pd.DataFrame(
        [
            {
                "device": device,
                "step_mode": mode,
                "batch_size": batch,
                "epoch": epoch,
                "step_ms": step * factor,
                "samples_per_s": batch / (step * factor) * 1e3,
                "epoch_s": seconds * factor,
                "floor_s": 0.01,
            }
            for device, mode, batch, step, seconds in rows
            for epoch, factor in ((1, 1.0), (2, 1.2))
        ]
    )


def test_the_table_keeps_step_modes_apart():
    per = tables.batch_sweep(
        sweep_rows(
            [
                ("cuda", "cuda-graph", 256, 0.1, 0.02),
                ("cuda", "eager", 256, 0.3, 0.07),
                ("cpu", "eager", 256, 0.2, 0.05),
            ]
        )
    )
    assert list(zip(per["device"], per["step_mode"], strict=True)) == [
        ("cpu", "eager"),
        ("cuda", "cuda-graph"),
        ("cuda", "eager"),
    ]
    assert per["step_ms"].tolist() == pytest.approx([0.22, 0.11, 0.33])  # median of 1× and 1.2×


def test_graph_gain_is_the_eager_step_over_the_graphs_per_batch():
    per = tables.batch_sweep(
        sweep_rows(
            [
                ("cuda", "cuda-graph", 64, 0.05, 0.05),
                ("cuda", "eager", 64, 0.2, 0.2),
                ("cuda", "cuda-graph", 256, 0.1, 0.02),
                ("cuda", "eager", 256, 0.25, 0.05),
            ]
        )
    )
    gains = graph_gain(per)
    assert gains["batch_size"].tolist() == [64, 256]
    # the median of 1× and 1.2× of each step: 55 µs against 220, 110 against 275
    assert gains["graph_us"].tolist() == pytest.approx([55, 110])
    assert gains["eager_us"].tolist() == pytest.approx([220, 275])
    assert gains["ratio"].tolist() == pytest.approx([4.0, 2.5])


def test_no_graph_gain_without_both_modes():
    per = tables.batch_sweep(sweep_rows([("cpu", "eager", 256, 0.2, 0.05)]))
    assert graph_gain(per).empty


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

    pairs = pd.DataFrame(
        {
            "batch_size": 256,
            "epoch": [1, 2, 3],
            "textbook_s": [3.6, 3.3, 3.5],
            "lossbench_s": [0.45, 0.32, 0.33],
        }
    )
    facts = side_by_side(pairs, 0.1)
    assert (facts["batch_size"], facts["lr"], facts["epochs"]) == (256, "0.1", 3)
    # medians 3.5 and 0.33; fastest epochs 3.3 and 0.32; per epoch 8.0, 10.3125, 10.6
    assert (facts["textbook_s"], facts["lossbench_s"]) == pytest.approx((3.5, 0.33))
    assert facts["ratio"] == pytest.approx(3.5 / 0.33)
    assert (facts["fastest_textbook_s"], facts["fastest_lossbench_s"]) == pytest.approx((3.3, 0.32))
    assert facts["fastest_ratio"] == pytest.approx(3.3 / 0.32)
    assert (facts["each_min"], facts["each_max"]) == pytest.approx((3.6 / 0.45, 3.5 / 0.33))


def test_a_ratio_keeps_its_decimal_below_20():
    from bench.reporting.speed import times

    assert (times(9.96), times(9.5), times(46.4)) == ("10.0×", "9.5×", "46×")
