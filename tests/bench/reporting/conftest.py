"""Fixtures of the report tests: synthetic datasets as the registry's Dataset objects."""

import pytest

from bench.datasets import Dataset
from bench.datasets.fashion_mnist import CLASSES, PAIRS


@pytest.fixture(scope="session")
def make_dataset(make_data):
    """``make_dataset(n_train, n_test, ...)`` -> a synthetic Fashion-MNIST-shaped Dataset."""

    def build(n_train=300, n_test=100, seed=0, spec="fashion_mnist"):
        data = make_data(n_train=n_train, n_test=n_test, seed=seed)
        return Dataset(
            data.train_x,
            data.train_y,
            data.test_x,
            data.test_y,
            classes=CLASSES,
            image_shape=(28, 28),
            pairs=PAIRS,
            spec=spec,
        )

    return build
