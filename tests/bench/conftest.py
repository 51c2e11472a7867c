"""Shared fixtures for the bench tests: a small synthetic dataset with the real shapes."""

from types import SimpleNamespace

import pytest
import torch


def synthetic(n_train=300, n_test=100, seed=0):
    """Well-separated classes with the real shapes (784 inputs in [0, 1], 10 classes)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(10, 784, generator=g)

    def draw(n):
        y = torch.randint(0, 10, (n,), generator=g)
        x = (centers[y] + 0.3 * torch.rand(n, 784, generator=g)).clamp(0, 1)
        return x, y

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    return SimpleNamespace(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)


@pytest.fixture(scope="session")
def make_data():
    """``make_data(n_train=300, n_test=100, seed=0)`` -> a synthetic dataset."""
    return synthetic
