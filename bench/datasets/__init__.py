"""Datasets as parts: a registry of dataset specs (``--dataset fashion_mnist``), each one module.

from bench import datasets
datasets.names()                            # registered names
data = datasets.load("fashion_mnist", root)  # a Dataset on the CPU
"""

from __future__ import annotations

from pathlib import Path

from bench.datasets import (  # noqa: F401  (fill the registry)
    breast_cancer,
    digits,
    fashion_mnist,
    fashion_mnist_lt,
    fashion_mnist_subset,
    npz,
)
from bench.datasets.base import VALIDATION_FRACTION, DataError, Dataset, DatasetPart

__all__ = ["VALIDATION_FRACTION", "DataError", "Dataset", "DatasetPart", "load", "names", "parse"]
DEFAULT = "fashion_mnist"


def names() -> list[str]:
    return DatasetPart.names()


def parse(spec: str) -> DatasetPart:
    """The dataset part of ``spec``; ValueError (one line) for an unknown name or parameter."""
    return DatasetPart.parse(spec)


def canonical(spec: str) -> str:
    """The spec as results.csv writes it."""
    return str(parse(spec))


def load(spec: str, root: Path | str = "data") -> Dataset:
    """Provision (where the dataset has files) and load ``spec`` onto the CPU."""
    part = parse(spec)
    part.provision(Path(root), quiet=True)
    return part.load(Path(root))
