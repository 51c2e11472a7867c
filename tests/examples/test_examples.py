"""The examples/ folder, run as a user would, with a few epochs: a value-only loss, a loss with
an analytic gradient, an .npz dataset made by a script, and the Python API."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(*argv, timeout=600):
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "wine.npz"
    assert (
        "133 training and 45 test examples" in run(str(EXAMPLES / "make_npz.py"), str(path)).stdout
    )
    return path


def final_rows(out):
    with open(out / "results.csv") as f:
        return [r for r in csv.DictReader(f) if r["epoch"] == r["epochs"]]


def test_a_value_only_loss_is_tuned_trained_and_reported_beside_ce(wine, tmp_path):
    out = tmp_path / "out"
    run(
        "-m",
        "bench",
        "--import",
        "examples/my_losses.py",
        "--losses",
        "ce,cauchy:c=0.5",
        "--dataset",
        f"npz:path={wine}:scale=standard",
        "--epochs",
        "3",
        "--seeds",
        "1",
        "--reference-iters",
        "0",
        "--out",
        str(out),
    )
    rows = {r["loss"]: r for r in final_rows(out)}
    assert set(rows) == {"ce", "cauchy:c=0.5"}
    assert rows["cauchy:c=0.5"]["grad"] == "autograd" and rows["ce"]["grad"] == "analytic"
    assert float(rows["cauchy:c=0.5"]["test_acc"]) > 0.8  # wine is easy once standardised
    report = (out / "README.md").read_text()
    assert "cauchy:c=0.5" in report and "autograd" in report


def test_an_analytic_loss_is_checked_then_trained(wine, tmp_path):
    out = tmp_path / "out"
    run(
        "-m",
        "bench",
        "--import",
        "examples/analytic_loss.py",
        "--losses",
        "ce,tempered_ce:temperature=2",
        "--dataset",
        f"npz:path={wine}:scale=standard",
        "--epochs",
        "3",
        "--seeds",
        "1",
        "--lr",
        "0.5",
        "--reference-iters",
        "0",
        "--no-report",
        "--out",
        str(out),
    )
    rows = {r["loss"]: r for r in final_rows(out)}
    assert rows["tempered_ce:temperature=2"]["grad"] == "analytic"


def test_the_python_api_compares_and_reports(wine, tmp_path):
    out = tmp_path / "api"
    printed = run(str(EXAMPLES / "compare.py"), str(wine), str(out), "3").stdout
    assert "cauchy:c=0.5" in printed and "report:" in printed
    assert (out / "README.md").exists() and len(final_rows(out)) == 4  # 2 losses × 2 seeds


def test_the_readme_shows_the_user_loss_file_exactly():
    readme = (ROOT / "README.md").read_text()
    assert (EXAMPLES / "my_losses.py").read_text().strip() in readme
