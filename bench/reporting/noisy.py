"""Both answers per noisy workload: the verdicts on the last epoch's score and on the
early-stopped one, under a noisy validation split and under trusted labels; where early stopping
closes a loss's gap; and where tuning was blind (its validation split could not tell the best
settings apart). Facts only: ``templates/answer.md.j2`` words them.
"""

from __future__ import annotations

import math

import pandas as pd

from bench.analysis import profiles, resolving
from bench.reporting import scenarios

KEYS = profiles.KEYS
VARIANT = list(scenarios.VARIANT)


def top(group: pd.DataFrame) -> pd.DataFrame:
    """The row of a workload's top-mean loss (its ``best`` column; with Hsu's MCB its verdict
    may still be undecided), or of the loss with verdict best; empty when neither is there."""
    named = group[group["loss"] == group["best"]] if "best" in group else group.iloc[:0]
    return named if len(named) else group[group["verdict"] == "best"]


def answers(answer: pd.DataFrame) -> list[dict]:
    """Per noisy workload with more than one answer (validation protocol × score): each
    answer's words, the best setting and score, and the families best or equivalent."""
    out = []
    noisy = answer[answer["noise"] != "none"]
    for key, group in noisy.groupby(KEYS, sort=False):
        answers = []
        for (validation, selection), mine in group.groupby(VARIANT, sort=False):
            best = top(mine)
            answers.append(
                {
                    **scenarios.variant_words(validation, selection),
                    "best": best["loss"].iloc[0] if len(best) else None,
                    "score": float(best["score"].iloc[0]) if len(best) else math.nan,
                    "equivalent": mine.loc[mine["verdict"] == "equivalent", "entry"].tolist(),
                }
            )
        if len(answers) > 1:
            out.append({"workload": scenarios.workload_name(key), "answers": answers})
    return out


def closed_by_early_stopping(answer: pd.DataFrame) -> list[dict]:
    """Where early stopping closes the gap: per noisy workload and validation protocol, the
    families worse than the best at the last epoch but best or equivalent when early-stopped,
    with their gap (points of score) under each."""
    out = []
    key = [*KEYS, "validation", "entry"]
    last = answer[answer["selection"] == "last"]
    stopped = answer[answer["selection"] == "early_stopped"]
    both = last.merge(stopped, on=key, suffixes=("_last", "_stopped")).set_index(key)
    closed = both[
        (both["verdict_last"] == "worse") & both["verdict_stopped"].isin(["best", "equivalent"])
    ]
    ordered = sorted(
        closed.iterrows(), key=lambda kv: scenarios.variant_order(kv[0][3], "validation")
    )
    for (dataset, model, noise, validation, entry), r in ordered:
        out.append(
            {
                "workload": scenarios.workload_name((dataset, model, noise)),
                "validation": scenarios.variant_words(validation, "last")["validation"],
                "entry": entry,
                "gap_last": float(r["diff_last"]),
                "gap_stopped": float(r["diff_stopped"]),
                "verdict_stopped": r["verdict_stopped"],
            }
        )
    return out


def tuned_blind(searches: pd.DataFrame) -> list[dict]:
    """Per workload and validation protocol where some loss was tuned blind (its screen's five
    best settings within ``resolving.BLIND_SE`` standard errors of the validation score, each
    worth at least ``resolving.BLIND_CLEAN`` of clean accuracy): how many of its losses, the
    median spread of their five best in standard errors, and the clean-accuracy difference the
    split could resolve (median over losses)."""
    if searches.empty:
        return []
    levels = resolving.by_level(searches)
    out = []
    for r in levels[levels["blind"] > 0].itertuples():
        out.append(
            {
                "workload": scenarios.workload_name((r.dataset, r.model, r.noise)),
                # on clean labels a noisy split is a clean one: no protocol to name
                "validation": ""
                if r.noise == "none" and r.validation == "noisy"
                else scenarios.variant_words(r.validation, "last")["validation"],
                "blind": int(r.blind),
                "losses": int(r.losses),
                "spread_se": float(r.top5_spread_se),
                "resolvable": float(r.resolvable),
            }
        )
    return out
