"""Loss families in the report: each table row and figure line grouped by the family its loss
declares (``Loss.family``), families in ``bench.suite.FAMILY_ORDER``."""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from bench import suite


def family(spec: str) -> str:
    """The family ``spec`` declares; "user" for a loss that declares none or does not parse."""
    try:
        return suite.family(spec)
    except Exception:  # noqa: BLE001 — a loss not registered here still gets a row
        return "user"


def rank(name: str) -> int:
    """A family's place in FAMILY_ORDER (unknown families last)."""
    order = suite.FAMILY_ORDER
    return order.index(name) if name in order else len(order)


def ordered(
    table: pd.DataFrame, by: str = "test_acc", ascending: bool = False, loss: str = "loss"
) -> pd.DataFrame:
    """``table`` with a ``family`` column after ``loss``, sorted by family, then by ``by``
    (best accuracy first by default; NaN last); the index is reset."""
    if "family" in table:
        table = table.drop(columns="family")
    names = table[loss].map(family)
    table = table.copy()
    table.insert(table.columns.get_loc(loss) + 1, "family", names)
    table["_rank"] = names.map(rank)
    table = table.sort_values(
        ["_rank", by], ascending=[True, ascending], na_position="last", kind="stable"
    )
    return table.drop(columns="_rank").reset_index(drop=True)


def groups(frame: pd.DataFrame, loss: str = "loss") -> list[tuple[str, pd.DataFrame]]:
    """``frame``'s rows by family, in FAMILY_ORDER (families with no rows left out)."""
    names = frame[loss].map(family)
    present = sorted(set(names), key=rank)
    return [(name, frame[names == name]) for name in present]


def chunks(
    frame: pd.DataFrame, by: str = "loss", size: int = 8, loss: str = "loss"
) -> list[tuple[str, pd.DataFrame]]:
    """:func:`groups`, with a family of more than ``size`` distinct ``by`` values (the lines of
    a figure) split into as few near-equal chunks as fit, in order of first appearance, so no
    axis holds more than ``size`` lines; a split family's chunks are numbered "name (i/n)"."""
    result = []
    for name, group in groups(frame, loss):
        names = list(dict.fromkeys(group[by]))
        count = max(-(-len(names) // size), 1)
        cuts = [round(i * len(names) / count) for i in range(count + 1)]
        for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
            label = name if count == 1 else f"{name} ({i + 1}/{count})"
            result.append((label, group[group[by].isin(names[a:b])]))
    return result


def palette(runs) -> dict[str, tuple]:
    """A colour per run label, distinct within its family (tab10 by order of first appearance
    within the family), so the same loss has the same colour in every figure of a report."""
    colours = sns.color_palette("tab10") + sns.color_palette("Dark2")
    seen: dict[str, int] = {}
    result = {}
    for run in dict.fromkeys(runs):
        name = family(_loss_of(run))
        result[run] = colours[seen.get(name, 0) % len(colours)]
        seen[name] = seen.get(name, 0) + 1
    return result


def family_palette(names=()) -> dict[str, tuple]:
    """A colour per family (FAMILY_ORDER's, then any other of ``names``), for figures that
    colour by family (bar charts)."""
    colours = sns.color_palette("colorblind")
    every = [*suite.FAMILY_ORDER, *sorted(set(names) - set(suite.FAMILY_ORDER))]
    return {name: colours[i % len(colours)] for i, name in enumerate(every)}


def _loss_of(run: str) -> str:
    """The loss of a run label ("trainer (loss)" for another trainer, else the spec itself)."""
    return run[run.index("(") + 1 : -1] if run.endswith(")") and " (" in run else run
