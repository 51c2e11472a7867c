"""Normalized cross-entropy: bounded in [0, 1], 1/K at the even split, needs two classes."""

import pytest
import torch

import losses


def test_nce_lies_in_zero_one_and_is_one_over_k_at_the_even_split():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(200, 7, generator=g, dtype=torch.float64) * 5
    labels = torch.randint(0, 7, (200,), generator=g)
    value = losses.get("nce")(scores, labels)
    assert (value >= 0).all() and (value <= 1).all()
    even = losses.get("nce")(torch.zeros(3, 7, dtype=torch.float64), torch.tensor([0, 3, 6]))
    torch.testing.assert_close(even, torch.full((3,), 1 / 7, dtype=torch.float64))


def test_nce_is_cross_entropy_over_its_sum_over_every_label():
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(30, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (30,), generator=g)
    ce = losses.get("ce")
    every = sum(ce(scores, torch.full((30,), k)) for k in range(4))
    torch.testing.assert_close(losses.get("nce")(scores, labels), ce(scores, labels) / every)


def test_nce_needs_two_classes():
    with pytest.raises(ValueError, match="nce needs at least 2 classes, got K = 1"):
        losses.get("nce")(torch.zeros(3, 1), torch.zeros(3, dtype=torch.int64))
