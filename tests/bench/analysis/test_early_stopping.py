"""Early-stopped scores: the first epoch with the best validation accuracy, on hand-built rows."""

import math

import pandas as pd
import pytest

from bench.analysis import early_stopping

NAN = math.nan


def run(loss, seed, val, test, *, epochs=None, status=None, early_stop=True):
    """The rows of one run: val_acc and test_acc per epoch; ``status`` per epoch (ok)."""
    epochs = epochs or len(test)
    return [
        {
            "trainer": "lossbench",
            "dataset": "d",
            "model": "mlp",
            "loss": loss,
            "device": "cpu",
            "seed": seed,
            "noise": "sym:0.4",
            "epoch": e + 1,
            "epochs": epochs,
            "status": (status or ["ok"] * len(test))[e],
            "val_acc": val[e],
            "test_acc": test[e],
            "early_stop": early_stop,
        }
        for e in range(len(test))
    ]


def frame(*runs):
    return pd.DataFrame([row for r in runs for row in r])


def test_the_first_epoch_with_the_best_val_acc_is_chosen():
    rows = frame(
        # best val 0.7 at epochs 2 and 4: the first (2) wins; test falls after it (memorising)
        run("ce", 0, [0.5, 0.7, 0.6, 0.7, 0.4], [0.60, 0.80, 0.75, 0.70, 0.50]),
        run("gce", 0, [0.5, 0.6, 0.65, 0.66, 0.67], [0.6, 0.7, 0.72, 0.73, 0.74]),
    )
    chosen = early_stopping.selected(rows, "early_stopped").set_index("loss")
    assert chosen.loc["ce", "epoch"] == 2 and chosen.loc["ce", "test_acc"] == 0.80
    assert chosen.loc["gce", "epoch"] == 5 and chosen.loc["gce", "test_acc"] == 0.74
    last = early_stopping.selected(rows, "last").set_index("loss")
    assert last.loc["ce", "epoch"] == 5 and last.loc["ce", "test_acc"] == 0.50
    both = early_stopping.scores(rows)
    assert sorted(both["selection"]) == ["early_stopped"] * 2 + ["last"] * 2
    gaps = early_stopping.gaps(both).set_index("loss")
    assert gaps.loc["ce", "gain"] == pytest.approx(0.30)
    assert gaps.loc["ce", "stopped_epoch"] == 2 and gaps.loc["gce", "gain"] == 0


def test_runs_without_a_validation_split_have_only_the_last_score():
    rows = frame(
        run("ce", 0, [NAN] * 3, [0.6, 0.7, 0.8], early_stop=False),
        run("ce", 1, [0.5, 0.9, 0.8], [0.6, 0.7, 0.8]),
    )
    both = early_stopping.scores(rows)
    assert len(both[both["selection"] == "last"]) == 2
    stopped = both[both["selection"] == "early_stopped"]
    assert stopped["seed"].tolist() == [1] and stopped["epoch"].tolist() == [2]


def test_a_diverged_run_stays_diverged_and_an_unfinished_run_is_not_scored():
    rows = frame(
        run("ce", 0, [0.5, 0.8, NAN], [0.6, 0.8, NAN], epochs=5, status=["ok", "ok", "diverged"]),
        run("ce", 1, [0.5, 0.8], [0.6, 0.7], epochs=5),  # still running: 2 of 5 epochs
        run("ce", 2, [NAN], [NAN], epochs=5, status=["diverged"]),  # diverged at once
    )
    for selection in early_stopping.SELECTIONS:
        chosen = early_stopping.selected(rows, selection)
        assert sorted(chosen["seed"]) == [0, 2], selection
        assert set(chosen["status"]) == {"diverged"}, selection


def test_seeds_and_noise_levels_are_separate_runs():
    high = run("ce", 0, [0.1, 0.9], [0.5, 0.6])
    low = [dict(r, noise="sym:0.8") for r in run("ce", 0, [0.9, 0.1], [0.3, 0.2])]
    chosen = early_stopping.selected(frame(high, low), "early_stopped").set_index("noise")
    assert chosen.loc["sym:0.4", "epoch"] == 2 and chosen.loc["sym:0.8", "epoch"] == 1


def test_an_unknown_selection_is_refused():
    with pytest.raises(ValueError, match="selection must be one of last, early_stopped"):
        early_stopping.selected(frame(run("ce", 0, [0.5], [0.5])), "best")
