"""The report: every section and figure from a small synthetic study, numbers from the rows."""

import pandas as pd
import pytest

from bench import report, runs, tables
from bench.train import RunConfig, train

LOSSES = ["ce", "margin:kind=crammer_singer:delta=1", "l1:on=probs"]


def make_study(out, data):
    results = runs.Results(out)
    meta = {
        "command": "python -m bench --epochs 2",
        "config": {"epochs": 2, "batch_size": 64, "schedule": "cosine", "lr": None,
                   "rates": "tuned", "devices": ["cpu"], "seeds": [0, 1],
                   "noise": ["none", "sym:0.4"]},
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
            "gradients.png"} <= set(names)
    for name in names:
        assert (out / name).stat().st_size > 1000, name


def test_accuracy_cells_are_pandas_own_numbers(written):
    out, text, _ = written
    frame = pd.read_csv(out / "results.csv")
    last = frame[(frame.epoch == 2) & (frame.noise == "none") & (frame.loss == "ce")]
    expected = f"{last.test_acc.mean():.4f} ± {last.test_acc.std():.4f}"
    assert expected in text


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
    # no data folder in run.json: the image sections say why they are skipped
    assert report.main([str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "## Accuracy" in text
    assert report.main([str(tmp_path)]) == 2
    assert "has no results.csv" in capsys.readouterr().err


def test_markdown_table_escapes_and_formats():
    frame = pd.DataFrame({"a": ["x|y"], "b": [0.123456], "c": [float("nan")]})
    assert report.markdown_table(frame).splitlines()[2] == "| x\\|y | 0.1235 | — |"
    assert report.markdown_table(pd.DataFrame()) == "_(no rows)_"


def test_targets_table_explains_a_miss_with_the_measured_cause():
    accuracy = pd.DataFrame([{"trainer": "lossbench", "loss": "ce", "device": "cpu",
                              "test_acc": 0.844, "test_acc_ci95": 0.001}])
    table = tables.targets(accuracy)
    assert not table["met"].iloc[0]
    text = report._targets(accuracy, pd.DataFrame([{"loss": "ce", "test_acc": 0.8448}]),
                           None, None, None)
    assert "the L-BFGS optimum of this objective scores 0.8448" in text
