"""Learning rates: each loss's rate from the validation search, and the search as a figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from bench.analysis import tables
from bench.reporting import figures
from bench.reporting.markdown import markdown_table, skipped
from bench.reporting.workload import Workload


def section(w: Workload) -> str:
    cache = w.caches["tuning"]
    if cache.empty:
        return ("## Learning rates\n\nNo tuning in this run: rates were fixed or built in "
                "(see the accuracy table).")  # fmt: skip
    best = tables.tuning(cache)
    shown = pd.DataFrame({
        "loss": best["loss"], "chosen lr": best["lr"], "validation acc": best["val_acc"],
        "rates tried": best["tried"], "diverged": best["diverged"],
    })  # fmt: skip
    cache = cache.assign(val_acc=pd.to_numeric(cache["val_acc"], errors="coerce"))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    levels = sorted(cache["epochs"].unique())
    sns.lineplot(cache.assign(epochs=cache["epochs"].astype(str) + " epochs"), x="lr",
                 y="val_acc", hue="loss", style="epochs" if len(levels) > 1 else None,
                 marker="o", ax=ax)  # fmt: skip
    ax.set(xscale="log", xlabel="learning rate (peak of the schedule)",
           ylabel="validation accuracy", ylim=(max(0.5, cache["val_acc"].min()), None),
           title="Validation accuracy against the learning rate (gaps: diverged)")  # fmt: skip
    ax.legend(fontsize=7)
    epochs = levels[-1]
    if len(levels) > 1:  # the two-stage search of bench.study.tune
        kept = int(cache[cache["epochs"] == epochs].groupby("loss").size().max())
        epochs = (f"{levels[0]} epochs (every rate), then the {kept} best of those for "
                  f"{levels[-1]}")
    stacked = w.skipped("stacked tuning")
    how = (skipped("Stacked tuning", stacked) if stacked else
           "All rates of a loss train at once as one stacked model (same batches).")
    return (
        "## Learning rates\n\n"
        f"Each loss's rate is the best of a log grid by accuracy on {w.held_out()} for {epochs} "
        f"epochs under the same schedule; the test set is never consulted. {how}\n\n"
        + markdown_table(shown) + "\n\n" + figures.image("tuning", fig, w, "tuning.png")
    )
