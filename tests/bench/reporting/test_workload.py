"""Workloads of a results folder: which stages each skipped and why, and when data can be read."""

import json

import pandas as pd
import pytest
import torch
from test_layouts import SKIPPED, hand_written_rows, image_data, write_meta

from bench.reporting import workload as workloads
from bench.study import stages


def test_the_linear_only_stages_are_the_studys():
    assert set(workloads.LINEAR_STAGES) == set(stages.LINEAR_ONLY)


@pytest.fixture
def out(tmp_path):
    rows = pd.concat(
        [
            hand_written_rows(),
            hand_written_rows("fashion_mnist", "mlp:hidden=8"),
            hand_written_rows("fashion_mnist", "plugin_net"),
        ]
    )  # not registered here
    rows.to_csv(tmp_path / "results.csv", index=False)
    write_meta(tmp_path, dataset="fashion_mnist", model="linear")
    meta = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**meta, "skipped": SKIPPED}))
    return tmp_path


def load(out):
    meta = json.loads((out / "run.json").read_text())
    return workloads.load(out, meta, {"fashion_mnist": image_data(torch.Generator())})


def test_run_json_skips_apply_to_its_own_workload(out):
    linear, mlp, plugin = load(out)
    assert (linear.model, mlp.model, plugin.model) == ("linear", "mlp:hidden=8", "plugin_net")
    assert linear.skipped("reference") == SKIPPED["reference"]
    assert linear.skipped("peers") is None
    assert plugin.skipped("reference") is None  # not what run.json describes, not known linear
    assert mlp.prefix == "fashion_mnist__mlp-hidden-8__" and linear.prefix.endswith("linear__")


def test_a_non_linear_workload_says_why_its_linear_stages_did_not_run(out):
    _, mlp, _ = load(out)
    assert mlp.linear is False
    assert mlp.skipped("peers") == "it needs a linear model, and mlp:hidden=8 is not one"
    assert mlp.skipped("tuning") is None


def test_a_model_not_registered_here_drops_only_the_sections_that_read_weights(out):
    linear, _, plugin = load(out)
    assert linear.data is not None and plugin.data is None
    assert "model plugin_net is not registered here" in plugin.data_note
    assert len(plugin.final) == 7 and plugin.model_part is None
