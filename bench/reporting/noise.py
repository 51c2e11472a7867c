"""Label noise: clean test accuracy and memorisation of the flipped labels at each noise level,
symmetric noise on a numeric rate axis and class-conditional noise apart."""

from __future__ import annotations

import pandas as pd

from bench.analysis import tables
from bench.reporting import families, figures
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

KINDS = {"sym": "symmetric", "pairs": "class-conditional"}


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
    wide = tables.noise_wide(table)
    levels = [c for c in wide.columns if c != "loss" and not c.startswith("memorised")]
    wide = families.ordered(wide, by=levels[-1])
    text = [
        "## Label noise",
        "",
        "Training labels flipped (seeded, the same flips for every loss); test labels clean. "
        f"`sym:r` flips a share r of labels to another class uniformly; `pairs:r` flips "
        f"{pairs(w)} with probability r. Memorisation is the share of flipped training examples "
        "the model predicts as their wrong label. Grouped by loss family, most accurate at the "
        f"last level ({levels[-1]}) first within a family.",
        "",
        markdown_table(wide),
    ]
    for kind, name in (("sym", "noise.png"), ("pairs", "noise_pairs.png")):
        tidy = rates(table, kind)
        if tidy["rate"].nunique() < 2:
            continue
        axis = {"xlabel": f"{KINDS[kind]} noise rate", "xlim": (-0.02, tidy["rate"].max() + 0.02)}
        fig, _ = figures.family_rows(
            tidy, [("test_acc", {"title": "clean test accuracy", "ylabel": "test accuracy",
                                 **axis}),
                   ("memorised", {"title": "flipped labels fitted", "ylabel": "share",
                                  "ylim": (0, 1.02), **axis})],
            x="rate", hue="loss", marker="o", errorbar=None)  # fmt: skip
        fig.suptitle(f"{KINDS[kind].capitalize()} label noise (`{kind}:r`; rate 0 = no noise)",
                     y=1.01)  # fmt: skip
        text += ["", figures.image(f"{KINDS[kind]} label noise", fig, w, name)]
    return "\n".join(text)


def pairs(w: Workload) -> str:
    """The class pairs that class-conditional noise flips, named from the dataset."""
    if w.data is None or not w.data.pairs:
        return "the dataset's pairs of confusable classes"
    names = w.data.classes
    return " and ".join(f"{names[a]} ↔ {names[b]}" for a, b in w.data.pairs)
