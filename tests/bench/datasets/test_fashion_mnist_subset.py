"""fashion_mnist_subset: a stratified subset of the training set, a new draw per seed, the full
test set."""

from pathlib import Path

import pytest
import torch

from bench import datasets
from bench.datasets import fashion_mnist_subset as subset

DATA = Path(__file__).resolve().parents[3] / "data"


def test_counts_are_proportional_and_sum_to_the_size():
    assert subset.class_counts(torch.full((10,), 6000), 10_000) == [1000] * 10
    # 7 over 3 equal classes: 2 each, the one left over to the first class
    assert subset.class_counts(torch.tensor([5, 5, 5]), 7) == [3, 2, 2]
    # 10 over 60:30:10 -> 6, 3, 1
    assert subset.class_counts(torch.tensor([60, 30, 10]), 10) == [6, 3, 1]


def test_spec_is_canonical_with_the_default_size():
    assert str(datasets.parse("fashion_mnist_subset")) == "fashion_mnist_subset:size=10000"
    assert datasets.canonical("fashion_mnist_subset:size=5000") == "fashion_mnist_subset:size=5000"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("fashion_mnist_subset:size=5", r"size must lie in \[20, 60000\]"),
        ("fashion_mnist_subset:size=70000", r"\[20, 60000\]"),
        ("fashion_mnist_subset:size=0.5", "size must be an integer"),
    ],
)
def test_bad_sizes_are_one_line_value_errors(spec, words):
    with pytest.raises(ValueError, match=words) as info:
        datasets.parse(spec)
    assert "\n" not in str(info.value)


def test_draw_is_stratified_seeded_and_keeps_the_test_set(make_data):
    full = make_data(n_train=600, n_test=50)
    counts = torch.bincount(full.train_y, minlength=10)
    one = subset.draw(full, 200, 1)
    assert torch.bincount(one.train_y, minlength=10).tolist() == subset.class_counts(counts, 200)
    assert torch.equal(one.test_x, full.test_x) and torch.equal(one.test_y, full.test_y)
    again, two = subset.draw(full, 200, 1), subset.draw(full, 200, 2)
    assert torch.equal(again.train_x, one.train_x)
    assert not torch.equal(two.train_x, one.train_x)
    # the per-seed draws come from for_seed, on the dataset's device
    assert torch.equal(one.for_seed(2).train_x, two.train_x)
    assert torch.equal(one.for_seed(1).train_x, one.train_x)


@pytest.fixture(scope="module")
def subset_data(fashion_mnist):
    part = datasets.parse("fashion_mnist_subset:size=10000")
    part.provision(DATA, quiet=True)
    return part.load(DATA)


def row_keys(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One int64 per image: two integer projections of its 0..255 pixels, exact in float32
    (weights below 84 keep every partial sum below 2**24), packed with its label."""
    weights = torch.randint(0, 84, (x.shape[1], 2), generator=torch.Generator().manual_seed(0))
    sums = ((x * 255).round() @ weights.float()).long()
    return (sums[:, 0] * 2**24 + sums[:, 1]) * 16 + y


def row_ids(data, full) -> torch.Tensor:
    """Where each training image of ``data`` sits in ``full``'s training set (exact match)."""
    keys, ours = row_keys(full.train_x, full.train_y), row_keys(data.train_x, data.train_y)
    order = keys.argsort()
    where = order[torch.searchsorted(keys[order], ours).clamp(max=len(keys) - 1)]
    assert torch.equal(full.train_x[where], data.train_x)
    return where


@pytest.mark.realdata
def test_10000_real_images_1000_per_class_a_new_draw_per_seed(subset_data, fashion_mnist):
    data = subset_data
    assert data.train_x.shape == (10_000, 784) and data.train_y.dtype == torch.int64
    assert torch.bincount(data.train_y, minlength=10).tolist() == [1000] * 10
    assert torch.equal(data.test_x, fashion_mnist.test_x)
    assert torch.equal(data.test_y, fashion_mnist.test_y)
    assert data.pairs == ((0, 6), (2, 4)) and data.image_shape == (28, 28)
    assert data.spec == "fashion_mnist_subset:size=10000"
    assert data.for_seed(0).fingerprint() == data.fingerprint()  # seed 0 is load()'s draw
    seeds = [data.for_seed(s) for s in (1, 2)]
    ids = [row_ids(d, fashion_mnist) for d in (data, *seeds)]
    assert all(len(i.unique()) == 10_000 for i in ids)  # no image drawn twice
    # independent draws of 1/6 of the set share about 1/6 of their images
    shared = torch.isin(ids[1], ids[2]).float().mean().item()
    assert 0.13 < shared < 0.20
    assert data.for_seed(1).fingerprint() == seeds[0].fingerprint()
    assert "10,000 of its 60,000 images" in data.notes[0]
