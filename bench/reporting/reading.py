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
ORDER = ("best", "equivalent", "undecided", "worse")


def verdicts(w: Workload) -> pd.DataFrame:
    """The verdict frame of ``w`` (the rows it has in OUT/answer.csv, computed by
    :func:`bench.reporting.answer.verdict_frame`): one row per (noise, loss) with ``verdict``
    best / equivalent / worse / undecided against the level's best at the margin ``margin``;
    empty when no loss ran the seeds a verdict needs.

    Shape: -> (noise levels × losses, len(schema.ANSWER))."""
    gathered = answer.gather([w])
    if gathered is None:
        return pd.DataFrame()
    final, _, info = gathered
    return answer.verdict_frame(final, info)


def verdict_lines(frame: pd.DataFrame) -> list[dict]:
    """Per noise level of a verdict frame (clean first): the best entry, the metric, the margin
    and the entries by verdict (``equivalent``, ``undecided``, ``worse``, in frame order: the
    best mean score first)."""
    if frame.empty:
        return []
    named = frame.assign(
        entry=frame["entry"].where(frame["entry"].astype(str) != "", frame["loss"])
    )
    result = []
    for level in sorted(named["noise"].unique(), key=answer.noise_order):
        mine = named[named["noise"] == level]
        by = {v: mine.loc[mine["verdict"] == v, "entry"].tolist() for v in ORDER}
        result.append(
            {
                "noise": level,
                "best": by["best"][0] if by["best"] else None,
                "metric": METRIC_WORDS.get(mine["metric"].iloc[0], mine["metric"].iloc[0]),
                "margin": float(mine["margin"].iloc[0]),
                **{v: by[v] for v in ("equivalent", "undecided", "worse")},
            }
        )
    return result


def facts(w: Workload) -> dict | None:
    """What the section states; None when no loss of ours finished a clean run."""
    mine = w.accuracy[w.accuracy["trainer"] == TRAINER].dropna(subset=["test_acc"])
    if mine.empty:
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
        "best": mine.iloc[0],
        "worst": mine.iloc[-1],
        "spread": [{"device": d, "span": row["max"] - row["min"]} for d, row in spread.iterrows()],
        "steps": steps,
        "diverged": list(w.final[w.final["status"] == "diverged"].itertuples()),
        "verdicts": verdict_lines(verdicts(w)),
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
