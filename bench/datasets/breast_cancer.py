"""scikit-learn's Wisconsin breast-cancer data: binary, tabular, shipped with scikit-learn.

569 tumours, 30 real-valued features, classes malignant (0) and benign (1). With K = 2, softmax
regression under ``ce`` is logistic regression, so this is where ``ce`` meets scikit-learn's
``LogisticRegression`` on the same split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from bench.datasets.base import Dataset, DatasetPart

TEST_FRACTION = 0.25
SPLIT_SEED = 0


@dataclasses.dataclass(frozen=True)
class BreastCancer(DatasetPart, name="breast_cancer"):
    """scikit-learn's ``load_breast_cancer``: 426 training and 143 test examples (25% test,
    stratified, seed 0), each feature standardised with the training split's mean and standard
    deviation (applied to both splits, so test features are only roughly standard).

    No files: ``root`` is ignored. Not images; no class pairs.
    """

    def load(self, root: Path | None = None) -> Dataset:
        return self.split(SPLIT_SEED)

    def split(self, seed: int) -> Dataset:
        """The stratified split of ``seed`` (``SPLIT_SEED`` is :meth:`load`'s); the dataset's
        ``resplit``, so each seed of a study draws its own (:meth:`Dataset.for_seed`)."""
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        bunch = load_breast_cancer()
        train_x, test_x, train_y, test_y = train_test_split(
            bunch.data,
            bunch.target,
            test_size=TEST_FRACTION,
            random_state=seed,
            stratify=bunch.target,
        )
        # the test split never informs the scaling (as StandardScaler fitted on train)
        mean, std = train_x.mean(0), train_x.std(0)
        std[std == 0] = 1.0
        tensors = {
            "train_x": torch.as_tensor((train_x - mean) / std, dtype=torch.float32),
            "train_y": torch.as_tensor(train_y, dtype=torch.int64),
            "test_x": torch.as_tensor((test_x - mean) / std, dtype=torch.float32),
            "test_y": torch.as_tensor(test_y, dtype=torch.int64),
        }
        n_train, n_test = len(train_y), len(test_y)
        notes = (
            f"scikit-learn's breast cancer data ({n_train + n_test} examples, "
            f"{train_x.shape[1]} features): a stratified split of {n_train} training and "
            f"{n_test} test examples ({TEST_FRACTION:.0%} test, a new split per seed: "
            f"seed {seed} here); each "
            f"feature standardised with the training split's mean and standard deviation.",
        )
        return Dataset(
            **tensors,
            classes=tuple(str(name) for name in bunch.target_names),
            image_shape=None,
            pairs=None,
            spec=str(self),
            notes=notes,
            resplit=self.split,
        )
