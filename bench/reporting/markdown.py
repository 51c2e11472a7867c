"""Numbers and frames as Markdown: the one place a report's cells are formatted."""

from __future__ import annotations

import math

import pandas as pd

from bench.training.config import TRAINER


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame`` as it is (format the cells before)."""
    if frame.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


def cell(value) -> str:
    """A table cell: floats to four significant digits, NaN as —, pipes escaped."""
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def accuracy(mean: float, std: float = math.nan) -> str:
    """An accuracy, with its standard deviation when there is one: "0.8445 ± 0.0003"."""
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def number(value: float | None, digits: int = 0) -> str:
    """A count or a time with thousands separators: "1,161,154"; None or NaN as —."""
    return "—" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def ratio(value: float) -> str:
    """A ratio of two times: "2.21"."""
    return f"{value:.2f}"


def label(row) -> str:
    """How a run group is named in tables and legends: the spec, the trainer when not ours."""
    name = row["loss"]
    if row.get("trainer", TRAINER) != TRAINER:
        name = f"{row['trainer']} ({name})"
    return name


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``run`` column of :func:`label` (a copy; empty frames stay empty)."""
    if frame.empty:
        return frame.assign(run=pd.Series(dtype=str))
    return frame.assign(run=frame.apply(label, axis=1))


def skipped(what: str, reason: str) -> str:
    """The line that says a stage did not run for this workload, and why."""
    return f"{what}: skipped: {reason}."
