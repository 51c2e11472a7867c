"""Accuracy targets: the default workload's targets against the measured accuracy, and where one
is missed, the measured cause (the L-BFGS optimum of the objective, classes that died)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pandas as pd

from bench.analysis import evaluation, tables
from bench.reporting import prose
from bench.reporting.workload import Workload
from bench.training.config import TRAINER

DEAD = 0.05  # a class whose test accuracy is below this in a seed has died in that run


def section(w: Workload) -> str:
    return render(w.accuracy, w.caches["reference"], functools.partial(dead_classes, w))


def render(
    accuracy: pd.DataFrame,
    reference: pd.DataFrame,
    dead: Callable[[str, str], list] = lambda loss, device: [],
) -> str:
    """The targets section of an accuracy table (:func:`facts`), "" when no target applies."""
    table = facts(accuracy, reference, dead)
    if table.empty:
        return ""
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict("records")
    ]
    return prose.render(
        "targets", workload=" · ".join(tables.TARGETS_WORKLOAD), rows=rows, dead_below=DEAD
    )


def facts(
    accuracy: pd.DataFrame,
    reference: pd.DataFrame,
    dead: Callable[[str, str], list] = lambda loss, device: [],
) -> pd.DataFrame:
    """The targets table of an accuracy table (:func:`bench.analysis.tables.targets`: loss,
    device, test_acc, target, met) with the measured causes of a miss: ``optimum``, the test
    accuracy of the L-BFGS optimum of the loss's objective (``reference``; NaN when there is
    none, or when it stopped above SGD's own training loss, so it says nothing of what the
    objective allows); ``dead``, ``dead(loss, device)``, the classes a loss lost with their seeds
    (:func:`dead_classes`); ``short`` = target − test_acc. One row per target; empty when no
    target applies.
    """
    table = tables.targets(accuracy)
    if table.empty:
        return table
    optimum = pd.Series(dtype=float)
    if not reference.empty:
        # only an optimum that beats SGD's own training loss says what the objective allows
        done = tables.converged(accuracy, reference)
        optimum = reference.set_index("loss")["test_acc"][done[done].index]
    return table[["loss", "device", "test_acc", "target", "met"]].assign(
        optimum=table["loss"].map(optimum).astype(float),
        dead=[dead(r.loss, r.device) for r in table.itertuples()],
        short=table["target"] - table["test_acc"],
    )


def dead_classes(w: Workload, loss: str, device: str) -> list[tuple[str, list[int]]]:
    """The classes a loss lost (test accuracy below DEAD) in some seed, each with the seeds it
    died in: [(class, [seed, ...]), ...] in the dataset's class order, from the saved weights;
    [] without data or weights."""
    if w.data is None:
        return []
    final = w.final
    runs = final[
        (final["loss"] == loss)
        & (final["device"] == device)
        & (final["noise"] == "none")
        & (final["trainer"] == TRAINER)
    ]
    recall = evaluation.per_class_accuracy(w.out, runs[tables.RUN], w.data, w.data.classes)
    if recall.empty:
        return []
    dead = recall[recall["accuracy"] < DEAD]
    return [
        (name, sorted(int(s) for s in dead.loc[dead["class"] == name, "seed"]))
        for name in w.data.classes
        if (dead["class"] == name).any()
    ]
