"""The files docs/ tells a reader to copy (docs/examples/), run as the pages say: the dataset part
and the model through the bench, each leaving the registries as it found them."""

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import bench
from bench import datasets
from bench.datasets import DatasetPart

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def load_file(name: str):
    """Import docs/examples/NAME.py as a user's script would (dataclasses need it in
    sys.modules while the module runs); the caller removes it."""
    module_name = f"docs_examples_{name}"
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def wine():
    before = dict(DatasetPart.registry)
    yield load_file("wine_dataset")
    DatasetPart.registry.clear()
    DatasetPart.registry.update(before)
    del sys.modules["docs_examples_wine_dataset"]


def final_rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as f:
        return [row for row in csv.DictReader(f) if row["epoch"] == row["epochs"]]


def test_the_wine_part_draws_a_stratified_split_per_seed_standardised_on_training(wine):
    data = datasets.parse("wine:test_fraction=0.25").load()
    assert (tuple(data.train_x.shape), tuple(data.test_x.shape)) == ((133, 13), (45, 13))
    assert data.classes == ("class_0", "class_1", "class_2")
    assert data.train_x.mean(0).abs().max() < 1e-5
    assert torch.allclose(data.train_x.std(0, correction=0), torch.ones(13), atol=1e-5)
    # wine's 59/71/48 examples, split 75/25 in each class
    assert data.train_y.bincount().tolist() == [44, 53, 36]
    assert data.test_y.bincount().tolist() == [15, 18, 12]
    assert data.for_seed(0).test_x.equal(data.test_x)
    other = data.for_seed(1)
    assert not other.test_x.equal(data.test_x)
    assert other.test_y.bincount().tolist() == [15, 18, 12]


def test_the_wine_part_rejects_a_test_fraction_outside_0_1(wine):
    with pytest.raises(ValueError, match=r"^test_fraction must lie in \(0, 1\), got 1.5$"):
        datasets.parse("wine:test_fraction=1.5")


def test_the_wine_part_trains_through_compare(wine, tmp_path):
    bench.compare(
        losses=["ce", "l2:on=probs"],
        dataset="wine",
        epochs=3,
        seeds=1,
        lr=0.5,
        reference_iters=0,
        textbook=False,
        report=False,
        out=tmp_path,
    )
    rows = {row["loss"]: row for row in final_rows(tmp_path)}
    assert set(rows) == {"ce", "l2:on=probs"}
    assert {row["dataset"] for row in rows.values()} == {"wine:test_fraction=0.25"}
    assert float(rows["ce"]["test_acc"]) > 0.85  # wine is easy once standardised


def test_the_model_file_gives_one_score_per_class():
    net = load_file("my_model").Net(width=8)
    del sys.modules["docs_examples_my_model"]
    assert net(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    # conv 3×3 from 1 to 8 channels, then linear from 8 × 4 × 4 to 10
    assert sum(p.numel() for p in net.parameters()) == (9 + 1) * 8 + (8 * 16 + 1) * 10


def test_the_model_file_trains_through_the_module_part(tmp_path):
    if not (ROOT / "bench" / "models" / "module.py").exists():
        pytest.skip("the module: model part is not in this checkout")
    spec = "module:path=docs/examples/my_model.py:name=Net:width=8"
    argv = [
        "--model",
        spec,
        "--dataset",
        "digits",
        "--losses",
        "ce",
        "--epochs",
        "3",
        "--seeds",
        "1",
        "--batch-size",
        "32",
        "--lr",
        "0.5",
        "--reference-iters",
        "0",
        "--no-textbook",
        "--no-report",
        "--out",
        str(tmp_path),
    ]
    subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (row,) = final_rows(tmp_path)
    assert row["model"].startswith("module:") and row["loss"] == "ce"
    assert float(row["test_acc"]) > 0.6  # chance is 0.1; 0.90 on a 2-core EPYC, torch 2.14.1
