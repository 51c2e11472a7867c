import math

import pandas as pd
import pytest

from bench.analysis import stats


def test_mean_ci_of_five_values():
    mean, std, half = stats.mean_ci([0.84, 0.85, 0.83, 0.86, 0.82])
    assert mean == pytest.approx(0.84)
    assert std == pytest.approx(pd.Series([0.84, 0.85, 0.83, 0.86, 0.82]).std())
    assert half == pytest.approx(2.7764451 * std / math.sqrt(5))  # t(0.975, 4 df), tables


def test_single_value_has_no_interval():
    mean, std, half = stats.mean_ci([0.8])
    assert mean == 0.8 and math.isnan(std) and math.isnan(half)


def test_paired_differences_cancel_the_seed_effect():
    # seed 2 is a bad seed for both losses; paired, "a" is always exactly 0.01 better
    final = pd.DataFrame(
        [
            {"loss": loss, "device": "cpu", "seed": seed, "test_acc": base + bump}
            for seed, base in enumerate([0.84, 0.86, 0.80])
            for loss, bump in (("a", 0.01), ("b", 0.0), ("c", 0.0))
        ]
    )
    final.loc[(final.loss == "c") & (final.seed == 1), "test_acc"] += 0.02
    table = stats.paired_differences(final, reference="b").set_index("loss")
    assert table.loc["a", "difference"] == pytest.approx(0.01)
    # the same difference on every seed: no spread, so no interval and nothing made certain
    assert math.isnan(table.loc["a", "ci95"])
    assert bool(table.loc["a", "clear"]) is False
    # "c" differs from "b" by 0, 0.02, 0: an interval that includes zero
    assert bool(table.loc["c", "clear"]) is False
    assert set(table.index) == {"a", "c"} and (table.seeds == 3).all()


def test_paired_differences_never_pair_two_workloads():
    # the same loss and seeds on two datasets: each is compared within its own dataset
    final = pd.DataFrame(
        [
            {
                "dataset": dataset,
                "model": "linear",
                "loss": loss,
                "device": "cpu",
                "seed": seed,
                "test_acc": base + bump + shift,
            }
            for dataset, shift in (("fashion_mnist", 0.0), ("digits", 0.1))
            for seed, base in enumerate([0.84, 0.86, 0.80])
            for loss, bump in (("a", 0.01), ("b", 0.0))
        ]
    )
    table = stats.paired_differences(final, reference="b").set_index("dataset")
    assert list(table.columns[:2]) == ["model", "device"]
    assert table.loc["fashion_mnist", "difference"] == pytest.approx(0.01)
    assert table.loc["digits", "difference"] == pytest.approx(0.01)
    assert (table.seeds == 3).all()


def test_t_pvalue_is_the_paired_t_test_and_undefined_without_spread():
    # differences 1, 2, 3: mean 2, sd 1, t = 2√3 with 2 degrees of freedom; P(|T| > 2√3) for
    # t with 2 df is 1 − t/√(t² + 2) = 1 − 2√3/√14
    assert stats.t_pvalue([1.0, 2.0, 3.0]) == pytest.approx(1 - 2 * math.sqrt(3) / math.sqrt(14))
    for flat in ([0.01, 0.01, 0.01], [0.0, 0.0], [0.3]):
        assert math.isnan(stats.t_pvalue(flat)), flat


def test_holm_matches_a_hand_computed_case_and_leaves_nan_out():
    # sorted 0.01, 0.02, 0.04 of m = 3: 0.03, 0.04, max(0.04, 0.04) = 0.04
    adjusted = stats.holm(pd.Series([0.04, 0.01, math.nan, 0.02], index=list("abcd")))
    assert adjusted["b"] == pytest.approx(0.03)
    assert adjusted["d"] == pytest.approx(0.04)
    assert adjusted["a"] == pytest.approx(0.04)
    assert math.isnan(adjusted["c"])
    assert stats.holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])


def test_mcb_bounds_each_gap_to_the_best_of_the_others():
    import numpy as np
    from scipy.stats import t as student

    # A 0.2 points above B, 1.0 above C; B 0.8 above C; every se 0.1 points, 9 df
    diff = np.array([[0, 0.002, 0.010], [-0.002, 0, 0.008], [-0.010, -0.008, 0]])
    se = np.full((3, 3), 0.001)
    c = student.isf(0.01, 9) * 0.001  # 0.002821
    lower, upper, candidate = stats.mcb(diff, se, np.full((3, 3), 9.0), 0.01)
    assert list(candidate) == [True, True, False]  # C is below both A and B: not the best
    assert lower == pytest.approx([0.002 - c, -0.002 - c, -0.010 - c])
    assert upper == pytest.approx([0.002 + c, -0.002 + c, -0.008 + c])
    # a pair without an interval is no claim: C's bounds against candidate B are unknown (C is
    # still no candidate: its pair with A shows it below A)
    se[2, 1] = se[1, 2] = np.nan
    lower, upper, candidate = stats.mcb(diff, se, np.full((3, 3), 9.0), 0.01)
    assert lower[2] == -np.inf and upper[2] == np.inf and not candidate[2]
    assert lower[0] == pytest.approx(0.002 - c)
