"""The report: OUT/README.md with tables (pandas views of the tidy rows) and seaborn figures.

    python -m bench.reporting OUT      # remake the report from OUT without training

Every number in the report is computed from OUT's CSV files (results, tuning, speed, anatomy,
reference, peers), the saved weights and the datasets; nothing is typed in by hand. One module
per section, each a pandas view (bench.analysis.tables) turned into Markdown and a figure.
A folder of one workload (dataset × model) gets one report; a folder of several lists them and
gives each its own sections under its own heading.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from bench.reporting import (
    accuracy,
    answer,
    calibration,
    cost,
    figures,
    gradients,
    header,
    learning,
    microbench,
    noise,
    paired,
    per_class,
    predictions,
    reading,
    speed,
    targets,
    tuning,
)
from bench.reporting import workload as workloads
from bench.reporting.workload import Workload

__all__ = ["write_report"]


def write_report(out: Path, *, data: dict | None = None) -> Path:
    """Write OUT/README.md and its figures from OUT's files; return the README's path.

    ``data`` maps dataset specs to loaded :class:`bench.datasets.Dataset` objects; a workload
    whose dataset is missing from it is loaded through the registry from run.json's data folder,
    and one that cannot be loaded loses only its data-dependent sections, with the reason.
    """
    out = Path(out)
    meta = json.loads((out / "run.json").read_text())
    figures.theme()
    found = workloads.load(out, meta, data)
    micro = microbench.section(out / "microbench.json")
    parts = [header.title(meta, found)]
    if len(found) == 1:
        w = found[0]
        parts += [header.notes(w), header.environment(meta), answer.section(found),
                  cost.section(meta, found), *sections(w, micro),
                  gradients.section(w), reading.section(w)]  # fmt: skip
    elif found:
        parts += [header.environment(meta), answer.section(found), cost.section(meta, found),
                  header.workload_list(found)]
        for w in found:
            parts += [header.workload_intro(w),
                      *map(demote, [*sections(w), reading.section(w)])]  # fmt: skip
        parts += [promote(micro), gradients.section(SimpleNamespace(out=out, prefix=""))]
    else:
        parts.append(header.environment(meta))
    path = out / "README.md"
    path.write_text("\n\n".join(p.strip() for p in parts if p and p.strip()) + "\n")
    return path


def sections(w: Workload, micro: str = "") -> list[str]:
    """One workload's sections, from what makes its losses comparable to its predictions."""
    parts = [
        header.comparability(w),
        accuracy.section(w),
        targets.section(w),
        paired.section(w),
        tuning.section(w),
        learning.section(w),
        speed.section(w, micro),
        noise.section(w),
    ]
    if w.data is None:
        return parts + [f"## Calibration, per-class errors, predictions\n\nSkipped: {w.data_note}."]
    return parts + [calibration.section(w), per_class.section(w), predictions.section(w)]


def demote(text: str) -> str:
    """Every heading of ``text`` one level down: a workload's sections under its heading."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def promote(text: str) -> str:
    """Every heading of ``text`` one level up (a folder-level part written as a subsection)."""
    return "\n".join(line[1:] if line.startswith("##") else line for line in text.splitlines())
