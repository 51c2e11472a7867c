"""Which loss should I use? The verdict frame (OUT/answer.csv), the facts of the answer, and the
section worded by ``templates/answer.md.j2``.

The code computes facts (frames and a dict); the template words them; the figures are
``answer_figures``. A folder whose runs cannot support an answer (no workload with two seeds, as
a single-seed speed study) gets no answer section and no answer.csv.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from bench import schema
from bench.analysis import across, early_stopping, profiles, resolving, settings, tables, verdicts
from bench.reporting import answer_facts, answer_figures, noisy, prose, scenarios
from bench.reporting.answer_facts import TARGET_FRACTION as TARGET_FRACTION
from bench.reporting.scenarios import LONG_TAIL as LONG_TAIL
from bench.reporting.scenarios import long_tailed as long_tailed
from bench.reporting.workload import Workload
from bench.reporting.workload import name as name
from bench.reporting.workload import noise_order as noise_order
from bench.reporting.workload import prior_ratio as prior_ratio

TRAINER = "lossbench"
_NONE = pd.DataFrame()


def section(found: list[Workload]) -> str:
    """The "Which loss should I use?" section of a folder's workloads; writes OUT/answer.csv.
    "" when no workload has the seeds an answer needs."""
    gathered = gather(found)
    if gathered is None:
        return ""
    final, rows, info = gathered
    answer = verdict_frame(final, info, rows)
    out = found[0].out
    schema.write_rows(out / "answer.csv", schema.ANSWER, answer.to_dict("records"))
    facts = answer_facts.facts(answer, final, rows, info)
    facts["tuned_blind"] = noisy.tuned_blind(searches(found))
    facts["blind_se"], facts["blind_clean"] = resolving.BLIND_SE, resolving.BLIND_CLEAN
    schema.write_rows(out / "picks.csv", schema.PICKS, scenarios.picks(facts["scenarios"]))
    where = SimpleNamespace(out=out, prefix="")
    facts["figures"] = answer_figures.draw(facts, answer, where)
    return prose.render("answer", facts=facts, shown=answer_facts.SHOWN)


def searches(found: list[Workload]) -> pd.DataFrame:
    """What each workload's tuning could see (:func:`bench.reporting.tuning.seen`'s resolving
    frame, one row per search), for the "tuned blind" note beside the verdicts."""
    from bench.reporting import tuning  # a sibling section that reads this module's rules

    frames = [tuning.seen(w)[0] for w in found if not w.caches.get("tuning", _NONE).empty]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def answerable(final: pd.DataFrame) -> bool:
    """Whether some workload's losses ran at least two seeds (an answer needs a spread)."""
    seeds = final.groupby([*profiles.KEYS, "loss"])["seed"].nunique()
    return bool(len(seeds) and seeds.max() >= across.MIN_SEEDS)


def gather(found: list[Workload]):
    """Our trainer's finished runs (final rows, every epoch) on one device per dataset × model,
    with ``score`` the workload's metric, and per dataset × model: metric, prior ratio,
    long-tailed, test size, devices, device read and the Workload. None when unanswerable."""
    finals, epochs, info = [], [], []
    for w in found:
        mine = scenarios.with_variant(w.final[w.final["trainer"] == TRAINER])
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
        run = [*tables.RUN, "validation"]
        every = scenarios.with_variant(w.rows).merge(mine[run], on=run)
        epochs.append(every.assign(score=every[metric]))
        n_test = len(w.data.test_y) if w.data is not None else math.nan
        per_seed = w.data is not None and verdicts.test_per_seed(w.data)
        chance = (
            verdicts.chance_level(w.data.test_y.numpy(), metric) if w.data is not None else math.nan
        )
        info.append(
            {
                "dataset": w.dataset,
                "model": w.model,
                "metric": metric,
                "prior_ratio": ratio,
                "long_tailed": tail,
                "n_test": n_test,
                "margin": margin(n_test, per_seed),
                "test_per_seed": per_seed,
                "chance": chance,
                "looks": race_looks(w, mine),
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
    rows = pd.concat(epochs, ignore_index=True)
    named = dict(zip(across.entries(final), settings.families(final), strict=True))
    final["entry"] = across.entries(final).map(named)
    rows["entry"] = across.entries(rows).map(named).fillna(rows["loss"])
    return final, rows, pd.DataFrame(info)


def margin(n_test: float, test_per_seed: bool = False) -> float:
    """The unit's declared margin: :func:`verdicts.margin_for` its test size (a practical one
    where the test set is drawn per seed); the default when the data are not loaded (the report
    says so)."""
    if math.isnan(n_test):
        return verdicts.MARGIN
    return verdicts.margin_for(int(n_test), test_per_seed=test_per_seed)


def selections(final: pd.DataFrame, rows: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The scores a verdict can be on, per run: ``last`` (the final rows) and, for the runs that
    recorded a validation accuracy every epoch, ``early_stopped`` (each run's row at the first
    epoch of its highest validation accuracy: what early stopping on the validation split
    gives). Without ``rows`` or such runs: ``last`` only."""
    found = {"last": final}
    if rows is None or "val_acc" not in rows or rows["val_acc"].isna().all():
        return found
    mine = rows.merge(final[[*tables.RUN, "validation"]], on=[*tables.RUN, "validation"])
    stopped = early_stopping.selected(mine, "early_stopped")
    if len(stopped):
        found["early_stopped"] = stopped
    return found


def verdict_frame(
    final: pd.DataFrame, info: pd.DataFrame, rows: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The rows of OUT/answer.csv (schema.ANSWER): the verdicts of every workload, each
    dataset × model at its own margin and with its race's looks (:func:`race_looks`), per
    validation protocol (runs tuned on a noisy split and on trusted labels are compared among
    themselves) and per score (:func:`selections`); best first, then equivalent, undecided,
    unstable and worse. A failure column the verdicts do not give is 0."""
    final = scenarios.with_variant(final)
    parts = []
    for r in info.itertuples():
        unit = final[(final["dataset"] == r.dataset) & (final["model"] == r.model)]
        scored = pd.concat(
            [
                frame.assign(selection=selection)
                for selection, frame in selections(unit, rows).items()
            ],
            ignore_index=True,
        )
        scores = scored.assign(
            diverged=scored["status"] == "diverged", entry=across.entries(scored)
        )
        if not math.isnan(r.chance):
            scores = scores.assign(chance=r.chance)
        table = verdicts.verdicts(scores, r.margin, looks=r.looks)
        parts.append(table.assign(metric=r.metric, n_test=r.n_test, prior_ratio=r.prior_ratio))
    answer = pd.concat(parts, ignore_index=True)
    for column in across.FAILURES:
        if column not in answer:
            answer[column] = 0
    units = {
        k: i for i, k in enumerate(dict.fromkeys(zip(info["dataset"], info["model"], strict=True)))
    }
    rank = {v: i for i, v in enumerate(("best", "equivalent", "undecided", "unstable", "worse"))}
    answer = answer.assign(
        _w=[
            (
                units[(d, m)],
                noise_order(n),
                *scenarios.variant_order(v, "validation"),
                *scenarios.variant_order(s, "selection"),
            )
            for d, m, n, v, s in answer[[*profiles.KEYS, *scenarios.VARIANT]].to_numpy()
        ],
        _v=answer["verdict"].map(rank),
    ).sort_values(["_w", "_v", "diff"], ascending=[True, True, False], kind="stable")
    return answer.drop(columns=["_w", "_v"])[list(schema.ANSWER)].reset_index(drop=True)


def race_looks(w, mine: pd.DataFrame) -> dict[str, int]:
    """Per noise level, the looks of the seed race that ran it (the verdicts spend α over them):
    run.json's record where its command logged one (``verdicts.looks``), else from the seeds the
    losses ran: 1 + ⌈(most − fewest) / seed round⌉ (the round from run.json's config, 2 when it
    is not there)."""
    logged = {}
    for command in w.meta.get("commands", []):
        said = command.get("verdicts", {}).get("looks")
        if said and (command.get("dataset"), command.get("model")) == (w.dataset, w.model):
            logged.update(said)
    step = int(w.meta.get("config", {}).get("seed_round") or 2)
    seeds = mine.groupby(["noise", "loss"])["seed"].nunique().groupby("noise")
    found = {noise: verdicts.looks(int(n.min()), step, int(n.max())) for noise, n in seeds}
    return {**found, **{k: int(v) for k, v in logged.items()}}


def read(out: Path) -> pd.DataFrame:
    """OUT/answer.csv as written by :func:`section` (booleans and numbers parsed)."""
    answer = pd.read_csv(Path(out) / "answer.csv", keep_default_na=False, na_values=["nan", ""])
    answer["no_spread"] = answer["no_spread"].astype(str).eq("True")
    for column in across.FAILURES:  # an answer.csv written before collapses were counted
        if column not in answer:
            answer[column] = 0
    answer = scenarios.with_variant(answer)
    answer["entry"] = settings.families(answer)  # older folders wrote the suite spec
    return answer
