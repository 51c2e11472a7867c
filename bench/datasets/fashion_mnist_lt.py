"""Long-tailed Fashion-MNIST: the training set thinned to an exponential class profile.

The profile of Cao et al. 2019 (LDAM-DRW, their ``get_img_num_per_cls``): class c of K keeps
n_c = ⌊n_max · R^(−c/(K−1))⌋ images, so class 0 keeps all n_max = 6,000 and class K−1 keeps
n_max / R; R = ``ratio`` is the imbalance ratio. Which images a class keeps is a seeded draw,
fixed here so every run sees the same set. The test set stays the balanced original, so test
accuracy weighs every class alike. At R = 100: 6,000 … 60 images, 14,886 in all.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from bench.datasets import fashion_mnist
from bench.datasets.base import MIN_PER_CLASS, DataError, Dataset, DatasetPart

SUBSET_SEED = 0
PER_CLASS = fashion_mnist.COUNTS["train"] // len(fashion_mnist.CLASSES)  # 6,000


def class_counts(ratio: float, n_max: int, num_classes: int) -> list[int]:
    """n_c = ⌊n_max · ratio^(−c/(K−1))⌋ for c = 0..K−1 (a hair of slack so that an exact
    power, such as 6000/100 = 60, does not round down through float error)."""
    return [int(n_max * ratio ** (-c / (num_classes - 1)) + 1e-9) for c in range(num_classes)]


def long_tail(full: Dataset, ratio: float, seed: int = SUBSET_SEED) -> Dataset:
    """``full`` with its training set thinned to the exponential profile of ``ratio``, each class
    a seeded random subset of its images kept in their original order; the test set unchanged.
    n_max is the smallest class's size in ``full`` (every class must have that many to give)."""
    available = torch.bincount(full.train_y.cpu(), minlength=full.num_classes)
    counts = class_counts(ratio, int(available.min()), full.num_classes)
    if min(counts) < MIN_PER_CLASS:
        raise DataError(
            f"{full.spec}: ratio {ratio:g} leaves class {full.classes[-1]!r} "
            f"{min(counts)} training image(s); the validation split needs "
            f"{MIN_PER_CLASS} per class"
        )
    generator = torch.Generator().manual_seed(seed)
    labels = full.train_y.cpu()
    kept = []
    for c, count in enumerate(counts):
        members = (labels == c).nonzero().squeeze(1)
        kept.append(members[torch.randperm(len(members), generator=generator)[:count]])
    kept = torch.cat(kept).sort().values.to(full.train_x.device)
    return dataclasses.replace(full, train_x=full.train_x[kept], train_y=full.train_y[kept])


@dataclasses.dataclass(frozen=True)
class FashionMNISTLT(DatasetPart, name="fashion_mnist_lt"):
    """Fashion-MNIST with a long-tailed training set: the largest class (t-shirt, 6,000 images)
    ``ratio`` times the smallest (ankle boot), exponential in between; the balanced 10,000-image
    test set. ``ratio=1`` is the full balanced training set.

    Files: Fashion-MNIST's (``--data ROOT``), provisioned and read by
    :mod:`bench.datasets.fashion_mnist`. Class pairs as Fashion-MNIST's.
    """

    ratio: float = 100.0

    def validate_params(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, int | float):
            raise ValueError(f"fashion_mnist_lt: ratio must be a number, got {self.ratio!r}")
        if not (math.isfinite(self.ratio) and self.ratio >= 1):
            raise ValueError(
                f"fashion_mnist_lt: ratio must be a finite number >= 1 (the largest "
                f"class over the smallest), got {self.ratio:g}"
            )
        smallest = class_counts(self.ratio, PER_CLASS, len(fashion_mnist.CLASSES))[-1]
        if smallest < MIN_PER_CLASS:
            raise ValueError(
                f"fashion_mnist_lt: ratio {self.ratio:g} leaves the smallest class "
                f"{smallest} image(s); the validation split needs {MIN_PER_CLASS} "
                f"(ratio at most {PER_CLASS // MIN_PER_CLASS})"
            )
        object.__setattr__(self, "ratio", float(self.ratio))  # one spec for ratio=100 and 100.0

    def provision(self, root: Path, *, quiet: bool = False) -> None:
        fashion_mnist.provision(root, quiet=quiet)

    def load(self, root: Path) -> Dataset:
        full = dataclasses.replace(fashion_mnist.load(root), spec=str(self))
        data = long_tail(full, self.ratio)
        counts = torch.bincount(data.train_y, minlength=data.num_classes)
        if int(counts.min()) == int(counts.max()):
            train = f"the full balanced training set, {len(data.train_y):,} images"
        else:
            train = (
                f"{len(data.train_y):,} training images, {int(counts[0]):,} "
                f"({data.classes[0]}) down to {int(counts[-1]):,} ({data.classes[-1]}) per "
                f"class, each a fixed random subset (seed {SUBSET_SEED}) of its class"
            )
        notes = (
            f"Long-tailed Fashion-MNIST (exponential profile of Cao et al. 2019, ratio "
            f"{self.ratio:g}): {train}; the balanced test set of {len(data.test_y):,} images.",
        )
        return dataclasses.replace(data, notes=notes)
