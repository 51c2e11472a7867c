"""scikit-learn's 8×8 handwritten digits: a small image dataset that ships with scikit-learn.

1,797 images of 8×8 pixels (grey levels 0..16) in 10 nearly balanced classes (Alpaydin & Kaynak,
UCI). There is no official test set, so the part cuts a seeded, stratified one, a new one per seed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from bench.datasets.base import Dataset, DatasetPart

TEST_FRACTION = 0.25
SPLIT_SEED = 0
SIDE = 8
MAX_PIXEL = 16  # grey levels run 0..16


@dataclasses.dataclass(frozen=True)
class Digits(DatasetPart, name="digits"):
    """scikit-learn's ``load_digits``: 1,347 training and 450 test images (25% test, stratified,
    seed 0), pixels ÷ 16 into [0, 1], flattened to 64 inputs, classes "0".."9".

    No files: ``root`` is ignored. No class pairs, so class-conditional noise does not apply.
    """

    def load(self, root: Path | None = None) -> Dataset:
        return self.split(SPLIT_SEED)

    def split(self, seed: int) -> Dataset:
        """The stratified split of ``seed`` (``SPLIT_SEED`` is :meth:`load`'s); the dataset's
        ``resplit``, so each seed of a study draws its own (:meth:`Dataset.for_seed`)."""
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        train_x, test_x, train_y, test_y = train_test_split(
            bunch.data,
            bunch.target,
            test_size=TEST_FRACTION,
            random_state=seed,
            stratify=bunch.target,
        )
        tensors = {
            "train_x": torch.as_tensor(train_x / MAX_PIXEL, dtype=torch.float32),
            "train_y": torch.as_tensor(train_y, dtype=torch.int64),
            "test_x": torch.as_tensor(test_x / MAX_PIXEL, dtype=torch.float32),
            "test_y": torch.as_tensor(test_y, dtype=torch.int64),
        }
        n_train, n_test = len(train_y), len(test_y)
        notes = (
            f"scikit-learn's 8×8 digits ({n_train + n_test:,} images): a stratified split of "
            f"{n_train:,} training and {n_test:,} test images ({TEST_FRACTION:.0%} test, a new "
            f"split per seed: seed {seed} here); pixels divided by {MAX_PIXEL} into [0, 1].",
        )
        return Dataset(
            **tensors,
            classes=tuple(str(name) for name in bunch.target_names),
            image_shape=(SIDE, SIDE),
            pairs=None,
            spec=str(self),
            notes=notes,
            resplit=self.split,
        )
