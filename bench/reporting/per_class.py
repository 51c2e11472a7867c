"""Per-class errors: each class's test accuracy under each loss, and the confusion matrices of the
best and the worst loss; the class names come from the dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from bench.analysis import evaluation, tables
from bench.reporting import figures, prose
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

ANNOTATED = 20  # confusion matrices of more classes than this are drawn without their counts


def section(w: Workload) -> str:
    found = facts(w)
    if found is None:
        return ""
    if found["recall"].empty:
        return w.without_weights("Per-class errors")
    classes = w.data.classes
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    for ax, run in zip(axes, [found["best"], found["worst"]], strict=True):
        model = evaluation.load_model(w.out, run)
        counts = evaluation.confusion(model, w.data.for_seed(int(run["seed"]))).numpy()
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
    return prose.render(
        "per_class",
        table=markdown_table(tables.per_class(found["recall"], classes)),
        best=found["best"],
        worst=found["worst"],
        figure=figures.image("confusion", fig, w, "confusion.png"),
    )


def facts(w: Workload) -> dict | None:
    """``recall``, each clean run's test accuracy per class (tidy: loss, device, seed, class,
    accuracy; empty without the saved weights), and the ``best`` and the ``worst`` of the
    losses' best runs (rows of :func:`bench.analysis.tables.best_runs`, by test accuracy);
    None without runs."""
    best_runs = tables.best_runs(w.final)
    if best_runs.empty:
        return None
    recall = evaluation.per_class_accuracy(
        w.out, tables.clean_runs(w.final)[tables.run_keys(w.final)], w.data, w.data.classes
    )
    ranked = best_runs.sort_values("test_acc", ascending=False)
    best, worst = ranked.iloc[0], ranked.iloc[-1]
    return {"recall": recall, "best": best, "worst": worst}
