"""The report's layouts from hand-written results folders (no training, fast): one workload as
today, files from before datasets and models were parts, several workloads, a non-image dataset
and stages skipped for a workload."""

import json
import math
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from bench import schema
from bench.datasets import Dataset
from bench.reporting import write_report
from bench.reporting.__main__ import main
from bench.reporting.families import family
from bench.study.results import slug
from bench.training.config import RunConfig

FINISHED = ["ce", "margin:kind=crammer_singer:delta=1", "l1:on=probs"]
TOY = ("low", "middle", "high")  # the classes of a small non-image dataset
SKIPPED = {
    "reference": "the L-BFGS optimum is for linear models here",
    "textbook": "the D2L loop trains Fashion-MNIST only",
}


def hand_written_rows(dataset="fashion_mnist", model="linear", seed=0):
    """3 losses x cpu x 2 seeds x 3 epochs, a run diverged at epoch 2, a run stopped at epoch 1."""
    rng = np.random.default_rng(seed)
    plan = [(loss, s, 3, "ok") for loss in FINISHED for s in (0, 1)]
    plan += [("l2:on=scores", 0, 2, "diverged"), ("huber", 0, 1, "ok")]
    rows = []
    for loss, s, last, status in plan:
        for epoch in range(1, last + 1):
            gone = status == "diverged" and epoch == last
            rows.append(
                {
                    "trainer": "lossbench",
                    "dataset": dataset,
                    "model": model,
                    "loss": loss,
                    "device": "cpu",
                    "seed": s,
                    "noise": "none",
                    "epoch": epoch,
                    "epochs": 3,
                    "lr": 0.3,
                    "batch_size": 256,
                    "schedule": "cosine",
                    "status": "diverged" if gone else "ok",
                    "step_mode": "eager",
                    "grad": "analytic",
                    "train_loss": math.nan if gone else 1.5 / epoch + 0.05 * rng.random(),
                    "train_acc": 0.7 + 0.03 * epoch + 0.01 * rng.random(),
                    "test_acc": 0.1 if gone else 0.7 + 0.03 * epoch + 0.01 * rng.random(),
                    "epoch_s": 0.2 + 0.05 * rng.random(),
                    "step_ms": 0.8 + 0.3 * rng.random(),
                    "step_ms_p90": 1.2 + 0.3 * rng.random(),
                    "samples_per_s": 3e5 * (1 + rng.random()),
                    "floor_s": 0.1,
                    "peak_mem_mb": 400.0,
                    "grad_norm": 1.0 / epoch,
                    "active_frac": 1.0 / epoch,
                    "memorised": math.nan,
                }
            )
    frame = pd.DataFrame(rows).reindex(columns=list(schema.RESULTS))  # unmeasured columns: NaN
    # margin has the best single seed, ce the best mean: the predictions must come from ce
    for loss, accs in (("ce", (0.80, 0.80)), ("margin:kind=crammer_singer:delta=1", (0.70, 0.85))):
        for s, acc in zip((0, 1), accs, strict=True):
            last = (frame.loss == loss) & (frame.seed == s) & (frame.epoch == 3)
            frame.loc[last, "test_acc"] = acc
    return frame


def image_data(generator) -> Dataset:
    """A tiny Fashion-MNIST-shaped dataset: 28×28 images, 10 classes, two of each in training."""
    from bench.datasets.fashion_mnist import CLASSES, PAIRS

    return Dataset(
        torch.rand(40, 784, generator=generator),
        torch.arange(40) % 10,
        torch.rand(20, 784, generator=generator),
        torch.randint(0, 10, (20,), generator=generator),
        classes=CLASSES,
        image_shape=(28, 28),
        pairs=PAIRS,
        spec="fashion_mnist",
    )


def toy_data(generator) -> Dataset:
    """A small non-image dataset: 5 features, 3 classes, no image shape, no noise pairs."""
    return Dataset(
        torch.randn(30, 5, generator=generator),
        torch.arange(30) % 3,
        torch.randn(12, 5, generator=generator),
        torch.arange(12) % 3,
        classes=TOY,
        spec="toy",
    )


def save_weights(out, dataset, model, inputs, classes, generator):
    (out / "weights").mkdir(parents=True, exist_ok=True)
    for loss in FINISHED:
        for s in (0, 1):
            config = RunConfig(loss, seed=s, dataset=dataset, model=model)
            weights = {
                "W": 0.01 * torch.randn(inputs, classes, generator=generator),
                "b": torch.zeros(classes),
            }
            torch.save(weights, out / "weights" / f"{slug(config)}.pt")


def write_meta(out, cuda="no CUDA device", **config):
    meta = {
        "command": "python -m bench --epochs 3 --seeds 2",
        "config": {
            "epochs": 3,
            "batch_size": 256,
            "schedule": "cosine",
            "lr": None,
            "rates": "defaults",
            "devices": ["cpu"],
            "seeds": [0, 1],
            "noise": ["none"],
            "data": str(out / "no-data-here"),
            **config,
        },
        "environment": {
            "python": "3.11",
            "torch": "2.14.1",
            "torchvision": "0.29.1",
            "cpu": "test CPU",
            "threads": 2,
            "cuda": cuda,
        },
        "notes": ["a hand-written note"],
    }
    (out / "run.json").write_text(json.dumps(meta))


def hand_written_out(out, cuda="no CUDA device") -> Dataset:
    """OUT with results.csv, run.json and random weights; returns its dataset."""
    g = torch.Generator().manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    hand_written_rows().to_csv(out / "results.csv", index=False)
    write_meta(out, cuda)
    save_weights(out, "fashion_mnist", "linear", 784, 10, g)
    return image_data(g)


@pytest.fixture(scope="module")
def hand_written(tmp_path_factory):
    out = tmp_path_factory.mktemp("hand")
    data = hand_written_out(out)
    return out, write_report(out, data={"fashion_mnist": data}).read_text()


def _table(text, heading):
    """The Markdown table lines of the section under ``heading`` (to the next heading)."""
    section = text.split(heading + "\n", 1)[1].split("\n#", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def _figures(text):
    links = [part.split(")")[0] for part in text.split("](")[1:]]
    return [link for link in links if not link.startswith("#")]  # not the report's own headings


def test_hand_written_tables_have_headers_and_every_finished_loss(hand_written):
    _, text = hand_written
    accuracy, speed = _table(text, "## Accuracy"), _table(text, "### Speed")
    assert accuracy[0].startswith("| loss | family | device | lr | test acc (mean ± sd) |")
    assert speed[0].startswith("| loss | device | median step µs | p90 step µs | samples/s |")
    for loss in FINISHED:
        assert any(line.startswith(f"| {loss} | {family(loss)} | cpu |") for line in accuracy)
        assert any(line.startswith(f"| {loss} | cpu |") for line in speed), loss
    assert speed[0].endswith("| peak MB | steps | grad |")
    assert all(line.endswith("| eager | analytic |") for line in speed[2:])


def test_hand_written_diverged_shown_unfinished_excluded_and_counted(hand_written):
    _, text = hand_written
    accuracy = _table(text, "## Accuracy")
    assert any(
        line.startswith("| l2:on=scores | square | cpu |") and "diverged at epoch 2" in line
        for line in accuracy
    )
    assert not any(line.startswith("| huber") for line in accuracy + _table(text, "### Speed"))
    assert "7 runs finished, 1 unfinished (excluded from every table)" in text.split("\n## ")[0]
    assert "l2:on=scores (seed 0, noise none) diverged at epoch 2" in text


def test_hand_written_cells_equal_pandas_own_numbers(hand_written):
    out, text = hand_written
    frame = pd.read_csv(out / "results.csv")
    last = frame[frame.epoch == 3]
    for loss in FINISHED:
        acc = last[last.loss == loss].test_acc
        assert f"| {acc.mean():.4f} ± {acc.std():.4f} |" in text, loss
        steps = frame[frame.loss == loss].groupby("seed").step_ms.median().mean() * 1000
        line = next(r for r in _table(text, "### Speed") if r.startswith(f"| {loss} |"))
        assert line.split(" | ")[2] == f"{steps:,.0f}", loss


def test_hand_written_states_no_gpu_and_figures_exist(hand_written):
    out, text = hand_written
    assert "no CUDA device" in text.split("\n## ")[0] and "a hand-written note" in text
    assert "```\npython -m bench --epochs 3 --seeds 2\n```" in text
    names = _figures(text)
    assert {
        "curves.png",
        "final_accuracy.png",
        "step_time.png",
        "dynamics.png",
        "predictions.png",
        "gradients.png",
        "gradients_textbook.png",
        "confusion.png",
        "reliability.png",
    } <= set(names)
    for name in names:
        assert (out / name).stat().st_size > 1000, name
    # margin has the best single seed, ce the best mean: the predictions are ce's
    from bench.reporting import predictions
    from bench.reporting import workload as workloads

    meta = json.loads((out / "run.json").read_text())
    (w,) = workloads.load(out, meta, {"fashion_mnist": image_data(torch.Generator())})
    assert predictions.best_run(w)["loss"] == "ce"
    # the final runs train on every training image: T is cross-fitted on the test set
    assert "T is cross-fitted on the test set" in text


def test_hand_written_gpu_name_and_remade_without_data(tmp_path, monkeypatch):
    from losses import plots

    monkeypatch.setattr(plots, "plot_grid", lambda: plt.figure(figsize=(2, 2)))
    monkeypatch.setattr(plots, "plot_textbook", lambda: plt.figure(figsize=(2, 2)))
    hand_written_out(tmp_path, cuda="NVIDIA H100 80GB HBM3")
    assert main([str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "NVIDIA H100 80GB HBM3" in text.split("\n## ")[0] and "no CUDA device" not in text
    # run.json's data folder is empty: the image sections say why they are skipped
    assert "Skipped: the data could not be loaded" in text
    assert "predictions.png" not in text


def test_files_from_before_datasets_and_models_were_parts_still_report(
    tmp_path, hand_written, monkeypatch
):
    from losses import plots

    monkeypatch.setattr(plots, "plot_grid", lambda: plt.figure(figsize=(2, 2)))
    monkeypatch.setattr(plots, "plot_textbook", lambda: plt.figure(figsize=(2, 2)))
    data = hand_written_out(tmp_path)
    rows = pd.read_csv(tmp_path / "results.csv").drop(columns=["dataset", "model", "grad"])
    rows.to_csv(tmp_path / "results.csv", index=False)
    pd.DataFrame(
        [
            {
                "loss": "ce",
                "max_iter": 5,
                "train_loss": 0.1,
                "train_acc": 1.0,
                "test_acc": 0.97,
                "iterations": 5,
                "seconds": 0.1,
            }
        ]
    ).to_csv(tmp_path / "reference.csv", index=False)
    text = write_report(tmp_path, data={"fashion_mnist": data}).read_text()
    _, today = hand_written
    assert _table(text, "### Speed") == _table(today, "### Speed")
    accuracy = _table(text, "## Accuracy")
    assert accuracy[0].endswith("| L-BFGS optimum: test acc | L-BFGS optimum: train loss |")
    assert any(
        line.startswith("| ce | textbook | cpu |") and "| 0.97 | 0.1 |" in line for line in accuracy
    )
    assert "## Accuracy targets" in text and "## Predictions" in text


@pytest.fixture(scope="module")
def non_image(tmp_path_factory):
    """One workload of a non-image dataset whose run.json lists skipped stages."""
    out = tmp_path_factory.mktemp("toy")
    g = torch.Generator().manual_seed(1)
    hand_written_rows("toy").to_csv(out / "results.csv", index=False)
    write_meta(out, dataset="toy", model="linear")
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "skipped": SKIPPED}))
    save_weights(out, "toy", "linear", 5, len(TOY), g)
    return out, write_report(out, data={"toy": toy_data(g)}).read_text()


def test_a_non_image_dataset_has_no_grid_and_names_its_classes(non_image):
    out, text = non_image
    assert "5 inputs → 3 classes, trained on toy (30 training and 12 test examples)" in text
    assert "## Predictions" in text
    assert "predictions.png" not in _figures(text) and not (out / "predictions.png").exists()
    per_class = _table(text, "## Per-class errors")
    assert per_class[0] == "| loss | low | middle | high | worst class |"
    assert "## Accuracy targets" not in text  # the targets are Fashion-MNIST's
    assert "t-shirt" not in text


def test_skipped_stages_are_named_with_their_reason(non_image):
    _, text = non_image
    assert f"The L-BFGS optimum: skipped: {SKIPPED['reference']}." in text
    assert f"The D2L textbook loop: skipped: {SKIPPED['textbook']}." in text
    assert "L-BFGS optimum: test acc" not in text


# run.json's log of the commands that wrote the two workloads (bench.api.Clock's entries)
COMMANDS = [
    {
        "command": "python -m bench --dataset fashion_mnist",
        "dataset": "fashion_mnist",
        "model": "linear",
        "workers": 2,
        "status": "finished",
        "runs": 8,
        "seconds": 100.0,
        "started": "2026-11-26T10:00:00+00:00",
        "phases": {"tuning": 30.0, "training": 40.0, "step anatomy": 20.0},
    },
    {
        "command": "python -m bench --dataset toy",
        "dataset": "toy",
        "model": "linear",
        "workers": 1,
        "status": "finished",
        "runs": 6,
        "seconds": 12.0,
        "started": "2026-11-26T10:02:00+00:00",
        "phases": {"training": 12.0},
    },
]


@pytest.fixture(scope="module")
def two_workloads(tmp_path_factory):
    """Fashion-MNIST and a non-image dataset in one folder; run.json names the second."""
    out = tmp_path_factory.mktemp("two")
    g = torch.Generator().manual_seed(2)
    rows = pd.concat([hand_written_rows(), hand_written_rows("toy", seed=1)])
    rows.to_csv(out / "results.csv", index=False)
    write_meta(out, dataset="toy", model="linear")
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "skipped": SKIPPED, "commands": COMMANDS}))
    save_weights(out, "fashion_mnist", "linear", 784, 10, g)
    save_weights(out, "toy", "linear", 5, len(TOY), g)
    schema.write_rows(
        out / "reference.csv",
        schema.REFERENCE,
        [
            {
                "dataset": "fashion_mnist",
                "model": "linear",
                "loss": "ce",
                "max_iter": 5,
                "train_loss": 0.1,
                "train_acc": 1.0,
                "test_acc": 0.97,
                "iterations": 5,
                "seconds": 0.1,
            }
        ],
    )
    data = {"fashion_mnist": image_data(g), "toy": toy_data(g)}
    return out, write_report(out, data=data).read_text()


def test_two_workloads_are_listed_and_each_has_its_sections(two_workloads):
    out, text = two_workloads
    assert "2 workloads (dataset × model)" in text and "14 runs finished" in text
    assert "### The grid and its cost" in text.split("\n## How fast, and why\n", 1)[1]
    workloads = text.split("## Workloads\n", 1)[1].split("\n## ", 1)[0]
    assert "**fashion_mnist · linear**" in workloads and "**toy · linear**" in workloads
    # each workload states its own length: a folder may hold workloads of different epochs
    epochs = pd.read_csv(out / "results.csv").groupby("dataset")["epochs"].max()
    for dataset in ("fashion_mnist", "toy"):
        line = next(x for x in workloads.splitlines() if x.startswith(f"- **{dataset} · "))
        assert f" losses, {epochs[dataset]} epochs, " in line
    assert "each workload's epochs are listed below" in text.split("\n## ", 1)[0]
    fashion = text.split("\n## fashion_mnist · linear\n", 1)[1].split("\n## toy · linear\n")[0]
    toy = text.split("\n## toy · linear\n", 1)[1].split("\n## The losses", 1)[0]
    for section in (fashion, toy):
        for heading in ("### Accuracy", "### Per-class errors", "### Reading"):
            assert heading in section, heading
        assert "Speed" not in section  # in "How fast, and why", after every workload
    fast = text.split("\n## How fast, and why\n", 1)[1]
    assert "### Speed: fashion_mnist · linear" in fast and "### Speed: toy · linear" in fast
    assert "### Accuracy targets" in fashion and "Accuracy targets" not in toy
    assert "L-BFGS optimum: test acc" in fashion and "The L-BFGS optimum: skipped" not in fashion
    assert f"The L-BFGS optimum: skipped: {SKIPPED['reference']}." in toy
    assert "\n## Accuracy\n" not in text and text.count("## The losses") == 1
    assert "### Predictions" in toy and "t-shirt" in fashion and "t-shirt" not in toy


def test_two_workloads_keep_their_figures_apart(two_workloads):
    out, text = two_workloads
    names = _figures(text)
    for prefix in ("fashion_mnist__linear__", "toy__linear__"):
        assert {prefix + "curves.png", prefix + "confusion.png"} <= set(names), prefix
    assert "fashion_mnist__linear__predictions.png" in names
    assert "toy__linear__predictions.png" not in names and "gradients.png" in names
    for name in names:
        assert (out / name).stat().st_size > 1000, name


def test_a_folder_without_runs_yet_says_so(tmp_path):
    (tmp_path / "results.csv").write_text(",".join(schema.RESULTS) + "\n")
    write_meta(tmp_path)
    text = write_report(tmp_path).read_text()
    assert "No runs are recorded in results.csv yet." in text
    assert "### The machine and the commands" in text


def test_the_grid_and_its_cost_state_each_command_and_price_the_full_product(two_workloads):
    from bench.reporting import cost
    from bench.reporting import workload as workloads

    out, text = two_workloads
    assert "python -m bench --dataset fashion_mnist\npython -m bench --dataset toy" in text
    assert "## The grid and its cost" in text
    meta = json.loads((out / "run.json").read_text())
    g = torch.Generator()
    data = {"fashion_mnist": image_data(g), "toy": toy_data(g)}
    found = cost.facts(meta, workloads.load(out, meta, data))
    assert found["commands"].to_dict("records") == [
        {
            "workload": "fashion_mnist · linear",
            "status": "finished",
            "runs trained": 8,
            "workers": 2,
            "wall time": "1.7 min",
            "by phase": "tuning 30 s, training 40 s, step anatomy 20 s",
        },
        {
            "workload": "toy · linear",
            "status": "finished",
            "runs trained": 6,
            "workers": 1,
            "wall time": "12 s",
            "by phase": "training 12 s",
        },
    ]
    assert (found["seconds"], found["runs"]) == (112.0, 14)
    # the grid per workload: 4 losses finished (one diverged) on clean labels, 2 seeds each
    grid = found["grid"].set_index("workload")
    assert grid.loc["fashion_mnist · linear"].tolist() == [4, "none × 2", 7]
    # full product: fashion_mnist defines pairs (7 levels), toy does not (5); 5 seeds each.
    # fashion_mnist: 2 workers × 40 s / 8 runs = 10 worker-s a run, tuning 2 × 30 = 60;
    # toy: 12 s / 6 runs = 2 a run, no tuning
    runs_f, runs_t = 4 * 7 * 5, 4 * 5 * 5
    full = found["full"]
    assert full["workloads"] == [("fashion_mnist · linear", runs_f), ("toy · linear", runs_t)]
    assert full["core_seconds"] == pytest.approx(runs_f * 10 + 60 + runs_t * 2)
    assert (full["cores"], full["workers"]) == (2, 64)  # run.json's threads, the cluster's
    assert full["command"] == "make study-full SCHEDULER=tcp://HOST:8786"


def test_sections_that_need_weights_say_so_when_a_sample_leaves_them_out(two_workloads, tmp_path):
    out, _ = two_workloads
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for path in (copy / "weights").glob("toy__*"):
        path.unlink()
    g = torch.Generator().manual_seed(2)
    text = write_report(copy, data={"fashion_mnist": image_data(g), "toy": toy_data(g)}).read_text()
    toy = text.split("\n## toy · linear\n", 1)[1].split("\n## The losses", 1)[0]
    fashion = text.split("\n## fashion_mnist · linear\n", 1)[1].split("\n## toy · linear\n")[0]
    for title in ("Calibration", "Per-class errors", "Predictions"):
        assert (
            f"### {title}\n\nNot shown: the weights of these runs are not in `copy/weights/`" in toy
        ), title
        assert "Not shown: the weights" not in fashion


def test_a_speed_only_folder_names_no_best_loss(tmp_path, monkeypatch):
    """Untuned runs of one seed (the GPU report) measure speed: no section picks a loss."""
    from bench.reporting import workload as workloads
    from losses import plots

    monkeypatch.setattr(plots, "plot_grid", lambda: plt.figure(figsize=(2, 2)))
    monkeypatch.setattr(plots, "plot_textbook", lambda: plt.figure(figsize=(2, 2)))
    g = torch.Generator().manual_seed(3)
    rows = hand_written_rows()
    rows[rows["seed"] == 0].to_csv(tmp_path / "results.csv", index=False)
    write_meta(tmp_path, seeds=[0])
    save_weights(tmp_path, "fashion_mnist", "linear", 784, 10, g)
    data = image_data(g)
    meta = json.loads((tmp_path / "run.json").read_text())
    (w,) = workloads.load(tmp_path, meta, {"fashion_mnist": data})
    assert w.speed_only
    text = write_report(tmp_path, data={"fashion_mnist": data}).read_text()
    for heading in (
        "## Accuracy targets",
        "## Paired comparisons",
        "## Predictions",
        "## Reading the results",
    ):
        assert heading not in text, heading
    assert "## Accuracy" in text and "### Speed" in text


def test_a_folder_of_several_seeds_is_not_speed_only(hand_written):
    from bench.reporting import workload as workloads

    out, _ = hand_written
    meta = json.loads((out / "run.json").read_text())
    (w,) = workloads.load(out, meta, {"fashion_mnist": image_data(torch.Generator())})
    assert not w.speed_only
