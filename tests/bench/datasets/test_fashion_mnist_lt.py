"""bench/datasets/fashion_mnist_lt.py: the exponential long-tail profile and its seeded subset.

The profile and the parameters are checked without data; tests marked ``realdata`` subset the
real Fashion-MNIST in the checkout's data/.
"""

import math
from pathlib import Path

import pytest
import torch

from bench import datasets
from bench.datasets import fashion_mnist_lt as lt
from bench.datasets.base import DataError

DATA = Path(__file__).resolve().parents[3] / "data"


def test_ratio_100_gives_cao_et_als_counts():
    counts = lt.class_counts(100, 6000, 10)
    assert counts == [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]
    assert sum(counts) == 14886  # the DESIGN's probe


@pytest.mark.parametrize("ratio", [1, 2.5, 10, 50, 100, 200, 3000])
def test_counts_follow_the_exponential_profile(ratio):
    counts = lt.class_counts(ratio, 6000, 10)
    assert counts[0] == 6000 and counts == sorted(counts, reverse=True)
    for c, n in enumerate(counts):  # ⌊6000 · ratio^(−c/9)⌋
        assert n <= 6000 * ratio ** (-c / 9) + 1e-6 < n + 1
    assert counts[-1] == math.floor(6000 / ratio + 1e-9)  # max/min is the ratio, within ⌊⌋


def test_spec_is_canonical_with_the_default_ratio():
    assert datasets.canonical("fashion_mnist_lt") == "fashion_mnist_lt:ratio=100"
    assert datasets.canonical("fashion_mnist_lt:ratio=100.0") == "fashion_mnist_lt:ratio=100"
    assert datasets.canonical("fashion_mnist_lt:ratio=12.5") == "fashion_mnist_lt:ratio=12.5"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("fashion_mnist_lt:ratio=0.5", "ratio must be a finite number >= 1"),
        ("fashion_mnist_lt:ratio=inf", "ratio must be a finite number >= 1"),
        ("fashion_mnist_lt:ratio=many", "ratio must be a number, got 'many'"),
        ("fashion_mnist_lt:ratio=5000", "leaves the smallest class 1 image"),
        ("fashion_mnist_lt:seed=3", "has no parameter seed; its parameters are: ratio"),
    ],
)
def test_bad_ratios_are_one_line_value_errors(spec, words):
    with pytest.raises(ValueError, match=words) as info:
        datasets.parse(spec)
    assert "\n" not in str(info.value)


def test_long_tail_thins_any_dataset_by_its_smallest_class(make_data):
    data = make_data(n_train=3000, n_test=50, classes=4, features=5)
    n_max = int(torch.bincount(data.train_y).min())
    thinned = lt.long_tail(data, ratio=8)
    assert torch.bincount(thinned.train_y).tolist() == lt.class_counts(8, n_max, 4)
    assert torch.equal(thinned.test_x, data.test_x) and thinned.classes == data.classes
    with pytest.raises(DataError, match=r"leaves class 'class 3' \d training image") as info:
        lt.long_tail(make_data(n_train=40, classes=4, features=5), ratio=10)
    assert "\n" not in str(info.value)


def row_keys(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """An exact integer key per (image, label): grey levels against two fixed random weight
    vectors in float32 (weights below 84 keep every partial sum an integer below 2**24, so the
    sums are exact in any order), packed with the label into one int64."""
    weights = torch.randint(0, 84, (x.shape[1], 2), generator=torch.Generator().manual_seed(0))
    sums = ((x * 255).round() @ weights.float()).long()
    return (sums[:, 0] * 2**24 + sums[:, 1]) * 16 + y


@pytest.fixture(scope="module")
def long_tailed(fashion_mnist):
    part = datasets.parse("fashion_mnist_lt:ratio=100")
    part.provision(DATA, quiet=True)
    return part.load(DATA)


@pytest.mark.realdata
def test_ratio_100_keeps_14886_real_training_images_and_the_whole_test_set(
    long_tailed, fashion_mnist
):
    data = long_tailed
    counts = torch.bincount(data.train_y, minlength=10)
    assert counts.tolist() == lt.class_counts(100, 6000, 10) and counts.sum() == 14886
    assert counts.max() / counts.min() == 100
    assert data.train_x.shape == (14886, 784) and data.train_x.dtype == torch.float32
    assert data.train_y.dtype == torch.int64
    full = row_keys(fashion_mnist.train_x, fashion_mnist.train_y)
    order = full.argsort()
    ours = row_keys(data.train_x, data.train_y)
    where = order[torch.searchsorted(full[order], ours).clamp(max=len(full) - 1)]
    assert torch.equal(full[where], ours)  # every image, with its label, is a real one
    assert torch.equal(fashion_mnist.train_x[where], data.train_x)
    assert len(where.unique()) == 14886  # no image drawn twice
    assert torch.equal(data.test_x, fashion_mnist.test_x)
    assert torch.equal(data.test_y, fashion_mnist.test_y)
    assert data.classes == fashion_mnist.classes and data.image_shape == (28, 28)
    assert data.pairs == ((0, 6), (2, 4)) and data.spec == "fashion_mnist_lt:ratio=100"
    assert "14,886 training images" in data.notes[0]
    assert "6,000 (t-shirt) down to 60 (ankle boot)" in data.notes[0]


@pytest.mark.realdata
def test_the_subset_is_seeded_and_fixed(long_tailed, fashion_mnist):
    again = lt.long_tail(fashion_mnist, 100)
    assert torch.equal(again.train_x, long_tailed.train_x)
    assert torch.equal(again.train_y, long_tailed.train_y)
    other = lt.long_tail(fashion_mnist, 100, seed=1)
    assert not torch.equal(other.train_x, long_tailed.train_x)


@pytest.mark.realdata
def test_ratio_1_is_the_full_balanced_training_set(fashion_mnist):
    data = lt.long_tail(fashion_mnist, 1)
    assert torch.equal(data.train_x, fashion_mnist.train_x)
    assert torch.equal(data.train_y, fashion_mnist.train_y)


@pytest.mark.realdata
def test_validation_split_holds_out_a_sixth_of_each_class(long_tailed):
    part = long_tailed.validation_split()
    expected = [round(n / 6) for n in lt.class_counts(100, 6000, 10)]
    assert torch.bincount(part.test_y, minlength=10).tolist() == expected
    assert part.train_x.shape[0] + part.test_x.shape[0] == 14886
