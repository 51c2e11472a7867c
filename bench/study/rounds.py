"""Seeds in rounds, as racing methods spend them: where a verdict is still open, not evenly.

Every loss of a workload first trains its minimum seeds (``--seeds`` on clean labels,
``--noise-seeds`` on noisy ones). Then, round by round, at each (noise level, validation
protocol) where a verdict is still ``undecided``, the undecided losses get ``step`` more seeds,
and so do the candidates for best (the verdicts' ``candidate`` column, MCB's set G, and the
``best``: verdicts are paired by seed, and an undecided loss is judged against every
candidate), up to ``cap``; a loss decided ``equivalent``, ``worse`` or ``unstable`` and no
candidate gets none. A round is planned from the finished runs of the rounds before it only, so
a study killed mid-round replays the same plan and resumes it: no finished run is lost or
trained twice.

The race judges the last epoch's score (``selection`` "last"), also where runs record an early-
stopped score: the early-stopped verdicts are made afterwards, on the seeds the race chose.
Every look spends part of α: the verdicts are called with ``looks`` = :func:`looks` of each
level's schedule, the same number the report's verdicts use.

The verdict function is an argument (``bench.analysis.verdicts.verdicts`` by default):
``verdicts(scores, margin, looks=...) -> frame`` with one row per (dataset, model, noise, loss)
and a ``verdict`` in {best, equivalent, worse, undecided, unstable}; ``scores`` has the columns
of SCORES.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pandas as pd

from bench.training.config import TRAINER

SCORES = (
    "dataset",
    "model",
    "noise",
    "validation",
    "selection",
    "loss",
    "seed",
    "score",
    "diverged",
)
# A key of the plan: (noise level, suite entry) -> how many seeds (0 .. n − 1) it trains.
Plan = dict[tuple[str, str], int]
Verdicts = Callable[[pd.DataFrame, float], pd.DataFrame]


def looks(start: int, step: int, cap: int) -> int:
    """How many times a race from ``start`` seeds, ``step`` more a round, up to ``cap`` judges:
    1 + ⌈(cap − start)/step⌉; 1 where there is no race (cap ≤ start)."""
    if cap <= start:
        return 1
    return 1 + math.ceil((cap - start) / max(step, 1))


def level_looks(plan: Plan, step: int, cap: int) -> dict[str, int]:
    """The looks of each noise level of a first plan (its fewest seeds are the level's start)."""
    starts: dict[str, int] = {}
    for (level, _), n in plan.items():
        starts[level] = min(n, starts.get(level, n))
    return {level: looks(start, step, cap) for level, start in starts.items()}


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


def scores(rows: list[dict], plan: Plan, metric: str, chance: float | None = None) -> pd.DataFrame:
    """The SCORES frame of the planned runs among results rows (our trainer's, final epoch or
    diverged): ``loss`` is the run's entry, ``score`` its last epoch's ``metric`` (test_acc or
    balanced_acc; ``selection`` "last"), NaN where it diverged; ``validation`` the run's
    protocol ("noisy" where the row has none); ``chance`` (the constant predictor's score)
    where given."""
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
                "validation": row.get("validation") or "noisy",
                "selection": "last",
                "loss": entry,
                "seed": int(row["seed"]),
                "diverged": diverged,
                "score": float("nan") if diverged else float(row[metric]),
            }
        )
    frame = pd.DataFrame(out, columns=list(SCORES))
    if chance is not None:
        frame["chance"] = chance
    return frame


def next_plan(
    plan: Plan,
    frame: pd.DataFrame,
    verdicts: Verdicts,
    margin: float,
    *,
    step: int,
    cap: int,
    looks: int | dict[str, int] = 1,
) -> Plan:
    """The plan after one more round: at each (noise level, validation) with an ``undecided``
    loss, the undecided losses, the candidates for best and the best go to min(cap, the level's
    most seeds + step) seeds; the rest keep theirs. The same plan back means the race is over."""
    new = dict(plan)
    if frame.empty:
        return new
    judged = verdicts(frame, margin, looks=looks)
    by = ["noise", "validation"] if "validation" in judged else ["noise"]
    for key, group in judged.groupby(by):
        level = key[0] if isinstance(key, tuple) else key
        open_ = set(group.loc[group["verdict"] == "undecided", "loss"])
        if not open_:
            continue
        most = max(n for (lv, _), n in plan.items() if lv == level)
        target = min(cap, most + step)
        lead = group["verdict"] == "best"
        if "candidate" in group:
            lead |= group["candidate"].astype(bool)
        for entry in open_ | set(group.loc[lead, "loss"]):
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
    verdicts: tuple[Verdicts, Callable[..., float]] | None,
    n_test: int,
    test_per_seed: bool = False,
    chance: float | None = None,
) -> Plan:
    """Train ``plan`` (``train(plan)`` trains what is missing and returns results.csv's rows),
    then round after round the seeds :func:`next_plan` adds, until no verdict is undecided or
    every open one is at ``cap``. The margin is ``margin_for(n_test, test_per_seed=...)``, the
    looks :func:`level_looks` of the first plan. Returns the last plan."""
    rows = train(plan)
    if cap <= max(plan.values(), default=0):
        return plan
    if verdicts is None:
        warnings.warn(
            "bench.analysis.verdicts is not available: no seeds beyond the minimum", stacklevel=2
        )
        return plan
    judge, margin_for = verdicts
    margin = margin_for(n_test, test_per_seed=test_per_seed)
    planned = level_looks(plan, step, cap)
    while True:
        new = next_plan(
            plan,
            scores(rows, plan, metric, chance),
            judge,
            margin,
            step=step,
            cap=cap,
            looks=planned,
        )
        if new == plan:
            return plan
        plan = new
        rows = train(plan)
