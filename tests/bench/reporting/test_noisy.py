"""Both answers per noisy workload, on hand-built verdict and resolving frames."""

import pandas as pd
import pytest

from bench.reporting import noisy

W = {"dataset": "fashion_mnist_subset:size=10000", "model": "mlp:hidden=256", "noise": "sym:0.8"}


def verdict(validation, selection, loss, verdict, diff, score, best="gce:q=0.5"):
    entry = loss.split(":")[0]
    return {
        **W,
        "validation": validation,
        "selection": selection,
        "loss": loss,
        "entry": entry,
        "verdict": verdict,
        "diff": diff,
        "score": score,
        "best": best,
    }


def test_early_stopping_closes_a_gap_only_where_worse_turns_best_or_equivalent():
    answer = pd.DataFrame(
        [
            verdict("noisy", "last", "gce:q=0.5", "best", 0.0, 0.65),
            verdict("noisy", "last", "ce", "worse", -0.37, 0.28),
            verdict("noisy", "last", "sce", "worse", -0.15, 0.50),
            verdict("noisy", "early_stopped", "ce", "equivalent", -0.002, 0.648, best="ce"),
            verdict("noisy", "early_stopped", "gce:q=0.5", "best", 0.0, 0.65, best="ce"),
            verdict("noisy", "early_stopped", "sce", "worse", -0.02, 0.63, best="ce"),
        ]
    )
    (closed,) = noisy.closed_by_early_stopping(answer)
    assert closed["entry"] == "ce" and closed["verdict_stopped"] == "equivalent"
    assert (closed["gap_last"], closed["gap_stopped"]) == pytest.approx((-0.37, -0.002))
    assert closed["validation"] == "noisy labels only"
    (both,) = noisy.answers(answer)
    assert [(a["selection"], a["best"]) for a in both["answers"]] == [
        ("last epoch", "gce:q=0.5"),
        ("early-stopped", "ce"),
    ]
    assert both["answers"][1]["equivalent"] == ["ce"]


def test_tuned_blind_is_read_per_level_from_the_searches():
    searches = pd.DataFrame(
        {
            "dataset": "fashion_mnist",
            "model": "linear",
            "validation": ["noisy"] * 3 + ["trusted:1000"] * 3,
            "noise": "sym:0.8",
            "entry": ["ce", "gce", "sce"] * 2,
            "blind": [True, True, False, False, False, False],
            "slope": [0.11] * 3 + [1.0] * 3,
            "se_clean": [0.035] * 3 + [0.013] * 3,
            "resolvable": [0.097, 0.095, 0.099, 0.036, 0.036, 0.036],
            "top5_spread_se": [0.3, 0.4, 1.5, 2.0, 3.0, 4.0],
        }
    )
    (blind,) = noisy.tuned_blind(searches)
    assert blind == {
        "workload": "fashion_mnist · linear · sym:0.8",
        "validation": "noisy labels only",
        "blind": 2,
        "losses": 3,
        "spread_se": 0.4,
        "resolvable": 0.097,
    }
    assert noisy.tuned_blind(pd.DataFrame()) == []
