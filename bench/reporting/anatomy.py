"""Where a CPU step's time goes, per loss (OUT/anatomy.csv), beside the floor of an epoch: the
model's own work alone, and the same with the by-index gather of every batch."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from bench.reporting import figures, prose
from bench.reporting.markdown import markdown_table, number, ratio
from bench.reporting.workload import Workload
from bench.training.config import TRAINER
from bench.training.floors import ANATOMY_PARTS, ANATOMY_ROUNDS, ANATOMY_STEPS


def section(w: Workload) -> str:
    """The anatomy table and figure. With the epochs measured beside the parts (anatomy.csv of
    this version), each loss's whole epoch against both floors, all of one moment."""
    parts = [part for part in ANATOMY_PARTS if part != "step"]
    cache = w.caches["anatomy"].sort_values("step_us").reset_index(drop=True)
    found = facts(w)
    shown = pd.DataFrame(
        {
            "loss": cache["loss"],
            **{f"{part} µs": cache[f"{part}_us"].map(number) for part in parts},
            "step µs": cache["step_us"].map(number),
            "loss share": (cache["loss_us"] / cache["step_us"]).map(lambda v: f"{v:.0%}"),
        }
    )
    if found["epochs"]:
        shown["epoch µs/step"] = cache["epoch_us"].map(number)
        shown["× floor"] = (cache["epoch_us"] / cache["floor_us"]).map(ratio)
        shown["× gather floor"] = (cache["epoch_us"] / cache["gather_floor_us"]).map(ratio)
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(cache) + 1.5))
    left = np.zeros(len(cache))
    for part, color in zip(parts, sns.color_palette("deep", len(parts)), strict=True):
        ax.barh(cache["loss"], cache[f"{part}_us"], left=left, label=part, color=color)
        left += cache[f"{part}_us"].to_numpy()
    ax.invert_yaxis()
    ax.set(xlabel="median µs per part", title=f"Anatomy of a CPU step, batch {found['batch']}")
    # beside the bars, never over the longest one
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return prose.render(
        "anatomy",
        **found,
        table=markdown_table(shown),
        figure=figures.image("step anatomy", fig, w, "anatomy.png"),
    )


def facts(w: Workload) -> dict:
    """What the anatomy section says, from the workload's anatomy.csv rows (one per loss, µs).

    ``batch``, ``steps`` and ``rounds`` of the measurement; ``linear``; ``epochs``, whether
    each loss's epoch was timed beside its parts (anatomy.csv of this version); ``floor``, the
    floor's work per step beside the same work in the step (:func:`floor_note`), None when
    nothing measured it; ``gathered``, the floor with the gather beside the floor and ``ce``'s
    epoch against both (:func:`floors`), None without the epochs.
    """
    cache = w.caches["anatomy"]
    batch = int(cache["batch_size"].iloc[0])
    epochs = bool("gather_floor_us" in cache and cache["gather_floor_us"].notna().all())
    linear = w.linear is not False
    return {
        "batch": batch,
        "steps": ANATOMY_STEPS,
        "rounds": ANATOMY_ROUNDS,
        "linear": linear,
        "epochs": epochs,
        "floor": floor_note(w, cache, batch),
        "gathered": floors(cache) if epochs else None,
    }


def floor_note(w: Workload, cache: pd.DataFrame, batch: int) -> dict | None:
    """The floor per step beside the same work inside the step, and the gather's cost: a dict of
    ``floor_us`` (anatomy.csv's floor, or for an older file the runs' own floor_s over their
    steps per epoch, ⌈examples / batch⌉), ``work_us`` (median of scores_us + update_us) and
    ``gather_us`` (median); None when neither floor was measured."""
    cpu = w.speed[(w.speed["device"] == "cpu") & (w.speed["trainer"] == TRAINER)]
    if "floor_us" in cache and cache["floor_us"].notna().all():
        floor_us = cache["floor_us"].median()
    elif not cpu.empty:  # an anatomy.csv from before the epochs: the runs' own floor per step
        floor_us = cpu["floor_s"].median() / math.ceil(cpu["examples"].median() / batch) * 1e6
    else:
        return None
    return {
        "floor_us": float(floor_us),
        "work_us": float((cache["scores_us"] + cache["update_us"]).median()),
        "gather_us": float(cache["gather_us"].median()),
    }


def floors(cache: pd.DataFrame) -> dict:
    """The floor beside the same floor with the by-index gather, and `ce`'s epoch against both
    (anatomy.csv's epoch_us, floor_us and gather_floor_us, measured together): a dict of
    ``gather_floor_us`` and ``over_floor`` (its ratio to the floor, medians over losses) and
    ``ce``, None without a `ce` row, else its ``epoch_us``, ``over_floor`` = epoch_us /
    floor_us and ``over_gather_floor`` = epoch_us / gather_floor_us."""
    floor, gathered = cache["floor_us"].median(), cache["gather_floor_us"].median()
    found = {"gather_floor_us": float(gathered), "over_floor": float(gathered / floor), "ce": None}
    ce = cache[cache["loss"] == "ce"]
    if not ce.empty:
        epoch, ce = float(ce["epoch_us"].iloc[0]), ce.iloc[0]
        found["ce"] = {
            "epoch_us": epoch,
            "over_floor": epoch / ce["floor_us"],
            "over_gather_floor": epoch / ce["gather_floor_us"],
        }
    return found
