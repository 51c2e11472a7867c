"""Label noise: clean test accuracy and memorisation of the flipped labels at each noise level."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from bench.analysis import tables
from bench.reporting import figures
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload


def section(w: Workload) -> str:
    table = tables.noise(w.final)
    if table["noise"].nunique() < 2:
        return ""
    wide = tables.noise_wide(table)
    levels = sorted(set(table["noise"]) - {"none"})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    hue_order = sorted(table["loss"].unique())  # the same colour for a loss in both panels
    table["noise"] = pd.Categorical(table["noise"], ["none", *levels], ordered=True)
    sns.pointplot(table, x="noise", y="test_acc", hue="loss", hue_order=hue_order, ax=axes[0],
                  order=["none", *levels])  # fmt: skip
    axes[0].set(ylabel="clean test accuracy", title="Accuracy under label noise")
    axes[0].legend(fontsize=7)
    noisy = table[table["noise"] != "none"]
    sns.barplot(noisy, x="noise", y="memorised", hue="loss", hue_order=hue_order, ax=axes[1],
                order=levels)  # fmt: skip
    axes[1].set(ylabel="share of flipped labels fitted", title="Memorisation of flipped labels")
    axes[1].legend().remove()
    return (
        "## Label noise\n\n"
        "Training labels flipped (seeded, the same flips for every loss); test labels clean. "
        f"`sym:r` flips a share r of labels to another class uniformly; `pairs:r` flips "
        f"{pairs(w)} with probability r. Memorisation is the share of flipped training examples "
        "the model predicts as their wrong label.\n\n"
        + markdown_table(wide)
        + "\n\n" + figures.image("label noise", fig, w, "noise.png")
    )


def pairs(w: Workload) -> str:
    """The class pairs that class-conditional noise flips, named from the dataset."""
    if w.data is None or not w.data.pairs:
        return "the dataset's pairs of confusable classes"
    names = w.data.classes
    return " and ".join(f"{names[a]} ↔ {names[b]}" for a, b in w.data.pairs)
