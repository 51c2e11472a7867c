"""Learning rates: each loss's rate from the validation search, and the search as a figure (a
row of panels per loss family)."""

from __future__ import annotations

import pandas as pd

from bench.analysis import tables
from bench.reporting import figures, prose
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload


def facts(w: Workload) -> dict:
    """What the section states: the chosen rates (a frame), the search's epochs (one level, or
    a screen of every rate then the ``kept`` best for longer), and why stacking was skipped."""
    cache = w.caches["tuning"]
    if cache.empty:
        return {"tuned": False}
    best = tables.tuning(cache)
    levels = sorted(cache["epochs"].unique())
    screen = int(levels[0]) if len(levels) > 1 else None  # the two-stage search of study.tune
    kept = int(cache[cache["epochs"] == levels[-1]].groupby("loss").size().max())
    return {
        "tuned": True,
        "chosen": pd.DataFrame(
            {
                "loss": best["loss"],
                "chosen lr": best["lr"],
                "validation acc": best["val_acc"],
                "rates tried": best["tried"],
                "diverged": best["diverged"],
            }
        ),
        "epochs": int(levels[-1]),
        "screen_epochs": screen,
        "kept": kept,
        "held_out": w.held_out(),
        "stacked_skipped": w.skipped("stacked tuning"),
    }


def section(w: Workload) -> str:
    found = facts(w)
    if not found["tuned"]:
        return prose.render("tuning", tuned=False)
    return prose.render(
        "tuning", table=markdown_table(found.pop("chosen")), figure=figure(w), **found
    )


def figure(w: Workload) -> str:
    """Validation accuracy against the rate, one row of panels per family, on one scale."""
    cache = w.caches["tuning"]
    cache = cache.assign(
        val_acc=pd.to_numeric(cache["val_acc"], errors="coerce"),
        epochs=cache["epochs"].astype(int).astype(str) + " epochs",
    )
    several = cache["epochs"].nunique() > 1
    fig, axes = figures.family_rows(
        cache,
        [
            (
                "val_acc",
                {
                    "title": "validation accuracy against the rate (gaps: diverged)",
                    "ylabel": "validation accuracy",
                    "xscale": "log",
                    "xlabel": "learning rate (peak of the schedule)",
                    "share": True,
                },
            )
        ],
        x="lr",
        hue="loss",
        style="epochs" if several else None,
        marker="o",
        errorbar=None,
        width=7,
    )
    return figures.image("tuning", fig, w, "tuning.png")
