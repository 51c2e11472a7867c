"""Views across workloads: each loss's score per seed, the best loss and the losses tied with it,
ranks, and performance profiles (Dolan & Moré 2002; MLCommons AlgoPerf).

A workload here is a dataset × model × noise level (``KEYS``). The input is tidy: one row per
finished run with the workload's columns, ``loss``, ``seed``, ``status`` and ``score`` (the
workload's metric, chosen by the caller: test accuracy, or balanced accuracy on long-tailed data).
Nothing here formats numbers as text.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

KEYS = ["dataset", "model", "noise"]
# Tied with the best: Holm-adjusted p-value of the paired t-test at least this.
P_TIED = 0.05


def seed_scores(final: pd.DataFrame) -> pd.DataFrame:
    """One row per (workload, loss, seed): ``score``, with a diverged run's set to 0 (a failure
    ranks below any run that finished), and ``diverged``."""
    diverged = final["status"] == "diverged"
    table = final[[*KEYS, "loss", "seed"]].assign(
        score=final["score"].where(~diverged, 0.0).astype(float), diverged=diverged
    )
    return table.reset_index(drop=True)


def means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, loss): mean score over seeds, seeds, diverged runs, and ``rank`` within
    the workload (1 = best; ties of the mean share the average of their ranks)."""
    table = (
        scores.groupby([*KEYS, "loss"], sort=False)
        .agg(score=("score", "mean"), seeds=("seed", "nunique"), diverged=("diverged", "sum"))
        .reset_index()
    )
    table["rank"] = table.groupby(KEYS, sort=False)["score"].rank(ascending=False, method="average")
    return table


def mean_ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Per loss, over the workloads it ran on (``table`` from :func:`means`): mean rank and the
    number of workloads it was ranked on; best mean rank first."""
    return (
        table.groupby("loss")
        .agg(mean_rank=("rank", "mean"), workloads=("rank", "size"))
        .reset_index()
        .sort_values(["mean_rank", "workloads", "loss"], ascending=[True, False, True])
        .reset_index(drop=True)
    )


def holm(pvalues) -> pd.Series:
    """Holm's step-down adjustment of p-values (index kept; NaN stays NaN, not counted).

    Sorted ascending p_(1) ≤ … ≤ p_(m): adjusted p_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j)).
    """
    p = pd.Series(pvalues, dtype=float)
    known = p.dropna().sort_values(kind="stable")
    m = len(known)
    scaled = (known * np.arange(m, 0, -1)).clip(upper=1.0)
    return scaled.cummax().reindex(p.index)


def t_pvalue(differences) -> float:
    """Two-sided p-value of the paired t-test that the mean of ``differences`` is 0; NaN with
    fewer than two. Identical pairs (no spread) give 1 when the mean is 0, else 0. Student's t
    from scipy when installed, else the normal approximation."""
    diff = pd.Series(differences, dtype=float).dropna()
    n = len(diff)
    if n < 2:
        return math.nan
    mean, std = diff.mean(), diff.std(ddof=1)
    if std == 0 or not math.isfinite(std):
        return 1.0 if mean == 0 else 0.0
    return min(1.0, 2 * t_sf(abs(mean) / (std / math.sqrt(n)), n - 1))


def t_sf(t: float, df: int) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom; P(Z > t) without scipy."""
    try:
        from scipy import stats
    except ImportError:
        return 0.5 * math.erfc(t / math.sqrt(2))
    return float(stats.t.sf(t, df))


def ties(scores: pd.DataFrame, alpha: float = P_TIED) -> pd.DataFrame:
    """Per (workload, loss): the :func:`means` columns, the workload's ``best`` loss (highest
    mean), each loss's paired comparison with it (``paired`` seeds, mean ``difference``, ``p``,
    Holm-adjusted ``p_holm`` over the workload's other losses) and ``tied``: True for the best,
    p_holm ≥ alpha for the others, NaN where fewer than two seeds pair (ties cannot be judged)."""
    table = means(scores)
    out = []
    for _, group in table.groupby(KEYS, sort=False):
        best = group.loc[group["score"].idxmax(), "loss"]
        mine = scores.merge(group[KEYS].drop_duplicates(), on=KEYS)
        wide = mine.pivot_table(index="seed", columns="loss", values="score")
        rows = []
        for loss in group["loss"]:
            diff = (wide[loss] - wide[best]).dropna()
            rows.append({"loss": loss, "paired": len(diff),
                         "difference": diff.mean() if len(diff) else math.nan,
                         "p": math.nan if loss == best else t_pvalue(diff)})  # fmt: skip
        compared = pd.DataFrame(rows, index=group.index)
        compared["p_holm"] = holm(compared["p"])
        tied = (compared["p_holm"] >= alpha).astype(object).where(compared["p_holm"].notna())
        tied[group["loss"] == best] = True
        out.append(group.assign(best=best, **compared.drop(columns="loss"), tied=tied))
    columns = [*table.columns, "best", "paired", "difference", "p", "p_holm", "tied"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def gaps(table: pd.DataFrame) -> pd.DataFrame:
    """Per (workload, loss) of :func:`means`: ``value`` = the workload's best mean score − the
    loss's (0 for the best)."""
    best = table.groupby(KEYS, sort=False)["score"].transform("max")
    return table[[*KEYS, "loss"]].assign(value=best - table["score"])


def time_to_target(rows: pd.DataFrame, table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Per (workload, loss): the workload's ``target`` (``fraction`` × its best mean score) and
    ``seconds``, the mean over seeds of the training seconds (cumulative ``epoch_s``) until the
    run's ``score`` first reaches the target; a run that never does, or diverged, counts as
    infinite, and so does the loss's mean.

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
    per_run = runs.groupby(run_keys)["target"].first().to_frame()
    per_run["seconds"] = first.reindex(per_run.index).fillna(np.inf)
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
        rows += [{"loss": loss, "x": x, "share": n / workloads}
                 for x, n in zip(grid, within.sum(0), strict=True)]  # fmt: skip
    return pd.DataFrame(rows, columns=["loss", "x", "share"])


def breakpoints(measure: pd.DataFrame, low: float, high: float) -> np.ndarray:
    """The x where some loss's profile steps, between ``low`` and ``high`` with both ends: the
    grid on which a step plot of :func:`profile` is exact."""
    values = measure["value"].to_numpy(dtype=float)
    inside = values[(values >= low) & (values <= high)]
    return np.unique(np.concatenate([[low, high], inside]))
