"""Label noise: clean test accuracy and memorisation of the flipped labels at each noise level,
symmetric noise on a numeric rate axis and class-conditional noise apart."""

from __future__ import annotations

import pandas as pd

from bench.analysis import tables
from bench.analysis.across import entries
from bench.reporting import families, figures, prose
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

KINDS = {"sym": "symmetric", "pairs": "class-conditional"}
# The noise table's columns of shares of flipped labels (the rest are test accuracies).
SHARES = ("memorised", "corrected")


def rates(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of a :func:`bench.analysis.tables.noise` table with no noise or noise of
    ``kind`` ("sym" or "pairs"), with a numeric ``rate`` column (0 for none, r for ``kind:r``),
    sorted by loss and rate: the tidy frame the noise figures plot. Losses never trained under
    ``kind`` are left out."""
    levels = table["noise"].astype(str)
    noisy = levels.str.startswith(f"{kind}:")
    mine = table[((levels == "none") | noisy) & table["loss"].isin(table.loc[noisy, "loss"])]
    mine = mine.copy()
    mine["rate"] = [0.0 if n == "none" else float(n.split(":", 1)[1]) for n in mine["noise"]]
    return mine.sort_values(["loss", "rate"]).reset_index(drop=True)


def section(w: Workload) -> str:
    table = tables.noise(w.final)
    if table["noise"].nunique() < 2:
        return ""
    wide = with_corrected(tables.noise_wide(table), w.final)
    levels = [c for c in wide.columns if c != "loss" and not c.startswith(SHARES)]
    wide = families.ordered(wide, by=levels[-1])
    drawn = [
        figure(w, table, kind, name)
        for kind, name in (("sym", "noise.png"), ("pairs", "noise_pairs.png"))
    ]
    return prose.render(
        "noise",
        pairs=pairs(w),
        last_level=levels[-1],
        table=markdown_table(wide),
        figures=[d for d in drawn if d],
    )


def with_corrected(wide: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """:func:`bench.analysis.tables.noise_wide`'s table with, after each ``memorised LEVEL``
    column, ``corrected LEVEL``: the share of flipped training labels the loss predicts as
    their true label at the last epoch (mean over its finished seeds; NaN where not measured)."""
    if "corrected" not in final:
        return wide
    mine = final[(final["trainer"] == "lossbench") & (final["status"] == "ok")]
    means = mine.assign(loss=entries(mine)).pivot_table(
        index="loss", columns="noise", values="corrected", aggfunc="mean"
    )
    columns = []
    for column in wide.columns:
        columns.append(column)
        if column.startswith("memorised "):
            level = column.removeprefix("memorised ")
            name = f"corrected {level}"
            wide = wide.assign(
                **{name: wide["loss"].map(means[level]) if level in means else float("nan")}
            )
            columns.append(name)
    return wide[columns]


def figure(w: Workload, table: pd.DataFrame, kind: str, name: str) -> str:
    """Clean test accuracy and memorisation against the rate of ``kind`` noise, a row per
    family; "" when fewer than two rates were run. Each column on one scale, the memorisation
    fitted to its data (it stays near 0 for most losses)."""
    tidy = rates(table, kind)
    if tidy["rate"].nunique() < 2:
        return ""
    axis = {"xlabel": f"{KINDS[kind]} noise rate", "xlim": (-0.02, tidy["rate"].max() + 0.02)}
    fig, _ = figures.family_rows(
        tidy,
        [
            (
                "test_acc",
                {"title": "clean test accuracy", "ylabel": "test accuracy", "share": True, **axis},
            ),
            (
                "memorised",
                {
                    "title": "share of flipped labels fitted",
                    "ylabel": "share",
                    "share": "data",
                    **axis,
                },
            ),
        ],
        x="rate",
        hue="loss",
        marker="o",
        errorbar=None,
    )
    fig.suptitle(f"{KINDS[kind].capitalize()} label noise ({kind}:r; rate 0 = no noise)", y=1.01)
    return figures.image(f"{KINDS[kind]} label noise", fig, w, name)


def pairs(w: Workload) -> str:
    """The class pairs that class-conditional noise flips, named from the dataset."""
    if w.data is None or not w.data.pairs:
        return "the dataset's pairs of confusable classes"
    names = w.data.classes
    return " and ".join(f"{names[a]} ↔ {names[b]}" for a, b in w.data.pairs)
