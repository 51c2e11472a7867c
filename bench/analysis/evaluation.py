"""What the final weights say beyond accuracy: calibration and per-class errors.

Reads the clean runs' (no label noise) weights from OUT/weights/<dataset>__<model>.pt
(older folders: OUT/weights/<slug>.pt, one file per run) and scores the test set.
Temperature scaling is fitted on the validation split of the training set
(``Dataset.validation_split``): never on the test set. Those images were part of the final
training run, so the fitted temperature slightly under-corrects overconfidence; the report says so.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import torch

from bench import models
from bench.analysis import calibration
from bench.study.results import slug, weights_file
from bench.training.config import RunConfig


def load_model(out: Path, run):
    """The saved final model of a run (a RunConfig, or a row with its fields), on the CPU; None
    when its weights are not there. Reads the workload's file (``weights_file``), else a folder
    written before those existed: one file per run, OUT/weights/<slug>.pt."""
    config = (
        run
        if isinstance(run, RunConfig)
        else RunConfig(
            loss=run.loss,
            device=run.device,
            seed=int(run.seed),
            noise=getattr(run, "noise", "none"),
            dataset=getattr(run, "dataset", "fashion_mnist"),
            model=getattr(run, "model", "linear"),
        )
    )
    key = slug(config)
    path = weights_file(out, config.dataset, config.model)
    state = None
    if path.exists():  # copied: the cache's tensors are not handed out to be changed
        saved = _workload_weights(str(path), path.stat().st_mtime_ns).get(key)
        state = None if saved is None else {name: t.clone() for name, t in saved.items()}
    if state is None:
        old = Path(out) / "weights" / f"{key}.pt"
        if not old.exists():
            return None
        state = torch.load(old, map_location="cpu", weights_only=True)
    return models.parse(config.model).from_state(state)


@functools.lru_cache(maxsize=4)
def _workload_weights(path: str, mtime_ns: int) -> dict[str, dict[str, torch.Tensor]]:
    """{run slug: state_dict} of one workload's file, read once per version of the file (the
    report loads dozens of runs from it)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def calibration_table(out: Path, runs: pd.DataFrame, data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per run (loss, device, seed): NLL, Brier, ECE, MCE before and after temperature scaling,
    and the reliability diagram's bins. ``runs`` has one row per run (loss, device, seed)."""
    validation = data.to("cpu").validation_split()
    metrics, bins = [], []
    for run in runs.itertuples():
        model = load_model(out, run)
        if model is None:
            continue
        test_scores = model.scores(data.test_x.cpu())
        temperature = calibration.fit_temperature(
            model.scores(validation.test_x), validation.test_y
        )
        for scaled, t in (("before", 1.0), ("after", temperature)):
            row = calibration.metrics(test_scores, data.test_y.cpu(), temperature=t)
            metrics.append(
                {"loss": run.loss, "device": run.device, "seed": run.seed, "scaling": scaled, **row}
            )
            for b in calibration.reliability(test_scores, data.test_y.cpu(), temperature=t):
                bins.append(
                    {
                        "loss": run.loss,
                        "device": run.device,
                        "seed": run.seed,
                        "scaling": scaled,
                        **b,
                    }
                )
    return pd.DataFrame(metrics), pd.DataFrame(bins)


def confusion(model, data) -> torch.Tensor:
    """Confusion counts (K, K): row = true class, column = predicted class, on the test set."""
    num_classes = data.num_classes
    predicted = model.predict(data.test_x.cpu())
    pairs = data.test_y.cpu() * num_classes + predicted
    return torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(out: Path, runs: pd.DataFrame, data, classes) -> pd.DataFrame:
    """Tidy: one row per (loss, device, seed, class) with that class's test accuracy (recall)."""
    rows = []
    for run in runs.itertuples():
        model = load_model(out, run)
        if model is None:
            continue
        counts = confusion(model, data)
        recall = counts.diag() / counts.sum(1).clamp_min(1)
        rows += [
            {
                "loss": run.loss,
                "device": run.device,
                "seed": run.seed,
                "class": name,
                "accuracy": recall[k].item(),
            }
            for k, name in enumerate(classes)
        ]
    return pd.DataFrame(rows)
