"""Statistics for seeds: confidence intervals and paired comparisons between losses.

Runs of different losses with the same seed share their initial weights and their batch order,
so their final accuracies are paired: the per-seed difference removes the seed's own effect.
"""

from __future__ import annotations

import math

import pandas as pd

# The columns that name a workload; runs of two workloads are never paired.
WORKLOAD = ("dataset", "model")

# Two-sided 95% quantiles of Student's t by degrees of freedom (1..30); beyond, the
# Cornish–Fisher expansion around the normal quantile Z95 (within 2e-6 of the exact quantile).
Z95 = 1.959963984540054
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t95(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (NaN for df < 1)."""
    if df < 1:
        return math.nan
    if df <= len(T95):
        return T95[df - 1]
    z = Z95
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))  # fmt: skip


def mean_ci(values) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the 95% confidence interval of the mean)."""
    series = pd.Series(values, dtype=float).dropna()
    n = len(series)
    if n == 0:
        return math.nan, math.nan, math.nan
    std = series.std(ddof=1) if n > 1 else math.nan
    return series.mean(), std, t95(n - 1) * std / math.sqrt(n) if n > 1 else math.nan


def paired_differences(
    final: pd.DataFrame, reference: str, value: str = "test_acc"
) -> pd.DataFrame:
    """Each loss against ``reference``, seed by seed, per device (and per dataset and model
    where ``final`` has those columns: runs of different workloads are never paired).

    ``final`` has one row per (loss, device, seed) with a ``value`` column. Returns one row per
    (device, loss) other than the reference: seeds paired, mean difference (loss − reference),
    its 95% CI half-width, and whether the interval excludes zero (``clear``).
    """
    by = [column for column in WORKLOAD if column in final] + ["device"]
    rows = []
    for key, group in final.groupby(by):
        key = key if isinstance(key, tuple) else (key,)
        table = group.pivot_table(index="seed", columns="loss", values=value)
        if reference not in table:
            continue
        for loss in table.columns.drop(reference):
            diff = (table[loss] - table[reference]).dropna()
            mean, _, half = mean_ci(diff)
            rows.append(
                {
                    **dict(zip(by[:-1], key[:-1], strict=True)),
                    "device": key[-1],
                    "loss": loss,
                    "reference": reference,
                    "seeds": len(diff),
                    "difference": mean,
                    "ci95": half,
                    "clear": bool(len(diff) > 1 and abs(mean) > half),
                }
            )
    columns = [*by, "loss", "reference", "seeds", "difference", "ci95", "clear"]
    return pd.DataFrame(rows, columns=columns)
