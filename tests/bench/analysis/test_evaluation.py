"""Evaluation of saved weights: confusion counts, per-class accuracy and calibration tables."""

import math

import pandas as pd
import pytest
import torch

from bench.analysis import calibration, evaluation
from bench.datasets import Dataset
from bench.models.linear import SoftmaxRegression
from bench.study import results as runs
from bench.training.config import RunConfig
from bench.training.loop import train


def dataset(make_data):
    return make_data(n_train=12_000, n_test=200)


def test_confusion_counts_every_test_example_once(make_data):
    data = make_data()
    model = train(RunConfig("ce", epochs=1, lr=0.5, batch_size=32), data)
    counts = evaluation.confusion(model, data)
    assert counts.shape == (10, 10) and counts.sum() == len(data.test_y)
    assert torch.equal(counts.sum(1), torch.bincount(data.test_y, minlength=10))
    assert counts.diag().sum() == (model.predict(data.test_x) == data.test_y).sum()


def test_tables_from_saved_weights(make_data, tmp_path):
    data = dataset(make_data)
    config = RunConfig("margin", epochs=1, lr=0.3, batch_size=64)
    model = train(config, data)
    runs.Results(tmp_path).save_weights(config, model.state_dict())
    table = pd.DataFrame(
        [{"loss": "margin", "device": "cpu", "seed": 0}, {"loss": "ce", "device": "cpu", "seed": 0}]
    )  # no weights: skipped
    metrics, bins = evaluation.calibration_table(tmp_path, table, data)
    assert set(metrics.scaling) == {"before", "after"} and set(metrics.loss) == {"margin"}
    after = metrics.set_index("scaling").loc["after"]
    before = metrics.set_index("scaling").loc["before"]
    assert after["nll"] <= before["nll"] + 1e-9  # the fitted temperature minimises NLL
    assert bins.groupby("scaling").share.sum().round(6).eq(1).all()
    classes = [f"c{k}" for k in range(10)]
    per_class = evaluation.per_class_accuracy(tmp_path, table, data, classes)
    assert len(per_class) == 10 and per_class.accuracy.between(0, 1).all()


def test_load_model_round_trips_the_weights(tmp_path):
    model = SoftmaxRegression.init(seed=4)
    runs.Results(tmp_path).save_weights(RunConfig("ce", seed=4), model.state_dict())
    loaded = evaluation.load_model(tmp_path, RunConfig("ce", seed=4))
    assert torch.equal(loaded.W, model.W) and torch.equal(loaded.b, model.b)
    assert evaluation.load_model(tmp_path, RunConfig("ce", seed=5)) is None
    assert evaluation.load_model(tmp_path, RunConfig("ce", seed=4, dataset="digits")) is None


def test_weights_of_a_workload_share_one_file_and_each_run_loads(tmp_path):
    results = runs.Results(tmp_path)
    first, second = SoftmaxRegression.init(seed=1), SoftmaxRegression.init(seed=2)
    results.save_weights(RunConfig("ce", seed=1), first.state_dict())
    results.save_weights(RunConfig("l2", seed=2, noise="sym:0.4"), second.state_dict())
    assert [p.name for p in (tmp_path / "weights").iterdir()] == ["fashion_mnist__linear.pt"]
    saved = torch.load(tmp_path / "weights" / "fashion_mnist__linear.pt", weights_only=True)
    assert set(saved) == {"ce__cpu__seed1", "l2__cpu__seed2__sym_0.4"}
    assert torch.equal(evaluation.load_model(tmp_path, RunConfig("ce", seed=1)).W, first.W)
    loaded = evaluation.load_model(tmp_path, RunConfig("l2", seed=2, noise="sym:0.4"))
    assert torch.equal(loaded.W, second.W) and torch.equal(loaded.b, second.b)


def test_a_results_row_loads_the_weights_of_its_own_validation_protocol(tmp_path):
    results = runs.Results(tmp_path)
    noisy, trusted = SoftmaxRegression.init(seed=1), SoftmaxRegression.init(seed=2)
    results.save_weights(RunConfig("ce", seed=0), noisy.state_dict())
    results.save_weights(RunConfig("ce", seed=0, validation="trusted:100"), trusted.state_dict())
    rows = pd.DataFrame(
        {"loss": "ce", "device": "cpu", "seed": 0, "validation": ["trusted:100", float("nan")]}
    )
    first, second = (evaluation.load_model(tmp_path, row) for row in rows.itertuples())
    assert torch.equal(first.W, trusted.W)
    assert torch.equal(second.W, noisy.W)  # NaN (a frame that predates the column): noisy


def test_a_run_saved_again_replaces_its_weights(tmp_path):
    results = runs.Results(tmp_path)
    results.save_weights(RunConfig("ce"), SoftmaxRegression.init(seed=1).state_dict())
    latest = SoftmaxRegression.init(seed=2)
    results.save_weights(RunConfig("ce"), latest.state_dict())
    assert torch.equal(evaluation.load_model(tmp_path, RunConfig("ce")).W, latest.W)


def test_weights_of_a_folder_written_one_file_per_run_still_load(tmp_path):
    model = SoftmaxRegression.init(seed=3)
    (tmp_path / "weights").mkdir()
    config = RunConfig("ce", seed=3, dataset="digits")
    torch.save(model.state_dict(), tmp_path / "weights" / f"{runs.slug(config)}.pt")
    assert runs.slug(config) == "digits__linear__ce__cpu__seed3"
    assert torch.equal(evaluation.load_model(tmp_path, config).W, model.W)


def labelled_by_seed(seed: int) -> Dataset:
    """A per-seed split of 4 classes whose test labels are all class ``seed``, ``10 + seed`` of
    them: a model predicting class 0 is right on every test example of seed 0 and on none of
    seed 1's."""
    x = torch.eye(3)[torch.arange(12) % 3]
    return Dataset(
        train_x=x,
        train_y=torch.arange(12) % 4,
        test_x=torch.ones(10 + seed, 3),
        test_y=torch.full((10 + seed,), seed),
        classes=("a", "b", "c", "d"),
        resplit=labelled_by_seed,
    )


def test_each_seed_is_scored_on_its_own_split(tmp_path):
    results = runs.Results(tmp_path)
    flat = SoftmaxRegression.from_weights(torch.zeros(3, 4), torch.zeros(4))  # p = 1/4, says 0
    for seed in (0, 1):
        results.save_weights(RunConfig("ce", seed=seed), flat.state_dict())
    table = pd.DataFrame([{"loss": "ce", "device": "cpu", "seed": s} for s in (0, 1)])
    data = labelled_by_seed(0)  # what the report loads: the seed-0 split
    metrics, bins = evaluation.calibration_table(tmp_path, table, data)
    ece = metrics.set_index(["seed", "scaling"])["ece"]
    # confidence 1/4 everywhere: accuracy 1 on seed 0's test set, 0 on seed 1's
    assert ece[(0, "before")] == pytest.approx(0.75) and ece[(1, "before")] == pytest.approx(0.25)
    assert ece[(1, "after")] == pytest.approx(0.25)  # flat scores: no T changes them
    assert bins.groupby(["seed", "scaling"])["accuracy"].first().loc[1].tolist() == [0.0, 0.0]
    recall = evaluation.per_class_accuracy(tmp_path, table, data, data.classes)
    recall = recall.set_index(["seed", "class"])["accuracy"]
    assert recall[(0, "a")] == 1.0 and recall[(1, "a")] == 0.0 and recall[(1, "b")] == 0.0


def memoriser(scale: float = 8.0):
    """40 one-hot training inputs with alternating labels, fitted at margin ``scale``; the test
    set repeats them 5 times with 3 labels in 10 flipped: accuracy 0.7 at confidence σ(scale)."""
    x = torch.eye(40)
    y = torch.arange(40) % 2
    W = torch.full((40, 2), -scale / 2)
    W[torch.arange(40), y] = scale / 2
    flipped = (torch.arange(200) % 10) < 3
    data = Dataset(
        train_x=x,
        train_y=y,
        test_x=x.repeat(5, 1),
        test_y=torch.where(flipped, 1 - y.repeat(5), y.repeat(5)),
        classes=("a", "b"),
    )
    return data, SoftmaxRegression.from_weights(W, torch.zeros(2))


def test_a_memorising_model_gets_its_temperature_from_examples_it_did_not_train_on(tmp_path):
    data, model = memoriser()
    runs.Results(tmp_path).save_weights(RunConfig("ce"), model.state_dict())
    table = pd.DataFrame([{"loss": "ce", "device": "cpu", "seed": 0}])
    metrics, _ = evaluation.calibration_table(tmp_path, table, data)
    after = metrics.set_index("scaling").loc["after"]
    # held out: confidence σ(8/T) should be 0.7, T = 8 / log(7/3) ≈ 9.4 (each half near 0.7)
    assert after["temperature"] == pytest.approx(8 / math.log(7 / 3), rel=0.15)
    before = metrics.set_index("scaling").loc["before"]
    assert before["ece"] == pytest.approx(1 / (1 + math.exp(-8)) - 0.7)
    assert after["ece"] < before["ece"] / 3
    # the examples it trained on (the old rule: a validation split of the training set) say
    # sharpen: every one is right, so the NLL falls as T does
    trained = data.validation_split(fraction=0.5)
    assert calibration.fit_temperature(model.scores(trained.test_x), trained.test_y) < 0.1
