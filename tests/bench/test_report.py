"""The report: every section and figure from a small synthetic study, numbers from the rows."""

import json
import math
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from bench import report, runs, tables
from bench.__main__ import ANATOMY_COLUMNS
from bench.peers import COLUMNS as PEER_COLUMNS
from bench.train import RunConfig, train

LOSSES = ["ce", "margin:kind=crammer_singer:delta=1", "l1:on=probs"]


def make_study(out, data):
    results = runs.Results(out)
    meta = {
        "command": "python -m bench --epochs 2",
        "config": {"epochs": 2, "batch_size": 64, "schedule": "cosine", "lr": None,
                   "rates": "tuned", "devices": ["cpu"], "seeds": [0, 1],
                   "noise": ["none", "sym:0.4"], "data": "/nonexistent/fashion-mnist"},
        "environment": {"python": "3.11", "torch": "2.14.1", "torchvision": "0.29.1",
                        "cpu": "test CPU", "threads": 2, "cuda": "no CUDA device"},
        "notes": ["a note for the report"],
    }
    results.prepare(meta)
    configs = [RunConfig(spec, seed=seed, epochs=2, lr=0.3, batch_size=64)
               for spec in LOSSES for seed in (0, 1)]
    configs.append(RunConfig("ce", seed=0, epochs=2, lr=0.3, batch_size=64, noise="sym:0.4"))
    configs.append(RunConfig("l2:on=scores", seed=0, epochs=2, lr=50.0, batch_size=64))
    for config in configs:
        model = train(config, data, on_epoch=lambda row: results.append({**row, "floor_s": 0.01}))
        if model.is_finite():
            results.save_weights(config, model.state_dict())
    # an unfinished run: one epoch of two
    rows = []
    train(RunConfig("huber", epochs=1, lr=3.0, batch_size=64), data, on_epoch=rows.append)
    results.append({**rows[0], "epochs": 2, "floor_s": 0.01})
    runs.write_rows(out / "tuning.csv", ("loss", "device", "epochs", "batch_size", "schedule",
                                         "lr", "status", "val_acc"),
                    [{"loss": spec, "device": "cpu", "epochs": 2, "batch_size": 64,
                      "schedule": "cosine", "lr": lr, "status": "ok", "val_acc": acc}
                     for spec in LOSSES for lr, acc in ((0.1, 0.8), (0.3, 0.9))])
    runs.write_rows(out / "reference.csv", ("loss", "max_iter", "train_loss", "train_acc",
                                            "test_acc", "iterations", "seconds"),
                    [{"loss": "ce", "max_iter": 5, "train_loss": 0.1, "train_acc": 1.0,
                      "test_acc": 0.97, "iterations": 5, "seconds": 0.1}])
    runs.write_rows(out / "peers.csv", PEER_COLUMNS,
                    [{"peer": "SGDClassifier", "loss": loss, "epochs": 2, "seed": 0,
                      "train_acc": acc, "test_acc": acc, "fit_s": 1.0}
                     for loss, acc in (("hinge", 0.81), ("squared_error", 0.06))])
    runs.write_rows(out / "anatomy.csv", ANATOMY_COLUMNS,
                    [{"loss": spec, "batch_size": 64, "gather_us": 60.0, "scores_us": 25.0,
                      "loss_us": 30.0 + i, "update_us": 35.0, "step_us": 160.0 + i,
                      "epoch_us": 210.0 + i, "floor_us": 100.0, "gather_floor_us": 150.0}
                     for i, spec in enumerate(LOSSES)])
    return meta


@pytest.fixture(scope="module")
def written(tmp_path_factory, make_data):
    out = tmp_path_factory.mktemp("study")
    data = make_data(n_train=11_000, n_test=200)
    data.to = lambda device: data
    meta = make_study(out, data)
    path = report.write_report(out, data=data)
    return out, path.read_text(), meta


def test_every_section_is_there(written):
    _, text, _ = written
    for heading in ("## Environment", "## What makes the losses comparable", "## Accuracy",
                    "## Accuracy targets", "## Paired comparisons", "## Learning rates",
                    "## Learning speed", "## Speed", "## Label noise", "## Calibration",
                    "## Per-class errors", "## Predictions", "## The losses",
                    "## Reading the results"):
        assert heading in text, heading
    assert "python -m bench --epochs 2" in text and "a note for the report" in text


def test_every_embedded_figure_exists(written):
    out, text, _ = written
    names = [part.split(")")[0] for part in text.split("](")[1:]]
    assert {"curves.png", "final_accuracy.png", "tuning.png", "dynamics.png", "step_time.png",
            "noise.png", "reliability.png", "confusion.png", "predictions.png",
            "gradients.png", "anatomy.png"} <= set(names)
    for name in names:
        assert (out / name).stat().st_size > 1000, name


def test_accuracy_cells_are_pandas_own_numbers(written):
    out, text, _ = written
    frame = pd.read_csv(out / "results.csv")
    last = frame[(frame.epoch == 2) & (frame.noise == "none") & (frame.loss == "ce")]
    expected = f"{last.test_acc.mean():.4f} ± {last.test_acc.std():.4f}"
    assert expected in text


def test_peers_are_listed_and_a_failed_fit_is_called_one(written):
    _, text, _ = written
    assert "| SGDClassifier (hinge) | 2 | 0.81 |" in text
    assert "SGDClassifier (squared_error) (0.0600) scored no better than guessing (0.10)" in text
    assert "SGDClassifier (hinge) (0.8100)" not in text


def test_step_anatomy_table_and_the_floor_beside_it(written):
    _, text, _ = written
    section = text.split("### Where a CPU step's time goes\n", 1)[1].split("\n#", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")]
    header = ("| loss | gather µs | scores µs | loss µs | update µs | step µs | loss share "
              "| epoch µs/step | × floor | × gather floor |")
    assert table[0] == header
    assert len(table) == 2 + len(LOSSES)
    assert f"| {LOSSES[0]} | 60 | 25 | 30 | 35 | 160 | 19% | 210 | 2.10 | 1.40 |" in table
    assert "The floor's two GEMMs take 100 µs per step" in section
    assert "The gather costs 60 µs" in section
    assert "as the trainer does, takes 150 µs per step (1.50× the floor)" in section
    assert ("`ce`'s epoch, 210 µs per step, is 2.10× the GEMM floor and "
            "**1.40× the floor with the gather**") in section


def test_step_anatomy_from_an_older_version_still_reports(tmp_path, written):
    out, _, _ = written
    rows = tables.load(out / "results.csv")
    speed = tables.speed(rows, tables.finished_runs(rows)[0])
    assert set(speed["examples"]) == {11_000}
    old = pd.DataFrame([{"loss": "ce", "batch_size": 64, "gather_us": 60.0, "scores_us": 25.0,
                         "loss_us": 30.0, "update_us": 35.0, "step_us": 160.0}])
    section = report._anatomy(tmp_path, old, speed)
    assert "× gather floor" not in section and "floor with the gather" not in section
    floor_us = speed["floor_s"].median() / math.ceil(11_000 / 64) * 1e6
    assert f"The floor's two GEMMs take {floor_us:,.0f} µs per step" in section


def test_divergence_unfinished_runs_and_missing_gpu_are_stated(written):
    _, text, _ = written
    assert "diverged at epoch 1" in text
    assert "1 unfinished (excluded from every table)" in text
    assert "no CUDA device was available" in text


def test_gpu_name_is_shown_when_there_is_one(written):
    out, _, meta = written
    env = {**meta["environment"], "cuda": "NVIDIA H100"}
    assert "GPU: NVIDIA H100" in report._environment({**meta, "environment": env})


def test_remade_from_the_command_line_without_data(written, tmp_path, capsys):
    out, _, _ = written
    # run.json's data folder does not exist: the image sections say why they are skipped
    assert report.main([str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "## Accuracy" in text and "Skipped: the data could not be loaded" in text
    assert report.main([str(tmp_path)]) == 2
    assert "has no results.csv" in capsys.readouterr().err


def test_markdown_table_escapes_and_formats():
    frame = pd.DataFrame({"a": ["x|y"], "b": [0.123456], "c": [float("nan")]})
    assert report.markdown_table(frame).splitlines()[2] == "| x\\|y | 0.1235 | — |"
    assert report.markdown_table(pd.DataFrame()) == "_(no rows)_"


def test_targets_table_explains_a_miss_with_the_measured_cause():
    accuracy = pd.DataFrame([{"trainer": "lossbench", "loss": "ce", "device": "cpu",
                              "test_acc": 0.844, "test_acc_ci95": 0.001, "train_loss": 0.39}])
    table = tables.targets(accuracy)
    assert not table["met"].iloc[0]
    optimum = pd.DataFrame([{"loss": "ce", "test_acc": 0.8448, "train_loss": 0.37}])
    text = report._targets(accuracy, optimum, None, None, None)
    assert "the L-BFGS optimum of this objective scores 0.8448" in text
    assert "needs regularisation" in text
    # an L-BFGS that stopped above SGD's training loss is no optimum: it is not cited
    early = optimum.assign(train_loss=0.41)
    assert not report.converged(accuracy, early)["ce"]
    text = report._targets(accuracy, early, None, None, None)
    assert "L-BFGS" not in text and "0.0010 short" in text


# -- a hand-written OUT: no training, the contract's files only (fast) ----------------------------
FINISHED = ["ce", "margin:kind=crammer_singer:delta=1", "l1:on=probs"]


def hand_written_rows(seed=0):
    """3 losses x cpu x 2 seeds x 3 epochs, a run diverged at epoch 2, a run stopped at epoch 1."""
    rng = np.random.default_rng(seed)
    plan = [(loss, s, 3, "ok") for loss in FINISHED for s in (0, 1)]
    plan += [("l2:on=scores", 0, 2, "diverged"), ("huber", 0, 1, "ok")]
    rows = []
    for loss, s, last, status in plan:
        for epoch in range(1, last + 1):
            gone = status == "diverged" and epoch == last
            rows.append({
                "trainer": "lossbench", "loss": loss, "device": "cpu", "seed": s, "noise": "none",
                "epoch": epoch, "epochs": 3, "lr": 0.3, "batch_size": 256, "schedule": "cosine",
                "status": "diverged" if gone else "ok", "step_mode": "eager",
                "train_loss": math.nan if gone else 1.5 / epoch + 0.05 * rng.random(),
                "train_acc": 0.7 + 0.03 * epoch + 0.01 * rng.random(),
                "test_acc": 0.1 if gone else 0.7 + 0.03 * epoch + 0.01 * rng.random(),
                "epoch_s": 0.2 + 0.05 * rng.random(), "step_ms": 0.8 + 0.3 * rng.random(),
                "step_ms_p90": 1.2 + 0.3 * rng.random(), "samples_per_s": 3e5 * (1 + rng.random()),
                "floor_s": 0.1, "peak_mem_mb": 400.0, "grad_norm": 1.0 / epoch,
                "active_frac": 1.0 / epoch, "memorised": math.nan,
            })  # fmt: skip
    frame = pd.DataFrame(rows)[list(runs.COLUMNS)]
    # margin has the best single seed, ce the best mean: the predictions must come from ce
    for loss, accs in (("ce", (0.80, 0.80)), ("margin:kind=crammer_singer:delta=1", (0.70, 0.85))):
        for s, acc in zip((0, 1), accs, strict=True):
            last = (frame.loss == loss) & (frame.seed == s) & (frame.epoch == 3)
            frame.loc[last, "test_acc"] = acc
    return frame


def hand_written_out(out, cuda="no CUDA device"):
    """OUT with results.csv, run.json and random weights; returns a test-only data object."""
    (out / "weights").mkdir(parents=True)
    hand_written_rows().to_csv(out / "results.csv", index=False)
    meta = {
        "command": "python -m bench --epochs 3 --seeds 2",
        "config": {"epochs": 3, "batch_size": 256, "schedule": "cosine", "lr": None,
                   "rates": "defaults", "devices": ["cpu"], "seeds": [0, 1], "noise": ["none"],
                   "data": str(out / "no-data-here")},
        "environment": {"python": "3.11", "torch": "2.14.1", "torchvision": "0.29.1",
                        "cpu": "test CPU", "threads": 2, "cuda": cuda},
        "notes": ["a hand-written note"],
    }  # fmt: skip
    (out / "run.json").write_text(json.dumps(meta))
    g = torch.Generator().manual_seed(0)
    for loss in FINISHED:
        for s in (0, 1):
            weights = {"W": 0.01 * torch.randn(784, 10, generator=g), "b": torch.zeros(10)}
            torch.save(weights, out / "weights" / f"{runs.slug(loss, 'cpu', s)}.pt")
    return SimpleNamespace(test_x=torch.rand(20, 784, generator=g),
                           test_y=torch.randint(0, 10, (20,), generator=g))


@pytest.fixture(scope="module")
def hand_written(tmp_path_factory):
    out = tmp_path_factory.mktemp("hand")
    data = hand_written_out(out)
    return out, report.write_report(out, data=data).read_text()


def _table(text, heading):
    """The Markdown table lines of the section under ``heading``."""
    section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_hand_written_tables_have_headers_and_every_finished_loss(hand_written):
    _, text = hand_written
    accuracy, speed = _table(text, "## Accuracy"), _table(text, "## Speed")
    assert accuracy[0].startswith("| loss | device | lr | test acc (mean ± sd) |")
    assert speed[0].startswith("| loss | device | median step µs | p90 step µs | samples/s |")
    for loss in FINISHED:
        assert any(line.startswith(f"| {loss} | cpu |") for line in accuracy), loss
        assert any(line.startswith(f"| {loss} | cpu |") for line in speed), loss
    assert speed[0].endswith("| peak MB | steps |")
    assert all(line.endswith("| eager |") for line in speed[2:])


def test_hand_written_diverged_shown_unfinished_excluded_and_counted(hand_written):
    _, text = hand_written
    accuracy = _table(text, "## Accuracy")
    assert any(line.startswith("| l2:on=scores | cpu |") and "diverged at epoch 2" in line
               for line in accuracy)
    assert not any(line.startswith("| huber") for line in accuracy + _table(text, "## Speed"))
    assert "7 runs finished, 1 unfinished (excluded from every table)" in text
    assert "l2:on=scores (seed 0, noise none) diverged at epoch 2" in text


def test_hand_written_cells_equal_pandas_own_numbers(hand_written):
    out, text = hand_written
    frame = pd.read_csv(out / "results.csv")
    last = frame[frame.epoch == 3]
    for loss in FINISHED:
        acc = last[last.loss == loss].test_acc
        assert f"| {acc.mean():.4f} ± {acc.std():.4f} |" in text, loss
        steps = frame[frame.loss == loss].groupby("seed").step_ms.median().mean() * 1000
        line = next(r for r in _table(text, "## Speed") if r.startswith(f"| {loss} |"))
        assert line.split(" | ")[2] == f"{steps:,.0f}", loss


def test_hand_written_states_no_gpu_and_figures_exist(hand_written):
    out, text = hand_written
    assert "no CUDA device was available" in text and "a hand-written note" in text
    assert "```\npython -m bench --epochs 3 --seeds 2\n```" in text
    names = [part.split(")")[0] for part in text.split("](")[1:]]
    assert {"curves.png", "final_accuracy.png", "step_time.png", "dynamics.png",
            "predictions.png", "gradients.png"} <= set(names)
    for name in names:
        assert (out / name).stat().st_size > 1000, name
    assert "The best loss by mean test accuracy, ce on cpu, with its best seed" in text
    # test images only: calibration needs training images, and says so
    assert "## Calibration\n\nSkipped: the data given has no training images" in text


def test_hand_written_gpu_name_and_remade_without_data(tmp_path, monkeypatch):
    from losses import plots

    monkeypatch.setattr(plots, "plot_grid", lambda: plt.figure(figsize=(2, 2)))
    hand_written_out(tmp_path, cuda="NVIDIA H100 80GB HBM3")
    assert report.main([str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "- GPU: NVIDIA H100 80GB HBM3" in text and "no CUDA device" not in text
    # run.json's data folder is empty: the image sections say why they are skipped
    assert "Skipped: the data could not be loaded" in text
    assert "predictions.png" not in text


def test_microbench_summary_pairs_ours_with_torch(tmp_path):
    def bench(name, param, group, median):
        return {"name": f"{name}[{param}]", "param": param, "group": group,
                "stats": {"median": median}}

    saved = {"datetime": "2026-11-25T00:00:00", "machine_info": {"cpu": {"brand_raw": "CPU X"}},
             "benchmarks": [bench("test_lossbench_value_and_grad", "ce", "ce", 1e-3),
                            bench("test_torch_builtin_forward_backward", "ce", "ce", 4e-3),
                            bench("test_training_step", "ce", "step", 2e-4)]}
    path = tmp_path / "microbench.json"
    path.write_text(__import__("json").dumps(saved))
    text = report._microbench(path)
    assert "CPU X" in text and "| ce | 1,000 | 4,000 | 4.00 |" in text and "| ce | 200 |" in text
    assert report._microbench(tmp_path / "absent.json") == ""
