"""Verdicts a statistician would sign: every loss of a workload against the best of the others,
paired by seed, with a declared margin of practical equivalence δ, at a family error that holds
over the whole seed race.

A workload is a dataset × model × noise level × validation protocol × selection (``KEYS``; a
frame without ``validation`` is "noisy", without ``selection`` "last"). Within one, runs of
different losses with the same seed share their initial weights, batch order and split, so the
per-seed difference x_i,s − x_j,s removes the seed's own effect.

The reference rule (``REFERENCE_RULE``): Hsu's multiple comparisons with the best (MCB,
:func:`bench.analysis.stats.mcb`). No loss is picked as the reference on the seeds that are then
tested against it (the winner's curse of "the best test mean"): every loss i gets a simultaneous
interval [lower, upper] for μ_i − max_{j≠i} μ_j, its gap to the best of the others, from all its
pairwise paired t statistics. Each statement is one-sided at α/(m · looks): m = K − 1, the losses
compared with the true best, and ``looks`` the seed counts the race can stop at (Bonferroni over
the planned looks: a pair at a look is always scored on seeds 0 .. n − 1 with n one of the
schedule's counts, so the union over every look and every pair has probability ≤ α). The
verdicts the report prints are made at one of those looks, and so fall under the same bound.

The rule (``VERDICTS``):

- ``worse``: upper < −δ (the loss is more than δ below some other loss), or every run failed;
- ``unstable``: the loss has a failed run (diverged, collapsed or at chance) and is not shown
  worse: never best, equivalent or recommended, and more seeds are not spent on it;
- ``equivalent``: lower > −δ (within δ of the best, whichever loss that is);
- ``best``: the highest mean among the losses with no failed run, when its lower > −δ too
  (otherwise it is ``undecided``; the ``best`` column names it either way);
- ``undecided``: anything else; these are the losses the race gives more seeds.

Failures are counted beside the verdict and left out of every mean and every pairing:
``diverged`` (no model), ``chance`` (a finished run scoring ≤ its ``chance`` column + CHANCE_TOL:
a constant predictor's score, see :func:`chance_level`) and ``collapsed`` (:func:`collapsed`: a
run below its loss's median by more than max(2δ, 5 MAD), on scores with the seed's own effect taken
out by one sweep of Tukey's median polish, MAD the workload's typical spread (median over its
losses of each one's MAD): the robust rule for bimodal seeds, on which no t
interval is right). A pair of losses whose differences have no spread (within
``NO_SPREAD``: two or five seeds that agree exactly) has no interval: it never makes a claim.

Margins (:func:`margin_for`): 0.5 points where the test set is fixed (never below the test
set's binomial standard error 0.5/√n); a practical margin of 1 point where the split, test set
included, is drawn per seed, since the test set's sampling error is then already in the paired
seed-to-seed variance.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from bench.analysis.stats import NO_SPREAD, mcb

KEYS = ["dataset", "model", "noise", "validation", "selection"]
# What a frame without the column is: a noisy validation split, the last epoch's score.
DEFAULTS = {"validation": "noisy", "selection": "last"}
VERDICTS = ("best", "equivalent", "worse", "undecided", "unstable")
# The family-wise error rate of a workload's verdicts over the whole race.
ALPHA = 0.05
REFERENCE_RULE = "mcb"
REFERENCE_TEXT = (
    "Hsu's multiple comparisons with the best: each loss's gap to the best of the others, "
    "Bonferroni over the losses compared and the race's looks; no loss is chosen as the "
    "reference on the seeds that test against it"
)
# The margin of practical equivalence where the test set is fixed: half an accuracy point.
MARGIN = 0.005
# A test set of n examples measures an accuracy with a binomial standard error of at most
# 0.5/√n: a fixed test set's margin is never narrower, max(MARGIN, MARGIN_SE/√n).
MARGIN_SE = 0.5
# Where each seed draws its own test set, its sampling error is in the seeds' variance: a
# practical margin of one point.
PRACTICAL = 0.01
# A finished run within this of a constant predictor's score is at chance: a failure.
CHANCE_TOL = 0.02
# Collapse: below the loss's median by more than max(COLLAPSE_MARGINS·δ, COLLAPSE_MADS·MAD),
# MAD scaled by MAD_SCALE to estimate a normal sd.
COLLAPSE_MARGINS = 2.0
COLLAPSE_MADS = 5.0
MAD_SCALE = 1.4826
SCORES = ("dataset", "model", "noise", "loss", "seed", "score", "diverged")
COLUMNS = tuple(
    "dataset model noise validation selection loss verdict margin diff lower upper seeds "
    "diverged collapsed chance paired compared no_spread p_equivalent score best sd "
    "seeds_needed looks candidate".split()
)


def margin_for(n_test: int, *, test_per_seed: bool = False) -> float:
    """The declared margin δ of a workload scored on ``n_test`` test examples, in accuracy:
    PRACTICAL (one point) where the test set is drawn per seed, else max(MARGIN, MARGIN_SE/√n)."""
    if not isinstance(n_test, (int, np.integer)) or isinstance(n_test, bool) or n_test < 1:
        raise ValueError(f"n_test must be a positive number of test examples, got {n_test!r}")
    if test_per_seed:
        return PRACTICAL
    return max(MARGIN, MARGIN_SE / math.sqrt(int(n_test)))


def test_per_seed(data) -> bool:
    """Whether a loaded :class:`bench.datasets.Dataset` draws its test set per seed (digits,
    breast_cancer, npz without a test file); a training subset drawn per seed with a fixed test
    set (fashion_mnist_subset) is not."""
    if getattr(data, "resplit", None) is None:
        return False
    one, two = data.for_seed(0), data.for_seed(1)
    return not (one.test_y.shape == two.test_y.shape and bool((one.test_x == two.test_x).all()))


test_per_seed.__test__ = False  # a function of the module, not a pytest test


def chance_level(test_y, metric: str) -> float:
    """The score of a constant predictor: 1/K under balanced accuracy; under accuracy, the share
    of the most frequent class of ``test_y`` (integer labels, K the classes seen)."""
    labels = np.asarray(test_y).ravel()
    counts = np.bincount(labels)
    if metric in ("balanced_acc", "balanced_accuracy"):
        return 1.0 / int((counts > 0).sum())
    if metric in ("accuracy", "test_acc"):
        return float(counts.max() / counts.sum())
    raise ValueError(f"metric must be accuracy or balanced_acc, got {metric!r}")


def looks(start: int, step: int, cap: int) -> int:
    """How many times a race from ``start`` seeds, ``step`` more a round, up to ``cap`` can judge:
    1 + ⌈(cap − start)/step⌉ (1 with no race: cap ≤ start)."""
    if cap <= start:
        return 1
    if step < 1:
        raise ValueError(f"a race needs a seed round (step) of at least 1, got {step!r}")
    return 1 + math.ceil((cap - start) / step)


def collapsed(values, margin: float, spread: float | None = None) -> np.ndarray:
    """Which of one loss's finished scores collapsed: x < median − max(2δ, 5·MAD). MAD is
    ``spread`` where given (the workload's typical MAD: the median over its losses, so that a
    loss with half its seeds collapsed is still seen), else this loss's own, each 1.4826 ·
    median |x − median|."""
    x = np.asarray(values, dtype=float)
    if len(x) < 3:
        return np.zeros(len(x), dtype=bool)
    middle = np.median(x)
    if spread is None:
        spread = mad(x)
    return x < middle - max(COLLAPSE_MARGINS * margin, COLLAPSE_MADS * spread)


def mad(values) -> float:
    """1.4826 · median |x − median x|: a normal sd, robust to up to half the values."""
    x = np.asarray(values, dtype=float)
    return float(MAD_SCALE * np.median(np.abs(x - np.median(x))))


def verdicts(
    scores: pd.DataFrame,
    margin: float,
    alpha: float = ALPHA,
    *,
    looks: int | Mapping[str, int] = 1,
    collapse: bool = True,
) -> pd.DataFrame:
    """Each loss of each workload against the best of the others, paired by seed (the module's
    rule).

    ``scores``: one row per run with columns dataset, model, noise, loss, seed, score (float;
    a diverged run's is ignored) and diverged (bool); optional ``validation``, ``selection``
    (keys), ``chance`` (the run's constant-predictor score) and ``entry`` (carried through).
    ``margin`` is δ in the score's units (:func:`margin_for`); ``alpha`` the family error of one
    workload over the race; ``looks`` the race's looks (:func:`looks`), one number or one per
    noise level; ``collapse`` False skips the collapse rule (for scores other than accuracy,
    e.g. times).

    Returns one row per (workload, loss), in the order first seen: ``verdict``, ``margin``,
    ``diff`` (mean over seeds paired with ``best``, the top-mean loss with no failure, of
    loss − best; 0 for it), ``lower``/``upper`` (the MCB interval of μ_loss − max_{other} μ; NaN
    where undefined), ``seeds`` (seeds run), ``diverged``/``chance``/``collapsed`` (failed
    seeds), ``paired`` (seeds paired with best), ``compared`` (m), ``no_spread`` (its pair with
    best has none), ``p_equivalent`` (the largest one-sided p of "more than δ below a
    candidate for best", × m · looks: equivalent ⇔ p_equivalent < α), ``score`` (mean over
    usable seeds), ``best``, ``sd`` (of the paired differences with best), ``seeds_needed`` (for
    an undecided loss, :func:`seeds_needed`), ``looks`` and ``candidate`` (in MCB's set G of
    losses that may be the best: the race gives these seeds too).

    Shape: scores (R, 7+) -> (L, 24+), L the distinct (workload, loss) pairs.
    """
    missing = [c for c in SCORES if c not in scores]
    if missing:
        raise ValueError(f"scores lacks column(s) {missing}; it needs {list(SCORES)}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number (e.g. 0.005), got {margin!r}")
    extra = ["entry"] if "entry" in scores else []
    frame = scores.copy()
    for key, value in DEFAULTS.items():
        frame[key] = frame[key].astype(str) if key in frame else value
    frame["chance_level"] = frame["chance"].astype(float) if "chance" in frame else -math.inf
    frame = frame[[*KEYS, "loss", "seed", "score", "diverged", "chance_level", *extra]]
    frame["diverged"] = frame["diverged"].astype(bool)
    frame["score"] = frame["score"].astype(float).where(~frame["diverged"])
    if frame.duplicated([*KEYS, "loss", "seed"]).any():
        raise ValueError(
            "scores has more than one row for some (workload, loss, seed); "
            "pass one final row per run"
        )
    out = []
    for key, group in frame.groupby(KEYS, sort=False):
        n_looks = _looks_of(looks, key[2])
        out.append(_workload(group, margin, alpha, n_looks, extra, collapse))
    if not out:
        return pd.DataFrame(columns=[*COLUMNS, *extra])
    return pd.concat(out, ignore_index=True)[[*COLUMNS, *extra]]


def _looks_of(looks, noise: str) -> int:
    n = looks.get(noise) if isinstance(looks, Mapping) else looks
    if n is None:
        raise ValueError(f"looks has no entry for noise level {noise!r}; give one per level")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"looks must be a positive whole number of looks, got {n!r}")
    return int(n)


def failures(group: pd.DataFrame, margin: float, collapse: bool = True) -> pd.Series:
    """Per run of one workload: "" (usable), "diverged", "chance" or "collapsed" (in that order
    of precedence; :func:`collapsed` on each loss's finished runs not at chance, with the seed's
    effect taken out by a median polish, and the workload's median MAD)."""
    kind = pd.Series("", index=group.index, dtype=object)
    kind[group["diverged"]] = "diverged"
    at_chance = ~group["diverged"] & (group["score"] <= group["chance_level"] + CHANCE_TOL)
    kind[at_chance] = "chance"
    if not collapse:
        return kind
    # the seed's own effect (a hard split, an unlucky start) lowers every loss: take it out
    # (one sweep of Tukey's median polish: each loss centred on its median, then each seed's
    # median over losses of those taken out)
    finished = group[kind == ""]
    centred = finished["score"] - finished.groupby("loss")["score"].transform("median")
    residual = centred - centred.groupby(finished["seed"]).transform("median")
    usable = residual.groupby(finished["loss"], sort=False)
    spreads = [mad(own) for _, own in usable if len(own) >= 3]
    spread = float(np.median(spreads)) if spreads else None
    for _, own in usable:
        kind[own.index[collapsed(own, margin, spread)]] = "collapsed"
    return kind


def _workload(group, margin, alpha, n_looks, extra, collapse=True) -> pd.DataFrame:
    group = group.assign(failure=failures(group, margin, collapse))
    usable = group["score"].where(group["failure"] == "")
    wide = group.assign(score=usable).pivot_table(
        index="seed", columns="loss", values="score", dropna=False, sort=False
    )
    losses = list(dict.fromkeys(group["loss"]))
    wide = wide.reindex(columns=losses)
    count = group.groupby("loss", sort=False)["failure"].value_counts().unstack(fill_value=0)
    count = count.reindex(index=losses, columns=["", "diverged", "chance", "collapsed"]).fillna(0)
    seeds = group.groupby("loss", sort=False)["seed"].nunique()
    failed = count[["diverged", "chance", "collapsed"]].sum(axis=1)
    # judged: losses with two or more usable seeds; the candidates for best come from those
    # among them with no failed run (a loss that fails on some seeds is never the answer)
    judged = [loss for loss in losses if count.loc[loss, ""] >= 2]
    members = [loss for loss in judged if failed[loss] == 0]
    x = wide[judged].to_numpy(dtype=float)
    compared = max(len(judged) - 1, 0)
    tail = alpha / (2 * max(compared, 1) * n_looks)
    diff, se, df, sd, spread = pairwise(x)
    inside = np.array([loss in members for loss in judged], dtype=bool)
    lower, upper, candidate = _bounds(diff, se, df, tail, inside)
    means = wide.mean()
    clean = [loss for loss in members if failed[loss] == 0]
    best = None
    if clean:
        best = min(clean, key=lambda loss: (-means[loss], loss))
    at = {loss: i for i, loss in enumerate(judged)}
    rows = []
    for loss in losses:
        row = {
            "loss": loss,
            "margin": margin,
            "seeds": int(seeds[loss]),
            "diverged": int(count.loc[loss, "diverged"]),
            "collapsed": int(count.loc[loss, "collapsed"]),
            "chance": int(count.loc[loss, "chance"]),
            "score": means[loss],
            "compared": compared,
            "best": best if best is not None else math.nan,
            "looks": n_looks,
            "candidate": False,
            "paired": 0,
            "diff": math.nan,
            "lower": math.nan,
            "upper": math.nan,
            "no_spread": False,
            "p_equivalent": math.nan,
            "sd": math.nan,
            "seeds_needed": math.nan,
        }
        i = at.get(loss)
        low = up = math.nan
        if i is not None:
            low, up = float(lower[i]), float(upper[i])
            row["candidate"] = bool(candidate[i])
            row["lower"], row["upper"] = (v if math.isfinite(v) else math.nan for v in (low, up))
            row["p_equivalent"] = _p_equivalent(
                i, diff, se, df, candidate, margin, compared, n_looks
            )
            if best is not None:
                b = at[best]
                pair = np.isfinite(x[:, i]) & np.isfinite(x[:, b])
                row["paired"] = int(pair.sum())
                row["diff"] = 0.0 if i == b else float(diff[i, b])
                row["sd"] = float(sd[i, b]) if i != b else math.nan
                row["no_spread"] = bool(i != b and row["paired"] > 1 and spread[i, b] < NO_SPREAD)
        elif best is not None and count.loc[loss, ""] == 1:
            row["paired"] = int(wide[[loss, best]].notna().all(axis=1).sum())
            row["diff"] = float((wide[loss] - wide[best]).mean())
        if count.loc[loss, ""] == 0:
            verdict = "worse"
        elif up < -margin:
            verdict = "worse"
        elif failed[loss] > 0:
            verdict = "unstable"
        elif low > -margin:
            verdict = "best" if loss == best else "equivalent"
        else:
            verdict = "undecided"
            if np.isfinite(row["sd"]) and not row["no_spread"]:
                row["seeds_needed"] = seeds_needed(
                    row["diff"], row["sd"], margin, max(compared, 1), alpha, looks=n_looks
                )
        rows.append({**row, "verdict": verdict})
    table = pd.DataFrame(rows)
    first = group.iloc[0]
    for key in KEYS:
        table[key] = first[key]
    if extra:
        table["entry"] = table["loss"].map(group.groupby("loss", sort=False)["entry"].first())
    return table


def _bounds(diff, se, df, tail, inside):
    """MCB (:func:`bench.analysis.stats.mcb`) among the losses ``inside`` (no failed run); a
    loss outside is bounded against the same candidates G: lower = min(0, min_{j∈G} minus_ij),
    upper = max_{j∈G} plus_ij (below every candidate or within δ of each). Returns lower,
    upper and whether each loss is a candidate, all (K,)."""
    k = len(inside)
    lower, upper = np.full(k, -np.inf), np.full(k, np.inf)
    candidate = np.zeros(k, dtype=bool)
    if not inside.any():
        return lower, upper, candidate
    idx = np.flatnonzero(inside)
    sub = np.ix_(idx, idx)
    lower[idx], upper[idx], candidate[idx] = mcb(diff[sub], se[sub], df[sub], tail)
    rivals = np.flatnonzero(candidate)
    for i in np.flatnonzero(~inside):
        ok = np.isfinite(se[i, rivals]) & np.isfinite(diff[i, rivals])
        if not ok.all():
            continue
        crit = scipy_stats.t.isf(tail, df[i, rivals])
        lower[i] = min(0.0, float(np.min(diff[i, rivals] - crit * se[i, rivals])))
        upper[i] = float(np.max(diff[i, rivals] + crit * se[i, rivals]))
    return lower, upper, candidate


def pairwise(x: np.ndarray):
    """The paired statistics of the columns of ``x`` (S seeds × K losses, NaN where a seed is
    missing or failed): per pair (i, j) over the seeds both have, the mean of x_i − x_j, its
    standard error, degrees of freedom n − 1, sd and range (max − min). NaN where fewer than two
    seeds pair; se and df NaN where the differences have no spread (below NO_SPREAD).

    Shape: x (S, K) -> five (K, K) arrays."""
    d = x[:, :, None] - x[:, None, :]
    n = np.isfinite(d).sum(0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.where(n > 0, np.nanmean(d, axis=0), np.nan)
        sd = np.where(n > 1, np.nanstd(d, axis=0, ddof=1), np.nan)
        spread = np.where(n > 0, np.nanmax(d, axis=0) - np.nanmin(d, axis=0), np.nan)
    defined = (n > 1) & (spread >= NO_SPREAD)
    se = np.where(defined, sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, se, np.where(defined, n - 1.0, np.nan), sd, spread


def _p_equivalent(i, diff, se, df, candidate, margin, compared, n_looks) -> float:
    """max over the candidates j ≠ i of P(t_df > (diff_ij + δ)/se_ij), the one-sided p of
    "μ_i − μ_j ≤ −δ", × 2 · m · looks, at most 1; 0 where i is the only candidate."""
    rivals = [j for j in range(len(candidate)) if j != i and candidate[j]]
    if not rivals:
        return 0.0 if candidate[i] else math.nan
    p = []
    for j in rivals:
        if not (np.isfinite(se[i, j]) and np.isfinite(df[i, j])):
            return math.nan
        p.append(scipy_stats.t.sf((diff[i, j] + margin) / se[i, j], df[i, j]))
    return min(1.0, float(max(p)) * 2 * max(compared, 1) * n_looks)


def seeds_needed(
    diff: float,
    sd: float,
    margin: float,
    compared: int,
    alpha: float = ALPHA,
    most: int = 1000,
    *,
    looks: int = 1,
) -> float:
    """The fewest seeds whose bound against the best would decide a loss if its mean paired
    difference and sd stayed ``diff`` and ``sd``: the smallest n with
    t_{1−α/(m·looks), n−1} · sd / √n < | |diff| − δ |. A planning figure (the MCB interval also
    pairs the loss with the other candidates), not a promise; inf when |diff| = δ or more than
    ``most`` are needed."""
    room = abs(abs(diff) - margin)
    if not (room > 0 and math.isfinite(sd)):
        return math.inf
    n = np.arange(2, most + 1)
    half = scipy_stats.t.isf(alpha / (compared * looks), n - 1) * sd / np.sqrt(n)
    enough = n[half < room]
    return float(enough[0]) if len(enough) else math.inf
