"""docs/zoo.py, the hook that makes "The zoo": a page per registered loss, from the registry and
the study's answer.csv, so the pages cannot drift from the code (``make docs`` builds them)."""

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from losses import properties
from losses.base import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zoo():
    spec = importlib.util.spec_from_file_location("docs_zoo", ROOT / "docs" / "zoo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_zoo"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["docs_zoo"]


ANSWER = pd.DataFrame(
    {
        "dataset": ["digits", "digits", "digits", "breast_cancer"],
        "model": ["linear"] * 4,
        "noise": ["none", "none", "sym:0.4", "none"],
        "entry": ["gce:q=0.7", "1*nce+50*l1:on=probs", "gce:q=0.7", "ce"],
        "loss": ["gce:q=0.3", "1*nce+0.5*l1:on=probs", "gce:q=0.5", "ce"],
        "verdict": ["equivalent", "best", "worse", "best"],
        "diff": [-0.004, 0.0, -0.03, 0.0],
        "lower": [-0.01, float("nan"), -0.05, float("nan")],
        "upper": [0.002, float("nan"), -0.01, float("nan")],
    }
)
FAKE = properties.Properties(True, 0.0, True, 2.0, True, 1.0, 0.0, 0.0, "vanishes", "vanishes")


def test_every_built_in_loss_declares_its_paper_code_and_departures(zoo):
    for name in zoo.built_in():
        cls = REGISTRY[name]
        assert isinstance(cls.paper, str) and len(cls.paper) > 10, name
        assert cls.code is None or isinstance(cls.code, str), name
        assert isinstance(cls.departures, tuple), name


def test_the_nav_entry_expands_into_a_page_per_loss_and_the_report(zoo):
    config = {"nav": [{"Home": "index.md"}, {"The zoo": "zoo/index.md"}]}
    pages = zoo.on_config(config)["nav"][1]["The zoo"]
    assert pages[0] == "zoo/index.md"
    assert [list(p.values())[0] for p in pages[1:-1]] == [f"zoo/{n}.md" for n in zoo.built_in()]
    assert pages[-1] == {"The study's report": "study/index.md"}


def test_hyperparameters_are_the_dataclass_fields_with_defaults_and_sweep(zoo):
    frame = zoo.hyperparameters("sce")
    assert frame["parameter"].tolist() == ["alpha", "beta", "a"]
    assert frame["default"].tolist() == [0.1, 1.0, -4.0]
    assert frame["sweep"].tolist() == ["0.01, 0.1, 1, 6", "0.1, 1", "not swept"]
    assert zoo.hyperparameters("ce").empty
    ldam = zoo.hyperparameters("ldam")  # the bound prior is the data's, not a parameter
    assert ldam["parameter"].tolist() == [
        f.name for f in dataclasses.fields(REGISTRY["ldam"]) if f.compare
    ]


def test_study_rows_take_the_loss_alone_and_the_sums_it_is_a_term_of(zoo):
    assert zoo.study_rows("gce", ANSWER)["loss"].tolist() == ["gce:q=0.3", "gce:q=0.5"]
    assert zoo.study_rows("l1", ANSWER)["entry"].tolist() == ["1*nce+50*l1:on=probs"]
    assert zoo.study_rows("l1", ANSWER, sums=False).empty
    assert zoo.study_rows("nce", ANSWER)["entry"].tolist() == ["1*nce+50*l1:on=probs"]
    assert zoo.study_rows("focal", ANSWER).empty
    rows = zoo.study_rows("gce", ANSWER)
    assert rows["workload"].tolist() == [
        "digits · linear · noise none",
        "digits · linear · noise sym:0.4",
    ]
    counts = zoo.verdict_counts(rows)
    assert counts.to_dict("records") == [
        {"entry": "gce:q=0.7", "best": 0, "equivalent": 1, "worse": 1, "undecided": 0}
    ]


def test_report_anchors_are_the_ids_the_toc_extension_gives(zoo):
    text = "# Report\n## fashion_mnist · mlp:hidden=256\n```\n# not a heading\n```\n## Report\n"
    anchors = zoo.report_anchors(text)
    assert anchors == {
        "Report": "report",
        "fashion_mnist · mlp:hidden=256": "fashion_mnist-mlphidden256",
    }


@pytest.mark.parametrize(
    "name", sorted(n for n, c in REGISTRY.items() if c.__module__.startswith("losses."))
)
def test_every_loss_page_renders_its_facts_and_links(zoo, name):
    anchors = {"digits · linear": "digits-linear", "breast_cancer · linear": "breast_cancer-linear"}
    text = zoo.page(name, ANSWER, anchors, FAKE)
    assert text.startswith(f"# `{name}`")
    assert f"]({name}.png)" in text
    assert REGISTRY[name].paper in text
    for sweep in zoo.hyperparameters(name)["sweep"]:
        assert sweep in text
    linked = set(re.findall(r"\(\.\./study/index\.md#([^)]+)\)", text))
    assert linked <= set(anchors.values()) | {"per-loss"}
    assert ("| best |" in text or "| equivalent |" in text) == (
        not zoo.study_rows(name, ANSWER).empty
    )


def test_the_index_lists_every_loss_with_its_verdict_counts(zoo):
    measured = dict.fromkeys(zoo.built_in(), FAKE)
    text = zoo.index(ANSWER, measured)
    listed = re.findall(r"\| \[`([a-z0-9_]+)`\]\(\1\.md\) \|", text)
    assert listed == zoo.built_in()
    gce = next(line for line in text.splitlines() if line.startswith("| [`gce`]"))
    assert gce.endswith("| 0 / 1 / 1 / 0 |")
    l1 = next(line for line in text.splitlines() if line.startswith("| [`l1`]"))
    assert l1.endswith("| not in the study |")  # only as a term of a sum


def test_departures_are_listed_and_their_absence_says_why(zoo):
    margin = zoo.page("margin", ANSWER, {}, FAKE)  # no official code, one departure
    assert "MultiMarginLoss" in margin
    assert "nowhere: value and gradient follow the official code" in zoo.page(
        "ce", ANSWER, {}, FAKE
    )
    assert "no official code to compare with" in zoo.page("l2", ANSWER, {}, FAKE)
