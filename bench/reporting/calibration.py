"""Calibration: NLL, Brier score, ECE and MCE of each loss's softmax probabilities, before and after
temperature scaling fitted on the validation split, and the reliability diagrams."""

from __future__ import annotations

import re
import weakref

import pandas as pd
import seaborn as sns

from bench.analysis import calibration, evaluation, tables
from bench.reporting import families, figures
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

# What was measured per workload: (per-run metrics, the per-loss table, the reliability bins),
# computed once from the saved weights and read by the answer, this section and the claims.
_measured: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Characters a reliability panel's title line holds at its font size before it reaches the
# next panel's.
TITLE_WIDTH = 28


def measured(w: Workload) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(per-run metrics, per-loss table) of ``w``'s clean runs, measured from the saved weights
    once (through ``evaluation.load_model``); None without data, a validation split or weights.
    The per-run metrics: loss, device, seed, scaling (before/after), nll, brier, ece, mce,
    temperature."""
    if w not in _measured:
        if w.data is None or w.validation is None:
            return None
        runs = tables.clean_runs(w.final)[tables.RUN]
        metrics, bins = evaluation.calibration_table(w.out, runs, w.data)
        _measured[w] = (metrics, tables.calibration(metrics) if not metrics.empty else None, bins)
    metrics, table, _ = _measured[w]
    return None if metrics.empty else (metrics, table)


def wrapped(spec: str, width: int = TITLE_WIDTH) -> str:
    """``spec`` broken into lines of at most ``width`` characters before a ":" or "+" (a part
    longer than that keeps its own line), so that the titles of neighbouring panels never
    run into each other: "margin:kind=weston_watkins" + "\n:delta=1:power=2"."""
    parts = re.split(r"(?=[:+])", spec)
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(part) > width:
            lines.append(part)
        else:
            lines[-1] += part
    return "\n".join(lines)


def section(w: Workload) -> str:
    if w.validation is None:
        return (
            "## Calibration\n\nSkipped: the training set is too small for the validation "
            "split that the temperature is fitted on."
        )
    runs = tables.clean_runs(w.final)[tables.RUN]
    if measured(w) is None:
        return w.without_weights("Calibration") if not runs.empty else ""
    metrics, table = measured(w)
    bins = _measured[w][2]
    table = families.ordered(table, by="ece", ascending=True)
    shown = pd.DataFrame(
        {
            "loss": table["loss"],
            "family": table["family"],
            "NLL": table["nll"],
            "Brier": table["brier"],
            "ECE": table["ece"],
            "MCE": table["mce"],
            "T": table["temperature"],
            "NLL after T": table["nll_after"],
            "ECE after T": table["ece_after"],
            "MCE after T": table["mce_after"],
        }
    )
    first = bins[bins["seed"] == bins.groupby("loss")["seed"].transform("min")]
    grid = sns.relplot(
        first,
        x="confidence",
        y="accuracy",
        hue="scaling",
        col="loss",
        col_order=table["loss"].tolist(),
        col_wrap=6,
        kind="line",
        marker="o",
        height=2.2,
        facet_kws={"xlim": (0, 1), "ylim": (0, 1)},
    )
    for ax in grid.axes.flat:
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for ax, loss in zip(grid.axes.flat, table["loss"], strict=False):
        ax.set_title(f"{wrapped(loss)}\n({families.family(loss)})", size=7)
        ax.tick_params(labelsize=6)
    grid.tight_layout()  # room for titles of several lines, clear of the legend
    held = len(w.validation.test_y)
    return (
        "## Calibration\n\n"
        "Probabilities are softmax(o / T) for every loss (for margin and least-squares losses the "
        "scale of o is not a likelihood, which is what temperature scaling corrects). Test-set "
        f"NLL, Brier score, expected and maximum calibration error ({calibration.BINS} "
        "equal-width confidence bins), mean over seeds, grouped by loss family and best "
        "calibrated (lowest ECE) first within a family; T is fitted by NLL on the "
        f"{held:,}-{w.noun[:-1]} validation split of the training set (those {w.noun} were also "
        "trained on, so T slightly under-corrects).\n\n"
        + markdown_table(shown)
        + "\n\n"
        + figures.image("reliability", grid.figure, w, "reliability.png")
    )
