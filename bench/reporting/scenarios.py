"""The answer's scenarios as facts: which workloads each scenario covers, what each recommends
(:func:`bench.analysis.across.scenario`), and the rows of OUT/picks.csv.

Accuracy scenarios, each answered once per validation protocol and score selection the verdict
frame holds (``validation``: ``noisy`` or ``trusted:N``; ``selection``: ``last`` or
``early_stopped``):

- ``noisy_memorising``: the noisy workloads of a model that can memorise wrong labels (any model
  but the linear one), every noise level: the case the noise-robust losses were designed for;
- ``clean``: no label noise, balanced data;
- ``noisy_linear``: each linear dataset × model's strongest symmetric noise: the low-capacity
  case, where a model cannot memorise and every loss is nearly robust;
- ``long_tailed``: no noise, a training prior whose largest class is ≥ LONG_TAIL × its smallest.

Then calibration (ECE before and after temperature scaling) and the time to a target, which
:mod:`bench.reporting.answer_facts` computes from the saved weights and every epoch. Nothing here
writes a sentence; ``templates/answer.md.j2`` words the facts.
"""

from __future__ import annotations

import math

import pandas as pd

from bench.analysis import across, profiles

KEYS = profiles.KEYS
# The columns that tell one verdict family of answer.csv from another.
VARIANT = ("validation", "selection")
DEFAULTS = {"validation": "noisy", "selection": "last"}
ORDER = {"validation": ("noisy",), "selection": ("last", "early_stopped")}
# Long-tailed: the training prior's largest class at least this many times its smallest
# (the long-tail literature's imbalance ratios start at 10; breast_cancer's 1.68 is not).
LONG_TAIL = 10.0
# The heading each scenario is worded under in the template (its Markdown anchor).
ANCHORS = {
    "noisy_memorising": "noisy-labels-a-network-that-memorises",
    "clean": "clean-labels",
    "noisy_linear": "noisy-labels-a-linear-model",
    "long_tailed": "long-tailed-data",
    "calibrated_before": "calibrated-probabilities",
    "calibrated_after": "calibrated-probabilities",
    "fastest": "fastest-to-the-target",
}


def long_tailed(ratio: float) -> bool:
    """The long-tail rule: a training prior max/min of at least LONG_TAIL."""
    return bool(ratio >= LONG_TAIL)


def with_variant(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``validation`` and ``selection`` filled where missing or blank (a folder
    written before either existed holds noisy-validation, last-epoch verdicts only)."""
    out = frame.copy()
    for column, default in DEFAULTS.items():
        if column not in out:
            out[column] = default
        values = out[column].astype(object)
        out[column] = values.where(values.notna() & (values.astype(str) != ""), default)
    return out


def variant_order(value: str, column: str) -> tuple:
    """The order variants are worded in: noisy before trusted (by N), last before early-stopped."""
    known = ORDER[column]
    return (known.index(value) if value in known else len(known), str(value))


def workload_keys(answer: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The workloads (rows of KEYS) of each accuracy scenario, from the verdict frame alone."""
    keys = answer[[*KEYS, "prior_ratio"]].drop_duplicates(KEYS)
    tailed = keys["prior_ratio"].map(long_tailed)
    keys = keys[KEYS]
    noisy = keys[(keys["noise"] != "none") & ~tailed]
    linear = keys["model"] == "linear"
    symmetric = keys[keys["noise"].str.startswith("sym:") & linear]
    level = symmetric["noise"].str.split(":").str[1].astype(float)
    strongest = level.groupby([symmetric["dataset"], symmetric["model"]]).transform("max")
    return {
        "noisy_memorising": noisy[noisy["model"] != "linear"],
        "clean": keys[(keys["noise"] == "none") & ~tailed],
        "noisy_linear": symmetric[level == strongest],
        "long_tailed": keys[(keys["noise"] == "none") & tailed],
    }


def accuracy(answer: pd.DataFrame) -> list[dict]:
    """Each accuracy scenario × validation × selection the verdict frame holds: the facts of
    :func:`across.scenario` with ``name``, ``validation``, ``selection``, ``measured`` and
    ``anchor``. A scenario with no workload here is one unmeasured entry."""
    answer = with_variant(answer)
    out = []
    for name, keys in workload_keys(answer).items():
        rows = answer.merge(keys, on=KEYS)
        variants = rows[list(VARIANT)].drop_duplicates()
        variants = sorted(
            variants.itertuples(index=False),
            key=lambda v: (variant_order(v[0], "validation"), variant_order(v[1], "selection")),
        )
        if not len(keys):
            out.append({"name": name, "measured": False, **DEFAULTS})
            continue
        for validation, selection in variants:
            mine = rows[(rows["validation"] == validation) & (rows["selection"] == selection)]
            found = across.scenario(mine, mine[[*KEYS, *VARIANT]])
            out.append(
                {
                    "name": name,
                    "measured": True,
                    "validation": validation,
                    "selection": selection,
                    **found,
                }
            )
    for s in out:
        s["anchor"] = ANCHORS[s["name"]]
    return out


def picks(scenarios: list[dict]) -> list[dict]:
    """The rows of OUT/picks.csv (schema.PICKS), one per scenario × validation × selection."""
    return [
        {
            "scenario": s["name"],
            "anchor": ANCHORS[s["name"]],
            "validation": s.get("validation", DEFAULTS["validation"]),
            "selection": s.get("selection", DEFAULTS["selection"]),
            "measured": s["measured"],
            "pick": s.get("pick") or "",
            "set": ";".join(s.get("set", [])),
            "settings": ";".join(label(s, e) for e in s.get("set", [])),
            "apart": ";".join(a["entry"] for a in s.get("apart", [])),
            "failed": ";".join(f["entry"] for f in s.get("failed", [])),
            "workloads": len(s.get("workloads", [])),
            "seeds": s.get("seeds", 0),
            "undecided": s.get("undecided", 0),
            "seeds_needed": s.get("seeds_needed", math.nan),
        }
        for s in scenarios
    ]


def label(s: dict, entry: str) -> str:
    """An entry of a scenario as a CSV cell names it: the family, the settings that trained and
    on how many of the scenario's workloads: ``gce (q=0.3 on 5 of 5)``; a loss that ran as
    written on each: ``ce (5 of 5)``."""
    ran, total = s["coverage"][entry]
    tuned = [t for t in s.get("settings", {}).get(entry, []) if t["tuned"]]
    if not tuned:
        return f"{entry} ({ran} of {total})"
    parts = ", ".join(f"{t['tuned']} on {t['workloads']}" for t in tuned)
    return f"{entry} ({parts} of {total})"


def variant_words(validation: str, selection: str) -> dict:
    """The words of a variant's columns: "noisy labels only" or "1,000 trusted labels",
    "last epoch" or "early-stopped"."""
    kind, _, size = str(validation).partition(":")
    said = "noisy labels only" if kind == "noisy" else f"{int(size):,} trusted labels"
    return {
        "validation": said if kind in ("noisy", "trusted") else str(validation),
        "selection": {"last": "last epoch", "early_stopped": "early-stopped"}.get(
            selection, selection
        ),
    }


def workload_name(key) -> str:
    """A workload in words: "fashion_mnist · linear · clean" or "... · sym:0.4"."""
    dataset, model, noise = key
    return f"{dataset} · {model} · {'clean' if noise == 'none' else noise}"
