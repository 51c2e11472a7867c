"""The report: OUT/README.md with tables (pandas views of the tidy rows) and seaborn figures.

    python -m bench.reporting OUT      # remake the report from OUT without training

Every number in the report is computed from OUT's CSV files (results, tuning, speed, anatomy,
reference, peers), the saved weights and the datasets; nothing is typed in by hand. One module
per section: the code computes the facts (pandas views of bench.analysis.tables, dicts), a
Jinja2 template (templates/*.md.j2, through bench.reporting.prose) words them, and a figure
function draws them. The finding comes first, "How fast, and why" last. A folder of one
workload (dataset × model) gets one report; a folder of several lists them and gives each its
own sections under its own heading.
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
    memorisation,
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

    The order a reader needs: the title with its provenance, the finding (which loss, the
    answer section), each workload's sections, the losses themselves, and last "How fast, and
    why" (the machine and the commands, the grid's cost, speed, step anatomy, floors, batch
    sizes, micro-benchmarks) for the people who build the tool.

    ``data`` maps dataset specs to loaded :class:`bench.datasets.Dataset` objects; a workload
    whose dataset is missing from it is loaded through the registry from run.json's data folder,
    and one that cannot be loaded loses only its data-dependent sections, with the reason.
    """
    out = Path(out)
    meta = json.loads((out / "run.json").read_text())
    figures.theme()
    found = workloads.load(out, meta, data)
    parts = [header.title(meta, found)]
    if found:
        parts.append(answer.section(found))
    if len(found) == 1:
        w = found[0]
        parts += [
            header.notes(w).strip(),
            *sections(w),
            gradients.section(w),
            *([] if w.speed_only else [reading.section(w)]),
        ]
    elif found:
        parts.append(header.workload_list(found))
        for w in found:
            mine = [*sections(w), *([] if w.speed_only else [reading.section(w)])]
            parts += [header.workload_intro(w), *map(demote, mine)]
        parts.append(gradients.section(SimpleNamespace(out=out, prefix="")))
    parts += how_fast(meta, found, microbench.section(out / "microbench.json"))
    path = out / "README.md"
    path.write_text("\n\n".join(p.strip() for p in parts if p and p.strip()) + "\n")
    return path


def sections(w: Workload) -> list[str]:
    """One workload's sections for its users, from what makes its losses comparable to its
    predictions. A speed-only workload (untuned rates, one seed) drops those that would pick a
    loss from it: the targets, the paired comparisons and the best loss's predictions."""
    parts = [header.comparability(w), accuracy.section(w)]
    if not w.speed_only:
        parts += [targets.section(w), paired.section(w)]
    parts += [tuning.section(w), learning.section(w), noise.section(w), memorisation.section(w)]
    if w.data is None:
        return parts + [f"## Calibration, per-class errors, predictions\n\nSkipped: {w.data_note}."]
    parts += [calibration.section(w), per_class.section(w)]
    return parts + ([] if w.speed_only else [predictions.section(w)])


def how_fast(meta: dict, found: list[Workload], micro: str) -> list[str]:
    """The last part, for the people who build the tool: the machine and the commands, the
    grid and its cost, each workload's speed (step times, the textbook loop, step anatomy and
    floors, batch sizes) and the micro-benchmarks."""
    parts = ["## How fast, and why", header.environment(meta), demote(cost.section(meta, found))]
    for w in found:
        if len(found) == 1:
            parts.append(demote(speed.section(w)))
        else:
            parts.append(demote(speed.section(w, title=f"Speed: {w.title}")))
    return parts + [micro]


def demote(text: str) -> str:
    """Every heading of ``text`` one level down: a workload's sections under its heading."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
