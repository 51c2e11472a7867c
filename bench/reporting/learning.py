"""Learning speed: epochs, steps and seconds to each accuracy threshold, and the gradient dynamics
behind them (gradient norm and the share of examples still sending a gradient)."""

from __future__ import annotations

import pandas as pd

from bench.analysis import tables
from bench.reporting import families, figures
from bench.reporting.markdown import labelled, markdown_table, number
from bench.reporting.workload import Workload
from bench.training.loop import ACTIVE_GRAD
from bench.training.stacked import STACKED


def section(w: Workload) -> str:
    table = tables.learning_speed(w.rows, w.final)
    if table.empty:
        return ""
    table = labelled(table)
    table = families.ordered(table, by="auc")
    shown = pd.DataFrame({"loss": table["run"], "family": table["family"],
                          "device": table["device"]})
    names = []
    for threshold in tables.THRESHOLDS:
        name = f"{round(threshold * 100)}"
        names.append(f"{name}%")
        shown[f"epochs to {name}%"] = table[f"epochs_to_{name}"]
        shown[f"steps to {name}%"] = table[f"steps_to_{name}"].map(number)
        shown[f"seconds to {name}%"] = table[f"seconds_to_{name}"].map(lambda v: number(v, 2))
    shown["area under the curve"] = table["auc"]
    mine = w.rows.merge(w.final.loc[(w.final["noise"] == "none")
                                    & (w.final["trainer"] == "lossbench"), tables.RUN],
                        on=tables.RUN)  # fmt: skip
    fig, axes = figures.family_rows(
        mine, [("grad_norm", {"yscale": "log", "ylabel": "‖∂L/∂W‖ (full batch)",
                              "title": "gradient norm per epoch"}),
               ("active_frac", {"ylabel": "share of training examples", "ylim": (0, 1.02),
                                "title": f"examples still sending a gradient (some |∂l/∂o| > "
                                         f"{ACTIVE_GRAD:g})"})],
        errorbar=None)  # fmt: skip
    figures.epoch_axes(fig, axes.flat)
    return (
        "## Learning speed, and what drives it\n\n"
        f"Epochs, steps and training seconds until the test accuracy first reaches "
        f"{' and '.join(names)} (mean over the seeds that reach it; — when none does), and the "
        "area under the learning curve (mean test accuracy over the epochs), grouped by loss "
        "family, largest area first."
        + (" Runs trained in a stack of losses (step mode `stacked`) count each epoch at the "
           "seconds their loss took trained alone (OUT/timing.csv)."
           if w.rows["step_mode"].eq(STACKED).any() else "") + "\n\n"
        + markdown_table(shown) + "\n\n"
        + figures.image("gradient dynamics", fig, w, "dynamics.png") + "\n\n"
        "Hinge losses go quiet once margins are met, and L1/L2 on saturated softmax "
        "probabilities stop sending gradient from examples whose true class has p ≈ 0: the right "
        "panel measures it."
    )
