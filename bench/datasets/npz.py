"""A user's own data: an ``.npz`` file of train and test arrays (``--dataset npz:path=FILE``).

The file holds ``X_train`` (N, D), ``y_train`` (N,), ``X_test`` (M, D), ``y_test`` (M,) and
optionally ``class_names`` (K,) and ``image_shape`` (e.g. [28, 28], whose product is D). Make one
with ``numpy.savez("my.npz", X_train=..., y_train=..., X_test=..., y_test=...)``.

- Features: any number, any real dtype, read as float32 and used as given, unless
  ``scale=standard``: then each feature is standardised with the training split's mean and
  standard deviation (applied to both splits; a constant feature becomes 0).
- Labels: integers 0..K−1 (a float array of whole numbers will do), K = the largest training
  label + 1, at least 2; every class needs ``MIN_PER_CLASS`` training examples, for the
  stratified validation split; every test label must occur in training.

Anything else is a one-line :class:`DataError` naming the file and the array, raised by ``load``
before any training.
"""

from __future__ import annotations

import dataclasses
import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from bench.datasets.base import MIN_PER_CLASS, DataError, Dataset, DatasetPart

ARRAYS = ("X_train", "y_train", "X_test", "y_test")
SCALES = ("none", "standard")


@dataclasses.dataclass(frozen=True)
class Npz(DatasetPart, name="npz"):
    """A user's arrays from the ``.npz`` at ``path`` (relative to the working directory; the spec
    keeps it as written); ``scale`` is ``none`` (features as given) or ``standard``.

    ``root`` is ignored. Classes from ``class_names``, else "0".."K−1"; no class pairs.
    """

    path: str = ""
    scale: str = "none"

    def validate_params(self) -> None:
        object.__setattr__(self, "path", str(self.path))  # path=2024 parses as a number
        if not self.path:
            raise ValueError("dataset npz needs a file: npz:path=FILE.npz")
        if self.scale not in SCALES:
            raise ValueError(
                f"dataset npz: scale must be one of {', '.join(SCALES)}, got {self.scale!r}"
            )

    def load(self, root: Path | None = None) -> Dataset:
        arrays = _read(self.path)
        error = _Errors(self.path)
        x = {split: _features(arrays, f"X_{split}", error) for split in ("train", "test")}
        y = {split: _labels(arrays, f"y_{split}", error) for split in ("train", "test")}
        for split in ("train", "test"):
            if len(x[split]) != len(y[split]):
                raise error(
                    f"X_{split}",
                    f"has {len(x[split])} rows but y_{split} has {len(y[split])} labels",
                )
        if x["train"].shape[1] != x["test"].shape[1]:
            raise error(
                "X_test", f"has {x['test'].shape[1]} features but X_train has {x['train'].shape[1]}"
            )
        num_classes = _check_classes(y["train"], y["test"], error)
        classes = _class_names(arrays, num_classes, error)
        image_shape = _image_shape(arrays, x["train"].shape[1], error)

        if self.scale == "standard":
            mean, std = x["train"].mean(0), x["train"].std(0)
            std[std == 0] = 1.0  # a constant feature: (x - mean) is 0 on train
            x = {split: (features - mean) / std for split, features in x.items()}
        tensors = {}
        for split in ("train", "test"):
            if np.abs(x[split]).max() > np.finfo(np.float32).max:
                raise error(f"X_{split}", "has values beyond float32's range (about 3.4e38)")
            tensors[f"{split}_x"] = torch.from_numpy(x[split].astype(np.float32))
            tensors[f"{split}_y"] = torch.from_numpy(y[split])

        scaling = (
            "standardised with the training split's mean and standard deviation"
            if self.scale == "standard"
            else "used as given (scale=none)"
        )
        notes = (
            f"{self.path}: {len(y['train']):,} training and {len(y['test']):,} test examples, "
            f"{x['train'].shape[1]} features, {num_classes} classes; features {scaling}.",
        )
        return Dataset(
            **tensors,
            classes=classes,
            image_shape=image_shape,
            pairs=None,
            spec=str(self),
            notes=notes,
        )


class _Errors:
    """``error(array, problem)`` -> a one-line DataError naming the file and the array."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, array: str, problem: str) -> DataError:
        return DataError(f"{self.path}: {array} {problem}".replace("\n", " "))


def _read(path: str) -> dict[str, np.ndarray]:
    """Every array in the archive, read now (the file is closed on return)."""
    file = Path(path)
    how = "save the arrays with numpy.savez(FILE, X_train=..., y_train=..., X_test=..., y_test=...)"
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "no such file"
        raise DataError(f"{path}: {what}; npz:path= takes an .npz file: {how}")
    try:
        with open(file, "rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            raise DataError(f"{path}: not an .npz archive but a single .npy array; {how}")
        if not magic.startswith(b"PK"):  # every zip archive, so every .npz, starts so
            raise DataError(f"{path}: not an .npz archive (not a zip file); {how}")
        arrays = {}
        with np.load(file, allow_pickle=False) as archive:
            for name in archive.files:
                try:
                    arrays[name] = archive[name]
                except ValueError:  # object arrays need pickle, which is never loaded
                    raise DataError(
                        f"{path}: {name} is an array of Python objects; store "
                        f"numbers, and class_names as strings"
                    ) from None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as problem:
        raise DataError(
            f"{path}: not a readable .npz archive ({_first_line(problem)}); {how}"
        ) from None
    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise DataError(
            f"{path}: no array {', '.join(missing)}; the file has "
            f"{', '.join(sorted(arrays)) or 'no arrays'}, and needs "
            f"{', '.join(ARRAYS)} (class_names and image_shape are optional)"
        )
    return arrays


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _features(arrays: dict[str, np.ndarray], name: str, error: _Errors) -> np.ndarray:
    """The features as float64 (N, D), after checking shape, dtype and finiteness."""
    values = arrays[name]
    if values.ndim != 2:
        raise error(
            name,
            f"has shape {values.shape}; expected 2-D (examples, features): "
            f"flatten images with X.reshape(len(X), -1)",
        )
    if values.dtype.kind not in "biuf":
        raise error(name, f"has dtype {values.dtype}; expected real numbers")
    if len(values) == 0 or values.shape[1] == 0:
        raise error(name, f"is empty (shape {values.shape})")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise error(name, f"holds {bad} NaN or inf value(s); fill or drop them first")
    return values


def _labels(arrays: dict[str, np.ndarray], name: str, error: _Errors) -> np.ndarray:
    """The labels as int64 (N,): integers, or floats that are whole numbers, never negative."""
    values = arrays[name]
    if values.ndim != 1:
        raise error(name, f"has shape {values.shape}; expected 1-D integer labels 0..K-1")
    if len(values) == 0:
        raise error(name, "is empty")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise error(name, "holds NaN or inf; labels are integers 0..K-1")
        fractional = values[values != np.round(values)]
        if len(fractional):
            raise error(
                name,
                f"holds non-integer labels (e.g. {fractional[0]:g}); labels are integers 0..K-1",
            )
    elif values.dtype.kind not in "biu":
        raise error(name, f"has dtype {values.dtype}; labels are integers 0..K-1")
    if values.min() < 0:
        raise error(name, f"holds a negative label ({values.min():g}); labels are integers 0..K-1")
    return values.astype(np.int64)


def _check_classes(train: np.ndarray, test: np.ndarray, error: _Errors) -> int:
    """K = max training label + 1, after checking that every class can be split and tested."""
    num_classes = int(train.max()) + 1
    if num_classes < 2:
        raise error("y_train", "holds a single class (0); at least 2 classes are needed")
    unseen = sorted(set(np.unique(test).tolist()) - set(np.unique(train).tolist()))
    if unseen:
        shown = ", ".join(map(str, unseen[:5])) + (" ..." if len(unseen) > 5 else "")
        raise error("y_test", f"holds label(s) never seen in y_train: {shown}")
    counts = np.bincount(train, minlength=num_classes)
    small = np.flatnonzero(counts < MIN_PER_CLASS)
    if len(small):
        c = int(small[0])
        raise error(
            "y_train",
            f"has {counts[c]} example(s) of class {c} (K = {num_classes} from "
            f"the largest label); the stratified validation split needs at "
            f"least {MIN_PER_CLASS} per class",
        )
    return num_classes


def _class_names(
    arrays: dict[str, np.ndarray], num_classes: int, error: _Errors
) -> tuple[str, ...]:
    if "class_names" not in arrays:
        return tuple(str(c) for c in range(num_classes))
    names = arrays["class_names"]
    if names.ndim != 1 or len(names) != num_classes:
        raise error(
            "class_names",
            f"has shape {names.shape}; expected {num_classes} names, one "
            f"per class (K = largest y_train label + 1)",
        )
    return tuple(name.decode() if isinstance(name, bytes) else str(name) for name in names.tolist())


def _image_shape(
    arrays: dict[str, np.ndarray], num_features: int, error: _Errors
) -> tuple[int, ...] | None:
    if "image_shape" not in arrays:
        return None
    shape = arrays["image_shape"]
    if (
        shape.ndim != 1
        or not 2 <= len(shape) <= 3
        or shape.dtype.kind not in "iuf"
        or (shape != np.round(shape)).any()
        or (shape < 1).any()
    ):
        raise error(
            "image_shape", f"is {shape.tolist()}; expected positive integer sides such as [28, 28]"
        )
    sides = tuple(int(side) for side in shape)
    if math.prod(sides) != num_features:
        raise error(
            "image_shape",
            f"is {list(sides)}, {math.prod(sides)} pixels, but X_train has {num_features} features",
        )
    return sides
