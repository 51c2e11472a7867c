import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student

from bench.analysis import verdicts as module
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
    assert margin_for(143) == pytest.approx(0.5 / 143**0.5)  # a fixed test set of 143
    assert margin_for(450) == pytest.approx(0.023570226, rel=1e-6)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_test"):
            margin_for(bad)


def test_a_test_set_drawn_per_seed_has_a_practical_margin_of_one_point():
    assert margin_for(143, test_per_seed=True) == 0.01  # breast_cancer: was 4.2 points
    assert margin_for(450, test_per_seed=True) == 0.01  # digits: was 2.4 points
    assert margin_for(10_000, test_per_seed=True) == 0.01


def test_equivalent_when_the_adjusted_interval_lies_inside_the_margin():
    # differences −0.0005, −0.0015 alternating over 10 seeds: mean −0.001
    b = [s - (0.0005 if i % 2 == 0 else 0.0015) for i, s in enumerate(BASE)]
    table = verdicts(runs({"a": BASE, "b": b}), margin=0.005)
    row = one(table, "b")
    sd = 0.0005 * math.sqrt(10 / 9)
    # m = 1, one look: each one-sided statement at α/(2·m) = 0.025; a is the only candidate
    half = student.ppf(1 - 0.025, 9) * sd / math.sqrt(10)
    assert row["verdict"] == "equivalent"
    assert row["diff"] == pytest.approx(-0.001)
    assert row["lower"] == pytest.approx(-0.001 - half)
    assert row["upper"] == pytest.approx(-0.001 + half)
    assert row["p_equivalent"] < 0.05 and not row["candidate"]
    assert (row["seeds"], row["paired"], row["diverged"], row["compared"]) == (10, 10, 0, 1)
    best = one(table, "a")
    assert best["verdict"] == "best" and best["diff"] == 0 and best["lower"] == 0
    assert best["upper"] == pytest.approx(0.001 + half) and best["candidate"]
    assert set(table["best"]) == {"a"} and set(table["margin"]) == {0.005}
    assert set(table["validation"]) == {"noisy"} and set(table["selection"]) == {"last"}


def test_every_look_of_the_race_spends_alpha():
    b = [s - (0.0005 if i % 2 == 0 else 0.0015) for i, s in enumerate(BASE)]
    row = one(verdicts(runs({"a": BASE, "b": b}), margin=0.005, looks=4), "b")
    half = student.ppf(1 - 0.05 / 8, 9) * 0.0005 * math.sqrt(10 / 9) / math.sqrt(10)
    assert row["lower"] == pytest.approx(-0.001 - half) and row["looks"] == 4
    per_level = verdicts(runs({"a": BASE, "b": b}), margin=0.005, looks={"none": 4})
    assert one(per_level, "b")["lower"] == pytest.approx(row["lower"])
    with pytest.raises(ValueError, match="looks"):
        verdicts(runs({"a": BASE, "b": b}), margin=0.005, looks={"sym:0.4": 3})
    assert module.looks(5, 2, 10) == 4 and module.looks(3, 2, 6) == 3
    assert module.looks(5, 2, 5) == 1 and module.looks(5, 5, 20) == 4


def test_worse_when_the_interval_lies_below_minus_the_margin():
    c = [s - d for s, d in zip(BASE[:3], (0.020, 0.022, 0.018), strict=True)]
    row = one(verdicts(runs({"a": BASE[:3], "c": c}), margin=0.005), "c")
    half = student.ppf(1 - 0.025, 2) * 0.002 / math.sqrt(3)
    assert row["verdict"] == "worse"
    assert row["upper"] == pytest.approx(-0.020 + half) and row["upper"] < -0.005


def test_undecided_at_two_seeds_with_23_comparisons():
    # 24 losses; the last is 2 points below the others on both seeds, with a little spread.
    # Every statement one-sided at α/(2·23) with 1 degree of freedom: the interval is wide. The
    # other 23 differ from each other by a constant: no interval, so each stays a candidate and
    # far's upper bound is its largest plus against them (l22, 0.0022 closer than l0).
    table = {f"l{i}": [0.80 - 0.0001 * i, 0.81 - 0.0001 * i] for i in range(23)}
    table["far"] = [0.78, 0.792]
    row = one(verdicts(runs(table), margin=0.005), "far")
    crit = student.ppf(1 - 0.05 / 46, 1)
    assert row["compared"] == 23
    assert row["diff"] == pytest.approx(-0.019)
    assert row["upper"] == pytest.approx(-0.019 + 0.0022 + crit * 0.001)
    assert row["verdict"] == "undecided"


def test_a_loss_with_a_diverged_run_is_never_best_nor_equivalent():
    high = [s + 0.05 for s in BASE]  # far above, but seed 3 diverged
    near = [s - 0.0001 for s in BASE]  # equivalent to a, but seed 0 diverged
    scores = runs({"a": BASE, "high": high, "near": near}, diverged={("high", 3), ("near", 0)})
    scores.loc[scores["diverged"], "score"] = 0.0  # a diverged run's recorded zero
    table = verdicts(scores, margin=0.005)
    assert one(table, "a")["verdict"] == "best"
    high_row = one(table, "high")
    assert high_row["verdict"] == "unstable" and high_row["diverged"] == 1
    assert high_row["score"] == pytest.approx(np.mean(high[:3] + high[4:]))  # zero not averaged
    assert high_row["paired"] == 9
    near_row = one(table, "near")
    assert near_row["verdict"] == "unstable" and near_row["diff"] == pytest.approx(-0.0001)


def test_a_collapsed_seed_is_a_failure_counted_apart():
    # l2 collapses on 3 of its 10 seeds (bimodal, 8 points down); on the other 7 it ties a
    a = BASE
    l2 = [s - (0.08 if i in (1, 4, 7) else 0.0) + 0.0001 * (i % 2) for i, s in enumerate(BASE)]
    c = [s - 0.0002 * (i % 3) for i, s in enumerate(BASE)]
    table = verdicts(runs({"a": a, "l2": l2, "c": c}), margin=0.005)
    row = one(table, "l2")
    assert row["collapsed"] == 3 and row["diverged"] == 0 and row["chance"] == 0
    assert row["verdict"] == "unstable"  # never equivalent, never best
    assert row["score"] == pytest.approx(
        np.mean([v for i, v in enumerate(l2) if i not in (1, 4, 7)])
    )
    assert row["paired"] == 7
    assert one(table, "c")["collapsed"] == 0 and one(table, "a")["verdict"] == "best"


def test_the_collapse_rule_is_two_margins_or_five_mads_below_the_median():
    spread = 0.001 * 1.4826  # MAD of [0.80, 0.801, 0.799, ...]
    x = [0.800, 0.801, 0.799, 0.800, 0.801, 0.799, 0.800]
    assert not module.collapsed(x, 0.005).any()
    # 2δ = 0.01 dominates 5·MAD = 0.0074: a seed 1.1 points down collapsed, 0.9 not
    assert list(module.collapsed(x + [0.789, 0.791], 0.005)) == [False] * 7 + [True, False]
    assert module.mad(x) == pytest.approx(spread)
    # the workload's spread, not the loss's own: a 50/50 bimodal loss is still seen
    bimodal = [0.80, 0.80, 0.80, 0.70, 0.70, 0.70]
    assert not module.collapsed(bimodal, 0.005).any()
    assert module.collapsed(bimodal, 0.005, spread=0.001).sum() == 3


def test_runs_at_chance_are_failures():
    scores = runs({"a": BASE[:5], "gce": [0.81, 0.101, 0.83, 0.82, 0.84]})
    scores["chance"] = 0.1
    row = one(verdicts(scores, margin=0.005), "gce")
    assert row["chance"] == 1 and row["collapsed"] == 0 and row["verdict"] == "unstable"
    every = runs({"a": BASE[:3], "dead": [0.1, 0.11, 0.105]}).assign(chance=0.1)
    assert one(verdicts(every, margin=0.005), "dead")["verdict"] == "worse"
    assert module.chance_level(np.array([0, 1, 1, 2]), "accuracy") == 0.5
    assert module.chance_level(np.array([0, 1, 1, 2]), "balanced_acc") == pytest.approx(1 / 3)


def test_validation_and_selection_are_keys():
    scores = pd.concat(
        [
            runs({"a": BASE[:3], "b": [0.5, 0.6, 0.55]}).assign(validation="noisy"),
            runs({"a": BASE[:3], "b": [0.5, 0.6, 0.55]}).assign(validation="trusted:500"),
        ]
    ).assign(selection="early_stopped")
    table = verdicts(scores, margin=0.005)
    assert len(table) == 4
    assert sorted(set(table["validation"])) == ["noisy", "trusted:500"]
    assert set(table["selection"]) == {"early_stopped"}


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
            runs({"a": BASE[:3], "b": [s - 0.1 - 0.001 * i for i, s in enumerate(BASE[:3])]}),
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


def test_the_collapse_rule_can_be_left_out_for_other_scores():
    l2 = [s - (0.08 if i in (1, 4, 7) else 0.0) for i, s in enumerate(BASE)]
    table = verdicts(runs({"a": BASE, "l2": l2, "c": BASE}), margin=0.005, collapse=False)
    assert one(table, "l2")["collapsed"] == 0 and one(table, "l2")["paired"] == 10
