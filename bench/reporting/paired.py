"""Paired comparisons: each loss against the best, seed by seed (a seed fixes the initial weights
and the batches), with the answer's verdicts (bench.analysis.verdicts) at the workload's margin."""

from __future__ import annotations

import math

import pandas as pd

from bench.analysis import stats, tables, verdicts
from bench.reporting import families
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

ALPHA = verdicts.ALPHA  # family-wise error rate of the Holm-corrected decisions


def compare(clean: pd.DataFrame, reference: str, value: str = "test_acc") -> pd.DataFrame:
    """Each loss of ``clean`` (one row per loss, device, seed) against ``reference``, per device.

    The columns of :func:`bench.analysis.stats.paired_differences` (mean ``difference``, its
    uncorrected 95% CI half-width ``ci95`` and ``clear``), then ``p``, the two-sided paired
    t-test p-value (NaN with one seed or no spread), ``p_holm``, Holm's adjustment over the
    losses compared on that device, and ``beyond``: p_holm < ALPHA (NaN where p is NaN).
    "Not beyond" is absence of evidence, not equivalence: the verdicts say equivalence.
    """
    table = stats.paired_differences(clean, reference=reference, value=value)
    by = [c for c in (*stats.WORKLOAD, "device") if c in clean]
    p = []
    for row in table.itertuples():
        mine = clean
        for column in by:
            mine = mine[mine[column] == getattr(row, column)]
        wide = mine.pivot_table(index="seed", columns="loss", values=value)
        p.append(stats.t_pvalue((wide[row.loss] - wide[reference]).dropna()))
    table["p"] = pd.Series(p, index=table.index, dtype=float)
    table["p_holm"] = table.groupby(by)["p"].transform(stats.holm) if len(table) else []
    table["beyond"] = (table["p_holm"] < ALPHA).astype(object).where(table["p_holm"].notna())
    return table


def section(w: Workload) -> str:
    mine = tables.clean_runs(w.final)
    if mine.empty or mine["seed"].nunique() < 2:
        return "## Paired comparisons\n\nNeeds at least two seeds per loss."
    device = mine["device"].value_counts().index[0]
    mine = mine[mine["device"] == device]
    if "validation" in mine:  # the noisy-validation runs (a trusted split trains on fewer)
        mine = mine[mine["validation"].astype(object).fillna("noisy") == "noisy"]
    data = getattr(w, "data", None)
    n_test = len(data.test_y) if data is not None else None
    per_seed = verdicts.test_per_seed(data) if data is not None else False
    margin = verdicts.margin_for(n_test, test_per_seed=per_seed) if n_test else verdicts.MARGIN
    table = verdicts.verdicts(mine.assign(score=mine["test_acc"], diverged=False), margin)
    top = table["best"].dropna()
    if top.empty:
        return "## Paired comparisons\n\nEvery loss failed a clean run: no best to compare with."
    best = top.iloc[0]
    declared = bool((table["verdict"] == "best").any())
    table = families.ordered(table[table["loss"] != best], by="diff")
    shown = pd.DataFrame(
        {
            "loss": table["loss"],
            "family": table["family"],
            f"test acc − {best}": table["diff"].map(lambda v: f"{v:+.4f}"),
            "interval": [_interval(r.lower, r.upper, r.no_spread) for r in table.itertuples()],
            "seeds": table["paired"],
            "verdict": table["verdict"],
        }
    )
    named = (
        f"the best, **{best}**"
        if declared
        else f"**{best}**, the highest mean (not declared best: its own interval reaches past "
        "−δ, so it is undecided)"
    )
    return (
        "## Paired comparisons\n\n"
        f"Clean runs on {device}, each loss against {named}, seed by seed: runs "
        "with the same seed share their initial weights and batch order, so the per-seed "
        "difference removes the seed's own effect. The difference is the paired mean gap to "
        f"{best}; the interval is the answer's ({verdicts.REFERENCE_TEXT}) of the gap to the best "
        "of the others, the verdict against δ = "
        f"{100 * margin:.2g} points: equivalent when the interval's lower end lies above −δ, "
        "worse when its upper end lies below −δ, unstable with a failed run, else undecided. "
        "Grouped by loss family, closest to the best first.\n\n" + markdown_table(shown)
    )


def _interval(lower: float, upper: float, no_spread: bool) -> str:
    if no_spread:
        return "no spread"
    return "—" if math.isnan(lower) else f"[{lower:+.4f}, {upper:+.4f}]"
