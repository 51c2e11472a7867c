"""Stacked sweeps: each of the M models follows the single run at its own rate."""

import math

import pytest

from bench.training import stacked
from bench.training.config import RunConfig
from bench.training.loop import train


@pytest.mark.parametrize(
    "spec, rates",
    [
        ("ce", [0.01, 0.3]),
        ("margin:kind=weston_watkins", [0.01, 0.3]),
        ("huber", [0.3, 10.0]),
        # the synthetic images are dense: least squares on scores is stable only at small rates
        ("l2:on=scores", [1e-4, 1e-3]),
    ],
)
def test_each_stacked_model_matches_its_single_run(make_data, spec, rates):
    data = make_data(n_train=640, n_test=200)
    config = RunConfig(spec, epochs=2, batch_size=64, seed=5)
    results = stacked.train_rates(config, rates, data)
    assert [r["lr"] for r in results] == rates
    for result in results:
        rows = []
        train(
            RunConfig(spec, epochs=2, batch_size=64, seed=5, lr=result["lr"]),
            data,
            on_epoch=rows.append,
        )
        assert result["train_loss"] == pytest.approx(rows[-1]["train_loss"], rel=1e-4, abs=1e-6)
        assert result["val_acc"] == pytest.approx(rows[-1]["test_acc"], abs=0.011)


def test_a_diverging_model_leaves_the_others_alone(make_data):
    data = make_data(n_train=320)
    config = RunConfig("l2:on=scores", epochs=2, batch_size=32, schedule="constant")
    good, bad = stacked.train_rates(config, [1e-3, 1e4], data)
    assert bad["status"] == "diverged" and math.isnan(bad["val_acc"])
    assert good["status"] == "ok" and good["val_acc"] > 0.5


def test_diverged_models_leave_the_stack_and_the_rest_still_match_their_single_runs(make_data):
    data = make_data(n_train=320, n_test=200)
    rates = [1e4, 1e-4, 1e5, 1e-3]  # the two large ones diverge in the first epoch
    config = RunConfig("l2:on=scores", epochs=3, batch_size=32, seed=2)
    results = stacked.train_rates(config, rates, data)
    assert [r["lr"] for r in results] == rates
    assert [r["status"] for r in results] == ["diverged", "ok", "diverged", "ok"]
    for result in (results[1], results[3]):
        rows = []
        train(
            RunConfig("l2:on=scores", epochs=3, batch_size=32, seed=2, lr=result["lr"]),
            data,
            on_epoch=rows.append,
        )
        assert result["train_loss"] == pytest.approx(rows[-1]["train_loss"], rel=1e-4, abs=1e-6)
        assert result["val_acc"] == pytest.approx(rows[-1]["test_acc"], abs=0.011)


def test_a_stack_where_every_model_diverges_reports_each_as_diverged(make_data):
    config = RunConfig("l2:on=scores", epochs=2, batch_size=32, schedule="constant")
    results = stacked.train_rates(config, [1e4, 1e5], make_data(n_train=320))
    assert [r["status"] for r in results] == ["diverged", "diverged"]
    assert all(math.isnan(r["val_acc"]) for r in results)
