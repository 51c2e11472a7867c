"""A dataset part: scikit-learn's wine data (178 examples, 13 features, 3 classes).

Copy this file, rename the class and its ``name``, and change ``split``. Importing the file
registers the part: ``bench.compare(dataset="wine:test_fraction=0.3", ...)`` then builds it. For
the command line, add it to ``bench/datasets/`` (docs/extending/dataset.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from bench.datasets import Dataset, DatasetPart


@dataclasses.dataclass(frozen=True)
class Wine(DatasetPart, name="wine"):
    """scikit-learn's ``load_wine``: a stratified train/test split, a new one per seed, each
    feature standardised with the training split's mean and standard deviation.

    Shape: train_x (N, 13) float32, train_y (N,) int64 in [0, 3); test_x (M, 13), test_y (M,).
    """

    test_fraction: float = 0.25  # a spec parameter: wine:test_fraction=0.3

    def validate_params(self):
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")

    def load(self, root: Path | None = None) -> Dataset:  # root: the --data folder, unused here
        return self.split(seed=0)

    def split(self, seed: int) -> Dataset:
        """The stratified split of ``seed``. Wine has no fixed test set, so the dataset's
        ``resplit`` draws one per seed: every loss of a seed gets the same split, and the
        verdicts' intervals include the test set's sampling error."""
        from sklearn.datasets import load_wine
        from sklearn.model_selection import train_test_split

        bunch = load_wine()
        train_x, test_x, train_y, test_y = train_test_split(
            bunch.data,
            bunch.target,
            test_size=self.test_fraction,
            random_state=seed,
            stratify=bunch.target,
        )
        mean, sd = train_x.mean(0), train_x.std(0)  # the training split's, applied to both
        return Dataset(
            train_x=torch.as_tensor((train_x - mean) / sd, dtype=torch.float32),
            train_y=torch.as_tensor(train_y, dtype=torch.int64),
            test_x=torch.as_tensor((test_x - mean) / sd, dtype=torch.float32),
            test_y=torch.as_tensor(test_y, dtype=torch.int64),
            classes=tuple(str(name) for name in bunch.target_names),
            image_shape=None,  # (H, W) for images: models that need an image shape read it
            pairs=None,  # class pairs for pairs:RATE noise, e.g. ((0, 1),); None: none defined
            spec=str(self),
            notes=(
                f"scikit-learn's wine data, {self.test_fraction:.0%} test, stratified, a new "
                f"split per seed (seed {seed} here); standardised on the training split.",
            ),
            resplit=self.split,  # None for a dataset with a fixed test set
        )
