"""Across workloads: scenario picks, near-duplicate losses, and aggregates over independent units.

The workloads of one dataset × model (its noise sweep, ``UNIT``) share the data, the seeds (so
the initial weights and the batch order) and the tuning protocol: they are one unit, not
independent votes. The aggregates here first average within a unit, then compare units:

- the Friedman test and Nemenyi critical difference over units (autorank);
- the interquartile mean (IQM) of normalised scores with a stratified bootstrap interval, and
  each loss's probability of improvement over ``ce`` (rliable's metrics; the bootstrap is scipy's
  over independent samples, one per unit, which is the stratified bootstrap);

A loss is followed across workloads by ``entry`` (the suite spec a tuned loss came from), or by
its ``loss`` spec where the frames have no ``entry``.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pandas as pd
from autorank import autorank
from rliable import metrics
from scipy import stats as scipy_stats

from bench.analysis import settings

KEYS = ["dataset", "model", "noise"]
UNIT = ["dataset", "model"]
IN_CONTENTION = ("best", "equivalent", "undecided")
# The failures counted beside a verdict (never averaged into a score): runs that diverged,
# collapsed far below their loss's median, or ended at chance accuracy.
FAILURES = ("diverged", "collapsed", "chance")
REFERENCE = "ce"
ALPHA = 0.05
BOOTSTRAP = 2000
# A workload with fewer seeds than this gives no run-level spread to an aggregate: left out.
MIN_SEEDS = 2


def entries(frame: pd.DataFrame) -> pd.Series:
    """Each row's entry: the ``entry`` column where present and filled, else the ``loss``."""
    if "entry" not in frame:
        return frame["loss"]
    entry = frame["entry"].astype(object)
    return entry.where(entry.notna() & (entry != ""), frame["loss"])


def failures(answer: pd.DataFrame) -> pd.Series:
    """Failed runs per row of the verdict frame: diverged, collapsed and at chance (the columns
    of ``FAILURES`` that the frame has; an older frame has ``diverged`` alone)."""
    present = [c for c in FAILURES if c in answer]
    return answer[present].fillna(0).astype(int).sum(axis=1)


def in_contention(answer: pd.DataFrame) -> pd.Series:
    """Rows of the verdict frame still in the running: best, equivalent or undecided, and no
    failed run (:func:`failures`)."""
    return answer["verdict"].isin(IN_CONTENTION) & (failures(answer) == 0)


def scenario(answer: pd.DataFrame, workloads: pd.DataFrame) -> dict:
    """Which entries to recommend over ``workloads`` (rows of KEYS, with ``validation`` and
    ``selection`` where the verdict frame has them) of the verdict frame ``answer``.

    A loss is judged only on the workloads where it ran. It is **recommended** when it is never
    worse where it ran, none of its runs failed (diverged, collapsed or at chance), and it is
    best or equivalent on most (more than half) of the workloads where it ran. Of the rest,
    a loss with a failed run is listed in ``failed``, and one never worse but undecided too often
    to be recommended is listed ``apart``; a loss worse somewhere is out.

    Returns facts: ``workloads`` (tuples of the key columns), ``set`` (the recommended entries,
    the smallest mean gap to the best first), ``pick`` (the one entry, or None), ``best`` (each
    workload's best entry), ``coverage`` ({entry: [workloads where it ran, of all]}), ``verdicts``
    ({entry: {verdict: count}}), ``settings`` ({entry: [{"tuned", "loss", "workloads"}]}, the
    settings that trained, from :mod:`bench.analysis.settings`), ``apart`` and ``failed`` (lists
    of dicts: entry, ran, mean ``gap`` over its undecided workloads with the widest interval
    [``lower``, ``upper``]; failed also ``diverged``, ``collapsed``, ``chance``, ``seeds``),
    ``undecided`` (undecided rows of the set), ``seeds_needed`` (the median planning figure over
    the undecided rows of the set and of those apart; NaN when none is finite), ``seeds`` (the
    most seeds any of these workloads ran), ``score`` (per entry of the set, its mean score)."""
    on = [c for c in workloads.columns if c in answer.columns]
    keys = workloads[on].drop_duplicates()
    mine = answer.merge(keys, on=on).assign(entry=lambda f: entries(f))
    mine["failed"] = failures(mine)
    count = len(keys)
    by = mine.groupby("entry", sort=False)
    ran = by.size()
    verdict = mine.pivot_table(
        index="entry", columns="verdict", values="score", aggfunc="size", fill_value=0
    ).reindex(columns=list(IN_CONTENTION) + ["worse"], fill_value=0)
    good = verdict["best"] + verdict["equivalent"]
    failed = by["failed"].sum()
    gap = by["diff"].mean()
    clear = (verdict["worse"] == 0) & (failed == 0)
    chosen = [e for e in ran.index if clear[e] and 2 * good[e] > ran[e]]
    chosen.sort(key=lambda e: (-gap[e], e))
    apart_entries = [e for e in ran.index if clear[e] and e not in chosen]
    rows = mine[mine["entry"].isin(chosen) & (mine["verdict"] == "undecided")]
    planning = mine[mine["entry"].isin(chosen + apart_entries) & (mine["verdict"] == "undecided")]
    needed = planning["seeds_needed"].replace(np.inf, np.nan).dropna()
    # the top mean of each workload (with MCB its verdict may be undecided: named all the same)
    best = mine[mine["loss"] == mine["best"]] if "best" in mine else mine.iloc[:0]
    if best.empty:
        best = mine[mine["verdict"] == "best"]
    return {
        "workloads": [tuple(k) for k in keys.itertuples(index=False)],
        "set": chosen,
        "pick": chosen[0] if len(chosen) == 1 else None,
        "best": dict(zip(map(tuple, best[on].to_numpy()), best["entry"], strict=True)),
        "coverage": {e: [int(ran[e]), count] for e in ran.index},
        "verdicts": {e: {v: int(n) for v, n in verdict.loc[e].items()} for e in ran.index},
        "settings": _settings(mine, on),
        "apart": sorted(
            (_undecided(mine[mine["entry"] == e], int(ran[e])) for e in apart_entries),
            key=lambda r: (-r["gap"], r["entry"]),
        ),
        "failed": [_failed(mine[mine["entry"] == e], int(ran[e])) for e in ran.index if failed[e]],
        "undecided": len(rows),
        "seeds_needed": float(needed.median()) if len(needed) else math.nan,
        "seeds": int(mine["seeds"].max()) if len(mine) else 0,
        "score": {e: float(by["score"].mean()[e]) for e in chosen},
    }


def _settings(mine: pd.DataFrame, on: list[str]) -> dict:
    if "loss" not in mine:
        return {}
    found = settings.per_workload(mine, on)
    return {
        e: group[["tuned", "loss", "workloads"]].to_dict("records")
        for e, group in found.groupby("entry", sort=False)
    }


def _undecided(rows: pd.DataFrame, ran: int) -> dict:
    """An entry listed apart: its undecided workloads' mean gap and widest interval."""
    open_ = rows[rows["verdict"] == "undecided"]
    return {
        "entry": rows["entry"].iloc[0],
        "ran": ran,
        "undecided": len(open_),
        "gap": float(open_["diff"].mean()),
        "lower": float(open_["lower"].min()) if "lower" in open_ else math.nan,
        "upper": float(open_["upper"].max()) if "upper" in open_ else math.nan,
    }


def _failed(rows: pd.DataFrame, ran: int) -> dict:
    """An entry with failed runs: how many of its seeds diverged, collapsed, ran at chance."""
    counts = {c: int(rows[c].fillna(0).sum()) if c in rows else 0 for c in FAILURES}
    return {
        "entry": rows["entry"].iloc[0],
        "ran": ran,
        "gap": float(rows["diff"].mean()),
        **counts,
        "seeds": int(rows["seeds"].sum()),
    }


def near_duplicates(answer: pd.DataFrame) -> pd.DataFrame:
    """Pairs of entries whose mean scores are within the workload's margin of each other on
    every workload both ran (at least two): one row per pair, ``entry`` and ``twin`` (the
    second in name order), ``workloads`` shared and the largest gap seen."""
    table = answer.assign(entry=entries(answer))
    table = table[failures(table) == 0]
    wide = table.pivot_table(index=KEYS, columns="entry", values="score")
    margin = table.groupby(KEYS)["margin"].first().reindex(wide.index).to_numpy()[:, None]
    names = list(wide.columns)
    values = wide.to_numpy()
    rows = []
    for i, a in enumerate(names):
        gaps = np.abs(values[:, i + 1 :] - values[:, [i]])
        shared = ~np.isnan(gaps)
        close = (gaps < margin) | ~shared
        for j in np.flatnonzero(close.all(0) & (shared.sum(0) >= 2)):
            rows.append(
                {
                    "entry": a,
                    "twin": names[i + 1 + j],
                    "workloads": int(shared[:, j].sum()),
                    "largest_gap": float(np.nanmax(gaps[:, j])),
                }
            )
    return pd.DataFrame(rows, columns=["entry", "twin", "workloads", "largest_gap"])


def representatives(duplicates: pd.DataFrame, order: list[str]) -> dict[str, str]:
    """{entry: the entry it is counted as}: walking ``order`` (best first), an entry that is a
    near-duplicate of one already kept is counted as that one; every other as itself."""
    pairs = {frozenset(p) for p in duplicates[["entry", "twin"]].itertuples(index=False)}
    kept, counted = [], {}
    for entry in order:
        twin = next((k for k in kept if frozenset((k, entry)) in pairs), None)
        counted[entry] = twin or entry
        if twin is None:
            kept.append(entry)
    return counted


def unit_runs(scores: pd.DataFrame, answer: pd.DataFrame) -> tuple[dict, pd.DataFrame, list]:
    """Normalised scores per run, averaged within each unit (dataset × model).

    A run's normalised score is its score ÷ the workload's best mean score. Within a unit, each
    entry's value at seed s is the mean over the unit's workloads of its normalised score at s,
    on the seeds every workload of the unit ran (workloads under ``MIN_SEEDS`` seeds are left
    out); every unit keeps the same number R of seeds (the fewest any unit has, first by seed).
    Entries with a diverged run, or missing from some workload used, are left out.

    Returns ({entry: array (R, units)}, the unit × entry table of means, the workloads left out).
    Shape: each array (R, U); the table (U, E).
    """
    runs = scores.assign(entry=entries(scores))
    top = answer[answer["loss"] == answer["best"]] if "best" in answer else answer.iloc[:0]
    best = (top if len(top) else answer[answer["verdict"] == "best"]).set_index(KEYS)["score"]
    best = best[~best.index.duplicated()]
    runs = runs.join(best.rename("best_score"), on=KEYS)
    runs["value"] = runs["score"] / runs["best_score"]
    failed = set(runs.loc[runs["diverged"].astype(bool), "entry"])
    seeds = runs.groupby(KEYS)["seed"].nunique()
    dropped = [k for k, n in seeds.items() if n < MIN_SEEDS]
    used = runs[~runs.set_index(KEYS).index.isin(dropped) & ~runs["entry"].isin(failed)]
    per_workload = used.groupby(KEYS)["entry"].agg(set)
    common_entries = set.intersection(*per_workload) if len(per_workload) else set()
    used = used[used["entry"].isin(common_entries)]
    blocks = {}
    for unit, group in used.groupby(UNIT, sort=False):
        common = set.intersection(*group.groupby("noise")["seed"].agg(set))
        wide = group[group["seed"].isin(common)].pivot_table(
            index="seed", columns="entry", values="value", aggfunc="mean"
        )  # the mean over the unit's noise levels at each seed
        blocks[unit] = wide.sort_index()
    if not blocks:
        return {}, pd.DataFrame(), dropped
    keep = min(len(b) for b in blocks.values())
    arrays = {
        e: np.stack([b[e].to_numpy()[:keep] for b in blocks.values()], axis=1)
        for e in sorted(common_entries)
    }
    table = pd.DataFrame(
        {e: a.mean(0) for e, a in arrays.items()}, index=[" · ".join(u) for u in blocks]
    )
    return arrays, table, dropped


def critical_difference(table: pd.DataFrame):
    """The Friedman test and Nemenyi post-hoc over units (rows) of entries (columns), by
    autorank; None with fewer than two units or entries."""
    if table.shape[0] < 2 or table.shape[1] < 2:
        return None
    # autorank prints its tables, and its effect sizes (not used here) divide by a pooled MAD
    # that is 0 when a loss's scores barely vary: a NumPy warning, not a failure
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(divide="ignore", invalid="ignore"):
        return autorank(table, alpha=ALPHA, verbose=False, force_mode="nonparametric")


def _bootstrap(statistic, samples, seed=0, *, vectorized=False):
    result = scipy_stats.bootstrap(
        samples,
        statistic,
        n_resamples=BOOTSTRAP,
        vectorized=vectorized,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def improvement_probability(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """rliable's probability of improvement, P(X > Y) + ½·P(X = Y) per unit averaged over
    units, over leading batch axes: x (..., R_x, U), y (..., R_y, U) -> (...). The bootstrap's
    statistic: rliable's own calls scipy's Mann–Whitney once per unit and resample (7 ms a
    call, three quarters of a minute of the study's report); the tests hold the two equal."""
    above = x[..., :, None, :] > y[..., None, :, :]
    tied = x[..., :, None, :] == y[..., None, :, :]
    return (above.mean(axis=(-3, -2)) + 0.5 * tied.mean(axis=(-3, -2))).mean(axis=-1)


def iqm(arrays: dict) -> pd.DataFrame:
    """Per entry: the IQM of its normalised scores over runs × units (rliable) and its 95%
    stratified bootstrap interval (runs resampled within each unit). Shape: arrays (R, U)."""
    rows = []
    for entry, array in arrays.items():
        lower, upper = (
            (math.nan, math.nan)
            if array.shape[0] < 2
            else _bootstrap(lambda *u: metrics.aggregate_iqm(np.stack(u, axis=-1)), tuple(array.T))
        )
        rows.append(
            {
                "entry": entry,
                "iqm": float(metrics.aggregate_iqm(array)),
                "lower": lower,
                "upper": upper,
            }
        )
    return pd.DataFrame(rows, columns=["entry", "iqm", "lower", "upper"])


def improvement(arrays: dict, reference: str = REFERENCE) -> pd.DataFrame:
    """Per entry other than ``reference``: P(entry > reference), rliable's probability of
    improvement (the Mann–Whitney statistic per unit, averaged over units) with its 95%
    stratified bootstrap interval; empty without the reference."""
    if reference not in arrays:
        return pd.DataFrame(columns=["entry", "probability", "lower", "upper"])
    y = arrays[reference]
    units = y.shape[1]
    rows = []
    for entry, x in arrays.items():
        if entry == reference:
            continue
        lower, upper = (
            (math.nan, math.nan)
            if x.shape[0] < 2
            else _bootstrap(
                lambda *u, axis: improvement_probability(
                    np.stack(u[:units], axis=-1), np.stack(u[units:], axis=-1)
                ),
                (*x.T, *y.T),
                vectorized=True,
            )
        )
        rows.append(
            {
                "entry": entry,
                "probability": float(metrics.probability_of_improvement(x, y)),
                "lower": lower,
                "upper": upper,
            }
        )
    return pd.DataFrame(rows, columns=["entry", "probability", "lower", "upper"])
