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


def test_the_heatmap_of_a_custom_model_and_dataset_keeps_its_layout(recwarn):
    # long part specs (a module: model, an npz: dataset) once collapsed the constrained layout
    # and matplotlib warned on every such report; an early-stopped answer is a column of its own
    answer = pd.DataFrame(
        {
            "dataset": "npz:path=examples/data/blobs.npz",
            "model": "module:examples/custom_model.py:TwoLayerNet",
            "noise": "none",
            "validation": "noisy",
            "selection": ["last", "last", "early_stopped", "early_stopped"],
            "loss": ["ce", "gce:q=0.3", "ce", "gce:q=0.3"],
            "entry": ["ce", "gce", "ce", "gce"],
            "verdict": ["best", "worse", "equivalent", "best"],
            "best": ["ce", "ce", "gce:q=0.3", "gce:q=0.3"],
            "score": [0.9, 0.8, 0.88, 0.885],
            "diverged": 0,
            "collapsed": [0, 2, 0, 0],
            "chance": 0,
        }
    )
    fig = answer_figures.heatmap(answer, {"gce": "gce: q=0.3 (1)"})
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "blobs·TwoLayerNet·clean",
        "blobs·TwoLayerNet·clean·es",
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "ce  (textbook)",
        "gce: q=0.3 (1)  (noise-robust)",
    ]
    cells = sorted(t.get_text() for t in ax.texts)
    assert cells == sorted(["★", "★", "≈0.5", "✗10.0 f2"])
    assert not [w for w in recwarn if "constrained_layout" in str(w.message)]
