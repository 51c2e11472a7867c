"""Per-class errors: each class's test accuracy under each loss, and the confusion matrices of the
best and the worst loss; the class names come from the dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from bench.analysis import evaluation, tables
from bench.reporting import figures
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

ANNOTATED = 20  # confusion matrices of more classes than this are drawn without their counts


def section(w: Workload) -> str:
    best_runs = tables.best_runs(w.final)
    if best_runs.empty:
        return ""
    classes = w.data.classes
    recall = evaluation.per_class_accuracy(
        w.out, tables.clean_runs(w.final)[tables.RUN], w.data, classes
    )
    if recall.empty:
        return w.without_weights("Per-class errors")
    ranked = best_runs.sort_values("test_acc", ascending=False)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    for ax, run in zip(axes, [ranked.iloc[0], ranked.iloc[-1]], strict=True):
        model = evaluation.load_model(w.out, run)
        counts = evaluation.confusion(model, w.data).numpy()
        sns.heatmap(
            counts,
            annot=len(classes) <= ANNOTATED,
            fmt="d",
            cmap="Blues",
            cbar=False,
            ax=ax,
            xticklabels=classes,
            yticklabels=classes,
            annot_kws={"size": 7},
        )
        ax.set(
            title=f"{run['loss']} (seed {int(run['seed'])}, acc {run['test_acc']:.4f})",
            xlabel="predicted",
            ylabel="true",
        )
    fig.subplots_adjust(wspace=0.35)
    return (
        "## Per-class errors\n\n"
        "Test accuracy of each class (recall), mean over seeds: which classes each loss "
        "sacrifices.\n\n"
        + markdown_table(tables.per_class(recall, classes))
        + "\n\nConfusion matrices of the best and the worst loss (their best seed):\n\n"
        + figures.image("confusion", fig, w, "confusion.png")
    )
