"""Predictions: the first test images with their true and predicted classes, under the best loss by
mean accuracy (its best seed). A dataset without images gets the sentence and no grid."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from bench.analysis import evaluation, tables
from bench.reporting import figures, prose
from bench.reporting.workload import Workload
from bench.training.config import TRAINER

SHOWN, COLUMNS = 18, 9  # test images in the grid, and per row


def section(w: Workload) -> str:
    best = best_run(w)
    if best is None:
        return ""
    model = evaluation.load_model(w.out, best)
    if model is None:
        return w.without_weights("Predictions")
    figure = None  # a dataset without images gets no grid
    if w.data.image_shape:
        figure = figures.image("predictions", grid(w, model, best), w, "predictions.png")
    return prose.render("predictions", best=best, dataset=w.dataset, figure=figure)


def best_run(w: Workload) -> pd.Series | None:
    """The run whose predictions are shown: the best loss by its mean test accuracy over seeds
    (the accuracy table's first row of this trainer), at its best seed (a row of
    :func:`bench.analysis.tables.best_runs`: loss, device, seed, test_acc, ...); None without
    finished runs."""
    ranked = w.accuracy[w.accuracy["trainer"] == TRAINER].dropna(subset=["test_acc"])
    if ranked.empty:
        return None
    top = ranked.iloc[0]
    best_runs = tables.best_runs(w.final)
    best_runs = best_runs[
        (best_runs["loss"] == top["loss"]) & (best_runs["device"] == top["device"])
    ]
    return None if best_runs.empty else best_runs.iloc[0]


def grid(w: Workload, model, best):
    """The first SHOWN test images of the run's own split (``for_seed``), true / predicted
    class above each; wrong ones in red."""
    data = w.data.for_seed(int(best["seed"]))
    shown = min(SHOWN, len(data.test_y))
    images, labels = data.test_x[:shown].cpu(), data.test_y[:shown].cpu()
    predicted = model.predict(images)
    classes = w.data.classes
    rows = math.ceil(shown / COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(13, 1.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= shown:
            continue
        ax.imshow(images[k].reshape(w.data.image_shape).numpy(), cmap="gray_r")
        wrong = bool(predicted[k] != labels[k])
        ax.set_title(
            f"{classes[labels[k]]}\n{classes[predicted[k]]}",
            fontsize=8,
            color="crimson" if wrong else "black",
        )
    fig.suptitle(
        f"First {shown} test images, true / predicted by {best['loss']} "
        f"(seed {int(best['seed'])}; red: wrong)",
        fontsize=10,
    )
    return fig
