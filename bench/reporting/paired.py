"""Paired comparisons: each loss against the best, seed by seed (a seed fixes the initial weights
and the batches)."""

from __future__ import annotations

import pandas as pd

from bench.analysis import stats, tables
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload


def section(w: Workload) -> str:
    mine = tables.clean_runs(w.final)
    ranked = w.accuracy[w.accuracy["trainer"] == "lossbench"].dropna(subset=["test_acc"])
    if mine.empty or ranked.empty or mine["seed"].nunique() < 2:
        return "## Paired comparisons\n\nNeeds at least two seeds per loss."
    best = ranked.iloc[0]["loss"]
    table = stats.paired_differences(mine, reference=best).sort_values("difference",
                                                                        ascending=False)
    shown = pd.DataFrame(
        {
            "loss": table["loss"],
            "device": table["device"],
            f"test acc − {best}": table["difference"].map(lambda v: f"{v:+.4f}"),
            "95% CI ±": table["ci95"],
            "seeds": table["seeds"],
            "beyond the seed spread": table["clear"].map({True: "yes", False: "no"}),
        }
    )
    return (
        "## Paired comparisons\n\n"
        f"Each loss against the best, **{best}**, seed by seed: runs with the same seed share "
        "their initial weights and batch order, so the per-seed difference removes the seed's "
        "own effect. 'yes' means the 95% interval of the mean difference excludes zero.\n\n"
        + markdown_table(shown)
    )
