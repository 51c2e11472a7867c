"""The grid a folder holds and what it cost: each command that wrote to it, its runs and its wall
time by phase (run.json's ``commands``), and what the full cross-product of losses, workloads,
noise levels and seeds would take, from the same measured times."""

from __future__ import annotations

import math

import pandas as pd

from bench.datasets import noise
from bench.reporting import prose
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload
from bench.training.config import TRAINER

# The full cross-product: every noise level a dataset takes, this many seeds each.
FULL_SYMMETRIC = ("sym:0.2", "sym:0.4", "sym:0.6", "sym:0.8")
FULL_PAIRS = ("pairs:0.2", "pairs:0.4")
FULL_SEEDS = 5
CLUSTER_WORKERS = 64  # the cluster the estimate is given for (examples/slurm_cluster.py)
CLUSTER_COMMAND = "make study-full SCHEDULER=tcp://HOST:8786"


def section(meta: dict, workloads: list[Workload]) -> str:
    """The commands and their times, the grid of each workload, and the full cross-product's
    estimated cost; empty for a folder written before run.json logged its commands."""
    commands = meta.get("commands", [])
    if not commands:
        return ""
    lines = ["## The grid and its cost", ""]
    lines += [
        "Every command that wrote to this folder, in order, with its wall time on this machine "
        "by phase (run.json's `commands`; the report itself is not included):",
        "",
        markdown_table(_commands(commands)),
        "",
    ]
    total = sum(c["seconds"] for c in commands)
    lines.append(
        f"In all {_minutes(total)} of wall time for {sum(c['runs'] for c in commands)} runs."
    )
    grid = _grids(workloads)
    if not grid.empty:
        lines += ["", "What each workload holds (finished runs):", "", markdown_table(grid)]
    estimate = full_product(commands, workloads)
    if estimate is not None:
        lines += ["", estimate]
    return "\n".join(lines)


def _commands(commands: list[dict]) -> pd.DataFrame:
    rows = []
    for c in commands:
        phases = ", ".join(
            f"{name} {_minutes(s)}" for name, s in c.get("phases", {}).items() if s >= 0.5
        )
        rows.append(
            {
                "workload": f"{c['dataset']} · {c['model']}",
                "status": c.get("status", ""),
                "runs trained": c.get("runs", 0),
                "workers": c.get("workers") or "cluster",
                "wall time": _minutes(c["seconds"]),
                "by phase": phases,
            }
        )
    return pd.DataFrame(rows)


def _grids(workloads: list[Workload]) -> pd.DataFrame:
    rows = []
    for w in workloads:
        mine = w.final[w.final["trainer"] == TRAINER]
        if mine.empty:
            continue
        seeds = mine.groupby("noise")["seed"].nunique()
        levels = ", ".join(f"{level} × {seeds[level]}" for level in _ordered(seeds.index))
        rows.append(
            {
                "workload": w.title,
                "losses": mine["loss"].nunique(),
                "noise × seeds": levels,
                "runs": len(mine),
            }
        )
    return pd.DataFrame(rows)


def full_product(commands: list[dict], workloads: list[Workload]) -> str | None:
    """What every loss × workload × noise level × FULL_SEEDS seeds would take, from each
    workload's measured worker-seconds per run and per tuning; None without such measurements."""
    cost = _worker_seconds(commands)
    total, parts = 0.0, []
    for w in workloads:
        measured = cost.get((w.dataset, w.model))
        mine = w.final[w.final["trainer"] == TRAINER]
        if measured is None or mine.empty:
            continue
        per_run, tuning = measured
        levels = 1 + len(FULL_SYMMETRIC) + (len(FULL_PAIRS) if w.data and w.data.pairs else 0)
        runs = mine["loss"].nunique() * levels * FULL_SEEDS
        total += runs * per_run + tuning
        parts.append(f"{w.title} {runs:,} runs")
    if not parts:
        return None
    hours = total / 3600
    return (
        f"The full cross-product (every loss × workload × noise level × {FULL_SEEDS} seeds: "
        f"none, {', '.join(FULL_SYMMETRIC)}, and {', '.join(FULL_PAIRS)} where the dataset "
        f"defines class pairs) is {'; '.join(parts)}. At the worker-seconds per run and per "
        f"rate search measured above it would take about {hours:.1f} core-hours: "
        f"{_hours(total / 2)} on this 2-core machine, about {_hours(total / CLUSTER_WORKERS)} "
        f"on {CLUSTER_WORKERS} single-core workers (plus the longest single run). On a cluster "
        f"it is one command, `{CLUSTER_COMMAND}` (see examples/slurm_cluster.py to start the "
        "workers with SLURM)."
    )


def _worker_seconds(commands: list[dict]) -> dict[tuple[str, str], tuple[float, float]]:
    """(dataset, model) -> (worker-seconds per run trained, worker-seconds of the rate search),
    from the latest finished command of that workload that trained runs on known workers."""
    cost = {}
    for c in commands:
        workers, phases = c.get("workers"), c.get("phases", {})
        if c.get("status") != "finished" or not workers or not c.get("runs"):
            continue
        training = phases.get("training", 0.0) * workers
        cost[(c["dataset"], c["model"])] = (
            training / c["runs"],
            phases.get("tuning", 0.0) * workers,
        )
    return cost


def _ordered(levels) -> list[str]:
    return sorted(levels, key=lambda s: (s != "none", *noise.parse(s)))


_minutes = prose.duration


def _hours(seconds: float) -> str:
    if seconds < 5400:
        minutes = math.ceil(seconds / 60)
        return prose.count(minutes, "minute")
    return f"{seconds / 3600:.1f} hours"
