"""Shared fixtures for the bench tests: a small synthetic dataset (by default the real shapes)."""

import pytest
import torch

from bench.datasets import Dataset


def synthetic(n_train=300, n_test=100, seed=0, features=784, classes=10, pairs=((0, 6), (2, 4))):
    """Well-separated classes, inputs in [0, 1]; by default Fashion-MNIST's shapes (784 inputs,
    10 classes, its class pairs), as a Dataset."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(classes, features, generator=g)

    def draw(n):
        y = torch.randint(0, classes, (n,), generator=g)
        x = (centers[y] + 0.3 * torch.rand(n, features, generator=g)).clamp(0, 1)
        return x, y

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    return Dataset(
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=tuple(f"class {k}" for k in range(classes)),
        pairs=pairs,
        spec="synthetic",
    )


@pytest.fixture(scope="session")
def make_data():
    """``make_data(n_train=300, n_test=100, seed=0, features=784, classes=10)`` -> a Dataset."""
    return synthetic
