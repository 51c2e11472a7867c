"""Calibration: NLL, Brier score, ECE and MCE of each loss's softmax probabilities, before and after
temperature scaling cross-fitted on the test set, the reliability diagrams, and the ECE verdicts
the answer reads (:func:`ece_runs`, :func:`ece_verdicts`)."""

from __future__ import annotations

import re
import weakref

import numpy as np
import pandas as pd
import seaborn as sns

from bench.analysis import calibration, evaluation, tables
from bench.analysis.verdicts import KEYS
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
    once (through ``evaluation.load_model``), each run on its own seed's test set; None without
    data or weights. The per-run metrics: loss, device, seed, scaling (before/after), nll, brier,
    ece, mce, temperature."""
    if w not in _measured:
        if w.data is None:
            return None
        runs = tables.clean_runs(w.final)[tables.run_keys(w.final)]
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
    runs = tables.clean_runs(w.final)[tables.run_keys(w.final)]
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
    per_seed = (
        " of each seed's own split (this dataset draws a new split per seed)"
        if w.data.resplit is not None
        else ""
    )
    return (
        "## Calibration\n\n"
        "Probabilities are softmax(o / T) for every loss (for margin and least-squares losses the "
        "scale of o is not a likelihood, which is what temperature scaling corrects). NLL, "
        f"Brier score, expected and maximum calibration error ({calibration.BINS} "
        f"equal-width confidence bins) on the test set{per_seed}, mean over seeds, grouped by "
        "loss family and best calibrated (lowest ECE) first within a family. The final runs "
        "trained on every training example, so T is cross-fitted on the test set: cut into "
        f"{calibration.CROSS_FIT_FOLDS} stratified halves, T fitted by NLL on one half scales "
        "the other, so no example is scaled by a T fitted on it (T below: the geometric mean "
        "of the fitted ones).\n\n"
        + markdown_table(shown)
        + "\n\n"
        + figures.image("reliability", grid.figure, w, "reliability.png")
    )


def ece_runs(info: pd.DataFrame, failed: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ECE of each clean run of each dataset × model of ``info`` (the answer's rows: dataset,
    model, device, workload), on the device it is read on, from :func:`measured`: columns
    dataset, model, noise ("none"), loss, seed, scaling (before/after), ece, failed. A clean
    run that diverged has no model to score: one row per scaling with ECE NaN and ``failed``.
    ``failed`` (optional): rows (dataset, model, loss, seed) of the runs that failed on the
    accuracy score (collapsed, at chance: ``verdicts.failures``); their ECE is marked failed,
    counted beside the verdict and never averaged."""
    columns = ["dataset", "model", "noise", "loss", "seed", "scaling", "ece", "failed"]
    parts = []
    for r in info.itertuples():
        found = measured(r.workload)
        if found is None:
            continue
        metrics = found[0]
        metrics = metrics[metrics["device"] == r.device][["loss", "seed", "scaling", "ece"]]
        final = r.workload.final
        lost = final[
            (final["trainer"] == "lossbench")
            & (final["noise"] == "none")
            & (final["device"] == r.device)
            & (final["status"] == "diverged")
        ]
        lost = pd.DataFrame(
            [(x.loss, x.seed, s, np.nan) for x in lost.itertuples() for s in ("before", "after")],
            columns=["loss", "seed", "scaling", "ece"],
        )
        both = pd.concat([metrics.assign(failed=False), lost.assign(failed=True)])
        parts.append(both.assign(dataset=r.dataset, model=r.model, noise="none"))
    if not parts:
        return pd.DataFrame(columns=columns)
    runs = pd.concat(parts, ignore_index=True)[columns]
    if failed is not None and len(failed):
        keys = ["dataset", "model", "loss", "seed"]
        marked = failed[keys].drop_duplicates().assign(_failed=True)
        marked["seed"] = marked["seed"].astype(runs["seed"].dtype)
        runs = runs.merge(marked, on=keys, how="left")
        runs["failed"] = runs["failed"] | runs.pop("_failed").fillna(False).astype(bool)
    return runs


def ece_verdicts(
    info: pd.DataFrame, scaling: str, failed: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The ECE verdict frame of the clean workloads of ``info`` (:func:`ece_runs`) before or
    after temperature scaling: :func:`bench.analysis.calibration.ece_verdicts` at
    ``calibration.ECE_MARGIN``, one row per (workload, loss): the accuracy verdicts' columns
    (``score`` = −mean ECE, ``diff``/``lower``/``upper`` in −ECE: negative is less calibrated)
    and ``ece``, ``ece_lower``, ``ece_upper`` (mean ECE and its bootstrap interval over seeds,
    inside [0, 1]). ``failed``: the accuracy failures, as in :func:`ece_runs`."""
    if scaling not in ("before", "after"):
        raise ValueError(f"scaling must be 'before' or 'after', got {scaling!r}")
    runs = ece_runs(info, failed)
    runs = runs[runs["scaling"] == scaling].drop(columns="scaling")
    if runs.empty:
        return pd.DataFrame(columns=[*KEYS, "loss", "verdict", "ece", "ece_lower", "ece_upper"])
    return calibration.ece_verdicts(runs)
