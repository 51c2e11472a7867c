"""The answer's figures, drawn from its facts and the verdict frame: the heatmap of gaps marked by
verdict (the report's first picture), the critical-difference diagram, the IQM and probability
of improvement with their intervals, and the performance profiles as small multiples per family.
"""

from __future__ import annotations

import contextlib
import io
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from autorank import plot_stats

from bench.analysis import across, profiles
from bench.reporting import families, figures

KEYS = profiles.KEYS
VARIANT = ["validation", "selection"]
# Gaps beyond this many accuracy points share the darkest colour (the number is still written).
GAP_CAP = 10.0
MARKS = {"best": "★", "equivalent": "≈", "worse": "✗", "undecided": "?", "unstable": "!"}
DELTA_MAX, TAU_MAX = 0.10, 10.0
# Lines in one axis of the profile figure at most (STYLE.md: more becomes small multiples).
PROFILE_LINES = 8
PROFILE_COLUMNS = 4  # panels a row of the profile figure


def draw(facts: dict, answer: pd.DataFrame, where) -> dict:
    """{figure: Markdown image} for the template; a figure with nothing to show is left out."""
    shown = {
        "heatmap": figures.image(
            "gap to the best by verdict",
            heatmap(answer, facts.get("row_labels")),
            where,
            "answer_heatmap.png",
        )
    }
    result = facts["aggregate"]["cd"]
    if result is not None:
        shown["cd"] = figures.image(
            "critical difference diagram", critical(result), where, "answer_cd.png"
        )
    if len(facts["aggregate"]["iqm"]):
        shown["iqm"] = figures.image(
            "IQM and probability of improvement",
            intervals(facts["aggregate"]),
            where,
            "answer_iqm.png",
        )
    shown["profiles"] = figures.image(
        "performance profiles per family",
        profile_grid(facts["gaps"], facts["ratios"]),
        where,
        "answer_profiles.png",
    )
    return shown


def heatmap(answer: pd.DataFrame, labels: dict | None = None):
    """Losses (rows, by family) × workloads (columns; a workload's early-stopped or trusted-label
    answer is a column of its own): the gap to the workload's top mean score in accuracy points
    (colour, capped at GAP_CAP), with the verdict's mark and the failed runs (diverged,
    collapsed, at chance) written in each cell. ``labels`` names each family's row (the
    settings that trained); the family alone by default."""
    answer = answer.assign(
        entry=across.entries(answer),
        column=[_short(k) for k in answer[[*KEYS, *VARIANT]].itertuples(index=False)],
        failed=across.failures(answer),
    )
    top = answer[answer["loss"] == answer["best"]].drop_duplicates("column")
    best = top.set_index("column")["score"]
    answer["gap"] = 100 * (best.reindex(answer["column"]).to_numpy() - answer["score"])
    columns = list(dict.fromkeys(answer["column"]))
    mean_gap = answer.groupby("entry")["gap"].mean()
    rows = sorted(mean_gap.index, key=lambda e: (families.rank(families.family(e)), mean_gap[e]))
    gap = answer.pivot(index="entry", columns="column", values="gap").reindex(rows)[columns]
    mark = answer.pivot(index="entry", columns="column", values="verdict").reindex(rows)[columns]
    lost = answer.pivot(index="entry", columns="column", values="failed").reindex(rows)[columns]
    labels = labels or {}
    names = [f"{labels.get(e, e)}  ({families.family(e)})" for e in rows]
    # room for the rotated column labels below and the row labels at the left (about 0.06
    # inch a character at these font sizes), so constrained layout never collapses the axes
    below = 0.045 * max(map(len, columns))
    left = 0.055 * max(map(len, names))
    fig, ax = plt.subplots(
        figsize=(max(4.0 + 0.62 * len(columns) + left, 9.0), 2.0 + 0.3 * len(rows) + below),
        layout="constrained",
    )
    image = ax.imshow(
        gap.clip(upper=GAP_CAP).to_numpy(dtype=float),
        cmap="Reds",
        vmin=0,
        vmax=GAP_CAP,
        aspect="auto",
    )
    for i in range(len(rows)):
        for j in range(len(columns)):
            verdict = mark.iat[i, j]
            if not isinstance(verdict, str):
                continue
            value = gap.iat[i, j]
            text = (
                MARKS[verdict]
                if verdict == "best"
                else (f"{MARKS[verdict]}{value:.1f}" if math.isfinite(value) else MARKS[verdict])
            )
            if lost.iat[i, j] > 0:
                text += f" f{int(lost.iat[i, j])}"
            dark = math.isfinite(value) and value > 0.6 * GAP_CAP
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.grid(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label(f"points below the top mean (capped at {GAP_CAP:g})", fontsize=8)
    ax.set_title(
        "Gap to each workload's top mean\n★ best, ≈ equivalent, ? undecided, ! unstable, "
        "✗ worse (f: failed runs)",
        fontsize=9,
    )
    return fig


def critical(result):
    """autorank's critical-difference diagram of the Nemenyi test over units."""
    with contextlib.redirect_stdout(io.StringIO()):  # autorank prints its tables
        ax = plot_stats(result, allow_insignificant=True, width=9)
    fig = ax.figure
    fig.suptitle(
        "Mean rank over dataset × model units (Friedman, Nemenyi critical difference)",
        fontsize=9,
        y=1.15,
    )
    return fig


def intervals(aggregate: dict):
    """Two dot plots with 95% bootstrap intervals: the IQM of normalised scores per loss, and
    P(loss > ce)."""
    iqm = aggregate["iqm"].sort_values("iqm")
    better = aggregate["improvement"].sort_values("probability")
    height = 1.2 + 0.24 * max(len(iqm), 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, height))
    for ax, frame, value, label in (
        (axes[0], iqm, "iqm", "IQM of score ÷ workload's best"),
        (axes[1], better, "probability", "P(loss > ce)"),
    ):
        y = np.arange(len(frame))
        colours = [
            families.family_palette().get(families.family(e), "grey") for e in frame["entry"]
        ]
        ax.hlines(y, frame["lower"], frame["upper"], color=colours, lw=2)
        ax.scatter(frame[value], y, color=colours, zorder=3, s=14)
        ax.set_yticks(y, frame["entry"], fontsize=7)
        ax.set(xlabel=label)
    if len(better):
        axes[1].axvline(0.5, color="grey", ls="--", lw=0.8)
        axes[1].set_xlim(0, 1)
    else:
        axes[1].set_visible(False)
    fig.suptitle(
        f"Over {len(aggregate['units'])} dataset × model units, {aggregate['runs']} "
        "seeds each (stratified bootstrap, 95%)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def profile_grid(gaps: pd.DataFrame, ratios: pd.DataFrame):
    """Performance profiles as small multiples: a panel per loss family (a family of more than
    PROFILE_LINES losses over several panels, so no axis holds more lines), PROFILE_COLUMNS
    panels a row, each with the accuracy profile above the time profile and its legend below,
    every axis on one scale."""
    groups = profile_columns(gaps)
    columns = max(min(len(groups), PROFILE_COLUMNS), 1)
    bands = max(-(-len(groups) // columns), 1)
    fig = plt.figure(figsize=(3.3 * columns, 6.6 * bands), layout="constrained")
    panels = fig.subfigures(bands, columns, squeeze=False).ravel()
    grids = [
        (low, high, profiles.profile(measure, profiles.breakpoints(measure, low, high)))
        for measure, low, high in ((gaps, 0.0, DELTA_MAX), (ratios, 1.0, TAU_MAX))
    ]
    for i, (name, group) in enumerate(groups):
        axes = panels[i].subplots(2, 1)
        for row, (low, high, profile) in enumerate(grids):
            share = profile.pivot(index="x", columns="loss", values="share")
            ax = axes[row]
            for loss in group:
                if loss in share:
                    ax.step(share.index, share[loss], where="post", lw=1.2, label=loss)
            ax.set(xlim=(low, high), ylim=(-0.02, 1.02))
            ax.tick_params(labelsize=7)
            if i % columns == 0:
                within = "within δ of the best" if row == 0 else "within τ× the fastest"
                ax.set_ylabel(f"share of workloads\n{within}", fontsize=8)
            if row:
                ax.set_xscale("log")
                ax.set_xticks([1, 2, 5, 10], ["1", "2", "5", "10"])
                ax.set_xlabel("τ (time ÷ the fastest's)", fontsize=8)
            else:
                ax.set_title(name, fontsize=9)
                ax.set_xlabel("δ (score below the best)", fontsize=8)
        handles, labels = axes[0].get_legend_handles_labels()
        panels[i].legend(handles, labels, loc="outside lower center", fontsize=6.5, frameon=False)
    return fig


def profile_columns(gaps: pd.DataFrame, size: int | None = None) -> list[tuple[str, list]]:
    """The profile figure's columns: each family's losses of ``gaps`` (FAMILY_ORDER, then first
    seen) in chunks of at most ``size`` (PROFILE_LINES), a split family's columns numbered."""
    chunked = families.chunks(gaps, size=size or PROFILE_LINES)
    return [(name, list(dict.fromkeys(chunk["loss"]))) for name, chunk in chunked]


def _short(key) -> str:
    """A heatmap column: "fmnist·linear·sym:0.4", with "·es" for the early-stopped score and
    "·t1000" for 1,000 trusted validation labels."""
    dataset, model, noise, *variant = key
    model = model.replace("mlp:hidden=", "mlp").replace(":layers=", "×")
    if model.startswith("module:"):  # module:path/file.py:Class -> Class
        model = model.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    if dataset.startswith("npz:"):  # npz:path=dir/name.npz -> name
        dataset = dataset.rsplit("/", 1)[-1].removeprefix("npz:path=").removesuffix(".npz")
    dataset = dataset.replace("fashion_mnist", "fmnist").replace("breast_cancer", "bcancer")
    text = f"{dataset}·{model}·{'clean' if noise == 'none' else noise}"
    validation, selection = (variant + ["noisy", "last"][len(variant) :])[:2]
    if str(validation).startswith("trusted:"):
        text += "·t" + str(validation).split(":", 1)[1]
    if selection == "early_stopped":
        text += "·es"
    return text
