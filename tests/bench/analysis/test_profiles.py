"""Views across workloads on hand-built frames: means without diverged zeros, ranks, and the
exact values of both performance profiles."""

import numpy as np
import pandas as pd
import pytest

from bench.analysis import profiles

A = ("data", "linear", "none")
B = ("data", "linear", "sym:0.4")


def finals(plan):
    """``plan``: {(dataset, model, noise): {loss: [score per seed]}} -> final rows."""
    return pd.DataFrame(
        [
            {
                **dict(zip(profiles.KEYS, key, strict=True)),
                "loss": loss,
                "seed": seed,
                "status": "ok",
                "score": score,
            }
            for key, by_loss in plan.items()
            for loss, per_seed in by_loss.items()
            for seed, score in enumerate(per_seed)
        ]
    )


def epochs(curves):
    """``curves``: {(workload, loss): (epoch_s, [score per epoch])}, one seed -> every epoch."""
    return pd.DataFrame(
        [
            {
                **dict(zip(profiles.KEYS, key, strict=True)),
                "loss": loss,
                "seed": 0,
                "epoch": epoch,
                "epoch_s": seconds,
                "status": "ok",
                "score": score,
            }
            for (key, loss), (seconds, scores) in curves.items()
            for epoch, score in enumerate(scores, start=1)
        ]
    )


# 3 losses × 2 workloads, c missing from B. Gaps: A a 0, b 0.05, c 0.10; B b 0, a 0.02.
CURVES = {
    (A, "a"): (1.0, [0.70, 0.85, 0.90]),
    (A, "b"): (0.5, [0.82, 0.84, 0.85]),
    (A, "c"): (2.0, [0.60, 0.70, 0.80]),
    (B, "a"): (1.0, [0.60, 0.65, 0.70]),
    (B, "b"): (0.5, [0.50, 0.60, 0.72]),
}


@pytest.fixture
def hand_built():
    rows = epochs(CURVES)
    final = rows.sort_values("epoch").groupby([*profiles.KEYS, "loss"]).tail(1)
    table = profiles.means(profiles.seed_scores(final))
    return rows, table


def test_a_diverged_run_is_counted_not_averaged_as_zero():
    final = finals({A: {"a": [0.8, 0.8], "b": [0.9, 0.9]}})
    final.loc[(final["loss"] == "b") & (final["seed"] == 1), "status"] = "diverged"
    table = profiles.means(profiles.seed_scores(final)).set_index("loss")
    assert table.loc["b", "score"] == pytest.approx(0.9) and table.loc["b", "diverged"] == 1
    assert table.loc["b", "seeds"] == 2


def test_ranks_average_ties_within_a_workload():
    plan = {A: {"a": [0.9], "b": [0.8], "c": [0.8]}, B: {"a": [0.7], "b": [0.75]}}
    table = profiles.means(profiles.seed_scores(finals(plan)))
    ranks = table.set_index([*profiles.KEYS, "loss"])["rank"]
    assert ranks[(*A, "b")] == ranks[(*A, "c")] == 2.5 and ranks[(*B, "a")] == 2


def test_accuracy_profile_exact_fractions(hand_built):
    _, table = hand_built
    shares = profiles.profile(profiles.gaps(table), [0, 0.02, 0.05, 0.1]).pivot(
        index="x", columns="loss", values="share"
    )
    assert shares["a"].tolist() == [0.5, 1, 1, 1]
    assert shares["b"].tolist() == [0.5, 0.5, 1, 1]
    assert shares["c"].tolist() == [0, 0, 0, 0.5]  # absent from B: never within there


def test_time_to_target_and_time_profile_exact(hand_built):
    rows, table = hand_built
    times = profiles.time_to_target(rows, table, fraction=0.9)
    seconds = times.set_index(["noise", "loss"])["seconds"]
    # A: target 0.81, a reaches it at epoch 2 (2 s), b at epoch 1 (0.5 s), c never;
    # B: target 0.648, a at epoch 2 (2 s), b at epoch 3 (1.5 s)
    assert times.set_index("noise")["target"].to_dict() == pytest.approx(
        {"none": 0.81, "sym:0.4": 0.648}
    )
    assert seconds.to_dict() == {
        ("none", "a"): 2.0,
        ("none", "b"): 0.5,
        ("none", "c"): np.inf,
        ("sym:0.4", "a"): 2.0,
        ("sym:0.4", "b"): 1.5,
    }
    ratios = profiles.ratios(times)
    shares = profiles.profile(ratios, [1, 2, 4, 10]).pivot(
        index="x", columns="loss", values="share"
    )
    assert shares["a"].tolist() == [0, 0.5, 1, 1]  # ratios 4 and 4/3
    assert shares["b"].tolist() == [1, 1, 1, 1]
    assert shares["c"].tolist() == [0, 0, 0, 0]
    assert profiles.breakpoints(ratios, 1, 10).tolist() == pytest.approx([1, 4 / 3, 4, 10])


def test_time_to_target_averages_seeds_and_a_diverged_run_never_arrives():
    rows = pd.concat(
        [
            epochs({(A, "a"): (1.0, [0.9, 0.9])}),
            epochs({(A, "a"): (3.0, [0.9, 0.9])}).assign(seed=1),
            epochs({(A, "b"): (0.1, [0.9, 0.9])}),
            epochs({(A, "b"): (0.1, [0.9, 0.0])}).assign(seed=1),
        ]
    )
    rows.loc[(rows["loss"] == "b") & (rows["seed"] == 1) & (rows["epoch"] == 2), "status"] = (
        "diverged"
    )
    final = rows[rows["epoch"] == 2]
    table = profiles.means(profiles.seed_scores(final))
    seconds = profiles.time_to_target(rows, table, 0.95).set_index("loss")["seconds"]
    assert seconds["a"] == 2.0 and seconds["b"] == np.inf
