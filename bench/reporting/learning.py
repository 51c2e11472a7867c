"""Learning speed: epochs, steps and seconds to each accuracy threshold, and the gradient dynamics
behind them (gradient norm and the share of examples still sending a gradient)."""

from __future__ import annotations

import pandas as pd

from bench.analysis import tables
from bench.reporting import families, figures, prose
from bench.reporting.markdown import labelled, markdown_table, number
from bench.reporting.workload import Workload
from bench.training.config import TRAINER
from bench.training.loop import ACTIVE_GRAD
from bench.training.stacked import STACKED


def facts(w: Workload) -> dict:
    """The learning-speed table (a frame, one row per run label and device, by family, largest
    area under the curve first), the thresholds and whether stacked runs are among them."""
    table = tables.learning_speed(w.rows, w.final)
    if table.empty:
        return {}
    table = families.ordered(labelled(table), by="auc")
    shown = pd.DataFrame(
        {"loss": table["run"], "family": table["family"], "device": table["device"]}
    )
    names = []
    for threshold in tables.THRESHOLDS:
        name = f"{round(threshold * 100)}"
        names.append(f"{name}%")
        shown[f"epochs to {name}%"] = table[f"epochs_to_{name}"]
        shown[f"steps to {name}%"] = table[f"steps_to_{name}"].map(number)
        shown[f"seconds to {name}%"] = table[f"seconds_to_{name}"].map(lambda v: number(v, 2))
    shown["area under the curve"] = table["auc"]
    return {
        "table": shown,
        "thresholds": names,
        "stacked": bool(w.rows["step_mode"].eq(STACKED).any()),
    }


def section(w: Workload) -> str:
    found = facts(w)
    if not found:
        return ""
    keys = tables.run_keys(w.final)  # a trusted:N run of the same seed is another run
    clean = w.final[(w.final["noise"] == "none") & (w.final["trainer"] == TRAINER)]
    mine = w.rows.merge(tables.default_protocol(clean)[keys], on=keys)
    fig, axes = figures.family_rows(
        mine,
        [
            (
                "grad_norm",
                {
                    "yscale": "log",
                    "ylabel": "‖∂L/∂W‖ (full batch)",
                    "share": True,
                    "title": "gradient norm per epoch",
                },
            ),
            (
                "active_frac",
                {
                    "ylabel": "share of training examples",
                    "ylim": (0, 1.02),
                    "title": f"examples still sending a gradient (some |∂l/∂o| > {ACTIVE_GRAD:g})",
                },
            ),
        ],
        errorbar=None,
    )
    figures.epoch_axes(fig, axes.flat)
    return prose.render(
        "learning",
        table=markdown_table(found.pop("table")),
        **found,
        figure=figures.image("gradient dynamics", fig, w, "dynamics.png"),
    )
