"""Which loss should I use? The verdict frame (OUT/answer.csv), the facts of the answer, and the
section worded by ``templates/answer.md.j2``.

The code computes facts (frames and a dict); the template words them; the figures are
``answer_figures``. A folder whose runs cannot support an answer (no workload with two seeds, as
a single-seed speed study) gets no answer section and no answer.csv.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from bench import schema
from bench.analysis import across, profiles, tables, verdicts
from bench.reporting import answer_facts, answer_figures, prose
from bench.reporting.workload import Workload

TRAINER = "lossbench"
# Long-tailed: the training label prior's largest class at least this many times its smallest
# (the long-tail literature's imbalance ratios start at 10; breast_cancer's 1.68 is not).
# Without the data, the ratio is read from a dataset spec's ``ratio=R``.
LONG_TAIL = 10.0
# The time scenario's target per workload: this share of the workload's best final mean score.
TARGET_FRACTION = 0.95


def section(found: list[Workload]) -> str:
    """The "Which loss should I use?" section of a folder's workloads; writes OUT/answer.csv.
    "" when no workload has the seeds an answer needs."""
    gathered = gather(found)
    if gathered is None:
        return ""
    final, rows, info = gathered
    answer = verdict_frame(final, info)
    out = found[0].out
    schema.write_rows(out / "answer.csv", schema.ANSWER, answer.to_dict("records"))
    facts = answer_facts.facts(answer, final, rows, info)
    schema.write_rows(out / "picks.csv", schema.PICKS, answer_facts.picks(facts["scenarios"]))
    where = SimpleNamespace(out=out, prefix="")
    facts["figures"] = answer_figures.draw(facts, answer, where)
    return prose.render("answer", facts=facts, shown=answer_facts.SHOWN)


def answerable(final: pd.DataFrame) -> bool:
    """Whether some workload's losses ran at least two seeds (an answer needs a spread)."""
    seeds = final.groupby([*profiles.KEYS, "loss"])["seed"].nunique()
    return bool(len(seeds) and seeds.max() >= across.MIN_SEEDS)


def prior_ratio(w) -> float:
    """The training prior's largest class ÷ its smallest: from the data when loaded, else a
    dataset spec's ``ratio=R``; NaN when neither says."""
    if w.data is not None:
        prior = w.data.prior
        return float(prior.max() / prior.min())
    match = re.search(r"ratio=([0-9.]+)", w.dataset)
    return float(match.group(1)) if match else math.nan


def long_tailed(ratio: float) -> bool:
    """The long-tail rule: a training prior max/min of at least LONG_TAIL."""
    return bool(ratio >= LONG_TAIL)


def gather(found: list[Workload]):
    """Our trainer's finished runs (final rows, every epoch) on one device per dataset × model,
    with ``score`` the workload's metric, and per dataset × model: metric, prior ratio,
    long-tailed, test size, devices, device read and the Workload. None when unanswerable."""
    finals, epochs, info = [], [], []
    for w in found:
        mine = w.final[w.final["trainer"] == TRAINER]
        if mine.empty:
            continue
        ratio = prior_ratio(w)
        tail = long_tailed(ratio)
        metric = "balanced_acc" if tail and mine["balanced_acc"].notna().any() else "test_acc"
        counts = mine["device"].value_counts()
        order = list(w.meta.get("config", {}).get("devices", []))
        device = max(counts.index, key=lambda d: (counts[d], -(order + [d]).index(d)))
        mine = mine[mine["device"] == device]
        levels = sorted(mine["noise"].unique(), key=noise_order)
        mine = mine.sort_values("noise", key=lambda s: s.map(levels.index), kind="stable")
        finals.append(mine.assign(score=mine[metric]))
        every = w.rows.merge(mine[tables.RUN], on=tables.RUN)
        epochs.append(every.assign(score=every[metric]))
        n_test = len(w.data.test_y) if w.data is not None else math.nan
        info.append(
            {
                "dataset": w.dataset,
                "model": w.model,
                "metric": metric,
                "prior_ratio": ratio,
                "long_tailed": tail,
                "n_test": n_test,
                "device": device,
                "devices": sorted(counts.index),
                "workload": w,
            }
        )
    if not finals:
        return None
    final = pd.concat(finals, ignore_index=True)
    if not answerable(final):
        return None
    return final, pd.concat(epochs, ignore_index=True), pd.DataFrame(info)


def margin(n_test: float) -> float:
    """The unit's declared margin: :func:`verdicts.margin_for` its test size; the default when
    the data are not loaded (the report says so)."""
    return verdicts.MARGIN if math.isnan(n_test) else verdicts.margin_for(int(n_test))


def verdict_frame(final: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """The rows of OUT/answer.csv (schema.ANSWER): the verdicts of every workload, each
    dataset × model at its own margin, best first, then equivalent, undecided and worse."""
    parts = []
    for r in info.itertuples():
        mine = final[(final["dataset"] == r.dataset) & (final["model"] == r.model)]
        scores = mine.assign(diverged=mine["status"] == "diverged")
        scores = scores.assign(entry=across.entries(scores))
        table = verdicts.verdicts(scores, margin(r.n_test))
        parts.append(table.assign(metric=r.metric, n_test=r.n_test, prior_ratio=r.prior_ratio))
    answer = pd.concat(parts, ignore_index=True)
    rank = {v: i for i, v in enumerate(("best", "equivalent", "undecided", "worse"))}
    order = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, answer[profiles.KEYS].values)))}
    answer = answer.assign(
        _w=[order[tuple(k)] for k in answer[profiles.KEYS].to_numpy()],
        _v=answer["verdict"].map(rank),
    ).sort_values(["_w", "_v", "diff"], ascending=[True, True, False], kind="stable")
    return answer.drop(columns=["_w", "_v"])[list(schema.ANSWER)].reset_index(drop=True)


def read(out: Path) -> pd.DataFrame:
    """OUT/answer.csv as written by :func:`section` (booleans and numbers parsed)."""
    answer = pd.read_csv(Path(out) / "answer.csv", keep_default_na=False, na_values=["nan", ""])
    answer["no_spread"] = answer["no_spread"].astype(str).eq("True")
    return answer


def noise_order(noise: str) -> tuple:
    """Clean first, then each protocol by rising level: none, pairs:0.2, sym:0.2, sym:0.4."""
    kind, _, level = noise.partition(":")
    try:
        return (noise != "none", kind, float(level), noise)
    except ValueError:
        return (noise != "none", kind, math.inf, noise)


def name(key) -> str:
    """A workload in words: "fashion_mnist · linear · clean" or "... · sym:0.4"."""
    dataset, model, noise = key
    return f"{dataset} · {model} · {'clean' if noise == 'none' else noise}"
