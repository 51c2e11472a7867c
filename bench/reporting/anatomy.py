"""Where a CPU step's time goes, per loss (OUT/anatomy.csv), beside the floor of an epoch: the
model's own work alone, and the same with the by-index gather of every batch."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from bench.reporting import figures
from bench.reporting.markdown import markdown_table, number, ratio
from bench.reporting.workload import Workload
from bench.training.config import TRAINER
from bench.training.floors import ANATOMY_PARTS, ANATOMY_ROUNDS, ANATOMY_STEPS


def section(w: Workload) -> str:
    """The anatomy table and figure. With the epochs measured beside the parts (anatomy.csv of
    this version), each loss's whole epoch against both floors, all of one moment."""
    parts = [part for part in ANATOMY_PARTS if part != "step"]
    cache = w.caches["anatomy"].sort_values("step_us").reset_index(drop=True)
    batch = int(cache["batch_size"].iloc[0])
    epochs = "gather_floor_us" in cache and cache["gather_floor_us"].notna().all()
    linear = w.linear is not False
    shown = pd.DataFrame(
        {
            "loss": cache["loss"],
            **{f"{part} µs": cache[f"{part}_us"].map(number) for part in parts},
            "step µs": cache["step_us"].map(number),
            "loss share": (cache["loss_us"] / cache["step_us"]).map(lambda v: f"{v:.0%}"),
        }
    )
    if epochs:
        shown["epoch µs/step"] = cache["epoch_us"].map(number)
        shown["× floor"] = (cache["epoch_us"] / cache["floor_us"]).map(ratio)
        shown["× gather floor"] = (cache["epoch_us"] / cache["gather_floor_us"]).map(ratio)
    scores, update = (
        ("the forward GEMM", "the gᵀx GEMM and the bias")
        if linear
        else ("the model's forward", "its backward pass and SGD update")
    )
    text = [
        "### Where a CPU step's time goes",
        "",
        f"Each part of the eager step timed on its own over the same {ANATOMY_STEPS} random "
        f"batches of {batch} (median µs): gather (the batch's rows of x and y, by index), scores "
        f"({scores}), loss (value and gradient), update ({update}), and the whole step."
        + (
            f" Right after, at the same moment: the loss's own training epoch per step (the best "
            f"of {ANATOMY_ROUNDS}, eager), over the GEMM floor and over the floor with the gather "
            "(below)."
            if epochs
            else ""
        ),
        "",
        markdown_table(shown),
    ]
    text += floor_note(w, cache, batch, linear)
    if epochs:
        text += floors(cache)
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(cache) + 1.5))
    left = np.zeros(len(cache))
    for part, color in zip(parts, sns.color_palette("deep", len(parts)), strict=True):
        ax.barh(cache["loss"], cache[f"{part}_us"], left=left, label=part, color=color)
        left += cache[f"{part}_us"].to_numpy()
    ax.invert_yaxis()
    ax.set(xlabel="median µs per part", title=f"Anatomy of a CPU step, batch {batch}")
    ax.legend(loc="lower right", ncols=4)
    return "\n".join(text + ["", figures.image("step anatomy", fig, w, "anatomy.png")])


def floor_note(w: Workload, cache: pd.DataFrame, batch: int, linear: bool) -> list[str]:
    """The floor per step beside the same work inside the step, and the gather's cost."""
    cpu = w.speed[(w.speed["device"] == "cpu") & (w.speed["trainer"] == TRAINER)]
    if "floor_us" in cache and cache["floor_us"].notna().all():
        floor_us = cache["floor_us"].median()
    elif not cpu.empty:  # an anatomy.csv from before the epochs: the runs' own floor per step
        floor_us = cpu["floor_s"].median() / math.ceil(cpu["examples"].median() / batch) * 1e6
    else:
        return []
    work_us = (cache["scores_us"] + cache["update_us"]).median()
    work = "two GEMMs" if linear else "forward and update"
    return [
        "",
        f"The floor's {work} take {floor_us:,.0f} µs per step, reading their rows where "
        f"they lie in memory; inside the step, on the freshly gathered batch, they take "
        f"{work_us:,.0f} µs. The gather costs {cache['gather_us'].median():,.0f} µs"
        + (
            ", about as much as the GEMMs: a step that reshuffles by index pays for moving the "
            "batch, and that, with the loss, is what separates an epoch from the floor."
            if linear
            else "."
        ),
    ]


def floors(cache: pd.DataFrame) -> list[str]:
    """The floor beside the same floor with the by-index gather, and `ce`'s epoch against both
    (anatomy.csv's epoch_us, floor_us and gather_floor_us, measured together)."""
    floor, gathered = cache["floor_us"].median(), cache["gather_floor_us"].median()
    text = (
        f"The same pass with each batch first gathered by index through a random permutation, "
        f"as the trainer does, takes {gathered:,.0f} µs per step ({gathered / floor:.2f}× the "
        "floor): the least an index-shuffled step can cost before any loss work."
    )
    ce = cache[cache["loss"] == "ce"]
    if not ce.empty:
        ce = ce.iloc[0]
        text += (
            f" `ce`'s epoch, {ce['epoch_us']:,.0f} µs per step, is "
            f"{ce['epoch_us'] / ce['floor_us']:.2f}× the GEMM floor and "
            f"**{ce['epoch_us'] / ce['gather_floor_us']:.2f}× the floor with the gather**: the "
            "rest is the loss's value and gradient, the bias, the loss sum and the loop."
        )
    return ["", text]
