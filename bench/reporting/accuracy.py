"""Accuracy: the final test accuracy of each loss, the L-BFGS optimum beside it, the scikit-learn
peers, the learning curves and the final accuracies as figures."""

from __future__ import annotations

import math

import pandas as pd

from bench.analysis import tables
from bench.reporting import families, figures, prose
from bench.reporting.markdown import accuracy as acc
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload
from bench.training.config import TRAINER


def section(w: Workload) -> str:
    """The accuracy table, the L-BFGS optimum and the peers beside it, the figures; a folder
    with no finished clean run (only noisy levels) gets one line pointing to the noise section."""
    if w.accuracy.empty:
        return (
            "## Accuracy\n\nNo finished run on clean labels in this folder (every run trained "
            "on noisy labels): the accuracies are in the noise section."
        )
    table = families.ordered(w.accuracy)
    shown, facts = accuracy_table(w, table)
    facts.update(peers(w))
    failed = w.caches["failures"]
    return prose.render(
        "accuracy",
        table=markdown_table(shown),
        speed_only=w.speed_only,
        failures=failed.to_dict("records"),
        **facts,
        **figures_of(w, table),
    )


def accuracy_table(w: Workload, table: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The accuracy table as shown (one row per loss and device) and the facts beside it:
    whether the imbalance metrics were measured, the L-BFGS optimum's iterations (or why it
    was skipped), and the losses whose optimum did not converge."""
    reference = w.caches["reference"]
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
    imbalance = bool(table[list(tables.IMBALANCE)].notna().any().any())
    if imbalance:  # runs of older versions did not measure them
        shown.insert(6, "balanced acc", table["balanced_acc"])
        shown.insert(7, "worst class", table["worst_class_acc"])
        shown.insert(8, "macro-F1", table["macro_f1"])
    facts = {
        "imbalance": imbalance,
        "reference_iters": None,
        "unconverged": [],
        "reference_skipped": w.skipped("reference"),
    }
    if not reference.empty:
        optimum = reference.set_index("loss")
        shown["L-BFGS optimum: test acc"] = table["loss"].map(optimum["test_acc"])
        shown["L-BFGS optimum: train loss"] = table["loss"].map(optimum["train_loss"])
        shown.loc[table["trainer"] != TRAINER, shown.columns[-2:]] = math.nan
        facts["reference_iters"] = int(reference["max_iter"].iloc[0])
        facts["unconverged"] = [
            loss for loss, ok in tables.converged(table, reference).items() if not ok
        ]
    return shown, facts


def peers(w: Workload) -> dict:
    """The scikit-learn peers on the same data (a Markdown table), the fits that scored no
    better than guessing, or why the peers were skipped."""
    facts = {
        "peers_skipped": w.skipped("peers"),
        "peers": "",
        "peers_shared": False,
        "failed_peers": [],
        "guessing": math.nan,
        "inputs": "inputs",
    }
    cache = w.caches["peers"]
    if facts["peers_skipped"] or cache.empty:
        return facts
    table = pd.DataFrame(
        {
            "peer": cache["peer"] + " (" + cache["loss"] + ")",
            "epochs / iterations": cache["epochs"],
            "test acc": cache["test_acc"],
            "train acc": cache["train_acc"],
            "fit s": cache["fit_s"],
        }
    )
    facts["peers"] = markdown_table(table)
    if "concurrent" in cache:
        facts["peers_shared"] = bool(cache["concurrent"].astype(str).eq("True").any())
    if w.num_classes:
        facts["guessing"] = 1 / w.num_classes
        facts["inputs"] = "raw pixel inputs" if w.noun == "images" else "inputs"
        failed = table[cache["test_acc"] <= facts["guessing"]]
        facts["failed_peers"] = [
            {"peer": p, "test_acc": a}
            for p, a in zip(failed["peer"], failed["test acc"], strict=True)
        ]
    return facts


def figures_of(w: Workload, table: pd.DataFrame) -> dict[str, str]:
    """The learning curves (test accuracy and training loss per epoch, a row per family, the
    accuracy on one scale) and the final accuracies as dots with their 95% intervals."""
    keys = tables.run_keys(w.final)  # a trusted:N run of the same seed is another run
    clean = tables.default_protocol(w.final[w.final["noise"] == "none"])
    clean = w.rows.merge(clean[keys], on=keys)
    style = "device" if clean["device"].nunique() > 1 else None
    fig, axes = figures.family_rows(
        clean,
        [
            (
                "test_acc",
                {
                    "title": "test accuracy per epoch (band: sd over seeds)",
                    "ylabel": "test accuracy",
                    "share": True,
                },
            ),
            (
                "train_loss",
                {
                    "title": "training loss per epoch (each loss on its own scale)",
                    "ylabel": "trained loss (running mean)",
                    "yscale": "log",
                },
            ),
        ],
        style=style,
        errorbar="sd",
    )
    figures.epoch_axes(fig, axes.flat)
    curves = figures.image("learning curves", fig, w, "curves.png")

    finished = tables.default_protocol(
        w.final[(w.final["noise"] == "none") & (w.final["status"] == "ok")]
    )
    order = table.dropna(subset=["test_acc"])["run"].drop_duplicates().tolist()
    fig = figures.dots(
        finished,
        y="run",
        x="test_acc",
        order=order,
        xlabel="final test accuracy (dot: mean; line: 95% CI over seeds, within 0–1)",
        title="Final test accuracy by family",
        within=(0.0, 1.0),
    )
    return {"curves": curves, "dots": figures.image("final accuracy", fig, w, "final_accuracy.png")}
