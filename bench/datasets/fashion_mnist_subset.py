"""A stratified subset of Fashion-MNIST's training set, a new draw per seed: where nets memorise.

A network with a few hundred thousand weights fits 10,000 images, wrong labels included, within
tens of epochs of CPU time; on all 60,000 the same budget barely reaches the clean pattern. So
the memorisation workload trains on ``size`` training images, each class's share of the full
training set (size/10 per class on balanced Fashion-MNIST), drawn per seed, and tests on the
full 10,000-image test set. Which images a seed draws is fixed by the seed, so every loss of one
seed trains on the same images (:meth:`bench.datasets.Dataset.for_seed`).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import torch

from bench.datasets import fashion_mnist
from bench.datasets.base import MIN_PER_CLASS, DataError, Dataset, DatasetPart

# Generator seed of seed s's draw: SEED_OFFSET + s, away from the seeds the validation split
# (seed 0) and the noise (10,007 + s) draw with, so the three draws are not the same stream.
SEED_OFFSET = 20_011
DEFAULT_SIZE = 10_000


def class_counts(available: torch.Tensor, size: int) -> list[int]:
    """Per class, its share of ``size`` in proportion to ``available`` (K,) counts: the floor of
    each share, the rest handed one by one to the largest remainders (ties to the lower class)."""
    shares = available.double() * size / available.sum()
    counts = shares.floor().long()
    rest = size - int(counts.sum())
    order = sorted(range(len(counts)), key=lambda c: (-(shares[c] - counts[c]).item(), c))
    for c in order[:rest]:
        counts[c] += 1
    return counts.tolist()


def draw(full: Dataset, size: int, seed: int) -> Dataset:
    """``full`` with its training set cut to a stratified random subset of ``size`` examples
    (:func:`class_counts`), drawn with seed ``SEED_OFFSET + seed`` and kept in their original
    order; the test set unchanged. Shape: train_x (size, D), train_y (size,)."""
    labels = full.train_y.cpu()
    available = torch.bincount(labels, minlength=full.num_classes)
    if size > len(labels):
        raise DataError(f"{full.spec}: size {size:,} exceeds the {len(labels):,} training images")
    counts = class_counts(available, size)
    generator = torch.Generator().manual_seed(SEED_OFFSET + seed)
    kept = []
    for c, count in enumerate(counts):
        members = (labels == c).nonzero().squeeze(1)
        kept.append(members[torch.randperm(len(members), generator=generator)[:count]])
    kept = torch.cat(kept).sort().values.to(full.train_x.device)
    n_test = len(full.test_y)
    notes = (
        f"A stratified subset of Fashion-MNIST's training set: {size:,} of its "
        f"{len(labels):,} images ({min(counts):,}–{max(counts):,} per class), a new draw per "
        f"seed (seed {seed} here); the full test set of {n_test:,} images.",
    )
    return dataclasses.replace(
        full,
        train_x=full.train_x[kept],
        train_y=full.train_y[kept],
        notes=notes,
        resplit=functools.partial(draw, full, size),
    )


@dataclasses.dataclass(frozen=True)
class FashionMNISTSubset(DatasetPart, name="fashion_mnist_subset"):
    """``size`` Fashion-MNIST training images, stratified (size/10 per class), a new draw per
    seed (``for_seed``; seed 0 is what ``load`` returns); the full 10,000-image test set.

    Files: Fashion-MNIST's (``--data ROOT``), provisioned and read by
    :mod:`bench.datasets.fashion_mnist`. Class pairs as Fashion-MNIST's.
    """

    size: int = DEFAULT_SIZE

    def validate_params(self) -> None:
        classes = len(fashion_mnist.CLASSES)
        smallest, largest = classes * MIN_PER_CLASS, fashion_mnist.COUNTS["train"]
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ValueError(f"fashion_mnist_subset: size must be an integer, got {self.size!r}")
        if not smallest <= self.size <= largest:
            raise ValueError(
                f"fashion_mnist_subset: size must lie in [{smallest}, {largest}] (at least "
                f"{MIN_PER_CLASS} images per class for the validation split), got {self.size}"
            )

    def provision(self, root: Path, *, quiet: bool = False) -> None:
        fashion_mnist.provision(root, quiet=quiet)

    def load(self, root: Path) -> Dataset:
        full = dataclasses.replace(fashion_mnist.load(root), spec=str(self))
        return draw(full, self.size, 0)
