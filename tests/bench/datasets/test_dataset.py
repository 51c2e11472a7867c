"""What every dataset shares: the stratified validation split, the prior, the fingerprint."""

import dataclasses

import pytest
import torch

from bench import datasets
from bench.datasets import DataError, Dataset


def test_validation_split_is_a_stratified_fraction_disjoint_and_seeded(make_data):
    data = make_data(n_train=2000)
    part = data.validation_split(0.25, seed=0)
    per_class = torch.bincount(data.train_y, minlength=10)
    held = torch.bincount(part.test_y, minlength=10)
    assert torch.equal(held, (per_class.double() * 0.25).round().long())
    assert part.train_x.shape[0] + part.test_x.shape[0] == 2000
    seen = {tuple(row[:5].tolist()) for row in part.test_x}
    kept = {tuple(row[:5].tolist()) for row in part.train_x}
    assert not seen & kept  # every held-out example is gone from the training part
    assert torch.equal(part.test_x, data.validation_split(0.25, seed=0).test_x)
    assert not torch.equal(part.test_x, data.validation_split(0.25, seed=1).test_x)
    assert part.classes == data.classes and part.spec == data.spec


def test_a_class_too_small_to_split_is_a_one_line_error(make_data):
    data = make_data(n_train=50, classes=3)
    lonely = dataclasses.replace(data, train_y=torch.where(data.train_y == 2, 1, data.train_y))
    lonely = dataclasses.replace(
        lonely, train_y=torch.cat([lonely.train_y[:-1], torch.tensor([2])])
    )
    with pytest.raises(DataError, match="class 'class 2' has 1 training example") as info:
        lonely.validation_split()
    assert "\n" not in str(info.value)


def test_prior_and_shape_metadata(make_data):
    data = make_data(n_train=400, features=7, classes=4)
    assert (data.num_features, data.num_classes) == (7, 4)
    counts = torch.bincount(data.train_y, minlength=4).double()
    torch.testing.assert_close(data.prior, counts / 400)


def test_fingerprint_tells_other_data_apart(make_data):
    data = make_data()
    assert data.fingerprint() == make_data().fingerprint()
    changed = data.train_x.clone()
    changed[3, 5] += 0.5
    assert dataclasses.replace(data, train_x=changed).fingerprint() != data.fingerprint()
    assert make_data(seed=1).fingerprint() != data.fingerprint()


def test_registry_parses_specs_and_names_the_registered():
    assert "fashion_mnist" in datasets.names()
    assert datasets.canonical("fashion_mnist") == "fashion_mnist"
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; registered datasets: "):
        datasets.parse("cifar")
    with pytest.raises(ValueError, match="has no parameter ratio"):
        datasets.parse("fashion_mnist:ratio=3")


@pytest.mark.realdata
def test_fashion_mnist_validation_split_holds_out_1000_per_class(fashion_mnist):
    part = fashion_mnist.validation_split()
    assert (torch.bincount(part.test_y, minlength=10) == 1000).all()
    assert part.train_x.shape == (50000, 784)
    assert isinstance(fashion_mnist, Dataset) and fashion_mnist.image_shape == (28, 28)
    assert fashion_mnist.pairs == ((0, 6), (2, 4)) and fashion_mnist.num_classes == 10
