"""What the final weights say beyond accuracy: calibration and per-class errors.

Reads OUT/weights/<slug>.pt of the clean runs (no label noise) and scores the test set.
Temperature scaling is fitted on the validation split of the training set
(``Dataset.validation_split``): never on the test set. Those images were part of the final
training run, so the fitted temperature slightly under-corrects overconfidence; the report says so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from bench import models
from bench.analysis import calibration
from bench.study.results import slug
from bench.training.config import RunConfig


def load_model(out: Path, run):
    """The saved final model of a run (a RunConfig, or a row with its fields), on the CPU; None
    when its weights are not there."""
    config = run if isinstance(run, RunConfig) else RunConfig(
        loss=run.loss, device=run.device, seed=int(run.seed),
        noise=getattr(run, "noise", "none"), dataset=getattr(run, "dataset", "fashion_mnist"),
        model=getattr(run, "model", "linear"),
    )
    path = Path(out) / "weights" / f"{slug(config)}.pt"
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return models.parse(config.model).from_state(state)


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
