"""Reading the results: its verdict lines come from the verdict frame, grouped per noise level."""

import pandas as pd

from bench.reporting import reading


def test_verdict_lines_group_the_verdict_frame_per_noise_level():
    rows = [
        ("sym:0.4", "gce", "gce:q=0.9", "best"),
        ("sym:0.4", "ce", "ce", "worse"),
        ("none", "ce", "ce", "best"),
        ("none", "gce", "gce:q=0.3", "equivalent"),
        ("none", "l2", "l2", "undecided"),
        ("none", "l1", "l1", "worse"),
    ]
    frame = pd.DataFrame(
        [
            {
                "noise": noise,
                "entry": entry,
                "loss": loss,
                "verdict": verdict,
                "metric": "balanced_acc",
                "margin": 0.024,
            }
            for noise, entry, loss, verdict in rows
        ]
    )
    lines = reading.verdict_lines(frame)
    assert [line["noise"] for line in lines] == ["none", "sym:0.4"]  # clean first
    assert lines[0] | {"margin": None} == {
        "noise": "none",
        "best": "ce",
        "metric": "balanced accuracy",
        "margin": None,
        "variant": "",
        "top": None,
        "equivalent": ["gce"],
        "undecided": ["l2"],
        "worse": ["l1"],
        "unstable": [],
    }
    assert lines[0]["margin"] == 0.024
    assert (lines[1]["best"], lines[1]["equivalent"], lines[1]["worse"]) == ("gce", [], ["ce"])
    assert reading.verdict_lines(pd.DataFrame()) == []


def test_verdict_lines_give_each_validation_and_selection_variant_its_own_line():
    rows = [  # noise, validation, selection, entry, verdict, best (the top mean's loss)
        ("sym:0.4", "trusted:100", "last", "gce", "best", "gce:q=0.3"),
        ("sym:0.4", "trusted:100", "last", "ce", "worse", "gce:q=0.3"),
        ("sym:0.4", "noisy", "early_stopped", "ce", "undecided", "ce"),
        ("sym:0.4", "noisy", "early_stopped", "gce", "undecided", "ce"),
        ("sym:0.4", "noisy", "last", "gce", "best", "gce:q=0.3"),
        ("sym:0.4", "noisy", "last", "ce", "unstable", "gce:q=0.3"),
    ]
    frame = pd.DataFrame(
        [
            {
                "noise": noise,
                "validation": validation,
                "selection": selection,
                "entry": entry,
                "loss": "gce:q=0.3" if entry == "gce" else entry,
                "verdict": verdict,
                "best": best,
                "metric": "test_acc",
                "margin": 0.005,
            }
            for noise, validation, selection, entry, verdict, best in rows
        ]
    )
    lines = reading.verdict_lines(frame)
    # the default (noisy split, last epoch) first, then early-stopped, then the trusted split
    assert [(line["best"], line["top"]) for line in lines] == [
        ("gce", "gce"),
        (None, "ce"),  # MCB declares no best: the top mean is still named
        ("gce", "gce"),
    ]
    assert lines[0]["variant"] == "" and lines[0]["unstable"] == ["ce"]
    assert "early stopping" in lines[1]["variant"] and "trusted:100" in lines[2]["variant"]
    assert lines[1]["undecided"] == ["ce", "gce"] and lines[2]["worse"] == ["ce"]
