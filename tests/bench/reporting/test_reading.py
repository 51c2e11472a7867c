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
        "equivalent": ["gce"],
        "undecided": ["l2"],
        "worse": ["l1"],
    }
    assert lines[0]["margin"] == 0.024
    assert (lines[1]["best"], lines[1]["equivalent"], lines[1]["worse"]) == ("gce", [], ["ce"])
    assert reading.verdict_lines(pd.DataFrame()) == []
