import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student

from bench.analysis.verdicts import margin_for, seeds_needed, verdicts


def runs(per_loss: dict, dataset="d", model="m", noise="none", diverged=()) -> pd.DataFrame:
    """Tidy runs from {loss: [score per seed]}; ``diverged``: (loss, seed) pairs."""
    rows = [
        {
            "dataset": dataset,
            "model": model,
            "noise": noise,
            "loss": loss,
            "seed": seed,
            "score": score,
            "diverged": (loss, seed) in diverged,
        }
        for loss, scores in per_loss.items()
        for seed, score in enumerate(scores)
    ]
    return pd.DataFrame(rows)


def one(table: pd.DataFrame, loss: str) -> pd.Series:
    return table.set_index("loss").loc[loss]


BASE = [0.80, 0.83, 0.81, 0.85, 0.82, 0.84, 0.80, 0.86, 0.83, 0.81]


def test_margin_is_half_a_point_or_the_test_sets_binomial_standard_error():
    assert margin_for(10_000) == pytest.approx(0.005)
    assert margin_for(40_000) == pytest.approx(0.005)
    assert margin_for(143) == pytest.approx(0.5 / 143**0.5)  # breast_cancer: 4.18 points
    assert margin_for(450) == pytest.approx(0.023570226, rel=1e-6)  # digits
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_test"):
            margin_for(bad)


def test_equivalent_when_the_adjusted_interval_lies_inside_the_margin():
    # differences −0.0005, −0.0015 alternating over 10 seeds: mean −0.001
    b = [s - (0.0005 if i % 2 == 0 else 0.0015) for i, s in enumerate(BASE)]
    table = verdicts(runs({"a": BASE, "b": b}), margin=0.005)
    row = one(table, "b")
    sd = 0.0005 * math.sqrt(10 / 9)
    half = student.ppf(1 - 0.05, 9) * sd / math.sqrt(10)  # m = 1: each bound at 1 − α
    assert row["verdict"] == "equivalent"
    assert row["diff"] == pytest.approx(-0.001)
    assert row["lower"] == pytest.approx(-0.001 - half)
    assert row["upper"] == pytest.approx(-0.001 + half)
    assert row["p_equivalent"] < 0.05
    assert (row["seeds"], row["paired"], row["diverged"], row["compared"]) == (10, 10, 0, 1)
    assert one(table, "a")["verdict"] == "best" and one(table, "a")["diff"] == 0
    assert set(table["best"]) == {"a"} and set(table["margin"]) == {0.005}


def test_worse_when_the_interval_lies_below_minus_the_margin():
    c = [s - d for s, d in zip(BASE[:3], (0.020, 0.022, 0.018), strict=True)]
    row = one(verdicts(runs({"a": BASE[:3], "c": c}), margin=0.005), "c")
    half = student.ppf(1 - 0.05, 2) * 0.002 / math.sqrt(3)
    assert row["verdict"] == "worse"
    assert row["upper"] == pytest.approx(-0.020 + half) and row["upper"] < -0.005


def test_undecided_at_two_seeds_with_23_comparisons():
    # 24 losses; the last is 2 points below the best on both seeds, with a little spread:
    # each bound one-sided at 1 − 0.05/23 with 1 degree of freedom, so the interval is wide.
    table = {f"l{i}": [0.80 - 0.0001 * i, 0.81 - 0.0001 * i] for i in range(23)}
    table["far"] = [0.78, 0.792]
    row = one(verdicts(runs(table), margin=0.005), "far")
    half = student.ppf(1 - 0.05 / 23, 1) * (0.002 / math.sqrt(2)) / math.sqrt(2)
    assert row["compared"] == 23
    assert row["diff"] == pytest.approx(-0.019)
    assert row["upper"] == pytest.approx(-0.019 + half) and row["upper"] > 0.005
    assert row["verdict"] == "undecided"


def test_a_loss_with_a_diverged_run_is_never_best_nor_equivalent():
    high = [s + 0.05 for s in BASE]  # far above, but seed 3 diverged
    near = [s - 0.0001 for s in BASE]  # equivalent to a, but seed 0 diverged
    scores = runs({"a": BASE, "high": high, "near": near}, diverged={("high", 3), ("near", 0)})
    scores.loc[scores["diverged"], "score"] = 0.0  # a diverged run's recorded zero
    table = verdicts(scores, margin=0.005)
    assert one(table, "a")["verdict"] == "best"
    high_row = one(table, "high")
    assert high_row["verdict"] == "undecided" and high_row["diverged"] == 1
    assert high_row["score"] == pytest.approx(np.mean(high[:3] + high[4:]))  # zero not averaged
    assert high_row["paired"] == 9
    near_row = one(table, "near")
    assert near_row["verdict"] == "undecided" and near_row["diff"] == pytest.approx(-0.0001)


def test_every_run_diverged_is_worse_and_has_no_score():
    scores = runs({"a": BASE[:2], "p2": [0.0, 0.0]}, diverged={("p2", 0), ("p2", 1)})
    row = one(verdicts(scores, margin=0.005), "p2")
    assert row["verdict"] == "worse" and row["diverged"] == 2 and row["paired"] == 0
    assert math.isnan(row["score"]) and math.isnan(row["lower"])


def test_zero_spread_leaves_the_interval_undefined_and_undecided():
    same = [s - 0.01 for s in BASE[:5]]  # exactly 1 point below on every seed
    equal = list(BASE[:5])  # identical on every seed
    table = verdicts(runs({"a": BASE[:5], "same": same, "equal": equal}), margin=0.005)
    for loss, diff in (("same", -0.01), ("equal", 0.0)):
        row = one(table, loss)
        assert row["no_spread"] and row["verdict"] == "undecided", loss
        assert row["diff"] == pytest.approx(diff, abs=1e-12)
        assert math.isnan(row["lower"]) and math.isnan(row["upper"])


def test_workloads_are_judged_apart_and_the_entry_is_carried():
    scores = pd.concat(
        [
            runs({"a": BASE[:3], "b": [s - 0.1 for s in BASE[:3]]}, noise="none"),
            runs({"a": [0.5, 0.6, 0.7], "b": [0.9, 0.9, 0.95]}, noise="sym:0.4"),
        ]
    )
    scores["entry"] = scores["loss"]
    table = verdicts(scores, margin=0.005)
    assert len(table) == 4
    best = table[table["verdict"] == "best"].set_index("noise")["loss"]
    assert best.to_dict() == {"none": "a", "sym:0.4": "b"}
    assert list(table["entry"]) == list(table["loss"])


def test_bad_input_is_one_line_value_error():
    with pytest.raises(ValueError, match="lacks column"):
        verdicts(runs({"a": BASE}).drop(columns="diverged"), margin=0.005)
    with pytest.raises(ValueError, match="margin"):
        verdicts(runs({"a": BASE}), margin=0.0)
    doubled = pd.concat([runs({"a": BASE}), runs({"a": BASE})])
    with pytest.raises(ValueError, match="one final row per run"):
        verdicts(doubled, margin=0.005)


def test_seeds_needed_is_the_fewest_whose_interval_would_decide():
    # diff −0.002, sd 0.002, δ 0.005, m = 1: room 0.003; t_{0.95, n−1}·0.002/√n < 0.003
    # first holds at n = 4 (2.353·0.001 = 0.00235) and not at n = 3 (2.920·0.00115 = 0.00337)
    assert seeds_needed(-0.002, 0.002, 0.005, compared=1) == 4
    assert seeds_needed(-0.005, 0.002, 0.005, compared=1) == math.inf  # on the margin
    assert seeds_needed(-0.002, math.nan, 0.005, compared=1) == math.inf
    # the undecided loss of the 23-comparison case gets a finite estimate
    table = {f"l{i}": [0.80 - 0.0001 * i, 0.81 - 0.0001 * i] for i in range(23)}
    table["far"] = [0.78, 0.792]
    row = one(verdicts(runs(table), margin=0.005), "far")
    assert row["sd"] == pytest.approx(0.002 / math.sqrt(2))
    assert 2 < row["seeds_needed"] < 20
