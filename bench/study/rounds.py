"""Seeds in rounds, as racing methods spend them: where a verdict is still open, not evenly.

Every loss of a workload first trains its minimum seeds (``--seeds`` on clean labels,
``--noise-seeds`` on noisy ones). Then, round by round, the losses whose verdict against the
workload's best is still ``undecided`` get ``step`` more seeds, and so does the best (verdicts
are paired by seed), up to ``cap``; a loss decided ``equivalent`` or ``worse`` gets none. A
round is planned from the finished runs of the rounds before it only, so a study killed
mid-round replays the same plan and resumes it: no finished run is lost or trained twice.

The verdict function is an argument (``bench.analysis.verdicts.verdicts`` by default):
``verdicts(scores, margin) -> frame`` with one row per (dataset, model, noise, loss) and a
``verdict`` in {best, equivalent, worse, undecided}; ``scores`` has the columns of SCORES.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pandas as pd

from bench.training.config import TRAINER

SCORES = ("dataset", "model", "noise", "loss", "seed", "score", "diverged")
# A key of the plan: (noise level, suite entry) -> how many seeds (0 .. n − 1) it trains.
Plan = dict[tuple[str, str], int]
Verdicts = Callable[[pd.DataFrame, float], pd.DataFrame]


def default_verdicts() -> tuple[Verdicts, Callable[[int], float]] | None:
    """(verdicts, margin_for) of bench.analysis.verdicts, or None where it is not installed
    (then no round goes beyond the minimum seeds, with a warning)."""
    try:
        from bench.analysis import verdicts
    except ImportError:
        return None
    return verdicts.verdicts, verdicts.margin_for


def first(levels: list[str], entries: list[str], *, clean: int, noisy: int) -> Plan:
    """The minimum seeds: ``clean`` at noise "none", ``noisy`` at every other level."""
    return {
        (level, entry): clean if level == "none" else noisy for level in levels for entry in entries
    }


def scores(rows: list[dict], plan: Plan, metric: str) -> pd.DataFrame:
    """The SCORES frame of the planned runs among results rows (our trainer's, final epoch or
    diverged): ``loss`` is the run's entry, ``score`` its final ``metric`` (test_acc or
    balanced_acc), NaN where it diverged."""
    out = []
    for row in rows:
        entry = row.get("entry") or row["loss"]
        seeds = plan.get((row["noise"], entry), 0)
        if row["trainer"] != TRAINER or int(row["seed"]) >= seeds:
            continue
        diverged = row["status"] == "diverged"
        if not diverged and int(row["epoch"]) != int(row["epochs"]):
            continue
        out.append(
            {
                "dataset": row["dataset"],
                "model": row["model"],
                "noise": row["noise"],
                "loss": entry,
                "seed": int(row["seed"]),
                "diverged": diverged,
                "score": float("nan") if diverged else float(row[metric]),
            }
        )
    return pd.DataFrame(out, columns=list(SCORES))


def next_plan(
    plan: Plan, frame: pd.DataFrame, verdicts: Verdicts, margin: float, *, step: int, cap: int
) -> Plan:
    """The plan after one more round: at each noise level with an ``undecided`` loss, the
    undecided losses and the best go to min(cap, the level's most seeds + step) seeds; the
    rest keep theirs. The same plan back means the race is over."""
    new = dict(plan)
    if frame.empty:
        return new
    judged = verdicts(frame, margin)
    for level, group in judged.groupby("noise"):
        open_ = set(group.loc[group["verdict"] == "undecided", "loss"])
        if not open_:
            continue
        most = max(n for (lv, _), n in plan.items() if lv == level)
        target = min(cap, most + step)
        for entry in open_ | set(group.loc[group["verdict"] == "best", "loss"]):
            if (level, entry) in new:
                new[(level, entry)] = max(new[(level, entry)], target)
    return new


def race(
    train: Callable[[Plan], list[dict]],
    plan: Plan,
    *,
    metric: str,
    step: int,
    cap: int,
    verdicts: tuple[Verdicts, Callable[[int], float]] | None,
    n_test: int,
) -> Plan:
    """Train ``plan`` (``train(plan)`` trains what is missing and returns results.csv's rows),
    then round after round the seeds :func:`next_plan` adds, until no verdict is undecided or
    every open one is at ``cap``. Returns the last plan."""
    rows = train(plan)
    if cap <= max(plan.values(), default=0):
        return plan
    if verdicts is None:
        warnings.warn(
            "bench.analysis.verdicts is not available: no seeds beyond the minimum", stacklevel=2
        )
        return plan
    judge, margin_for = verdicts
    while True:
        new = next_plan(
            plan, scores(rows, plan, metric), judge, margin_for(n_test), step=step, cap=cap
        )
        if new == plan:
            return plan
        plan = new
        rows = train(plan)
