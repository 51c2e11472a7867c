"""Calibration: NLL, Brier score, ECE and MCE of each loss's softmax probabilities, before and after
temperature scaling fitted on the validation split, and the reliability diagrams."""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from bench.analysis import calibration, evaluation, tables
from bench.reporting import figures
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload


def section(w: Workload) -> str:
    if w.validation is None:
        return ("## Calibration\n\nSkipped: the training set is too small for the validation "
                "split that the temperature is fitted on.")
    runs = tables.clean_runs(w.final)[tables.RUN]
    metrics, bins = evaluation.calibration_table(w.out, runs, w.data)
    if metrics.empty:
        return ""
    table = tables.calibration(metrics)
    shown = pd.DataFrame({
        "loss": table["loss"], "NLL": table["nll"], "Brier": table["brier"],
        "ECE": table["ece"], "MCE": table["mce"], "T": table["temperature"],
        "NLL after T": table["nll_after"], "ECE after T": table["ece_after"],
        "MCE after T": table["mce_after"],
    })  # fmt: skip
    first = bins[bins["seed"] == bins.groupby("loss")["seed"].transform("min")]
    grid = sns.relplot(first, x="confidence", y="accuracy", hue="scaling", col="loss",
                       col_wrap=5, kind="line", marker="o", height=2.4,
                       facet_kws={"xlim": (0, 1), "ylim": (0, 1)})  # fmt: skip
    for ax in grid.axes.flat:
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    grid.set_titles("{col_name}", size=7)
    held = len(w.validation.test_y)
    return (
        "## Calibration\n\n"
        "Probabilities are softmax(o / T) for every loss (for margin and least-squares losses the "
        "scale of o is not a likelihood, which is what temperature scaling corrects). Test-set "
        f"NLL, Brier score, expected and maximum calibration error ({calibration.BINS} "
        "equal-width confidence bins), mean over seeds; T is fitted by NLL on the "
        f"{held:,}-{w.noun[:-1]} validation split of the training set (those {w.noun} were also "
        "trained on, so T slightly under-corrects).\n\n"
        + markdown_table(shown) + "\n\n" + figures.image("reliability", grid.figure, w,
                                                         "reliability.png")
    )
