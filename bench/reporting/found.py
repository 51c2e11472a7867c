"""``python -m bench.reporting.found OUT [--readme README.md]``: the README's "What it found" table.

One row per scenario and answer (validation protocol × score), the noisy-label answer of a
network that memorises first where the folder has one, with the linear model's noisy labels kept
as the low-capacity case: the losses recommended (never worse than the best where they ran, and
best or equivalent on most of those workloads), each named by the settings that trained, with
the evidence in a few words and the undecided ones counted apart, each row linking to the
scenario's heading in OUT/README.md. The accuracy scenarios are recomputed from OUT/answer.csv
(so the table is true of it); calibration and speed, which need the saved weights and every
epoch, are read from OUT/picks.csv, written beside it by the same report.
The table replaces what lies between ``<!-- found:begin -->`` and ``<!-- found:end -->``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import pandas as pd

from bench.reporting import answer, prose, scenarios
from bench.reporting.markdown import markdown_table

BEGIN, END = "<!-- found:begin -->", "<!-- found:end -->"
LABELS = {
    "noisy_memorising": "Noisy labels, a network that memorises",
    "clean": "Clean labels",
    "noisy_linear": "Noisy labels, a linear model (low capacity)",
    "long_tailed": "Long-tailed data",
    "calibrated_before": "Calibrated (before temperature scaling)",
    "calibrated_after": "Calibrated (after temperature scaling)",
    "fastest": "Fastest to the target",
}
# A set is named in full up to this many losses in a README cell.
NAMED = 3


def rows(out: Path) -> list[dict]:
    """One fact row per scenario × validation × selection: the columns of OUT/picks.csv."""
    found = scenarios.picks(scenarios.accuracy(answer.read(out)))
    picks = Path(out) / "picks.csv"
    if picks.exists():
        saved = pd.read_csv(
            picks,
            dtype=str,
            keep_default_na=False,
        )
        saved["measured"] = saved["measured"].astype(str).eq("True")
        for column in ("workloads", "seeds", "undecided"):
            saved[column] = saved[column].astype(int)
        saved["seeds_needed"] = pd.to_numeric(saved["seeds_needed"], errors="coerce")
        computed = {f["scenario"] for f in found}
        found += [r for r in saved.to_dict("records") if r["scenario"] not in computed]
    return found


def render(out: Path, base: Path = Path(".")) -> str:
    """The Markdown table of :func:`rows`, linking into OUT/README.md by a path relative to
    ``base`` (the folder of the README the table goes into). The memorising network's rows lead
    where the folder has one (and are left out where it has none); a scenario answered more
    than once says which validation protocol and score each row is on."""
    link = Path(os.path.relpath(Path(out) / "README.md", base))
    found = [r for r in rows(out) if r["measured"] or r["scenario"] != "noisy_memorising"]
    answers = pd.Series([r["scenario"] for r in found]).value_counts()
    shown = []
    for r in found:
        label = LABELS.get(r["scenario"], r["scenario"])
        said = variant(r) if answers[r["scenario"]] > 1 else ""
        label = f"[{label}]({link.as_posix()}#{r['anchor']})" + (f", {said}" if said else "")
        shown.append(
            {
                "scenario": label,
                "use (never worse than the best where it ran)": use(r),
                "evidence": evidence(r),
            }
        )
    return markdown_table(pd.DataFrame(shown))


def variant(r: dict) -> str:
    """The answer's protocol in words where it is not the default: "1,000 trusted labels",
    "early-stopped"."""
    said = []
    validation = str(r.get("validation") or "noisy")
    if validation.startswith("trusted:"):
        said.append(f"{int(validation.split(':', 1)[1]):,} trusted labels")
    elif r["scenario"].startswith("noisy") and r.get("measured"):
        said.append("noisy labels only")
    selection = str(r.get("selection") or "last")
    if selection == "early_stopped":
        said.append("early-stopped")
    elif r["scenario"].startswith("noisy") and r.get("measured"):
        said.append("last epoch")
    return ", ".join(said)


def use(r: dict) -> str:
    if not r["measured"]:
        return "not measured"
    names = [n for n in str(r.get("settings") or r["set"]).split(";") if n]
    if not names:
        return "no loss recommended"
    head = ", ".join(code(n) for n in names[:NAMED])
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return head + more


def code(label: str) -> str:
    """A picks.csv label as Markdown: "gce (q=0.3 on 5 of 5)" -> "`gce` (q=0.3 on 5 of 5)"."""
    name, _, rest = label.partition(" (")
    return f"`{name}` ({rest}" if rest else f"`{name}`"


def evidence(r: dict) -> str:
    if not r["measured"]:
        return "no such workload here"
    text = f"{prose.count(r['workloads'], 'workload')}, {prose.count(r['seeds'], 'seed')}"
    apart = [n for n in str(r.get("apart") or "").split(";") if n]
    failed = [n for n in str(r.get("failed") or "").split(";") if n]
    if apart:
        text += f"; {prose.count(len(apart), 'loss', 'losses')} undecided, listed apart"
    if failed:
        text += f"; {prose.count(len(failed), 'loss', 'losses')} with failed runs"
    needed = r.get("seeds_needed")
    if (apart or r["undecided"]) and isinstance(needed, float) and math.isfinite(needed):
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
