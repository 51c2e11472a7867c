"""Accuracy: the final test accuracy of each loss, the L-BFGS optimum beside it, the scikit-learn
peers, the learning curves and the final accuracies as figures."""

from __future__ import annotations

import math

import pandas as pd

from bench.analysis import tables
from bench.reporting import families, figures
from bench.reporting.markdown import accuracy as acc
from bench.reporting.markdown import markdown_table, skipped
from bench.reporting.workload import Workload


def section(w: Workload) -> str:
    table, reference = families.ordered(w.accuracy), w.caches["reference"]
    shown = pd.DataFrame(
        {
            "loss": table["run"],
            "family": table["family"],
            "device": table["device"],
            "lr": table["lr"],
            "test acc (mean ± sd)": [
                f"diverged at epoch {int(r.diverged_epoch)}"
                if r.diverged == r.seeds
                else acc(r.test_acc, r.test_acc_std)
                for r in table.itertuples()
            ],
            "95% CI ±": table["test_acc_ci95"],
            "seeds": table["seeds"],
            "train acc": table["train_acc"],
            "train loss": table["train_loss"],
        }
    )
    measured = table[list(tables.IMBALANCE)].notna().any().any()
    if measured:  # runs of older versions did not measure them
        shown.insert(6, "balanced acc", table["balanced_acc"])
        shown.insert(7, "worst class", table["worst_class_acc"])
        shown.insert(8, "macro-F1", table["macro_f1"])
    text = [
        "## Accuracy",
        "",
        "Final test accuracy of the clean runs (no label noise), grouped by loss family and best "
        "first within a family, mean ± sample standard deviation "
        "over seeds with the half-width of the 95% confidence interval of the mean (Student's t)"
        + (": beside it, the mean over seeds of the balanced accuracy (mean of per-class "
           "recalls), the worst class's recall and the macro-F1 on the test set."
           if measured else "."),
    ]
    unconverged = []
    if not reference.empty:
        optimum = reference.set_index("loss")
        shown["L-BFGS optimum: test acc"] = table["loss"].map(optimum["test_acc"])
        shown["L-BFGS optimum: train loss"] = table["loss"].map(optimum["train_loss"])
        shown.loc[table["trainer"] != "lossbench", shown.columns[-2:]] = math.nan
        unconverged = [loss for loss, ok in tables.converged(table, reference).items() if not ok]
        text[-1] += (
            " For the convex losses, the last columns give the full-batch optimum of the same "
            f"training objective found by L-BFGS (at most {int(reference['max_iter'].iloc[0])} "
            "iterations, from the same init): the ceiling that SGD is chasing."
        )
    elif w.skipped("reference"):
        text[-1] += " " + skipped("The L-BFGS optimum", w.skipped("reference"))
    text += ["", markdown_table(shown)]
    if unconverged:
        text += ["", f"L-BFGS did not get below SGD's own training loss for "
                 f"{', '.join(unconverged)} within its iterations: those columns are not yet the "
                 "optimum (`make study` runs 500 iterations)."]  # fmt: skip
    text += peers(w)
    failed = w.caches["failures"]
    if not failed.empty:
        text += ["", "**Runs that failed on a worker** in the latest command (redone by the next "
                 "one): " + "; ".join(f"{r.loss} seed {r.seed} ({r.noise}): {r.reason}"
                                      for r in failed.itertuples()) + "."]  # fmt: skip
    return "\n".join(text + figures_of(w, table))


def peers(w: Workload) -> list[str]:
    """The scikit-learn peers on the same data, or why they were skipped."""
    if w.skipped("peers"):
        return ["", skipped("**Peers** (scikit-learn)", w.skipped("peers"))]
    cache = w.caches["peers"]
    if cache.empty:
        return []
    table = pd.DataFrame(
        {
            "peer": cache["peer"] + " (" + cache["loss"] + ")",
            "epochs / iterations": cache["epochs"],
            "test acc": cache["test_acc"],
            "train acc": cache["train_acc"],
            "fit s": cache["fit_s"],
        }
    )
    shared = cache["concurrent"].astype(str).eq("True").any() if "concurrent" in cache else False
    text = [
        "",
        "**Peers** (scikit-learn on the same data and machine; float64, one seed; "
        "scikit-learn's default step sizes, not tuned"
        + ("; fitted on the Dask workers beside other runs, so their seconds are not "
           "comparable with the speed table's" if shared else "") + "):",
        "",
        markdown_table(table),
    ]
    if w.num_classes:
        inputs = "raw pixel inputs" if w.noun == "images" else "inputs"
        guessing = 1 / w.num_classes
        failed = table[cache["test_acc"] <= guessing]
        if not failed.empty:
            names = ", ".join(f"{p} ({a:.4f})" for p, a in zip(failed["peer"], failed["test acc"],
                                                                 strict=True))  # fmt: skip
            text += ["", f"{names} scored no better than guessing ({guessing:.2f}): scikit-learn's "
                     "default step size (learning_rate='optimal') is too large for that loss on "
                     f"these {inputs} and the fit diverged, so the row measures a failed fit, "
                     "not the loss."]  # fmt: skip
    return text


def figures_of(w: Workload, table: pd.DataFrame) -> list[str]:
    """The learning curves (test accuracy and training loss per epoch) and the final accuracies."""
    clean = w.rows.merge(w.final.loc[w.final["noise"] == "none", tables.RUN], on=tables.RUN)
    style = "device" if clean["device"].nunique() > 1 else None
    floor = max(0.6, clean["test_acc"].min() - 0.01) if not clean.empty else 0.6
    fig, axes = figures.family_rows(
        clean, [("test_acc", {"title": "test accuracy per epoch (band: sd over seeds)",
                              "ylabel": "test accuracy", "ylim": (floor, None)}),
                ("train_loss", {"title": "training loss per epoch (each loss on its own scale)",
                                "ylabel": "running mean of the trained loss", "yscale": "log"})],
        style=style, errorbar="sd")  # fmt: skip
    figures.epoch_axes(fig, axes.flat)
    text = ["", figures.image("learning curves", fig, w, "curves.png")]

    finished = w.final[(w.final["noise"] == "none") & (w.final["status"] == "ok")]
    order = table.dropna(subset=["test_acc"])["run"].drop_duplicates().tolist()
    fig = figures.bars(finished, y="run", x="test_acc", order=order, errorbar="sd",
                       xlabel="final test accuracy",
                       title="Final test accuracy by family (error bars: sd over seeds)")
    fig.axes[0].set_xlim(max(0.5, finished["test_acc"].min() - 0.03), None)
    return text + ["", figures.image("final accuracy", fig, w, "final_accuracy.png")]
