"""bench/datasets/npz.py: a user's own arrays, scaled as asked, and every way a file can be wrong.

Each test writes a small ``.npz`` into tmp_path: 3 classes, 4 features, 60 training and 15 test
examples, changed or stripped one array at a time.
"""

import numpy as np
import pytest
import torch

from bench import datasets
from bench.datasets import DataError


def arrays(**changes):
    """A valid dataset's arrays with ``changes`` applied (a value of None removes the array)."""
    rng = np.random.default_rng(0)
    content = {
        "X_train": rng.normal(3.0, 2.0, (60, 4)),
        "y_train": np.arange(60) % 3,
        "X_test": rng.normal(3.0, 2.0, (15, 4)),
        "y_test": np.arange(15) % 3,
    }
    content.update(changes)
    return {name: value for name, value in content.items() if value is not None}


@pytest.fixture
def write(tmp_path):
    """``write(name="data.npz", **changes)`` -> the path of an .npz of ``arrays(**changes)``."""

    def write(name="data.npz", **changes):
        path = tmp_path / name
        with open(path, "wb") as f:  # np.savez would add .npz to any other suffix
            np.savez(f, **arrays(**changes))
        return path

    return write


def load(path, scale="none"):
    return datasets.load(f"npz:path={path}:scale={scale}")


def test_loads_float32_features_int64_labels_and_k_from_the_labels(write):
    path = write()
    data = load(path)
    assert data.train_x.shape == (60, 4) and data.test_x.shape == (15, 4)
    assert data.train_x.dtype == data.test_x.dtype == torch.float32
    assert data.train_y.dtype == data.test_y.dtype == torch.int64
    assert data.num_classes == 3 and data.classes == ("0", "1", "2")
    assert data.image_shape is None and data.pairs is None
    assert torch.equal(data.train_x, torch.as_tensor(arrays()["X_train"], dtype=torch.float32))
    assert torch.equal(data.test_y, torch.as_tensor(arrays()["y_test"]))
    assert data.spec == f"npz:path={path}:scale=none"
    assert "60 training and 15 test examples, 4 features, 3 classes" in data.notes[0]
    assert "used as given" in data.notes[0]


def test_path_is_relative_to_the_working_directory_and_kept_as_written(
    write, tmp_path, monkeypatch
):
    write("mine.npz")
    monkeypatch.chdir(tmp_path)
    data = datasets.load("npz:path=mine.npz", root="elsewhere")
    assert data.spec == "npz:path=mine.npz:scale=none" == datasets.canonical("npz:path=mine.npz")


def test_class_names_image_shape_and_whole_float_labels_are_taken(write):
    path = write(
        X_train=np.zeros((60, 6), np.uint8) + np.arange(6, dtype=np.uint8),
        X_test=np.ones((15, 6), np.uint8),
        y_train=(np.arange(60) % 3).astype(np.float32),
        class_names=np.array(["cat", "dog", "fox"]),
        image_shape=np.array([2, 3]),
    )
    data = load(path)
    assert data.classes == ("cat", "dog", "fox") and data.image_shape == (2, 3)
    assert data.train_y.dtype == torch.int64 and data.train_y[:4].tolist() == [0, 1, 2, 0]
    assert data.train_x[0].tolist() == [0, 1, 2, 3, 4, 5]  # uint8 used as given, not / 255


def test_two_classes_are_enough(write):
    path = write(y_train=np.arange(60) % 2, y_test=np.arange(15) % 2)
    assert load(path).num_classes == 2


def test_scale_standard_uses_the_training_splits_mean_and_std(write):
    x_train, x_test = arrays()["X_train"], arrays()["X_test"]
    x_train[:, 2] = 7.0  # a constant feature
    path = write(X_train=x_train, X_test=x_test)
    data = load(path, scale="standard")
    mean, std = x_train.mean(0), x_train.std(0)
    std[2] = 1.0
    np.testing.assert_allclose(data.train_x.numpy(), (x_train - mean) / std, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.test_x.numpy(), (x_test - mean) / std, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(data.train_x.mean(0), torch.zeros(4), atol=1e-6, rtol=0)
    assert (data.train_x[:, 2] == 0).all()
    kept = [0, 1, 3]
    torch.testing.assert_close(
        data.train_x[:, kept].double().std(0, unbiased=False),
        torch.ones(3, dtype=torch.float64),
        atol=1e-5,
        rtol=0,
    )
    assert data.test_x.mean(0).abs().max() > 1e-3  # the test split is not refitted
    assert "standardised with the training split's mean" in data.notes[0]
    assert data.spec.endswith(":scale=standard")


def test_loading_twice_gives_identical_tensors_and_validation_split_works(write):
    path = write()
    data, again = load(path), load(path)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(data, name), getattr(again, name))
    part = data.validation_split()
    assert torch.bincount(part.test_y).tolist() == [3, 3, 3]  # round(20 / 6) per class


def test_a_bad_scale_or_no_path_is_a_one_line_value_error():
    with pytest.raises(ValueError, match="scale must be one of none, standard, got 'minmax'"):
        datasets.parse("npz:path=x.npz:scale=minmax")
    with pytest.raises(ValueError, match="npz needs a file: npz:path=FILE.npz"):
        datasets.parse("npz")


def one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(DataError, match="no such file") as info:
        load(path)
    assert one_line(info).startswith(f"{path}: ")


def test_a_file_that_is_not_an_npz_is_named(tmp_path):
    text, single = tmp_path / "data.csv", tmp_path / "single.npz"
    text.write_text("x,y\n1,2\n")
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match="not an .npz archive") as info:
        load(text)
    assert one_line(info).startswith(f"{text}: ")
    with pytest.raises(DataError, match="single .npy array") as info:
        load(single)
    assert one_line(info).startswith(f"{single}: ")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 then nothing a zip needs")
    with pytest.raises(DataError, match="not a readable .npz archive") as info:
        load(broken)
    assert one_line(info).startswith(f"{broken}: ")


BAD = {  # case: (changes to the valid arrays, the array the message names, words in it)
    "missing array": (dict(y_test=None), "y_test", "no array y_test; the file has X_test"),
    "1-D features": (
        dict(X_train=np.zeros(60)),
        "X_train",
        r"has shape \(60,\); expected 2-D \(examples, features\)",
    ),
    "3-D features": (dict(X_test=np.zeros((15, 2, 2))), "X_test", r"has shape \(15, 2, 2\)"),
    "text features": (dict(X_train=np.full((60, 4), "a")), "X_train", "expected real numbers"),
    "train lengths": (
        dict(y_train=np.arange(59) % 3),
        "X_train",
        "has 60 rows but y_train has 59 labels",
    ),
    "test lengths": (
        dict(X_test=np.zeros((14, 4))),
        "X_test",
        "has 14 rows but y_test has 15 labels",
    ),
    "feature counts": (
        dict(X_test=np.zeros((15, 5))),
        "X_test",
        "has 5 features but X_train has 4",
    ),
    "2-D labels": (dict(y_train=np.zeros((60, 1))), "y_train", r"has shape \(60, 1\)"),
    "negative label": (
        dict(y_train=np.arange(60) % 3 - (np.arange(60) == 3)),
        "y_train",
        r"negative label \(-1\)",
    ),
    "fractional label": (
        dict(y_test=np.arange(15) % 3 + 0.5 * (np.arange(15) == 4)),
        "y_test",
        r"non-integer labels \(e.g. 1.5\)",
    ),
    "text labels": (dict(y_train=np.array(["a", "b", "c"] * 20)), "y_train", "has dtype <U1"),
    "NaN label": (
        dict(y_train=np.where(np.arange(60) == 7, np.nan, np.arange(60) % 3)),
        "y_train",
        "holds NaN or inf",
    ),
    "NaN feature": (
        dict(X_train=np.where(np.eye(60, 4) > 0, np.nan, 1.0)),
        "X_train",
        r"holds 4 NaN or inf value\(s\)",
    ),
    "inf feature": (dict(X_test=np.full((15, 4), np.inf)), "X_test", "NaN or inf"),
    "beyond float32": (dict(X_test=np.full((15, 4), 1e300)), "X_test", "beyond float32's range"),
    "one class": (
        dict(y_train=np.zeros(60, int), y_test=np.zeros(15, int)),
        "y_train",
        "holds a single class",
    ),
    "too few of a class": (
        dict(y_train=np.r_[np.arange(59) % 2, 2]),
        "y_train",
        r"has 1 example\(s\) of class 2 .* needs at least 2 per class",
    ),
    "an empty class": (
        dict(y_train=np.arange(60) % 2 * 2, y_test=np.arange(15) % 2 * 2),
        "y_train",
        r"has 0 example\(s\) of class 1",
    ),
    "unseen test label": (
        dict(y_test=np.arange(15) % 4),
        "y_test",
        "holds label.* never seen in y_train: 3",
    ),
    "class_names length": (
        dict(class_names=np.array(["a", "b"])),
        "class_names",
        r"has shape \(2,\); expected 3 names",
    ),
    "object class_names": (
        dict(class_names=np.array(["a", 1, None], dtype=object)),
        "class_names",
        "array of Python objects",
    ),
    "image_shape product": (
        dict(image_shape=np.array([3, 3])),
        "image_shape",
        "9 pixels, but X_train has 4 features",
    ),
    "image_shape sides": (
        dict(image_shape=np.array([2.5, 1.6])),
        "image_shape",
        "expected positive integer sides",
    ),
}


@pytest.mark.parametrize("changes, array, words", BAD.values(), ids=BAD.keys())
def test_bad_arrays_are_one_line_errors_naming_the_file_and_the_array(write, changes, array, words):
    path = write(**changes)
    with pytest.raises(DataError, match=words) as info:
        load(path)
    message = one_line(info)
    assert message.startswith(f"{path}: ") and array in message
    assert isinstance(info.value, ValueError)
