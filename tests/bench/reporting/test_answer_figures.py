"""The answer's figures: no axis of the profile figure holds more than PROFILE_LINES lines, and
the profiles follow each loss across workloads by its suite entry."""

import pandas as pd

from bench.analysis import profiles
from bench.reporting import answer_facts, answer_figures


def test_profile_columns_split_a_large_family_into_near_equal_columns():
    gaps = pd.DataFrame({"loss": ["ce", "l2", *[f"gce:q=0.{i}" for i in range(1, 10)]]})
    columns = answer_figures.profile_columns(gaps, size=4)
    assert [(name, len(chunk)) for name, chunk in columns] == [
        ("textbook", 2),
        ("noise-robust (1/3)", 3),
        ("noise-robust (2/3)", 3),
        ("noise-robust (3/3)", 3),
    ]
    assert [e for _, chunk in columns for e in chunk] == gaps["loss"].tolist()
    assert max(len(c) for _, c in answer_figures.profile_columns(gaps)) <= 8


def test_profiles_follow_each_loss_by_its_entry_across_workloads():
    # gce won tuning at q=0.7 on one workload and q=0.3 on the other; it is best on both, so its
    # profile is 1 at δ = 0 (by the tuned spec each setting would reach only half the workloads)
    rows = pd.DataFrame(
        [
            {
                "dataset": "d",
                "model": "linear",
                "noise": noise,
                "loss": loss,
                "entry": entry,
                "seed": seed,
                "status": "ok",
                "epoch": epoch,
                "epoch_s": 1.0,
                "score": score * epoch / 2,
            }
            for noise, gce in (("none", "gce:q=0.7"), ("sym:0.4", "gce:q=0.3"))
            for loss, entry, score in ((gce, "gce:q=0.7", 0.9), ("ce", "ce", 0.8))
            for seed in (0, 1)
            for epoch in (1, 2)
        ]
    )
    final = rows[rows["epoch"] == 2]
    found = answer_facts.entry_profiles(final, rows, 0.95)
    share = profiles.profile(found["gaps"], [0.0, 0.1]).set_index(["loss", "x"])["share"]
    assert set(found["gaps"]["loss"]) == {"gce:q=0.7", "ce"}
    assert share[("gce:q=0.7", 0.0)] == 1.0 and share[("ce", 0.0)] == 0.0
    assert share[("ce", 0.1)] == 1.0  # 0.1 below the best on both
    assert set(found["ratios"]["loss"]) == {"gce:q=0.7", "ce"}
