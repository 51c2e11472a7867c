"""Seed statistics: t-based confidence intervals and paired loss comparisons."""

import math

import pandas as pd
import pytest

from bench.analysis import stats


def test_t95_matches_known_quantiles():
    assert stats.t95(1) == 12.706 and stats.t95(4) == 2.776
    assert stats.t95(100) == pytest.approx(1.984, abs=5e-4)
    assert stats.t95(10**6) == pytest.approx(1.96, abs=5e-4)
    assert math.isnan(stats.t95(0))
    # closed forms of Student's t: df 1 is Cauchy, tan(π(p − ½)); df 2 is (2p − 1)/√(2p(1 − p))
    assert stats.t95(1) == pytest.approx(math.tan(math.pi * 0.475), abs=5e-4)
    assert stats.t95(2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), abs=5e-4)


def test_t95_table_agrees_with_scipy_to_its_three_decimals():
    t = pytest.importorskip("scipy.stats").t
    for df in range(1, len(stats.T95) + 1):
        assert stats.t95(df) == pytest.approx(t.ppf(0.975, df), abs=5e-4), df
    for df in (31, 40, 100, 1000):  # past the table, the expansion
        assert stats.t95(df) == pytest.approx(t.ppf(0.975, df), abs=1e-5), df


def test_mean_ci_of_five_values():
    mean, std, half = stats.mean_ci([0.84, 0.85, 0.83, 0.86, 0.82])
    assert mean == pytest.approx(0.84)
    assert std == pytest.approx(pd.Series([0.84, 0.85, 0.83, 0.86, 0.82]).std())
    assert half == pytest.approx(2.776 * std / math.sqrt(5))


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
    assert table.loc["a", "ci95"] == pytest.approx(0.0, abs=1e-12)
    assert bool(table.loc["a", "clear"]) is True
    # "c" differs from "b" by 0, 0.02, 0: an interval that includes zero
    assert bool(table.loc["c", "clear"]) is False
    assert set(table.index) == {"a", "c"} and (table.seeds == 3).all()


def test_paired_differences_never_pair_two_workloads():
    # the same loss and seeds on two datasets: each is compared within its own dataset
    final = pd.DataFrame(
        [
            {"dataset": dataset, "model": "linear", "loss": loss, "device": "cpu", "seed": seed,
             "test_acc": base + bump + shift}
            for dataset, shift in (("fashion_mnist", 0.0), ("digits", 0.1))
            for seed, base in enumerate([0.84, 0.86, 0.80])
            for loss, bump in (("a", 0.01), ("b", 0.0))
        ]
    )  # fmt: skip
    table = stats.paired_differences(final, reference="b").set_index("dataset")
    assert list(table.columns[:2]) == ["model", "device"]
    assert table.loc["fashion_mnist", "difference"] == pytest.approx(0.01)
    assert table.loc["digits", "difference"] == pytest.approx(0.01)
    assert (table.seeds == 3).all()
