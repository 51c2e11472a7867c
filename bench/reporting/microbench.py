"""The micro-benchmarks (`make microbench`, OUT/microbench.json from pytest-benchmark): each loss's
value and gradient against torch's forward and backward, and one training step per loss."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.reporting.markdown import markdown_table, number, ratio

OURS, THEIRS = "test_lossbench_value_and_grad", "test_torch_builtin_forward_backward"


def section(path: Path) -> str:
    """The summary of ``path``, or "" when it is not there."""
    if not path.exists():
        return ""
    saved = json.loads(path.read_text())
    frame = pd.DataFrame(
        [
            {
                "group": b.get("group") or "",
                "test": b["name"].split("[")[0],
                "case": b.get("param") or b["name"],
                "median_us": b["stats"]["median"] * 1e6,
            }
            for b in saved["benchmarks"]
        ]
    )
    if frame.empty:
        return ""
    machine = saved.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", ""))
    text = [f"### Micro-benchmarks (`make microbench`, {saved.get('datetime', '')[:10]}, {cpu})"]
    versus = frame.pivot_table(index="case", columns="test", values="median_us")
    if {OURS, THEIRS} <= set(versus.columns):
        pairs = versus[[OURS, THEIRS]].dropna()
        text += [
            "",
            f"Value and gradient{_shape(frame)} (median µs): lossbench's analytic "
            "gradient against the torch built-in's forward and autograd backward.",
            "",
            markdown_table(
                pd.DataFrame(
                    {
                        "loss": pairs.index,
                        "lossbench µs": pairs[OURS].map(number),
                        "torch µs": pairs[THEIRS].map(number),
                        "torch / lossbench": (pairs[THEIRS] / pairs[OURS]).map(ratio),
                    }
                )
            ),
        ]
    steps = frame[frame["test"] == "test_training_step"]
    if not steps.empty:
        group = steps["group"].iloc[0] or "training step"
        text += [
            "",
            f"One {group} (median µs):",
            "",
            markdown_table(
                pd.DataFrame({"loss": steps["case"], "step µs": steps["median_us"].map(number)})
            ),
        ]
    return "\n".join(text)


def _shape(frame: pd.DataFrame) -> str:
    """ " on 65536×10": the scores' shape, as the benchmarks' group names record it
    ("ce, 65536×10"); "" when they do not."""
    groups = frame.loc[frame["test"] == OURS, "group"]
    shapes = {g.rsplit(", ", 1)[1] for g in groups if ", " in g}
    return f" on {shapes.pop()}" if len(shapes) == 1 else ""
