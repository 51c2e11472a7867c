"""Evaluation of saved weights: confusion counts, per-class accuracy and calibration tables."""

import pandas as pd
import torch

from bench.analysis import evaluation
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
