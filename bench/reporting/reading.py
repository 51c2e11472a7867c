"""Reading the results: the best and worst loss, the spread, the fastest and slowest step, the
verdicts against the best at each noise level, robustness to label noise and the unstable
losses, in a few lines (facts here, words in ``templates/reading.md.j2``)."""

from __future__ import annotations

import pandas as pd

from bench.analysis import tables
from bench.reporting import answer, claims, prose
from bench.reporting.workload import Workload
from bench.training.config import TRAINER

UNSTABLE = 3  # a loss whose seed sd exceeds this many times the median sd is called out
METRIC_WORDS = {"test_acc": "test accuracy", "balanced_acc": "balanced accuracy"}
ORDER = ("best", "equivalent", "undecided", "worse", "unstable")
# What a verdict frame without the column holds (bench.analysis.verdicts.DEFAULTS).
DEFAULT_VARIANT = {"validation": "noisy", "selection": "last"}


def verdicts(w: Workload) -> pd.DataFrame:
    """The verdict frame of ``w`` (the rows it has in OUT/answer.csv, computed by
    :func:`bench.reporting.answer.verdict_frame`): one row per (noise, validation, selection,
    loss) with ``verdict`` best / equivalent / worse / undecided / unstable at the margin
    ``margin``; empty when no loss ran the seeds a verdict needs.

    Shape: -> (variants × losses, len(schema.ANSWER))."""
    gathered = answer.gather([w])
    if gathered is None:
        return pd.DataFrame()
    final, rows, info = gathered
    return answer.verdict_frame(final, info, rows)  # with rows: the early-stopped scores too


def variant_words(validation: str, selection: str) -> str:
    """How a verdict variant differs from the default (a noisy validation split, the last
    epoch's score); "" for the default."""
    words = []
    if validation != DEFAULT_VARIANT["validation"]:
        size = validation.split(":", 1)[1] if ":" in validation else ""
        words.append(f"{validation}: validated on {size} held-out true labels")
    if selection != DEFAULT_VARIANT["selection"]:
        words.append("scored at the epoch early stopping chose")
    return "; ".join(words)


def verdict_lines(frame: pd.DataFrame) -> list[dict]:
    """Per noise level of a verdict frame (clean first) and, within it, per variant (validation
    protocol × selection, the default noisy/last first, each other variant a line of its own):
    the best entry (None where MCB declares none), ``top`` the entry with the highest mean (the
    frame's ``best`` column; None where every loss failed), the metric, the margin and the
    entries by verdict (``equivalent``, ``undecided``, ``worse``, ``unstable``, in frame order:
    the best mean score first), and ``variant`` (words; "" for the default)."""
    if frame.empty:
        return []
    named = frame.assign(
        entry=frame["entry"].where(frame["entry"].astype(str) != "", frame["loss"])
    )
    for column, default in DEFAULT_VARIANT.items():
        named[column] = named[column].astype(object).fillna(default) if column in named else default

    def order(key):
        level, validation, selection = key
        return (
            answer.noise_order(level),
            validation != DEFAULT_VARIANT["validation"],
            validation,
            selection != DEFAULT_VARIANT["selection"],
            selection,
        )

    keys = named[["noise", "validation", "selection"]].drop_duplicates().itertuples(index=False)
    result = []
    for level, validation, selection in sorted(map(tuple, keys), key=order):
        mine = named[
            (named["noise"] == level)
            & (named["validation"] == validation)
            & (named["selection"] == selection)
        ]
        by = {v: mine.loc[mine["verdict"] == v, "entry"].tolist() for v in ORDER}
        top = None
        if "best" in mine and mine["best"].notna().any():
            at = mine.loc[mine["loss"] == mine["best"].dropna().iloc[0], "entry"]
            top = at.iloc[0] if len(at) else mine["best"].dropna().iloc[0]
        result.append(
            {
                "noise": level,
                "variant": variant_words(validation, selection),
                "best": by["best"][0] if by["best"] else None,
                "top": top,
                "metric": METRIC_WORDS.get(mine["metric"].iloc[0], mine["metric"].iloc[0]),
                "margin": float(mine["margin"].iloc[0]),
                **{v: by[v] for v in ORDER[1:]},
            }
        )
    return result


def facts(w: Workload) -> dict | None:
    """What the section states; None when no loss of ours finished a clean run and no noise
    level has verdicts (``best``/``worst`` are None in a folder of noisy levels only)."""
    mine = w.accuracy[w.accuracy["trainer"] == TRAINER].dropna(subset=["test_acc"])
    lines = verdict_lines(verdicts(w))
    if mine.empty and not lines:
        return None
    spread = mine.groupby("device")["test_acc"].agg(["max", "min"])
    steps = []
    for device, group in w.speed[w.speed["trainer"] == TRAINER].groupby("device"):
        fast, slow = group.loc[group["step_us"].idxmin()], group.loc[group["step_us"].idxmax()]
        steps.append({"device": device, "fast": fast, "slow": slow})
    noisy = tables.noise(w.final)
    noisy = noisy[noisy["noise"].str.startswith("sym:")]
    robust = None
    if not noisy.empty:
        level = max(noisy["noise"], key=lambda n: float(n.split(":")[1]))
        at = noisy[noisy["noise"] == level].sort_values("test_acc", ascending=False)
        robust = {"level": level, "most": at.iloc[0], "least": at.iloc[-1]}
    return {
        "best": mine.iloc[0] if len(mine) else None,
        "worst": mine.iloc[-1] if len(mine) else None,
        "spread": [{"device": d, "span": row["max"] - row["min"]} for d, row in spread.iterrows()],
        "steps": steps,
        "diverged": list(w.final[w.final["status"] == "diverged"].itertuples()),
        "verdicts": lines,
        "robust": robust,
        "unstable": list(
            mine[mine["test_acc_std"] > UNSTABLE * mine["test_acc_std"].median()].itertuples()
        ),
    }


def section(w: Workload) -> str:
    found = facts(w)
    if found is None:
        return ""
    return prose.render("reading", **found) + "\n\n" + claims.section(w)
