"""Paired comparisons: each loss against the best, seed by seed (a seed fixes the initial weights
and the batches), Holm-corrected over the losses compared."""

from __future__ import annotations

import pandas as pd

from bench.analysis import profiles, stats, tables
from bench.reporting import families
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

ALPHA = profiles.P_TIED  # family-wise error rate of the Holm-corrected decisions


def compare(clean: pd.DataFrame, reference: str, value: str = "test_acc") -> pd.DataFrame:
    """Each loss of ``clean`` (one row per loss, device, seed) against ``reference``, per device.

    The columns of :func:`bench.analysis.stats.paired_differences` (mean ``difference``, its
    Holm-free 95% CI half-width ``ci95`` and ``clear``), then ``p``, the two-sided paired t-test
    p-value, ``p_holm``, Holm's adjustment over the losses compared on that device, and
    ``beyond``: p_holm < ALPHA (NaN where fewer than two seeds pair).
    """
    table = stats.paired_differences(clean, reference=reference, value=value)
    by = [c for c in (*stats.WORKLOAD, "device") if c in clean]
    p = []
    for row in table.itertuples():
        mine = clean
        for column in by:
            mine = mine[mine[column] == getattr(row, column)]
        wide = mine.pivot_table(index="seed", columns="loss", values=value)
        p.append(profiles.t_pvalue((wide[row.loss] - wide[reference]).dropna()))
    table["p"] = pd.Series(p, index=table.index, dtype=float)
    table["p_holm"] = table.groupby(by)["p"].transform(profiles.holm) if len(table) else []
    table["beyond"] = (table["p_holm"] < ALPHA).astype(object).where(table["p_holm"].notna())
    return table


def section(w: Workload) -> str:
    mine = tables.clean_runs(w.final)
    ranked = w.accuracy[w.accuracy["trainer"] == "lossbench"].dropna(subset=["test_acc"])
    if mine.empty or ranked.empty or mine["seed"].nunique() < 2:
        return "## Paired comparisons\n\nNeeds at least two seeds per loss."
    best = ranked.iloc[0]["loss"]
    table = families.ordered(compare(mine, reference=best), by="difference")
    shown = pd.DataFrame(
        {
            "loss": table["loss"],
            "family": table["family"],
            "device": table["device"],
            f"test acc − {best}": table["difference"].map(lambda v: f"{v:+.4f}"),
            "95% CI ±": table["ci95"],
            "seeds": table["seeds"],
            "p": table["p"],
            "Holm p": table["p_holm"],
            "beyond the seed spread": table["beyond"].map({True: "yes", False: "no"}).fillna("—"),
        }
    )
    return (
        "## Paired comparisons\n\n"
        f"Each loss against the best, **{best}**, seed by seed: runs with the same seed share "
        "their initial weights and batch order, so the per-seed difference removes the seed's "
        "own effect. p is the two-sided paired t-test; with "
        f"{len(table)} comparisons some would look clear by chance, so 'beyond the seed spread' "
        f"is decided by the Holm-adjusted p ('yes': Holm p < {ALPHA:g}, a family-wise error "
        "rate of 5% over all the losses compared). The 95% CI is each comparison's own, "
        "uncorrected. Grouped by loss family, closest to the best first.\n\n"
        + markdown_table(shown)
    )
