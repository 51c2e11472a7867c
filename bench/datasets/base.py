"""What a dataset is: a registered part that loads into tensors plus the metadata the bench reads.

Nothing else in ``bench/`` assumes a number of inputs, classes or an image side: each comes from
the :class:`Dataset` a part loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import torch

from bench.parts import Part

# The validation split: this share of each class's training examples, held out, seeded. On
# Fashion-MNIST it is the 10,000 images (1,000 per class) that the tuning protocol has always used.
VALIDATION_FRACTION = 1 / 6
# A class needs this many training examples for the stratified split to leave it on both sides.
MIN_PER_CLASS = 2


class DataError(ValueError):
    """Data that cannot be used as asked; the one-line message names the file and the fix."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset's tensors on one device, and what the bench needs to know about it.

    Shape: train_x (N, D) float32, train_y (N,) int64 in [0, K); test_x (M, D), test_y (M,).
    ``classes`` names the K classes in label order; ``image_shape`` is (H, W) for images, None
    otherwise; ``pairs`` the class pairs that class-conditional noise flips, None when the dataset
    defines none; ``spec`` the part's spec string; ``notes`` what the report should say about how
    the data were made (a split, a subset, scaling). ``resplit``, where a dataset has no fixed
    test set, draws the train/test split of a seed (:meth:`for_seed`); None keeps one split.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    image_shape: tuple[int, ...] | None = None
    pairs: tuple[tuple[int, int], ...] | None = None
    spec: str = ""
    notes: tuple[str, ...] = ()
    resplit: Callable[[int], Dataset] | None = dataclasses.field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_features(self) -> int:
        return self.train_x.shape[1]

    @property
    def prior(self) -> torch.Tensor:
        """The training label prior π (K,), float64: each class's share of the training labels."""
        counts = torch.bincount(self.train_y.cpu(), minlength=self.num_classes).double()
        return counts / counts.sum()

    def to(self, device: str | torch.device) -> Dataset:
        """The same dataset on ``device`` (no copy where a tensor is there already)."""
        return dataclasses.replace(
            self,
            **{
                name: getattr(self, name).to(device)
                for name in ("train_x", "train_y", "test_x", "test_y")
            },
        )

    def for_seed(self, seed: int) -> Dataset:
        """The dataset a run of ``seed`` trains and tests on: this one, or where the part draws
        a split per seed (``resplit``), that seed's split, on this dataset's device. Every run
        of one seed, whatever its loss, gets the same split."""
        if self.resplit is None:
            return self
        return self.resplit(seed).to(self.train_x.device)

    def validation_split(self, fraction: float = VALIDATION_FRACTION, seed: int = 0) -> Dataset:
        """Stratified hold-out of the training set: round(fraction × n_c) examples of each class
        c (at least one), seeded; the returned dataset trains on the rest and tests on them, so
        a trainer's test accuracy on it is the validation accuracy."""
        generator = torch.Generator().manual_seed(seed)
        labels = self.train_y.cpu()
        held = []
        for c in range(self.num_classes):
            members = (labels == c).nonzero().squeeze(1)
            if len(members) < MIN_PER_CLASS:
                raise DataError(
                    f"{self.spec or 'dataset'}: class {self.classes[c]!r} has {len(members)} "
                    f"training example(s); the stratified validation split needs at least "
                    f"{MIN_PER_CLASS} per class"
                )
            size = min(len(members) - 1, max(1, round(len(members) * fraction)))
            held.append(members[torch.randperm(len(members), generator=generator)[:size]])
        held = torch.cat(held)
        keep = torch.ones(len(labels), dtype=torch.bool)
        keep[held] = False
        kept = keep.nonzero().squeeze(1)
        held, kept = held.to(self.train_x.device), kept.to(self.train_x.device)
        return dataclasses.replace(
            self,
            train_x=self.train_x[kept],
            train_y=self.train_y[kept],
            test_x=self.train_x[held],
            test_y=self.train_y[held],
        )

    def fingerprint(self) -> str:
        """A short hash of the four tensors and the class names: the same spec over other data
        (another --data folder, another file) gets another fingerprint."""
        digest = hashlib.blake2b(digest_size=8)
        for name in ("train_x", "train_y", "test_x", "test_y"):
            tensor = getattr(self, name).detach().cpu().contiguous()
            digest.update(str((name, tuple(tensor.shape), str(tensor.dtype))).encode())
            digest.update(tensor.numpy().tobytes())
        digest.update("\0".join(self.classes).encode())
        return digest.hexdigest()


class DatasetPart(Part):
    """A registered dataset: ``load(root)`` returns a :class:`Dataset` on the CPU.

    ``root`` is the data folder (``--data``) for datasets that live in files there; parts that
    ship inside a package or name their own file ignore it.
    """

    kind: ClassVar[str] = "dataset"
    registry: ClassVar[dict[str, type[DatasetPart]]] = {}

    def load(self, root: Path) -> Dataset:
        raise NotImplementedError

    def provision(self, root: Path, *, quiet: bool = False) -> None:
        """Make the dataset's files available under ``root`` (most datasets need nothing)."""
