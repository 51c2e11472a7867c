"""bench/datasets/breast_cancer.py: the binary dataset, split, standardised on train, trainable."""

import pytest
import torch
from sklearn.datasets import load_breast_cancer

from bench import datasets
from bench.datasets import breast_cancer
from bench.training.loop import RunConfig, train


@pytest.fixture(scope="module")
def data():
    return datasets.load("breast_cancer")


def test_shapes_dtypes_classes_and_metadata(data):
    assert data.train_x.shape == (426, 30) and data.test_x.shape == (143, 30)
    assert data.train_y.shape == (426,) and data.test_y.shape == (143,)
    assert data.train_x.dtype == data.test_x.dtype == torch.float32
    assert data.train_y.dtype == data.test_y.dtype == torch.int64
    assert data.classes == ("malignant", "benign") and data.num_classes == 2
    assert data.image_shape is None and data.pairs is None
    assert data.spec == "breast_cancer" == datasets.canonical("breast_cancer")
    assert "25% test, a new split per seed: seed 0 here" in data.notes[0]
    assert "standardised" in data.notes[0]


def test_the_split_is_stratified(data):
    labels = torch.as_tensor(load_breast_cancer().target)
    everywhere = labels.double().mean()  # share of benign: 357 / 569
    assert torch.bincount(torch.cat([data.train_y, data.test_y])).tolist() == [212, 357]
    for split in (data.train_y, data.test_y):
        assert abs(split.double().mean() - everywhere) < 0.01


def test_features_are_standardised_on_the_training_split_only(data):
    x = data.train_x.double()
    torch.testing.assert_close(x.mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        x.std(0, unbiased=False), torch.ones(30, dtype=torch.float64), atol=1e-5, rtol=0
    )
    test_mean = data.test_x.double().mean(0)
    assert test_mean.abs().max() > 0.01 and test_mean.abs().max() < 1  # same scale, not refit


def test_loading_again_gives_identical_tensors(data):
    again = breast_cancer.BreastCancer().load(None)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(data, name), getattr(again, name))


def test_validation_split_works_on_two_classes(data):
    part = data.validation_split()
    assert torch.bincount(part.test_y).tolist() == [round(159 / 6), round(267 / 6)]
    assert part.num_classes == 2 and part.train_x.shape[1] == 30


def test_three_epochs_of_ce_reach_a_sensible_accuracy(data):
    rows = []
    train(
        RunConfig("ce", epochs=3, lr=0.5, batch_size=64, dataset="breast_cancer"),
        data,
        on_epoch=rows.append,
    )
    assert rows[-1]["status"] == "ok"
    assert rows[-1]["test_acc"] > 0.9  # scikit-learn's LogisticRegression: 0.958-0.965
