"""The tuning section's frames: the winners per noise level and the figure's rows."""

import pandas as pd

from bench.analysis import tables
from bench.reporting import tuning


def test_winners_put_each_noise_level_in_a_column_clean_first():
    chosen = pd.DataFrame(
        {
            "noise": ["sym:0.8", "none", "sym:0.8", "none"],
            "entry": ["gce", "gce", "ce", "ce"],
            "device": "cpu",
            "loss": ["gce:q=0.9", "gce:q=0.3", "ce", "ce"],
            "lr": [0.1, 0.032, 1.0, 0.3],
        }
    )
    wide = tuning.winners(chosen)
    expected = pd.DataFrame(
        {
            "loss": ["ce", "gce"],  # by family: textbook before noise-robust
            "clean": ["ce @ 0.3", "gce:q=0.3 @ 0.032"],
            "sym:0.8": ["ce @ 1", "gce:q=0.9 @ 0.1"],
        }
    )
    pd.testing.assert_frame_equal(wide, expected)


def test_no_axis_of_the_figure_holds_more_than_its_lines():
    entries = ["ce", *[f"gce:q=0.{i}" for i in range(1, 10)], "nce"]
    grid = tuning.rows(entries, size=4)
    assert [name for name, _ in grid] == [
        "textbook",
        "noise-robust (1/3)",
        "noise-robust (2/3)",
        "noise-robust (3/3)",
    ]
    assert [len(chunk) for _, chunk in grid] == [1, 3, 4, 3]  # near-equal chunks
    assert sorted(e for _, chunk in grid for e in chunk) == sorted(entries)


def test_searches_take_the_best_setting_at_each_rate_of_the_first_rung():
    trials = pd.DataFrame(
        [
            {
                "noise": n,
                "entry": "gce",
                "loss": s,
                "lr": lr,
                "epochs": e,
                "status": st,
                "val_acc": v,
            }
            for n, s, lr, e, st, v in (
                ("none", "gce:q=0.3", 0.1, 3, "ok", 0.5),
                ("none", "gce:q=0.9", 0.1, 3, "ok", 0.6),
                ("none", "gce:q=0.9", 1.0, 3, "diverged", "nan"),
                ("none", "gce:q=0.9", 0.1, 30, "ok", 0.9),  # the full rung: not drawn
                ("sym:0.4", "gce:q=0.3", 0.1, 3, "ok", 0.4),
            )
        ]
    )
    wide, levels = tuning.searches(trials)
    assert levels == ["none", "sym:0.4"]
    clean = wide[wide["noise"] == "none"].set_index("lr")["score none"]
    assert clean.loc[0.1] == 0.6 and pd.isna(clean.loc[1.0])
    assert wide.loc[wide["noise"] == "sym:0.4", "score sym:0.4"].tolist() == [0.4]
    assert len(tables.tuning(trials)) == 1  # only the clean search reached the full epochs


def test_facts_of_an_old_cache_on_long_tailed_data():
    from types import SimpleNamespace

    # before per-noise tuning: no noise, entry, metric or val_score; clean searches only
    cache = pd.DataFrame(
        [
            {"loss": loss, "lr": lr, "epochs": 30, "status": "ok", "val_acc": acc}
            for loss in ("ce", "logit_adjusted:tau=1")
            for lr, acc in ((0.1, 0.7), (0.3, 0.8))
        ]
    )
    w = SimpleNamespace(
        dataset="fashion_mnist_lt:ratio=100",
        data=None,
        caches={"tuning": cache},
        final=pd.DataFrame({"noise": ["none", "sym:0.4", "none"]}),
        held_out=lambda: "the validation split",
        skipped=lambda stage: None,
    )
    found = tuning.facts(w)
    assert found["metrics"] == ["accuracy"] and found["verdicts_by"] == "balanced_acc"
    assert not found["same_score"]  # the report says these trials predate it
    assert (found["levels"], found["untuned"]) == (["none"], ["sym:0.4"])
    assert (found["settings"], found["fewest"], found["most"], found["kept"]) == (1, 2, 2, 2)
    assert found["chosen"]["lr"].tolist() == [0.3, 0.3]
