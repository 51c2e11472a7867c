"""``python -m bench.reporting.found OUT [--readme README.md]``: the README's "What it found" table.

One row per scenario (clean, noisy, long-tailed, calibrated, fastest): the loss to use where the
evidence separates one, else the set that cannot be told apart, with the evidence in a few words,
each linking to the scenario's heading in OUT/README.md. The accuracy scenarios are recomputed
from OUT/answer.csv (so the table is true of it); calibration and speed, which need the saved
weights and every epoch, are read from OUT/picks.csv, written beside it by the same report.
The table replaces what lies between ``<!-- found:begin -->`` and ``<!-- found:end -->``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import pandas as pd

from bench.analysis import across
from bench.reporting import answer, answer_facts
from bench.reporting.markdown import markdown_table

BEGIN, END = "<!-- found:begin -->", "<!-- found:end -->"
LABELS = {
    "clean": "Clean labels",
    "noisy": "Noisy labels",
    "long_tailed": "Long-tailed data",
    "calibrated_before": "Calibrated (before temperature scaling)",
    "calibrated_after": "Calibrated (after temperature scaling)",
    "fastest": "Fastest to the target",
}
# A set is named in full up to this many losses in a README cell.
NAMED = 3


def rows(out: Path) -> list[dict]:
    """One fact row per scenario: scenario, anchor, measured, pick, set, workloads, seeds,
    undecided, seeds_needed (the columns of OUT/picks.csv)."""
    table = answer.read(out)
    found = []
    for name, keys in answer_facts.scenario_keys(table).items():
        facts = across.scenario(table, keys) if len(keys) else {}
        facts = {"name": name, "measured": bool(len(keys)), **facts}
        found.append(answer_facts.picks([facts])[0])
    picks = Path(out) / "picks.csv"
    if picks.exists():
        saved = pd.read_csv(
            picks,
            dtype={"pick": str, "set": str},
            keep_default_na=False,
            na_values={"seeds_needed": ["nan", ""]},
        )
        saved["measured"] = saved["measured"].astype(str).eq("True")
        computed = {f["scenario"] for f in found}
        found += [r for r in saved.to_dict("records") if r["scenario"] not in computed]
    return found


def render(out: Path, base: Path = Path(".")) -> str:
    """The Markdown table of :func:`rows`, linking into OUT/README.md by a path relative to
    ``base`` (the folder of the README the table goes into)."""
    link = Path(os.path.relpath(Path(out) / "README.md", base))
    shown = []
    for r in rows(out):
        label = f"[{LABELS.get(r['scenario'], r['scenario'])}]({link.as_posix()}#{r['anchor']})"
        shown.append({"scenario": label, "use": use(r), "evidence": evidence(r)})
    return markdown_table(pd.DataFrame(shown))


def use(r: dict) -> str:
    if not r["measured"]:
        return "not measured"
    if r["pick"]:
        return f"`{r['pick']}`"
    names = [n for n in str(r["set"]).split(";") if n]
    if not names:
        return "no loss is in contention everywhere"
    head = ", ".join(f"`{n}`" for n in names[:NAMED])
    return f"{len(names)} cannot be told apart: {head}" + (", …" if len(names) > NAMED else "")


def evidence(r: dict) -> str:
    if not r["measured"]:
        return "no such workload here"
    seeds = f"{r['seeds']} seed{'s' if r['seeds'] != 1 else ''}"
    text = f"{r['workloads']} workload{'s' if r['workloads'] != 1 else ''}, {seeds}"
    if r["undecided"]:
        text += f"; {r['undecided']} undecided"
        needed = r["seeds_needed"]
        if isinstance(needed, float) and math.isfinite(needed):
            text += f" (~{needed:.0f} seeds would decide half)"
    return text


def write(readme: Path, table: str) -> None:
    """Put ``table`` between the markers of ``readme``; ValueError when they are missing."""
    text = readme.read_text()
    if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{readme} has no {BEGIN} … {END} markers: add them where the table goes")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reporting.found", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=Path, help="a results folder with answer.csv")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    args = parser.parse_args(argv)
    if not (args.out / "answer.csv").exists():
        print(
            f"found: error: {args.out}/answer.csv does not exist: run "
            f"python -m bench.reporting {args.out} first",
            file=sys.stderr,
        )
        return 2
    table = render(args.out, args.readme.parent)
    try:
        write(args.readme, table)
    except (ValueError, FileNotFoundError) as error:
        print(table)
        print(f"found: error: {error}", file=sys.stderr)
        return 1
    print(f"found: {args.readme} updated from {args.out}/answer.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
