"""What the final weights say beyond accuracy: calibration and per-class errors.

Reads the clean runs' (no label noise) weights from OUT/weights/<dataset>__<model>.pt
(older folders: OUT/weights/<slug>.pt, one file per run) and scores each run on the test set of
its own seed's split (``Dataset.for_seed``: datasets without a fixed test set draw a new split per
seed, and a seed's model trained on the other seeds' test examples). Temperature scaling is
cross-fitted on that test set (``calibration.cross_fit``): final runs train on the whole training
set, so no split of it is held out from them, and each test example is scaled by a T fitted on
the other half of the test set, never on itself.
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


def _protocol(value) -> str:
    """A row's validation protocol: "noisy" where the frame lacks it (NaN)."""
    return value if isinstance(value, str) and value else "noisy"


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
            validation=_protocol(getattr(run, "validation", "noisy")),
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


def seed_splits(data):
    """A function seed -> the CPU dataset a run of that seed was scored on (``for_seed``), each
    split drawn once: the report scores dozens of runs per seed."""
    data = data.to("cpu")
    return functools.lru_cache(maxsize=None)(data.for_seed)


def calibration_table(out: Path, runs: pd.DataFrame, data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per run (loss, device, seed): NLL, Brier, ECE, MCE before and after temperature scaling
    (T cross-fitted on the run's test set, ``calibration.cross_fit``; ``temperature`` the
    geometric mean of the fitted ones), and the reliability diagram's bins. ``runs`` has one row
    per run (loss, device, seed); each is scored on its seed's split (``data.for_seed``)."""
    split = seed_splits(data)
    metrics, bins = [], []
    for run in runs.itertuples():
        model = load_model(out, run)
        if model is None:
            continue
        mine = split(int(run.seed))
        test_scores = model.scores(mine.test_x)
        temperature = calibration.cross_fit(test_scores, mine.test_y)
        for scaled, t in (("before", 1.0), ("after", temperature)):
            row = calibration.metrics(test_scores, mine.test_y, temperature=t)
            metrics.append(
                {"loss": run.loss, "device": run.device, "seed": run.seed, "scaling": scaled, **row}
            )
            for b in calibration.reliability(test_scores, mine.test_y, temperature=t):
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
    """Confusion counts (K, K): row = true class, column = predicted class, on ``data``'s test
    set (for a run of seed s: ``data.for_seed(s)``, the split it was trained and tested on)."""
    num_classes = data.num_classes
    predicted = model.predict(data.test_x.cpu())
    pairs = data.test_y.cpu() * num_classes + predicted
    return torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(out: Path, runs: pd.DataFrame, data, classes) -> pd.DataFrame:
    """Tidy: one row per (loss, device, seed, class) with that class's test accuracy (recall),
    each run scored on its seed's split (``data.for_seed``)."""
    split = seed_splits(data)
    rows = []
    for run in runs.itertuples():
        model = load_model(out, run)
        if model is None:
            continue
        counts = confusion(model, split(int(run.seed)))
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
