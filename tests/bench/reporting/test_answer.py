""" "Which loss should I use?" from synthetic studies: where the section sits, the picks of its
reading, the long-tail metric, one seed, diverged and concurrent runs, and calibrated use."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from test_layouts import write_meta

from bench import schema
from bench.analysis import calibration, evaluation
from bench.datasets import Dataset
from bench.reporting import answer, write_report
from bench.reporting import workload as workloads
from bench.study.results import slug
from bench.training.config import RunConfig

EPOCHS = 3
# (epoch seconds, final test accuracy per seed[, final balanced accuracy per seed]) per loss
CLEAN = {"ce": (0.1, [0.85, 0.86, 0.85]), "gce": (0.2, [0.85, 0.86, 0.849]),
         "l1": (0.05, [0.78, 0.79, 0.77])}  # fmt: skip
NOISY = {"ce": (0.1, [0.70, 0.72, 0.71]), "gce": (0.2, [0.80, 0.81, 0.80]),
         "l1": (0.05, [0.60, 0.62, 0.61])}  # fmt: skip
# long-tailed: ce has the best accuracy, logit adjustment the best balanced accuracy
TAIL = {"ce": (0.1, [0.80, 0.81, 0.80], [0.60, 0.61, 0.60]),
        "logit_adjusted": (0.1, [0.78, 0.79, 0.78], [0.70, 0.71, 0.72])}  # fmt: skip


def study(plan, dataset="fashion_mnist", model="linear", concurrent=False):
    """Results rows of ``plan`` ({noise: {loss: (epoch_s, accs[, balanced])}}): every run climbs
    0.05 per epoch to its final accuracy."""
    rows = []
    for noise, by_loss in plan.items():
        for loss, (seconds, accs, *balanced) in by_loss.items():
            for seed, acc in enumerate(accs):
                fair = balanced[0][seed] if balanced else acc
                for epoch in range(1, EPOCHS + 1):
                    late = 0.05 * (EPOCHS - epoch)
                    rows.append({
                        "trainer": "lossbench", "dataset": dataset, "model": model,
                        "loss": loss, "device": "cpu", "seed": seed, "noise": noise,
                        "epoch": epoch, "epochs": EPOCHS, "lr": 0.1, "batch_size": 256,
                        "schedule": "cosine", "status": "ok", "step_mode": "eager",
                        "grad": "analytic", "train_loss": 1.0 / epoch, "train_acc": acc,
                        "test_acc": acc - late, "balanced_acc": fair - late,
                        "worst_class_acc": fair - 0.2, "macro_f1": fair, "epoch_s": seconds,
                        "step_ms": 1.0, "step_ms_p90": 1.2, "samples_per_s": 3e5,
                        "floor_s": 0.01, "peak_mem_mb": 100.0, "grad_norm": 1.0,
                        "active_frac": 1.0, "memorised": 0.1 if noise != "none" else math.nan,
                        "concurrent": concurrent,
                    })  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=list(schema.RESULTS))


def folder(path, frame, noise=("none",)):
    path.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path / "results.csv", index=False)
    write_meta(path, noise=list(noise), seeds=[0, 1, 2])
    return path


def section(out, data=None):
    meta = json.loads((out / "run.json").read_text())
    return answer.section(workloads.load(out, meta, data))


def rows_of(text, heading="## Which loss should I use?"):
    part = text.split(heading + "\n", 1)[1].split("\n### ", 1)[0]
    return [line for line in part.splitlines() if line.startswith("| ")][1:]


def line_of(text, label):
    return next(line for line in text.splitlines() if line.startswith(f"- **{label}"))


@pytest.fixture(scope="module")
def make_bench(tmp_path_factory):
    """The usual `make bench`: one dataset, one model, clean and sym:0.4 (two workloads)."""
    out = folder(tmp_path_factory.mktemp("bench"),
                 study({"none": CLEAN, "sym:0.4": NOISY}), ("none", "sym:0.4"))  # fmt: skip
    return out, write_report(out).read_text()


def test_one_dataset_and_model_answer_first_with_a_row_per_noise_level(make_bench):
    out, text = make_bench
    where = text.index("## Which loss should I use?")
    assert text.index("## Environment") < where < text.index("## What makes the losses")
    assert where < text.index("## Accuracy")
    table = rows_of(text)
    assert [row.split(" | ")[0] for row in table] == [
        "| fashion_mnist · linear · clean", "| fashion_mnist · linear · sym:0.4"]  # fmt: skip
    assert table[0].split(" | ")[4:6] == ["ce (0.8533)", "gce (0.8530)"]  # l1 is clearly worse
    assert table[1].split(" | ")[4:6] == ["gce (0.8033)", "none"]
    assert (out / "answer_profiles.png").stat().st_size > 1000


def test_make_bench_reading_picks_from_the_data_and_says_what_was_not_measured(make_bench):
    _, text = make_bench
    assert line_of(text, "Clean labels").startswith("- **Clean labels**: **ce**: mean rank 1.00")
    assert "Also tied with the best in every one: gce." in line_of(text, "Clean labels")
    assert line_of(text, "Noisy labels (sym:0.4").count("**gce**") == 1
    assert "not measured here" in line_of(text, "Long-tailed data")
    assert "not measured here (needs clean runs with saved weights" in line_of(text, "Calibrated")
    # the targets are 95% of the best (0.8533, 0.8033): ce reaches the clean one at epoch 3
    # (0.3 s) before gce (0.6 s) and l1 (never: 0.7933 < 0.8107)
    assert f"({answer.TARGET_FRACTION:.0%} of the best score): **ce**, first in 1 of 2" in text
    assert "Every run was timed with the machine to itself." in text


def test_mean_ranks_over_both_noise_levels(make_bench):
    _, text = make_bench
    ranks = {row.split(" | ")[0][2:]: row.split(" | ")[2:5]
             for row in rows_of(text, "### Mean rank over workloads")}  # fmt: skip
    assert ranks == {"ce": ["1.50", "2 of 2", "1"], "gce": ["1.50", "2 of 2", "2"],
                     "l1": ["3.00", "2 of 2", "0"]}  # fmt: skip


@pytest.fixture(scope="module")
def several(tmp_path_factory):
    """Two datasets × one model; the long-tailed one is known by its name only (not loaded)."""
    frame = pd.concat([study({"none": CLEAN}),
                       study({"none": TAIL}, dataset="fashion_mnist_lt:ratio=10")])  # fmt: skip
    out = folder(tmp_path_factory.mktemp("several"), frame)
    return out, write_report(out).read_text()


def test_several_workloads_answer_before_the_list_and_the_details(several):
    _, text = several
    where = text.index("## Which loss should I use?")
    assert text.index("## Environment") < where < text.index("## Workloads")
    assert where < text.index("### Accuracy")
    assert len(rows_of(text)) == 2


def test_long_tailed_by_name_ranks_by_balanced_accuracy(several):
    _, text = several
    tail = next(row for row in rows_of(text) if "fashion_mnist_lt" in row).split(" | ")
    assert tail[1:2] == ["balanced acc"] and tail[4] == "logit_adjusted (0.7100)"
    assert next(r for r in rows_of(text) if "_lt" not in r).split(" | ")[1] == "test acc"
    assert "**Long-tailed data**: **logit_adjusted**" in text
    assert "mean balanced acc 0.7100" in line_of(text, "Long-tailed data")


def test_long_tailed_from_the_training_prior_else_from_the_name():
    labels = torch.tensor([0] * 8 + [1] * 5 + [2] * 5)  # 8 / 5 = 1.6 > 1.5
    data = Dataset(torch.zeros(18, 2), labels, torch.zeros(3, 2), torch.arange(3),
                   classes=("a", "b", "c"))  # fmt: skip
    assert answer.long_tailed(SimpleNamespace(data=data, dataset="anything"))
    even = Dataset(torch.zeros(3, 2), torch.arange(3), torch.zeros(3, 2), torch.arange(3),
                   classes=("a", "b", "c"))  # fmt: skip
    assert not answer.long_tailed(SimpleNamespace(data=even, dataset="cifar_lt"))  # data decide
    assert answer.long_tailed(SimpleNamespace(data=None, dataset="fashion_mnist_lt:ratio=10"))
    assert not answer.long_tailed(SimpleNamespace(data=None, dataset="digits"))


def test_one_seed_says_ties_cannot_be_judged(tmp_path):
    out = folder(tmp_path, study({"none": {k: (s, a[:1]) for k, (s, a) in CLEAN.items()}}))
    text = section(out)
    assert rows_of(text)[0].split(" | ")[5] == "cannot be judged (one seed)"
    assert "Ties with it cannot be judged: one seed." in line_of(text, "Clean labels")


def test_a_diverged_run_scores_zero_and_is_named(tmp_path):
    frame = study({"none": CLEAN})
    gone = (frame["loss"] == "ce") & (frame["seed"] == 2) & (frame["epoch"] == EPOCHS)
    frame.loc[gone, "status"] = "diverged"
    text = section(folder(tmp_path, frame))
    assert "Diverged (scored 0): ce seed 2 on fashion_mnist · linear · clean." in text
    assert rows_of(text)[0].split(" | ")[4] == "gce (0.8530)"
    ranks = {row.split(" | ")[0][2:]: row.split(" | ")[2]
             for row in rows_of(text, "### Mean rank over workloads")}  # fmt: skip
    assert ranks["ce"] == "3.00"  # (0.85 + 0.86 + 0) / 3 is below l1's 0.78


@pytest.mark.parametrize(("shared", "said"), [
    ([True, True], "every run was timed alike, so the time profile compares runs that shared"),
    ([False, True], "are in fashion_mnist · linear · sym:0.4; within each workload every run"),
    ([False, [True, False, False]],
     "in fashion_mnist · linear · sym:0.4 they mix with runs timed alone"),
])  # fmt: skip
def test_concurrent_timings_are_said(tmp_path, shared, said):
    noisy = study({"sym:0.4": NOISY})
    noisy["concurrent"] = noisy["seed"].map(dict(enumerate(np.broadcast_to(shared[1], 3))))
    frame = pd.concat([study({"none": CLEAN}, concurrent=shared[0]), noisy])
    assert said in section(folder(tmp_path, frame, ("none", "sym:0.4")))


def test_calibrated_use_names_the_lowest_ece_from_the_saved_weights(tmp_path):
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 12 + [1] * 6 + [2] * 6)  # long-tailed by its training prior
    data = Dataset(torch.randn(24, 4, generator=g), labels, torch.randn(30, 4, generator=g),
                   torch.arange(30) % 3, classes=("a", "b", "c"), spec="skewed")  # fmt: skip
    plan = {"none": {k: v for k, v in TAIL.items()}}
    out = folder(tmp_path, study(plan, dataset="skewed"))
    (out / "weights").mkdir()
    for loss, scale in (("ce", 3.0), ("logit_adjusted", 0.3)):
        for seed in range(3):
            config = RunConfig(loss, seed=seed, dataset="skewed", model="linear")
            weights = {"W": scale * torch.randn(4, 3, generator=g), "b": torch.zeros(3)}
            torch.save(weights, out / "weights" / f"{slug(config)}.pt")
    text = section(out, {"skewed": data})
    ece = {}
    for loss in ("ce", "logit_adjusted"):
        runs = [SimpleNamespace(loss=loss, device="cpu", seed=s, dataset="skewed",
                                model="linear") for s in range(3)]  # fmt: skip
        ece[loss] = np.mean([calibration.metrics(evaluation.load_model(out, r).scores(
            data.test_x), data.test_y)["ece"] for r in runs])  # fmt: skip
    lead = min(ece, key=ece.get)
    line = line_of(text, "Calibrated")
    assert line.startswith(f"- **Calibrated probabilities**: **{lead}**, the lowest")
    assert f"ECE {ece[lead]:.4f}" in line
    assert "**Long-tailed data**: **logit_adjusted**" in text  # from the data's prior
    assert "not measured here" in line_of(text, "Clean labels")


def test_stacked_runs_reach_the_target_at_their_loss_s_speed_alone(tmp_path):
    """A stack's runs all record the same share of its epochs; time to the target reads each
    loss's epoch seconds from the serial timing phase instead."""
    shares = {loss: (1.0, accs) for loss, (_, accs) in CLEAN.items()}
    frame = study({"none": shares}, concurrent=True).assign(step_mode="stacked")
    out = folder(tmp_path, frame)
    alone = {"ce": 0.3, "gce": 0.2, "l1": 0.05}
    study({"none": {loss: (s, [0.8]) for loss, s in alone.items()}}).to_csv(
        out / "timing.csv", index=False)
    text = section(out)
    # ce and gce first reach 95% of the best at epoch 3: 3 × 0.2 s beats 3 × 0.3 s
    assert rows_of(text)[0].split(" | ")[-1].startswith("gce (0.6 s)")
    assert "count each epoch at the seconds their loss took trained alone" in text
    (out / "timing.csv").unlink()  # without the timing phase: the shares, all alike
    assert rows_of(section(out))[0].split(" | ")[-1].startswith("ce (3 s)")
