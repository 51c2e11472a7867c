"""The report's tables, computed from tidy rows: finished runs, CIs, speed, learning speed."""

import math

import pandas as pd
import pytest

from bench import runs, stats, tables


def frame(records):
    base = dict.fromkeys(runs.COLUMNS, 0.0)
    base.update(
        trainer="lossbench",
        device="cpu",
        noise="none",
        status="ok",
        step_mode="eager",
        epochs=3,
        batch_size=256,
        lr=1.0,
        samples_per_s=60000.0,
        epoch_s=1.0,
        floor_s=0.5,
    )
    return pd.DataFrame([{**base, **r} for r in records])


def curve(loss, seed, accs, **extra):
    return [
        {
            "loss": loss,
            "seed": seed,
            "epoch": e + 1,
            "test_acc": a,
            "step_ms": 0.2 + 0.1 * e,
            **extra,
        }
        for e, a in enumerate(accs)
    ]


ROWS = frame(
    curve("ce", 0, [0.79, 0.82, 0.84])
    + curve("ce", 1, [0.80, 0.83, 0.85])
    + curve("l1:on=probs", 0, [0.70, 0.75, 0.78])
    + curve("l1:on=probs", 1, [0.71, 0.74, 0.77])
    + curve("l2:on=scores", 0, [math.nan], status="diverged")
    + curve("huber:on=probs:delta=0.1", 0, [0.80, 0.81])  # unfinished: 2 of 3 epochs
    + curve("ce", 0, [0.70, 0.74, 0.76], noise="sym:0.4", memorised=0.1)
)


def test_finished_runs_keep_last_rows_and_count_unfinished():
    final, unfinished = tables.finished_runs(ROWS)
    assert unfinished == 1
    assert len(final) == 6
    assert set(final.loc[final.loss == "ce", "epoch"]) == {3}


def test_accuracy_mean_std_ci_and_divergence():
    final, _ = tables.finished_runs(ROWS)
    table = tables.accuracy(final).set_index("loss")
    assert table.loc["ce", "test_acc"] == pytest.approx(0.845)
    assert table.loc["ce", "test_acc_std"] == pytest.approx(pd.Series([0.84, 0.85]).std())
    assert table.loc["ce", "test_acc_ci95"] == pytest.approx(stats.mean_ci([0.84, 0.85])[2])
    assert table.loc["l2:on=scores", "diverged"] == 1
    assert math.isnan(table.loc["l2:on=scores", "test_acc"])
    assert list(table.index[:2]) == ["ce", "l1:on=probs"]  # best first, diverged last
    assert "huber:on=probs:delta=0.1" not in table.index  # unfinished


def test_speed_uses_median_step_and_floor_ratio():
    final, _ = tables.finished_runs(ROWS)
    table = tables.speed(ROWS, final).set_index("loss")
    assert table.loc["ce", "step_us"] == pytest.approx(300.0)
    assert table.loc["ce", "x_floor"] == pytest.approx(2.0)
    assert table.loc["ce", "step_mode"] == "eager"


def test_speed_names_every_step_mode_a_loss_ran_in():
    rows = frame(curve("ce", 0, [0.8, 0.9, 0.9], step_mode="cuda-graph")
                 + curve("ce", 1, [0.8, 0.9, 0.9], step_mode="eager"))  # fmt: skip
    final, _ = tables.finished_runs(rows)
    assert tables.speed(rows, final)["step_mode"].tolist() == ["cuda-graph/eager"]


def test_learning_speed_thresholds_and_area():
    final, _ = tables.finished_runs(ROWS)
    table = tables.learning_speed(ROWS, final).set_index("loss")
    # seed 0 reaches 0.80 at epoch 2, seed 1 at epoch 1: mean 1.5
    assert table.loc["ce", "epochs_to_80"] == pytest.approx(1.5)
    assert table.loc["ce", "auc"] == pytest.approx((0.79 + 0.82 + 0.84 + 0.80 + 0.83 + 0.85) / 6)
    assert math.isnan(table.loc["l1:on=probs", "epochs_to_80"])


def test_noise_table_and_targets():
    final, _ = tables.finished_runs(ROWS)
    noisy = tables.noise(final).set_index(["loss", "noise"])
    assert noisy.loc[("ce", "sym:0.4"), "memorised"] == pytest.approx(0.1)
    targets = tables.targets(tables.accuracy(final)).set_index("loss")
    assert bool(targets.loc["ce", "met"]) is True  # 0.845 >= 0.845
    assert bool(targets.loc["l1:on=probs", "met"]) is False
    assert "l2:on=scores" not in targets.index  # no target for least squares on scores
