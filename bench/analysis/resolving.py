"""What tuning could see: the resolving power of a validation split, in clean-accuracy points,
and how well the screening rung ranks settings as full training does.

A validation score s on n held-out examples has the binomial standard error √(s(1 − s)/n)
(also used, as an approximation, for balanced accuracy). Scored on noisy labels, s moves with
the clean accuracy a by a slope b = ds/da:

- ``sym:ρ`` with K classes (exact): s = (1 − ρ)·a + ρ/(K − 1)·(1 − a), so b = 1 − ρK/(K − 1):
  0.56 at sym:0.4, 0.11 at sym:0.8 (K = 10).
- ``pairs:ρ``: b = 1 − fρ(1 + m), f the share of examples in paired classes, m the share of
  their errors that land on the partner; ``idn:ρ``: no closed form. Both are estimated
  empirically (:func:`noise_slope`): a ridge classifier fitted on the clean training part is
  mixed with a perfect one, and b is the ratio of the two endpoints' noisy and clean accuracies
  on the held-out examples, (1 − ρ̂ − s_r)/(1 − a_r).
- trusted labels (``trusted:N``): b = 1.

So one standard error is se/b clean points, and two settings are told apart (a two-sided 95%
test on two independent scores) when their clean accuracies differ by more than
``RESOLVE_Z·√2·se/b`` (:data:`RESOLVE_Z` = 1.96): that is each level's ``resolvable``
difference. Tuning is *blind* where the five best settings of the screen lie within
:data:`BLIND_SE` standard errors of each other and a standard error is worth at least
:data:`BLIND_CLEAN` of clean accuracy: the winner was drawn by chance among settings that may
differ by more than the verdicts' margin. A score of 0 or 1 gets the standard error of half an
example, √(s(1 − s)/n) with s kept within [1/(2n), 1 − 1/(2n)].

The screening horizon: on the candidates that ran in full (the ``keep`` best of each loss's
screen), the Spearman rank correlation between screen and final scores, pooled over the level's
losses (``rho_pooled``, which also reflects differences between losses) and within each loss
(``rho_within``, the mean over losses of their own candidates' correlation), and the share of
losses whose screen-best candidate also won in full (``screen_best_won``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy import stats

from bench import schema
from bench.datasets import VALIDATION_FRACTION, Dataset, noise
from bench.datasets import validation as protocols

# z of a two-sided 95% test: settings whose clean accuracies differ by more than
# RESOLVE_Z·√2 standard errors (in clean points) are told apart by the validation split.
RESOLVE_Z = 1.96
# Tuning was blind where the five best settings of the screen lie within BLIND_SE standard
# errors of each other AND one standard error spans at least BLIND_CLEAN of clean accuracy
# (the verdicts' margin on a fixed test set, 0.5 points): the winner was drawn by chance among
# settings whose clean accuracies may differ by more than the verdicts resolve. (On clean
# Fashion-MNIST a rate grid's plateau puts five rates within a standard error, 0.36 points:
# a tie that costs nothing.)
BLIND_SE = 1.0
BLIND_CLEAN = 0.005
TOP = 5
# A ridge classifier's penalty (on standardised inputs): the proxy of the empirical slope.
RIDGE = 1.0
WORKLOAD = ["dataset", "model", "validation", "noise"]


def sym_slope(rate: float, num_classes: int) -> float:
    """ds/da under symmetric noise at ``rate`` with ``num_classes`` classes: 1 − ρK/(K − 1)."""
    return 1.0 - rate * num_classes / (num_classes - 1)


def noise_slope(data: Dataset, level: str, spec: str = "noisy") -> tuple[float, str]:
    """(slope of the validation score in clean accuracy, how it was found) for the validation
    split of ``data`` under noise ``level`` and protocol ``spec``: 1 for trusted labels or clean
    data; the closed form for sym ("exact"); else the ridge-proxy estimate ("empirical")."""
    kind, rate = noise.parse(level)
    if protocols.is_trusted(spec) or kind == "none" or rate == 0:
        return 1.0, "exact"
    if kind == "sym":
        return sym_slope(rate, data.num_classes), "exact"
    return empirical_slope(data, level), "empirical"


def empirical_slope(data: Dataset, level: str) -> float:
    """ds/da estimated on the noisy validation split of ``data`` at ``level`` (seed 0, as
    tuning draws it): a ridge classifier r fitted to the clean labels of the training part
    (accuracy a_r, noisy-label accuracy s_r on the held-out examples) mixed with a perfect one
    (1, 1 − ρ̂): b = (1 − ρ̂ − s_r)/(1 − a_r). NaN where r is perfect (nothing to mix)."""
    part = protocols.holdout(data.to("cpu"), "noisy", level)
    clean = data.train_y.cpu()[part.held]
    mean = part.train.train_x.mean(0)
    scale = part.train.train_x.std(0).clamp_min(1e-6)

    def design(x):
        x = (x - mean) / scale
        return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)

    x = design(part.train.train_x)
    targets = torch.nn.functional.one_hot(part.clean_y, data.num_classes).to(x.dtype)
    # the Gram matrix in float32 (one GEMM), solved in float64
    gram = (x.T @ x).double() + RIDGE * torch.eye(x.shape[1], dtype=torch.float64)
    weights = torch.linalg.solve(gram, (x.T @ targets).double()).to(x.dtype)
    predicted = (design(part.val_x) @ weights).argmax(1)
    clean_acc = (predicted == clean).double().mean().item()
    noisy_acc = (predicted == part.val_y).double().mean().item()
    kept = (part.val_y == clean).double().mean().item()
    return math.nan if clean_acc > 0.999 else (kept - noisy_acc) / (1.0 - clean_acc)


def validation_size(
    data: Dataset, spec: str, level: str, fraction: float = VALIDATION_FRACTION
) -> int:
    """How many held-out examples score a trial under protocol ``spec`` at ``level``."""
    return len(protocols.holdout(data, spec, level, fraction=fraction).held)


def _rungs(group: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(screen, final) trials of one search: the shortest and the longest epochs (the same
    frame twice when there was no screen)."""
    epochs = group["epochs"].astype(int)
    return group[epochs == epochs.min()], group[epochs == epochs.max()]


def _spread(scores: pd.Series) -> float:
    scores = scores.dropna()
    return float(scores.max() - scores.min()) if len(scores) > 1 else math.nan


def frame(tuning: pd.DataFrame, slopes: dict, sizes: dict) -> pd.DataFrame:
    """One row per (dataset, model, validation, noise, entry) search of ``tuning`` (tuning.csv
    rows): the winner (``loss``, ``lr``, ``val_score``), its standard error ``se`` on ``n_val``
    examples, the ``slope`` (and ``slope_source``) to clean accuracy, ``se_clean`` = se/slope,
    the spreads of the final rung's candidates and of the screen's five best (in score and in
    standard errors), the ``resolvable`` clean-accuracy difference and ``blind``.

    ``slopes`` maps (dataset, validation, noise) -> (slope, source); ``sizes`` (dataset,
    validation, noise) -> n_val. Searches whose key is missing from them are left out.
    Scores are fractions (0.84, not 84)."""
    tuning = _with_defaults(tuning)
    rows = []
    for (dataset, model, spec, level, entry), group in tuning.groupby(
        [*WORKLOAD, "entry"], sort=False
    ):
        key = (dataset, spec, level)
        if key not in slopes or key not in sizes:
            continue
        screen, final = _rungs(group)
        final = final[final["status"] == "ok"]
        if final.empty:
            continue
        ranked = final.sort_values(["val_score", "lr"], ascending=[False, True], kind="stable")
        winner = ranked.iloc[0]
        score, n_val = float(winner["val_score"]), int(sizes[key])
        slope, source = slopes[key]
        edge = 1 / (2 * n_val)
        kept = min(max(score, edge), 1 - edge)
        se = math.sqrt(kept * (1 - kept) / n_val)
        top = screen.loc[screen["status"] == "ok", "val_score"].nlargest(TOP)
        final_spread, top_spread = _spread(final["val_score"]), _spread(top)
        se_clean = se / abs(slope) if slope else math.inf
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "validation": spec,
                "noise": level,
                "entry": entry,
                "loss": winner["loss"],
                "lr": float(winner["lr"]),
                "metric": winner["metric"],
                "val_score": score,
                "n_val": n_val,
                "se": se,
                "slope": slope,
                "slope_source": source,
                "se_clean": se_clean,
                "final_count": len(final),
                "final_spread": final_spread,
                "final_spread_se": final_spread / se,
                "final_spread_clean": final_spread / abs(slope) if slope else math.inf,
                "top5_spread": top_spread,
                "top5_spread_se": top_spread / se,
                "resolvable": RESOLVE_Z * math.sqrt(2) * se_clean,
                "blind": len(top) >= TOP and top_spread / se < BLIND_SE and se_clean >= BLIND_CLEAN,
            }
        )
    return pd.DataFrame(rows, columns=list(schema.RESOLVING))


def by_level(resolving: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, validation, noise): the median over losses of the clean-accuracy
    difference the tuning could resolve, of a standard error in clean points and of the screen's
    five-best spread in standard errors; the losses searched and how many were tuned blind."""
    if resolving.empty:
        return pd.DataFrame(columns=[*WORKLOAD, "losses", "blind", "resolvable", "se_clean"])
    return (
        resolving.groupby(WORKLOAD, sort=False)
        .agg(
            losses=("entry", "size"),
            blind=("blind", "sum"),
            slope=("slope", "median"),
            se_clean=("se_clean", "median"),
            resolvable=("resolvable", "median"),
            top5_spread_se=("top5_spread_se", "median"),
        )
        .reset_index()
    )


def screen_ranks(tuning: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, validation, noise) with a screen: the Spearman correlation of
    screen and final scores over the candidates that ran in full, pooled (``rho_pooled``) and
    within each loss (``rho_within``, mean over losses with ≥ 3 usable candidates), and the share
    of losses whose screen-best candidate won in full (``screen_best_won``)."""
    tuning = _with_defaults(tuning)
    rows = []
    for key, level in tuning.groupby(WORKLOAD, sort=False):
        pairs, within, won = [], [], []
        for _, group in level.groupby("entry", sort=False):
            screen, final = _rungs(group)
            if screen["epochs"].iloc[0] == final["epochs"].iloc[0]:  # no screen
                continue
            both = final.merge(screen, on=["loss", "lr"], suffixes=("_final", "_screen"))
            both = both[(both["status_final"] == "ok") & (both["status_screen"] == "ok")]
            both = both.dropna(subset=["val_score_final", "val_score_screen"])
            if len(both) < 2:
                continue
            pairs.append(both[["val_score_screen", "val_score_final"]])
            won.append(both["val_score_screen"].idxmax() == both["val_score_final"].idxmax())
            varied = min(both["val_score_final"].nunique(), both["val_score_screen"].nunique())
            if len(both) >= 3 and varied > 1:
                rho = stats.spearmanr(both["val_score_screen"], both["val_score_final"])[0]
                if not math.isnan(rho):
                    within.append(rho)
        if not pairs:
            continue
        pooled = pd.concat(pairs)
        constant = min(pooled[c].nunique() for c in ("val_score_screen", "val_score_final")) < 2
        rows.append(
            {
                **dict(zip(WORKLOAD, key, strict=True)),
                "screen_epochs": int(level["epochs"].astype(int).min()),
                "full_epochs": int(level["epochs"].astype(int).max()),
                "losses": len(pairs),
                "candidates": len(pooled),
                "rho_pooled": math.nan  # a rank correlation of a constant is not defined
                if constant
                else float(
                    stats.spearmanr(pooled["val_score_screen"], pooled["val_score_final"])[0]
                ),
                "rho_within": float(np.mean(within)) if within else math.nan,
                "screen_best_won": float(np.mean(won)),
            }
        )
    return pd.DataFrame(rows, columns=list(schema.SCREENING))


def _with_defaults(tuning: pd.DataFrame) -> pd.DataFrame:
    """tuning.csv rows as a frame with numbers typed and ``validation`` "noisy" where absent."""
    tuning = tuning.copy()
    if "validation" not in tuning:
        tuning["validation"] = protocols.DEFAULT
    tuning["validation"] = tuning["validation"].fillna(protocols.DEFAULT)
    for column in ("epochs", "lr", "val_score"):
        tuning[column] = pd.to_numeric(tuning[column], errors="coerce")
    return tuning
