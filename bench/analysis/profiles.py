"""Views across workloads: each loss's score per seed, its mean and rank within a workload, and
performance profiles (Dolan & Moré 2002; MLCommons AlgoPerf). The verdicts (best, equivalent,
worse, undecided) are :mod:`bench.analysis.verdicts`.

A workload here is a dataset × model × noise level (``KEYS``). The input is tidy: one row per
finished run with the workload's columns, ``loss``, ``seed``, ``status`` and ``score`` (the
workload's metric, chosen by the caller: test accuracy, or balanced accuracy on long-tailed data).
Nothing here formats numbers as text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["dataset", "model", "noise"]


def seed_scores(final: pd.DataFrame) -> pd.DataFrame:
    """One row per (workload, loss, seed): ``score``, NaN for a diverged run (a failure is
    counted, never averaged as a zero), and ``diverged``."""
    diverged = final["status"] == "diverged"
    table = final[[*KEYS, "loss", "seed"]].assign(
        score=final["score"].astype(float).where(~diverged), diverged=diverged
    )
    return table.reset_index(drop=True)


def means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, loss): mean score over the finished seeds (NaN when all diverged), seeds,
    diverged runs, and ``rank`` within the workload (1 = best; ties of the mean share the
    average of their ranks; NaN for a loss with no finished seed)."""
    table = (
        scores.groupby([*KEYS, "loss"], sort=False)
        .agg(score=("score", "mean"), seeds=("seed", "nunique"), diverged=("diverged", "sum"))
        .reset_index()
    )
    table["rank"] = table.groupby(KEYS, sort=False)["score"].rank(ascending=False, method="average")
    return table


def gaps(table: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, loss) of :func:`means`: ``value`` = the workload's best mean score − the
    loss's (0 for the best)."""
    best = table.groupby(KEYS, sort=False)["score"].transform("max")
    return table[[*KEYS, "loss"]].assign(value=best - table["score"])


def run_seconds(rows: pd.DataFrame, table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Per run (workload, loss, seed): the workload's ``target`` (``fraction`` × its best mean
    score) and ``seconds``, the training seconds (cumulative ``epoch_s``) until the run's
    ``score`` first reaches the target; infinite for a run that never does, or diverged.

    ``rows`` holds every epoch of the finished runs: the workload's columns, loss, seed, epoch,
    epoch_s, status and score; ``table`` is :func:`means` of their final rows.
    """
    targets = table.groupby(KEYS, sort=False)["score"].max().mul(fraction).rename("target")
    runs = rows.merge(targets.reset_index(), on=KEYS).sort_values("epoch")
    run_keys = [*KEYS, "loss", "seed"]
    runs["seconds"] = runs.groupby(run_keys)["epoch_s"].cumsum()
    failed = runs.groupby(run_keys)["status"].transform(lambda s: (s == "diverged").any())
    reached = runs[(runs["score"] >= runs["target"]) & ~failed]
    first = reached.groupby(run_keys)["seconds"].min()
    per_run = runs.groupby(run_keys, sort=False)["target"].first().to_frame()
    per_run["seconds"] = first.reindex(per_run.index).fillna(np.inf)
    return per_run.reset_index()


def time_to_target(rows: pd.DataFrame, table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Per (workload, loss): the ``target`` and the mean over seeds of :func:`run_seconds`
    (infinite when any of its runs never reaches the target)."""
    per_run = run_seconds(rows, table, fraction).drop(columns="seed")
    return per_run.groupby([*KEYS, "loss"], sort=False).mean().reset_index()


def ratios(times: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, loss) of :func:`time_to_target`: ``value`` = its seconds ÷ the workload's
    fastest (infinite when it never reached the target or nobody did)."""
    fastest = times.groupby(KEYS, sort=False)["seconds"].transform("min")
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (times["seconds"] / fastest).where(np.isfinite(fastest), np.inf)
    return times[[*KEYS, "loss"]].assign(value=value)


def profile(measure: pd.DataFrame, grid) -> pd.DataFrame:
    """A performance profile: per loss and x of ``grid``, the ``share`` of all workloads of
    ``measure`` where the loss's ``value`` is at most x (a loss absent from a workload counts as
    not within). ``measure`` has the workload's columns, loss and value (:func:`gaps` or
    :func:`ratios`)."""
    workloads = len(measure[KEYS].drop_duplicates())
    grid = np.asarray(grid, dtype=float)
    rows = []
    for loss, group in measure.groupby("loss", sort=False):
        values = group["value"].to_numpy(dtype=float)[:, None]
        within = (values <= grid) | np.isclose(values, grid, rtol=1e-9, atol=1e-12)
        rows += [
            {"loss": loss, "x": x, "share": n / workloads}
            for x, n in zip(grid, within.sum(0), strict=True)
        ]
    return pd.DataFrame(rows, columns=["loss", "x", "share"])


def breakpoints(measure: pd.DataFrame, low: float, high: float) -> np.ndarray:
    """The x where some loss's profile steps, between ``low`` and ``high`` with both ends: the
    grid on which a step plot of :func:`profile` is exact."""
    values = measure["value"].to_numpy(dtype=float)
    inside = values[(values >= low) & (values <= high)]
    return np.unique(np.concatenate([[low, high], inside]))
