"""Statistics for seeds: confidence intervals and paired comparisons between losses, from scipy
and statsmodels.

Runs of different losses with the same seed share their initial weights and their batch order,
so their final accuracies are paired: the per-seed difference removes the seed's own effect.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

# The columns that name a workload; runs of two workloads are never paired.
WORKLOAD = ("dataset", "model")
LEVEL = 0.95
# Paired differences that spread less than this are rounding of one number: no spread (a billionth
# of accuracy is far below one test example of any test set).
NO_SPREAD = 1e-9


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the two-sided Student-t interval of the mean at
    ``level``): half = t_{(1+level)/2, n−1} · sd / √n; NaN half-width with fewer than two."""
    series = pd.Series(values, dtype=float).dropna()
    n = len(series)
    if n == 0:
        return math.nan, math.nan, math.nan
    if n == 1:
        return series.mean(), math.nan, math.nan
    std = series.std(ddof=1)
    return series.mean(), std, float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)


def t_pvalue(differences) -> float:
    """Two-sided p-value of the paired t-test that the mean of ``differences`` is 0 (scipy's
    ``ttest_1samp``). NaN with fewer than two, and NaN when every difference is the same number:
    with no spread the test is undefined, not certain."""
    diff = pd.Series(differences, dtype=float).dropna().to_numpy()
    if len(diff) < 2 or np.ptp(diff) < NO_SPREAD:
        return math.nan
    return float(stats.ttest_1samp(diff, 0.0).pvalue)


def holm(pvalues) -> pd.Series:
    """Holm's step-down adjustment (statsmodels ``multipletests``), index kept; NaN stays NaN
    and is not counted among the tests."""
    p = pd.Series(pvalues, dtype=float)
    known = p.dropna()
    out = pd.Series(math.nan, index=p.index, dtype=float)
    if len(known):
        out[known.index] = multipletests(known.to_numpy(), method="holm")[1]
    return out


def paired_differences(
    final: pd.DataFrame, reference: str, value: str = "test_acc"
) -> pd.DataFrame:
    """Each loss against ``reference``, seed by seed, per device (and per dataset and model
    where ``final`` has those columns: runs of different workloads are never paired).

    ``final`` has one row per (loss, device, seed) with a ``value`` column. Returns one row per
    (device, loss) other than the reference: seeds paired, mean difference (loss − reference),
    its 95% CI half-width (uncorrected; NaN when the differences have no spread: two or five
    seeds that agree exactly do not make a difference certain), and whether the interval
    excludes zero (``clear``).
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
            if len(diff) > 1 and np.ptp(diff.to_numpy()) < NO_SPREAD:
                half = math.nan
            rows.append(
                {
                    **dict(zip(by[:-1], key[:-1], strict=True)),
                    "device": key[-1],
                    "loss": loss,
                    "reference": reference,
                    "seeds": len(diff),
                    "difference": mean,
                    "ci95": half,
                    "clear": bool(len(diff) > 1 and abs(mean) > half),  # False for NaN
                }
            )
    columns = [*by, "loss", "reference", "seeds", "difference", "ci95", "clear"]
    return pd.DataFrame(rows, columns=columns)


def mcb(diff, se, df, tail) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hsu's multiple comparisons with the best (Hsu 1984; Hsu 1996, ch. 4) in a Bonferroni form:
    simultaneous intervals [lower_i, upper_i] for μ_i − max_{j≠i} μ_j, the gap of each of K
    treatments to the best of the others, without choosing a reference first.

    ``diff[..., i, j]`` is the mean of x_i − x_j over the blocks (seeds) both have, ``se`` its
    standard error, ``df`` its degrees of freedom (paired n − 1); NaN marks a pair with no
    interval (fewer than two blocks, no spread). ``tail`` is the error of each one-sided
    statement; c_ij = t_{1 − tail, df_ij}. Then, with G the candidates for best,

        plus_ij = diff_ij + c_ij·se_ij,   minus_ij = diff_ij − c_ij·se_ij,
        G = {i : min_{j≠i} plus_ij > 0},
        lower_i = 0 if G = {i}, else min(0, min_{j∈G, j≠i} minus_ij),
        upper_i = max({min_{j≠i} plus_ij if i ∈ G} ∪ {plus_ij : j ∈ G, j ≠ i}).

    Coverage: let b be the true best and E the event that both one-sided statements
    |diff_bj − (μ_b − μ_j)| < c·se hold for every j ≠ b: 2(K − 1) statements, so P(E) ≥
    1 − 2(K − 1)·tail. Under E, b ∈ G (plus_bj > μ_b − μ_j ≥ 0); for i ≠ b, minus_ib < μ_i − μ_b
    < plus_ib bounds μ_i − max_{j≠i} μ_j = μ_i − μ_b on both sides (b is among the j ∈ G); for
    b, min_j plus_bj > μ_b − max_{j≠b} μ_j ≥ 0 ≥ lower_b. So every interval covers. upper_i < 0
    says i is below every candidate, lower_i > −δ that it is within δ of every candidate.

    A pair with no interval is left out of G's test (a larger G) and makes a bound that needs
    it infinite (never a claim). Returns lower, upper and whether each is in G.
    Shape: diff, se, df (..., K, K) -> lower, upper, candidate (..., K).
    """
    diff, se, df = (np.asarray(a, dtype=float) for a in (diff, se, df))
    k = diff.shape[-1]
    off = ~np.eye(k, dtype=bool)
    ok = np.isfinite(diff) & np.isfinite(se) & np.isfinite(df) & (df >= 1) & off
    crit = np.full(diff.shape, np.nan)
    if ok.any() and np.ndim(tail) == 0:  # few distinct df: one quantile each
        unique, index = np.unique(df[ok], return_inverse=True)
        crit[ok] = stats.t.isf(float(tail), unique)[index.ravel()]
    elif ok.any():
        crit[ok] = stats.t.isf(
            np.broadcast_to(np.asarray(tail, dtype=float), diff.shape)[ok], df[ok]
        )
    plus = np.where(ok, diff + crit * se, np.inf)
    own = np.where(off, plus, np.inf).min(-1)
    candidate = own > 0
    rivals = candidate[..., None, :] & off
    minus = np.where(ok, diff - crit * se, -np.inf)
    lower = np.minimum(0.0, np.where(rivals, minus, np.inf).min(-1))
    upper = np.maximum(np.where(candidate, own, -np.inf), np.where(rivals, plus, -np.inf).max(-1))
    # G empty (no covering event allows it): nothing is bounded
    empty = ~candidate.any(-1, keepdims=True)
    return np.where(empty, -np.inf, lower), np.where(empty, np.inf, upper), candidate
