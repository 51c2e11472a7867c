"""The micro-benchmarks (`make microbench`, OUT/microbench.json from pytest-benchmark): each loss's
value and gradient against torch's forward and backward, and one training step per loss."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.reporting import prose
from bench.reporting.markdown import markdown_table, number, ratio

OURS, THEIRS = "test_lossbench_value_and_grad", "test_torch_builtin_forward_backward"
STEP = "test_training_step"


def section(path: Path) -> str:
    """The summary of ``path``, or "" when it is not there or holds no benchmark."""
    if not path.exists():
        return ""
    facts = summary(json.loads(path.read_text()))
    if facts is None:
        return ""
    versus, steps = facts["versus"], facts["steps"]
    return prose.render(
        "microbench",
        **facts,
        versus_table=markdown_table(
            pd.DataFrame(
                {
                    "loss": versus["loss"],
                    "lossbench µs": versus["lossbench_us"].map(number),
                    "torch µs": versus["torch_us"].map(number),
                    "torch / lossbench": versus["ratio"].map(ratio),
                }
            )
        ),
        steps_table=markdown_table(
            pd.DataFrame({"loss": steps["loss"], "step µs": steps["step_us"].map(number)})
        ),
    )


def summary(saved: dict) -> dict | None:
    """The facts of pytest-benchmark's JSON ``saved``; None when it holds no benchmark.

    ``date`` (YYYY-MM-DD) and ``cpu`` of the run; ``versus``, a frame of (loss, lossbench_us,
    torch_us, ratio = torch_us / lossbench_us) for each case timed both ways; ``shape``, the
    scores' shape the benchmarks' group names record ("ce, 65536×10" -> "65536×10"), None when
    they do not agree on one; ``steps``, a frame of (loss, step_us) of the training step, and
    ``step_group``, its benchmark group ("training step, batch 256"). Times are medians in µs.
    """
    frame = pd.DataFrame(
        [
            {
                "group": b.get("group") or "",
                "test": b["name"].split("[")[0],
                "case": b.get("param") or b["name"],
                "median_us": b["stats"]["median"] * 1e6,
            }
            for b in saved["benchmarks"]
        ],
        columns=["group", "test", "case", "median_us"],
    )
    if frame.empty:
        return None
    machine = saved.get("machine_info", {})
    versus = frame.pivot_table(index="case", columns="test", values="median_us")
    if {OURS, THEIRS} <= set(versus.columns):
        pairs = versus[[OURS, THEIRS]].dropna()
    else:
        pairs = pd.DataFrame(columns=[OURS, THEIRS], dtype=float)
    steps = frame[frame["test"] == STEP]
    groups = frame.loc[frame["test"] == OURS, "group"]
    shapes = {g.rsplit(", ", 1)[1] for g in groups if ", " in g}
    return {
        "date": saved.get("datetime", "")[:10],
        "cpu": machine.get("cpu", {}).get("brand_raw", machine.get("processor", "")),
        "versus": pd.DataFrame(
            {
                "loss": pairs.index,
                "lossbench_us": pairs[OURS].to_numpy(),
                "torch_us": pairs[THEIRS].to_numpy(),
                "ratio": (pairs[THEIRS] / pairs[OURS]).to_numpy(),
            }
        ),
        "shape": shapes.pop() if len(shapes) == 1 else None,
        "steps": pd.DataFrame(
            {"loss": steps["case"].to_numpy(), "step_us": steps["median_us"].to_numpy()}
        ),
        "step_group": (steps["group"].iloc[0] or "training step") if not steps.empty else None,
    }
