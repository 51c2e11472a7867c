"""Memorisation per epoch: how many flipped training labels each loss fits, how many it corrects,
and what its test accuracy does meanwhile; and the two scores of each run (last epoch, and the
epoch a validation split would have chosen).

The papers' figure (Zhang & Sabuncu 2018, Ma et al. 2020): per epoch, the share of flipped
training examples predicted as their noisy label (memorised) and as their true label
(corrected), a line per loss with its seed band, families as small multiples, test accuracy
beside it. One figure per noise level.
"""

from __future__ import annotations

import re

import pandas as pd

from bench.analysis import early_stopping, tables
from bench.analysis.across import entries
from bench.datasets.validation import DEFAULT
from bench.reporting import families, figures, prose
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload
from bench.training.config import TRAINER
from bench.training.loop import FLIP_SAMPLE

# The loss every family's panels are drawn against (dashed): the textbook's cross-entropy.
REFERENCE = "ce"
PANELS = ("memorised", "corrected", "test_acc")


def curves(w: Workload) -> pd.DataFrame:
    """Every epoch of our trainer's finished runs on noisy labels that measured memorisation,
    on the device with the most of them, with ``entry`` filled (the suite spec a tuned ``loss``
    came from) and ``level``: the noise level, and the validation protocol where it is not the
    default (``sym:0.8 · trusted:1000``), one figure and one block of the table each."""
    mine = w.final[(w.final["trainer"] == TRAINER) & (w.final["noise"] != "none")]
    if mine.empty:
        return mine
    device = mine["device"].value_counts().index[0]
    mine = mine[mine["device"] == device]
    keys = tables.RUN + [c for c in ("validation",) if c in mine and c in w.rows]
    rows = w.rows.merge(mine[keys], on=keys)
    if rows["memorised"].isna().all():
        return rows.iloc[0:0]
    level = rows["noise"].astype(str)
    if "validation" in rows:
        protocol = rows["validation"].astype(object).fillna(DEFAULT).astype(str)
        level = level.where(protocol == DEFAULT, level + " · " + protocol)
    return rows.assign(entry=entries(rows), level=level)


def run_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per noise level and loss (its entry, and the setting that ran): seeds, test accuracy at
    the last epoch and early-stopped (NaN without a validation split), the epoch early stopping
    chose, what it gained, and the shares of flipped labels memorised and corrected at the
    last epoch; means over the seeds that finished without diverging."""
    scores = early_stopping.scores(rows)
    scores = scores[scores["status"] == "ok"].assign(entry=lambda f: entries(f))
    keys = ["level", "entry"]
    last = scores[scores["selection"] == "last"]
    table = last.groupby(keys, sort=False).agg(
        loss=("loss", "first"),
        seeds=("seed", "nunique"),
        last=("test_acc", "mean"),
        memorised=("memorised", "mean"),
        corrected=("corrected", "mean"),
    )
    stopped = scores[scores["selection"] == "early_stopped"]
    table = table.join(
        stopped.groupby(keys, sort=False).agg(
            early_stopped=("test_acc", "mean"), stopped_epoch=("epoch", "mean")
        )
    )
    for column in ("early_stopped", "stopped_epoch"):
        if column not in table:
            table[column] = float("nan")
    # the gain is the mean of each seed's own gain, rounded far below a test example's weight
    # (1e-4 on 10,000) so that gains which cancel read 0, not −3.7e-17 (a float's rounding)
    paired = last.merge(stopped, on=[*keys, "seed"], suffixes=("", "_stopped"))
    paired = paired.assign(gain=paired["test_acc_stopped"] - paired["test_acc"])
    table = table.join(paired.groupby(keys, sort=False)["gain"].mean().round(12) + 0.0)
    return table.reset_index()


def spans(table: pd.DataFrame) -> list[dict]:
    """Per noise level: how far apart the losses' mean test accuracies are at the last epoch
    and early-stopped (max − min over losses), with the best and worst loss at the last
    epoch and the losses that memorise most and least."""
    out = []
    for level, group in table.groupby("level", sort=False):
        ranked = group.sort_values("last", ascending=False)
        fitted = group.sort_values("memorised", ascending=False)
        stopped = group["early_stopped"].dropna()
        out.append(
            {
                "level": level,
                "losses": len(group),
                "span_last": group["last"].max() - group["last"].min(),
                "span_stopped": stopped.max() - stopped.min() if len(stopped) else None,
                "best_last": ranked.iloc[0]["loss"],
                "worst_last": ranked.iloc[-1]["loss"],
                "most_fitted": fitted.iloc[0]["loss"],
                "most_fitted_share": fitted.iloc[0]["memorised"],
                "least_fitted": fitted.iloc[-1]["loss"],
                "least_fitted_share": fitted.iloc[-1]["memorised"],
            }
        )
    return out


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The run table as the report prints it: by level, then family, least memorised first."""
    parts = []
    for _, group in table.groupby("level", sort=False):
        group = families.ordered(group, by="memorised", ascending=True)
        parts.append(group)
    table = pd.concat(parts, ignore_index=True)
    columns = {
        "level": "noise",
        "loss": "loss",
        "family": "family",
        "seeds": "seeds",
        "last": "test acc, last epoch",
        "early_stopped": "test acc, early-stopped",
        "stopped_epoch": "epoch chosen",
        "gain": "gain",
        "memorised": "memorised at the end",
        "corrected": "corrected at the end",
    }
    if table["early_stopped"].isna().all():
        for column in ("early_stopped", "stopped_epoch", "gain"):
            columns.pop(column)
    return table[list(columns)].rename(columns=columns)


def facts(w: Workload) -> dict:
    """The section's facts: the run table (frame), the spans per level, whether any run held
    out a validation split, and the flip sample size; {} when no noisy run measured
    memorisation."""
    rows = curves(w)
    if rows.empty:
        return {}
    table = run_table(rows)
    return {
        "table": table,
        "spans": spans(table),
        "early_stop": bool(table["early_stopped"].notna().any()),
        "epochs": int(rows["epochs"].max()),
        "sample": FLIP_SAMPLE,
    }


def section(w: Workload) -> str:
    found = facts(w)
    if not found:
        return ""
    rows = curves(w)
    drawn = [figure(w, rows, level) for level in rows["level"].drop_duplicates()]
    return prose.render(
        "memorisation",
        table=markdown_table(shown(found.pop("table"))),
        figures=[d for d in drawn if d],
        **found,
    )


def reference(rows: pd.DataFrame, axes, panels: list[str]) -> None:
    """Draw the reference loss's mean (REFERENCE, grey, dashed) on every row of ``axes`` whose
    family does not hold it, so each family reads against it; nothing when it did not run."""
    ref = rows[rows["entry"] == REFERENCE]
    if ref.empty:
        return
    mean = ref.groupby("epoch")[panels].mean()
    for (_, group), row in zip(families.chunks(rows, by="loss"), axes, strict=False):
        if (group["entry"] == REFERENCE).any():
            continue
        visible = [(ax, y) for ax, y in zip(row, panels, strict=False) if ax.get_visible()]
        for ax, y in visible:
            ax.plot(mean.index, mean[y], ls="--", lw=1, color="0.55", label=f"{REFERENCE} (mean)")
        if visible and visible[-1][0].get_legend() is not None:
            visible[-1][0].legend(
                loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7, frameon=False
            )


def seed_range(values) -> tuple[float, float]:
    """The band of a line: the lowest and highest seed (seaborn's ``errorbar`` callable). A t
    interval over two or three seeds would reach past 0 and 1 (t = 12.7 at two); the range shows
    the seeds as they fell."""
    return float(min(values)), float(max(values))


def figure(w: Workload, rows: pd.DataFrame, level: str) -> str:
    """Per epoch at noise ``level``: memorised, corrected and test accuracy, a line per loss (the
    setting that ran, its mean over seeds) in the band of its seeds' range, a row of axes per
    family (at most 8 lines an axis); the shares on one 0–1 scale, test accuracy on one scale
    across families."""
    mine = rows[rows["level"] == level]
    share = {"ylim": (0, 1.02), "xlabel": "epoch"}
    fig, axes = figures.family_rows(
        mine,
        [
            (
                "memorised",
                {
                    "title": "memorised: flipped, predicted as noisy label",
                    "ylabel": "share",
                    **share,
                },
            ),
            (
                "corrected",
                {
                    "title": "corrected: flipped, predicted as true label",
                    "ylabel": "share",
                    **share,
                },
            ),
            (
                "test_acc",
                {
                    "title": "clean test accuracy",
                    "ylabel": "test accuracy",
                    "share": True,
                    "xlabel": "epoch",
                },
            ),
        ],
        hue="loss",
        errorbar=seed_range,
        width=4.5,
    )
    reference(mine, axes, [y for y in PANELS if mine[y].notna().any()])
    figures.epoch_axes(fig, axes.flat)
    fig.suptitle(f"Memorisation per epoch at {level} ({w.title})", y=1.01)
    name = "memorisation_" + re.sub(r"[^A-Za-z0-9.]+", "_", level) + ".png"
    return figures.image(f"memorisation per epoch at {level}", fig, w, name)
