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
    assert levels == ["none", "sym:0.4"] and set(wide["rung"]) == {3}
    clean = wide[wide["noise"] == "none"].set_index("lr")["score none"]
    assert clean.loc[0.1] == 0.6 and pd.isna(clean.loc[1.0])
    assert wide.loc[wide["noise"] == "sym:0.4", "score sym:0.4"].tolist() == [0.4]
    assert len(tables.tuning(trials)) == 1  # only the clean search reached the full epochs


def test_each_validation_protocol_s_search_is_drawn_at_its_own_first_rung():
    trials = pd.DataFrame(
        [
            {"noise": n, "validation": v, "entry": "gce", "loss": "gce:q=0.7", "lr": lr}
            | {"epochs": e, "status": "ok", "val_acc": a}
            for n, v, lr, e, a in (
                ("sym:0.8", "trusted:1000", 0.1, 10, 0.70),  # the trusted screen: 10 epochs
                ("sym:0.8", "trusted:1000", 0.1, 30, 0.80),
                ("sym:0.8", "noisy", 0.1, 3, 0.17),
                ("sym:0.8", "noisy", 0.1, 30, 0.18),
                ("none", "noisy", 0.1, 3, 0.60),
            )
        ]
    )
    wide, columns = tuning.searches(trials)
    assert columns == ["none", "sym:0.8", "sym:0.8 trusted:1000"]
    by = wide.set_index("column")
    assert by.loc["sym:0.8 trusted:1000", "rung"] == 10
    assert by.loc["sym:0.8 trusted:1000", "score sym:0.8 trusted:1000"] == 0.70
    assert by.loc["sym:0.8", "rung"] == 3 and by.loc["sym:0.8", "score sym:0.8"] == 0.17


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


def test_the_resolving_table_is_in_clean_points_per_level_clean_first():
    levels = pd.DataFrame(
        {
            "dataset": "d",
            "model": "linear",
            "validation": ["noisy", "noisy", "trusted:1000"],
            "noise": ["sym:0.8", "none", "sym:0.8"],
            "losses": [35, 35, 35],
            "blind": [19, 0, 0],
            "slope": [1 / 9, 1.0, 1.0],
            "se_clean": [0.034, 0.0036, 0.013],
            "resolvable": [0.094, 0.01, 0.036],
            "top5_spread_se": [0.9, 3.3, 2.0],
        }
    )
    table = tuning.resolving_table(levels)
    expected = pd.DataFrame(
        {
            "level": ["clean", "sym:0.8", "sym:0.8, trusted:1000"],
            "slope": ["1.00", "0.11", "1.00"],
            "1 SE (clean points)": ["0.36", "3.40", "1.30"],
            "resolvable (clean points)": ["1.0", "9.4", "3.6"],
            "tuned blind": ["0 of 35", "19 of 35", "0 of 35"],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_the_screen_table_per_level():
    screens = pd.DataFrame(
        {
            "dataset": "d",
            "model": "linear",
            "validation": "noisy",
            "noise": ["sym:0.4", "none"],
            "screen_epochs": [3, 3],
            "full_epochs": [30, 30],
            "losses": [35, 35],
            "candidates": [105, 105],
            "rho_pooled": [0.57, 0.49],
            "rho_within": [0.34, 0.32],
            "screen_best_won": [0.514, 0.486],
        }
    )
    table = tuning.screen_table(screens)
    assert table["level"].tolist() == ["clean", "sym:0.4"]
    assert table["epochs"].tolist() == ["3 → 30", "3 → 30"]
    assert table["ρ within a loss"].tolist() == ["0.32", "0.34"]
    assert table["screen's best won"].tolist() == ["49%", "51%"]
