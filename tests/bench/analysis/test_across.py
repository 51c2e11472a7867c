"""Across workloads on hand-built frames: scenario sets, near-duplicates, the aggregation of a
unit's dependent workloads, and the aggregates' inputs and outputs."""

import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis import across

KEYS = ["dataset", "model", "noise"]


def verdict_rows(table: dict) -> pd.DataFrame:
    """A verdict frame from {(dataset, model, noise): {loss: (verdict, score[, diverged])}}."""
    rows = []
    for (dataset, model, noise), losses in table.items():
        for loss, (verdict, score, *lost) in losses.items():
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "noise": noise,
                    "loss": loss,
                    "verdict": verdict,
                    "score": score,
                    "diverged": lost[0] if lost else 0,
                    "margin": 0.005,
                    "seeds": 5,
                    "seeds_needed": 8.0,
                    "diff": 0.0,
                }
            )
    return pd.DataFrame(rows)


A, B, C = ("d", "linear", "none"), ("e", "linear", "none"), ("f", "linear", "none")


def test_recommended_means_never_worse_where_it_ran_and_best_or_equivalent_on_most():
    answer = verdict_rows(
        {
            A: {
                "a": ("best", 0.9),
                "b": ("worse", 0.8),
                "c": ("equivalent", 0.899),
                "d": ("undecided", 0.89),
            },
            B: {
                "a": ("equivalent", 0.7),
                "b": ("best", 0.72),
                "c": ("undecided", 0.69),
                "d": ("undecided", 0.71),
            },
            C: {"a": ("best", 0.5), "c": ("equivalent", 0.499), "e": ("equivalent", 0.498)},
        }
    )
    found = across.scenario(answer, answer[KEYS])
    # a: 3 of 3 best or equivalent; c: 2 of 3 (undecided on B); e ran on C alone, equivalent
    # there; b is worse on A; d is best or equivalent nowhere (undecided on both it ran)
    assert sorted(found["set"]) == ["a", "c", "e"] and found["pick"] is None
    assert found["coverage"]["e"] == [1, 3] and found["coverage"]["d"] == [2, 3]
    assert [r["entry"] for r in found["apart"]] == ["d"] and found["apart"][0]["undecided"] == 2
    assert found["undecided"] == 1  # c on B
    assert found["failed"] == [] and found["best"] == {A: "a", B: "b", C: "a"}
    only_b = across.scenario(answer, pd.DataFrame([B], columns=KEYS))
    # on B alone a is equivalent (1 of 1) and c, d undecided on their only workload
    assert sorted(only_b["set"]) == ["a", "b"]
    assert sorted(r["entry"] for r in only_b["apart"]) == ["c", "d"]


def test_a_loss_with_a_failed_run_is_listed_apart_and_never_recommended():
    answer = verdict_rows(
        {
            A: {"a": ("best", 0.9), "b": ("unstable", 0.91), "c": ("equivalent", 0.899)},
            B: {"a": ("equivalent", 0.7), "b": ("best", 0.72), "c": ("unstable", 0.7)},
        }
    ).assign(collapsed=0, chance=0)
    answer.loc[(answer["dataset"] == "d") & (answer["loss"] == "b"), "collapsed"] = 3
    answer.loc[(answer["dataset"] == "e") & (answer["loss"] == "c"), "chance"] = 1
    found = across.scenario(answer, answer[KEYS])
    assert found["set"] == ["a"] and found["pick"] == "a"
    failed = {f["entry"]: f for f in found["failed"]}
    assert set(failed) == {"b", "c"} and found["apart"] == []
    assert (failed["b"]["collapsed"], failed["b"]["chance"], failed["b"]["seeds"]) == (3, 0, 10)
    assert (failed["c"]["collapsed"], failed["c"]["chance"]) == (0, 1)
    assert across.failures(answer).tolist() == [0, 3, 0, 0, 0, 1]


def test_a_scenario_is_read_per_validation_protocol_and_selection():
    rows = verdict_rows({A: {"a": ("best", 0.9), "b": ("worse", 0.8)}})
    early = rows.assign(selection="early_stopped", verdict=["equivalent", "best"])
    answer = pd.concat([rows.assign(selection="last"), early], ignore_index=True)
    keys = pd.DataFrame([[*A, "early_stopped"]], columns=[*KEYS, "selection"])
    found = across.scenario(answer, keys)
    assert sorted(found["set"]) == ["a", "b"] and found["workloads"] == [(*A, "early_stopped")]


def test_near_duplicates_are_within_the_margin_on_every_shared_workload():
    answer = verdict_rows(
        {
            A: {"a": ("best", 0.900), "b": ("undecided", 0.898), "c": ("undecided", 0.880)},
            B: {"a": ("best", 0.700), "b": ("undecided", 0.703), "c": ("undecided", 0.699)},
        }
    )
    pairs = across.near_duplicates(answer)
    assert pairs[["entry", "twin"]].values.tolist() == [["a", "b"]]
    assert pairs["largest_gap"].iloc[0] == pytest.approx(0.003)
    counted = across.representatives(pairs, ["b", "a", "c"])
    assert counted == {"b": "b", "a": "b", "c": "c"}


def runs(unit, noise, per_loss):
    return [
        {
            "dataset": unit[0],
            "model": unit[1],
            "noise": noise,
            "loss": loss,
            "seed": s,
            "score": v,
            "diverged": False,
        }
        for loss, values in per_loss.items()
        for s, v in enumerate(values)
    ]


def test_a_noise_sweep_is_one_unit_averaged_per_seed_then_compared():
    # unit d·linear: clean and sym:0.4, two seeds each; unit e·linear: clean only, three seeds
    scores = pd.DataFrame(
        runs(("d", "linear"), "none", {"a": [0.8, 0.8], "b": [0.4, 0.8]})
        + runs(("d", "linear"), "sym:0.4", {"a": [0.5, 0.5], "b": [0.5, 0.25]})
        + runs(("e", "linear"), "none", {"a": [0.9, 0.9, 0.9], "b": [0.45, 0.9, 0.9]})
    )
    answer = pd.DataFrame(
        [
            {"dataset": "d", "model": "linear", "noise": "none", "verdict": "best", "score": 0.8},
            {
                "dataset": "d",
                "model": "linear",
                "noise": "sym:0.4",
                "verdict": "best",
                "score": 0.5,
            },
            {"dataset": "e", "model": "linear", "noise": "none", "verdict": "best", "score": 0.9},
        ]
    ).assign(loss="a")
    arrays, table, dropped = across.unit_runs(scores, answer)
    # normalised (÷ best mean): d clean b = 0.5, 1; d sym b = 1, 0.5 → per seed (0.75, 0.75);
    # e clean b = 0.5, 1, 1 → its first two seeds (every unit keeps the fewest: 2)
    assert arrays["b"].shape == (2, 2)
    assert arrays["b"][:, 0].tolist() == pytest.approx([0.75, 0.75])
    assert arrays["b"][:, 1].tolist() == pytest.approx([0.5, 1.0])
    assert arrays["a"] == pytest.approx(np.ones((2, 2)))
    assert list(table.index) == ["d · linear", "e · linear"] and dropped == []
    assert table.loc["d · linear", "b"] == pytest.approx(0.75)


def test_a_single_seed_workload_is_left_out_of_the_aggregates():
    scores = pd.DataFrame(
        runs(("d", "linear"), "none", {"a": [0.8, 0.8], "b": [0.7, 0.6]})
        + runs(("d", "linear"), "sym:0.4", {"a": [0.5], "b": [0.4]})
    )
    answer = pd.DataFrame(
        [
            {
                "dataset": "d",
                "model": "linear",
                "noise": n,
                "verdict": "best",
                "score": s,
                "loss": "a",
            }
            for n, s in (("none", 0.8), ("sym:0.4", 0.5))
        ]
    )
    arrays, _, dropped = across.unit_runs(scores, answer)
    assert dropped == [("d", "linear", "sym:0.4")]
    assert arrays["b"][:, 0].tolist() == pytest.approx([0.875, 0.75])


def test_iqm_and_probability_of_improvement_with_intervals():
    # 8 runs of one unit, values 1..8: the IQM is the mean of 3, 4, 5, 6 = 4.5
    arrays = {"x": np.arange(1.0, 9.0)[:, None], "ce": np.full((8, 1), 4.5)}
    iqm = across.iqm(arrays).set_index("entry")
    assert iqm.loc["x", "iqm"] == pytest.approx(4.5)
    assert iqm.loc["x", "lower"] <= 4.5 <= iqm.loc["x", "upper"]
    better = across.improvement(arrays).set_index("entry")
    # P(X > Y) + ½P(X = Y) with Y always 4.5: 4 of the 8 values above, none equal → 0.5
    assert better.loc["x", "probability"] == pytest.approx(0.5)
    assert list(better.index) == ["x"]
    assert across.improvement({"x": arrays["x"]}).empty  # no ce to compare with


def test_critical_difference_needs_two_units():
    assert across.critical_difference(pd.DataFrame({"a": [1.0], "b": [0.9]})) is None
    table = pd.DataFrame(
        {
            "a": [1.0, 0.99, 1.0, 0.98, 1.0],
            "b": [0.9, 0.91, 0.8, 0.85, 0.7],
            "c": [0.95, 0.9, 0.9, 0.9, 0.9],
        }
    )
    result = across.critical_difference(table)
    assert result.rankdf["meanrank"].idxmin() == "a" and math.isfinite(result.cd)


@pytest.mark.parametrize("runs", [(3, 3), (5, 2), (10, 10)])
def test_the_bootstrap_s_improvement_statistic_is_rliable_s_with_ties(runs):
    from rliable import metrics

    rng = np.random.default_rng(runs[0])
    x = rng.integers(0, 4, size=(runs[0], 4)).astype(float)  # few values: many ties
    y = rng.integers(0, 4, size=(runs[1], 4)).astype(float)
    assert across.improvement_probability(x, y) == pytest.approx(
        metrics.probability_of_improvement(x, y), abs=1e-12
    )
    assert across.improvement_probability(x, x) == pytest.approx(0.5)
    batch = np.stack([x, x + 1, x - 1])  # leading batch axes, as the bootstrap passes them
    assert across.improvement_probability(batch, y[None]) == pytest.approx(
        [metrics.probability_of_improvement(b, y) for b in batch], abs=1e-12
    )


def test_the_improvement_interval_is_the_per_resample_bootstrap_s(monkeypatch):
    from rliable import metrics

    monkeypatch.setattr(across, "BOOTSTRAP", 200)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    row = across.improvement({"ce": y, "gce": x}).iloc[0]
    slow = across._bootstrap(
        lambda *u: metrics.probability_of_improvement(
            np.stack(u[:3], axis=-1), np.stack(u[3:], axis=-1)
        ),
        (*x.T, *y.T),
    )
    assert (row["lower"], row["upper"]) == pytest.approx(slow, abs=1e-12)
