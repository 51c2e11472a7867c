"""Naming what ran: a family beside the setting that trained, from spec strings alone."""

import pandas as pd
import pytest

from bench.analysis import settings


def test_terms_read_weights_names_and_parameters():
    assert settings.terms("1*nce+0.5*l1:on=probs") == [
        ("1", "nce", {}),
        ("0.5", "l1", {"on": "probs"}),
    ]
    assert settings.terms("gce:q=0.3") == [(None, "gce", {"q": "0.3"})]
    assert settings.spec(settings.terms("1*nce+0.5*l1:on=probs")) == "1*nce+0.5*l1:on=probs"


@pytest.mark.parametrize(
    ("entry", "trained", "family"),
    [
        ("gce", ["gce:q=0.3", "gce:q=0.5"], "gce"),  # today's bare entry
        ("gce:q=0.7", ["gce:q=0.3", "gce:q=0.5"], "gce"),  # an older folder's suite spec
        ("gce:q=0.7", ["gce:q=0.7"], "gce:q=0.7"),  # written, so kept: it ran as written
        (
            "1*nce+50*l1:on=probs",
            ["1*nce+0.5*l1:on=probs", "1*nce+50*l1:on=probs"],
            "nce+l1:on=probs",
        ),
        ("sce:alpha=0.1:beta=1:a=-4", ["sce:alpha=0.01:beta=1:a=-4"], "sce:beta=1:a=-4"),
        ("mae", ["l1:on=probs"], "mae"),  # another spelling: the entry's name stays
    ],
)
def test_a_family_keeps_only_what_every_run_kept(entry, trained, family):
    assert settings.family(entry, trained) == family


def test_tuned_says_what_tuning_chose_beyond_the_family():
    assert settings.tuned("gce", "gce:q=0.3") == "q=0.3"
    assert settings.tuned("gce:q=0.7", "gce:q=0.7") == ""
    assert settings.tuned("nce+l1:on=probs", "1*nce+0.5*l1:on=probs") == "w=1,0.5"
    assert settings.tuned("aul", "aul:a=5.5:q=3") == "a=5.5:q=3"


def test_families_never_merge_two_entries_and_fall_back_to_the_loss():
    frame = pd.DataFrame(
        {
            "entry": ["focal:gamma=1", "focal:gamma=2", "gce:q=0.7", "gce:q=0.7", ""],
            "loss": ["focal:gamma=0.5", "focal:gamma=3", "gce:q=0.3", "gce:q=0.5", "ce"],
        }
    )
    # both focal entries would be "focal": each keeps its own name instead
    assert settings.families(frame).tolist() == [
        "focal:gamma=1",
        "focal:gamma=2",
        "gce",
        "gce",
        "ce",
    ]
    assert settings.families(frame.drop(columns="entry")).tolist() == frame["loss"].tolist()


def test_per_workload_counts_each_setting_on_the_workloads_it_trained():
    frame = pd.DataFrame(
        {
            "noise": ["none", "sym:0.4", "sym:0.8", "none", "sym:0.4"],
            "entry": ["gce", "gce", "gce", "ce", "ce"],
            "loss": ["gce:q=0.3", "gce:q=0.5", "gce:q=0.3", "ce", "ce"],
        }
    )
    found = settings.per_workload(frame, ["noise"])
    assert found.to_dict("records") == [
        {"entry": "ce", "tuned": "", "loss": "ce", "workloads": 2},
        {"entry": "gce", "tuned": "q=0.3", "loss": "gce:q=0.3", "workloads": 2},
        {"entry": "gce", "tuned": "q=0.5", "loss": "gce:q=0.5", "workloads": 1},
    ]
