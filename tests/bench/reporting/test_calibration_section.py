"""The calibration section's measurements and ECE verdicts, and the reliability figure's titles
(long spec strings broken so neighbouring panels never meet)."""

import math

import pandas as pd
import pytest
import torch

from bench.analysis import calibration as measures
from bench.datasets import Dataset
from bench.models.linear import SoftmaxRegression
from bench.reporting import calibration
from bench.reporting.workload import Workload
from bench.study.results import Results
from bench.training.config import RunConfig


@pytest.mark.parametrize(
    "spec",
    ["ce", "margin:kind=weston_watkins:delta=1:power=2", "1*nce+100*rce:a=-4", "sce:alpha=6:a=-4"],
)
def test_titles_break_long_specs_at_their_separators(spec):
    lines = calibration.wrapped(spec, width=20).split("\n")
    assert "".join(lines) == spec
    assert all(len(line) <= 20 for line in lines)
    assert all(line[0] in ":+" for line in lines[1:])


def test_a_part_longer_than_a_line_keeps_its_own_line():
    assert calibration.wrapped("logit_adjusted:tau=1", width=8) == "logit_adjusted\n:tau=1"


def split_of(seed: int) -> Dataset:
    """Per-seed split, 2 classes: seed s's 20 test examples hold 10 + 2s of class 0."""
    x = torch.eye(2)[torch.arange(8) % 2]
    zeros = 10 + 2 * seed
    return Dataset(
        train_x=x,
        train_y=torch.arange(8) % 2,
        test_x=torch.ones(20, 2),
        test_y=(torch.arange(20) >= zeros).long(),
        classes=("a", "b"),
        resplit=split_of,
    )


def workload(tmp_path) -> Workload:
    """Two losses over seeds 0–2 of :func:`split_of`, models saying class 0 at 1/2 ("flat") and
    at σ(2) ("sure"); flat's seed 2 diverged (no weights)."""
    results = Results(tmp_path)
    sure = SoftmaxRegression.from_weights(torch.zeros(2, 2), torch.tensor([1.0, -1.0]))
    flat = SoftmaxRegression.from_weights(torch.zeros(2, 2), torch.zeros(2))
    rows = []
    for loss, model in (("sure", sure), ("flat", flat)):
        for seed in (0, 1, 2):
            lost = loss == "flat" and seed == 2
            if not lost:
                results.save_weights(RunConfig(loss, seed=seed), model.state_dict())
            rows.append(
                {
                    "trainer": "lossbench",
                    "dataset": "fashion_mnist",
                    "model": "linear",
                    "loss": loss,
                    "device": "cpu",
                    "seed": seed,
                    "noise": "none",
                    "status": "diverged" if lost else "ok",
                }
            )
    final = pd.DataFrame(rows)
    return Workload(tmp_path, {}, "fashion_mnist", "linear", final, final, 0, {}, split_of(0))


def test_ece_runs_score_each_seed_on_its_split_and_keep_failures(tmp_path):
    w = workload(tmp_path)
    info = pd.DataFrame(
        [{"dataset": "fashion_mnist", "model": "linear", "device": "cpu", "workload": w}]
    )
    runs = calibration.ece_runs(info).set_index(["loss", "seed", "scaling"])
    # flat: confidence 1/2, says class 0, right on (10 + 2s) of 20
    assert runs.loc[("flat", 0, "before"), "ece"] == pytest.approx(0.0)
    assert runs.loc[("flat", 1, "before"), "ece"] == pytest.approx(0.1)
    assert runs.loc[("flat", 2, "after"), "failed"] and math.isnan(
        runs.loc[("flat", 2, "after"), "ece"]
    )
    sure = 1 / (1 + math.exp(-2))
    assert runs.loc[("sure", 2, "before"), "ece"] == pytest.approx(sure - 0.7)
    table = calibration.ece_verdicts(info, "before").set_index("loss")
    assert (table["margin"] == measures.ECE_MARGIN).all()
    assert table.loc["flat", "diverged"] == 1 and table.loc["flat", "ece"] == pytest.approx(0.05)
    assert table.loc["sure", "ece"] == pytest.approx(sure - 0.6)
    assert table.loc["flat", "ece_lower"] == pytest.approx(0.0) and table.loc[
        "flat", "ece_upper"
    ] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="scaling must be"):
        calibration.ece_verdicts(info, "during")


def test_runs_that_failed_on_accuracy_are_counted_not_averaged(tmp_path):
    w = workload(tmp_path)
    info = pd.DataFrame(
        [{"dataset": "fashion_mnist", "model": "linear", "device": "cpu", "workload": w}]
    )
    failed = pd.DataFrame(
        [{"dataset": "fashion_mnist", "model": "linear", "loss": "sure", "seed": 2}]
    )
    runs = calibration.ece_runs(info, failed).set_index(["loss", "seed", "scaling"])
    assert runs["failed"].sum() == 4  # flat's seed 2 (diverged) and sure's seed 2, each scaling
    assert (
        runs.loc[("sure", 2, "before"), "failed"] and not runs.loc[("sure", 1, "before"), "failed"]
    )
    table = calibration.ece_verdicts(info, "before", failed).set_index("loss")
    sure = 1 / (1 + math.exp(-2))
    # only seeds 0 and 1 count: right on 0.5 and 0.6 of their test sets
    assert table.loc["sure", "ece"] == pytest.approx(sure - 0.55)
    assert table.loc["sure", "verdict"] not in ("best", "equivalent")
