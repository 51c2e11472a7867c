"""Verdicts a statistician would sign: each loss against its workload's best, paired by seed,
with a declared margin of practical equivalence δ.

A workload is a dataset × model × noise level (``KEYS``). Within one, runs of different losses
with the same seed share their initial weights and batch order, so the per-seed difference
d_s = score(loss, s) − score(best, s) removes the seed's own effect.

The rule (``verdict``):

- ``best``: the highest mean score among the losses with no diverged run (a loss that failed on
  some seed is never the answer);
- ``equivalent``: the interval of the mean difference lies inside (−δ, +δ);
- ``worse``: the interval lies entirely below −δ, or every one of the loss's runs diverged (it
  produced no model to score);
- ``undecided``: anything else: the interval straddles ±δ, fewer than two seeds pair with the
  best, or the differences have no spread (see below).

The interval is Student's t for the mean of the paired differences at confidence 1 − 2α/m per
comparison, two-sided (each bound one-sided at 1 − α/m), with m the number of losses compared
with the best: the Bonferroni form of the two one-sided tests (TOST, Schuirmann 1987). Each loss
gets at most one claim (equivalent or worse), each at level α/m, so the chance that any verdict
of the workload is wrong is at most α. ``p_equivalent`` is the TOST p-value from statsmodels,
Bonferroni-adjusted: ``equivalent`` ⇔ p_equivalent < α.

Zero spread: when every paired difference is the same number (within ``NO_SPREAD``), the
sample standard deviation is 0 and the t interval would collapse to a point, claiming certainty
that two or five seeds cannot give. Its bounds are left undefined (NaN), ``no_spread`` is True
and the verdict is ``undecided``: more seeds (or a new test split per seed) would show the
spread.

A diverged run's score is never averaged: ``score`` is the mean over the loss's finished seeds,
and its diverged seeds are left out of the pairing and counted in ``diverged``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import ttost_paired

from bench.analysis.stats import NO_SPREAD

KEYS = ["dataset", "model", "noise"]
VERDICTS = ("best", "equivalent", "worse", "undecided")
# The family-wise error rate of a workload's verdicts.
ALPHA = 0.05
# The default margin of practical equivalence: half an accuracy point.
MARGIN = 0.005
# A test set of n examples measures an accuracy with a binomial standard error of at most
# sqrt(p(1−p)/n) ≤ 0.5/√n (p = ½). A difference below one such standard error is not one the
# test set can tell from the luck of which examples were drawn into it, so the margin is never
# narrower: max(MARGIN, MARGIN_SE / √n). At Fashion-MNIST's 10,000 test images both are 0.5
# points; at digits' 450 the margin is 2.4 points, at breast_cancer's 143 it is 4.2.
MARGIN_SE = 0.5
SCORES = ("dataset", "model", "noise", "loss", "seed", "score", "diverged")
COLUMNS = tuple(
    "dataset model noise loss verdict margin diff lower upper seeds diverged paired compared "
    "no_spread p_equivalent score best sd seeds_needed".split()
)


def margin_for(n_test: int) -> float:
    """The declared margin δ for a workload scored on ``n_test`` test examples:
    δ = max(MARGIN, MARGIN_SE / √n_test), in accuracy (0.005 = half a point)."""
    if not isinstance(n_test, (int, np.integer)) or isinstance(n_test, bool) or n_test < 1:
        raise ValueError(f"n_test must be a positive number of test examples, got {n_test!r}")
    return max(MARGIN, MARGIN_SE / math.sqrt(int(n_test)))


def verdicts(scores: pd.DataFrame, margin: float, alpha: float = ALPHA) -> pd.DataFrame:
    """Each loss of each workload against the workload's best, paired by seed.

    ``scores``: one row per run with columns dataset, model, noise, loss, seed, score (float;
    a diverged run's score is ignored) and diverged (bool); one workload or several. ``margin``
    is δ in the score's units (e.g. :func:`margin_for`); ``alpha`` the family-wise error rate
    of one workload's verdicts. An optional ``entry`` column (the suite spec a tuned ``loss``
    came from) is carried through.

    Returns one row per (dataset, model, noise, loss), in the order first seen: ``verdict``
    (see the module's rule), ``margin`` (δ), ``diff`` (mean over paired seeds of loss − best;
    0 for the best), ``lower``/``upper`` (the interval of ``diff``; NaN when undefined),
    ``seeds`` (seeds run), ``diverged`` (of them, diverged), ``paired`` (seeds both finished),
    ``compared`` (m, the workload's losses other than the best), ``no_spread``,
    ``p_equivalent`` (Bonferroni-adjusted TOST p-value), ``score`` (mean over finished seeds)
    ``best`` (the workload's best loss; NaN where every loss diverged somewhere), ``sd`` (the
    paired differences' standard deviation) and ``seeds_needed`` (for an ``undecided`` loss:
    :func:`seeds_needed` at the observed mean and sd; NaN otherwise).

    Shape: scores (R, 7+) -> (L, 19+), L the distinct (workload, loss) pairs.
    """
    missing = [c for c in SCORES if c not in scores]
    if missing:
        raise ValueError(f"scores lacks column(s) {missing}; it needs {list(SCORES)}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number (e.g. 0.005), got {margin!r}")
    extra = ["entry"] if "entry" in scores else []
    frame = scores[[*SCORES, *extra]].copy()
    frame["diverged"] = frame["diverged"].astype(bool)
    frame["score"] = frame["score"].astype(float).where(~frame["diverged"])
    if frame.duplicated([*KEYS, "loss", "seed"]).any():
        raise ValueError(
            "scores has more than one row for some (workload, loss, seed); "
            "pass one final row per run"
        )
    out = [_workload(group, margin, alpha, extra) for _, group in frame.groupby(KEYS, sort=False)]
    if not out:
        return pd.DataFrame(columns=[*COLUMNS, *extra])
    return pd.concat(out, ignore_index=True)[[*COLUMNS, *extra]]


def _workload(group: pd.DataFrame, margin: float, alpha: float, extra: list) -> pd.DataFrame:
    per_loss = group.groupby("loss", sort=False).agg(
        seeds=("seed", "nunique"), diverged=("diverged", "sum"), score=("score", "mean")
    )
    wide = group.pivot_table(index="seed", columns="loss", values="score", dropna=False)
    clean = per_loss[per_loss["diverged"] == 0]
    best = None
    if not clean.empty:
        order = clean.reset_index().sort_values(["score", "loss"], ascending=[False, True])
        best = order["loss"].iloc[0] if order["score"].notna().iloc[0] else None
    compared = len(per_loss) - 1
    rows = []
    for loss, own in per_loss.iterrows():
        row = {
            "loss": loss,
            "margin": margin,
            "seeds": int(own["seeds"]),
            "diverged": int(own["diverged"]),
            "score": own["score"],
            "compared": compared,
            "best": best if best is not None else math.nan,
        }
        if best is None:
            diff = pd.Series(dtype=float)
        else:
            diff = (wide[loss] - wide[best]).dropna()
        row.update(_compare(diff, margin, alpha, compared, own, is_best=loss == best))
        rows.append(row)
    table = pd.DataFrame(rows)
    first = group.iloc[0]
    for key in KEYS:
        table[key] = first[key]
    if extra:
        entries = group.groupby("loss", sort=False)["entry"].first()
        table["entry"] = table["loss"].map(entries)
    return table


def _compare(diff: pd.Series, margin: float, alpha: float, compared: int, own, is_best: bool):
    """The verdict of one loss from its paired differences with the best."""
    n = len(diff)
    facts = {
        "paired": n,
        "diff": diff.mean() if n else math.nan,
        "lower": math.nan,
        "upper": math.nan,
        "no_spread": False,
        "p_equivalent": math.nan,
        "sd": diff.std(ddof=1) if n > 1 else math.nan,
        "seeds_needed": math.nan,
    }
    if is_best:
        return {**facts, "diff": 0.0, "verdict": "best"}
    if own["seeds"] == own["diverged"]:
        return {**facts, "verdict": "worse"}
    if n < 2:
        return {**facts, "verdict": "undecided"}
    if np.ptp(diff.to_numpy()) < NO_SPREAD:
        return {**facts, "no_spread": True, "verdict": "undecided"}
    level = 1 - 2 * alpha / compared
    interval = scipy_stats.ttest_1samp(diff, 0.0).confidence_interval(level)
    lower, upper = float(interval.low), float(interval.high)
    p_tost = ttost_paired(diff.to_numpy(), np.zeros(n), -margin, margin)[0]
    facts.update(lower=lower, upper=upper, p_equivalent=min(1.0, float(p_tost) * compared))
    if own["diverged"] == 0 and -margin < lower and upper < margin:
        verdict = "equivalent"
    elif upper < -margin:
        verdict = "worse"
    else:
        verdict = "undecided"
        if own["diverged"] == 0:
            facts["seeds_needed"] = seeds_needed(
                facts["diff"], facts["sd"], margin, compared, alpha
            )
    return {**facts, "verdict": verdict}


def seeds_needed(
    diff: float, sd: float, margin: float, compared: int, alpha: float = ALPHA, most: int = 1000
) -> float:
    """The fewest seeds whose interval (as in :func:`verdicts`, m = ``compared``) would decide
    a loss if its mean paired difference and sd stayed ``diff`` and ``sd``: the smallest n with
    t_{1−α/m, n−1} · sd / √n < | |diff| − δ | (inside ±δ: equivalent; beyond −δ: worse).
    A planning figure, not a promise; inf when |diff| = δ or more than ``most`` are needed."""
    room = abs(abs(diff) - margin)
    if not (room > 0 and math.isfinite(sd)):
        return math.inf
    n = np.arange(2, most + 1)
    half = scipy_stats.t.ppf(1 - alpha / compared, n - 1) * sd / np.sqrt(n)
    enough = n[half < room]
    return float(enough[0]) if len(enough) else math.inf
