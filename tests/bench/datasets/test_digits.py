"""bench/datasets/digits.py: scikit-learn's 8×8 digits, split, scaled, and trainable."""

import pytest
import torch
from sklearn.datasets import load_digits

from bench import datasets
from bench.datasets import digits
from bench.training.loop import RunConfig, train


@pytest.fixture(scope="module")
def data():
    return datasets.load("digits")


def test_shapes_dtypes_classes_and_metadata(data):
    assert data.train_x.shape == (1347, 64) and data.test_x.shape == (450, 64)
    assert data.train_y.shape == (1347,) and data.test_y.shape == (450,)
    assert data.train_x.dtype == data.test_x.dtype == torch.float32
    assert data.train_y.dtype == data.test_y.dtype == torch.int64
    assert data.train_x.device.type == "cpu"
    assert data.classes == tuple("0123456789") and data.num_classes == 10
    assert data.image_shape == (8, 8) and data.pairs is None
    assert data.spec == "digits" == datasets.canonical("digits")
    assert "25% test, a new split per seed: seed 0 here" in data.notes[0]
    assert "divided by 16" in data.notes[0]


def test_the_split_partitions_the_bundled_images_stratified(data):
    bunch = load_digits()
    together = torch.cat([data.train_x, data.test_x]) * 16
    labels = torch.cat([data.train_y, data.test_y])
    original = torch.as_tensor(bunch.data, dtype=torch.float32)
    key = torch.randint(0, 2**20, (64,), generator=torch.Generator().manual_seed(0))
    ours = (together.round().long() @ key) * 10 + labels
    theirs = (original.long() @ key) * 10 + torch.as_tensor(bunch.target)
    assert torch.equal(ours.sort().values, theirs.sort().values)
    total = torch.bincount(labels, minlength=10).double()
    held = torch.bincount(data.test_y, minlength=10).double()
    assert ((held - 0.25 * total).abs() <= 1).all()  # each class ≈ 25% in the test split


def test_pixels_are_scaled_into_the_unit_interval(data):
    for x in (data.train_x, data.test_x):
        assert x.min() == 0 and x.max() == 1
    assert torch.equal(data.train_x * 16, (data.train_x * 16).round())  # grey levels / 16


def test_loading_again_gives_identical_tensors(data):
    again = digits.Digits().load(None)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(data, name), getattr(again, name))
    assert again.fingerprint() == data.fingerprint()


def test_validation_split_holds_out_a_sixth_of_each_class(data):
    part = data.validation_split()
    per_class = torch.bincount(data.train_y, minlength=10).double()
    assert torch.equal(torch.bincount(part.test_y, minlength=10), (per_class / 6).round().long())
    assert part.train_x.shape[0] + part.test_x.shape[0] == 1347


def test_digits_takes_no_parameters():
    with pytest.raises(ValueError, match="dataset digits has no parameter seed") as info:
        datasets.parse("digits:seed=1")
    assert "\n" not in str(info.value)


def test_three_epochs_of_ce_reach_a_sensible_accuracy(data):
    rows = []
    train(
        RunConfig("ce", epochs=3, lr=0.5, batch_size=64, dataset="digits"),
        data,
        on_epoch=rows.append,
    )
    assert len(rows) == 3 and rows[-1]["status"] == "ok"
    assert rows[-1]["test_acc"] > 0.9  # scikit-learn's LogisticRegression: 0.967-0.969
