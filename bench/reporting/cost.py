"""The grid a folder holds and what it cost: each command that wrote to it, its runs and its wall
time by phase (run.json's ``commands``), and what the full cross-product of losses, workloads,
noise levels and seeds would take, from the same measured times."""

from __future__ import annotations

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
    found = facts(meta, workloads)
    if found is None:
        return ""
    tables = {
        "commands": markdown_table(found["commands"]),
        "grid": None if found["grid"].empty else markdown_table(found["grid"]),
    }
    return prose.render("cost", **{**found, **tables})


def facts(meta: dict, workloads: list[Workload]) -> dict | None:
    """``commands``, a frame of each command that wrote to the folder (workload, status, runs
    trained, workers, wall time, by phase); ``seconds`` and ``runs``, their total wall time
    and runs trained; ``grid``, a frame of each workload's finished runs (losses, noise ×
    seeds, runs); ``full``, :func:`full_product` at run.json's threads. None when run.json
    logged no commands."""
    commands = meta.get("commands", [])
    if not commands:
        return None
    return {
        "commands": _commands(commands),
        "seconds": sum(c["seconds"] for c in commands),
        "runs": sum(c["runs"] for c in commands),
        "grid": _grids(workloads),
        "full": full_product(commands, workloads, meta.get("environment", {}).get("threads")),
    }


def _commands(commands: list[dict]) -> pd.DataFrame:
    rows = []
    for c in commands:
        phases = ", ".join(
            f"{name} {prose.duration(s)}" for name, s in c.get("phases", {}).items() if s >= 0.5
        )
        rows.append(
            {
                "workload": f"{c['dataset']} · {c['model']}",
                "status": c.get("status", ""),
                "runs trained": c.get("runs", 0),
                "workers": c.get("workers") or "cluster",
                "wall time": prose.duration(c["seconds"]),
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


def full_product(
    commands: list[dict], workloads: list[Workload], cores: int | None = None
) -> dict | None:
    """What every loss × workload × noise level × FULL_SEEDS seeds would take, from each
    workload's measured worker-seconds per run and per tuning; None without such measurements.

    The facts: ``seeds``, the ``symmetric`` and ``pairs`` noise levels, ``workloads`` a list of
    (title, runs) with runs = losses × (1 + symmetric levels [+ pairs levels when the dataset
    defines class pairs]) × seeds, ``core_seconds`` = Σ runs × worker-seconds per run + the
    worker-seconds of the rate search, ``cores`` (this machine's, run.json's threads; None when
    unknown) and ``workers``, ``command`` for a cluster of CLUSTER_WORKERS single-core workers.
    """
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
        parts.append((w.title, runs))
    if not parts:
        return None
    return {
        "seeds": FULL_SEEDS,
        "symmetric": list(FULL_SYMMETRIC),
        "pairs": list(FULL_PAIRS),
        "workloads": parts,
        "core_seconds": total,
        "cores": cores,
        "workers": CLUSTER_WORKERS,
        "command": CLUSTER_COMMAND,
    }


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
