"""The facts of the answer section, computed from the verdict frame (OUT/answer.csv) and the runs:
the per-workload and per-loss views, the units of dependent workloads, the scenario picks, the
near-duplicates and the aggregates. ``templates/answer.md.j2`` words them; tests check them
against answer.csv. Nothing here writes a sentence.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis import across, profiles, stats, verdicts
from bench.reporting import calibration, families
from bench.reporting.markdown import markdown_table

KEYS = profiles.KEYS
MARKS = {"best": "best", "equivalent": "≈", "worse": "worse", "undecided": "?"}
# Times to the target within this factor of each other are practically the same (timings on
# a shared 2-core machine vary by about this much from run to run).
TIME_MARGIN = 1.25
# A scenario's set is named in full up to this many entries; the answer table links the rest.
SHOWN = 8
# The heading each scenario is worded under in the template (its Markdown anchor).
ANCHORS = {
    "clean": "clean-labels",
    "noisy": "noisy-labels",
    "long_tailed": "long-tailed-data",
    "calibrated_before": "calibrated-probabilities",
    "calibrated_after": "calibrated-probabilities",
    "fastest": "fastest-to-the-target",
}


def picks(scenarios: list[dict]) -> list[dict]:
    """The rows of OUT/picks.csv (schema.PICKS), one per scenario of :func:`scenarios`."""
    return [
        {
            "scenario": s["name"],
            "anchor": ANCHORS[s["name"]],
            "measured": s["measured"],
            "pick": s.get("pick") or "",
            "set": ";".join(s.get("set", [])),
            "workloads": len(s.get("workloads", [])),
            "seeds": s.get("seeds", 0),
            "undecided": s.get("undecided", 0),
            "seeds_needed": s.get("seeds_needed", math.nan),
        }
        for s in scenarios
    ]


def facts(answer: pd.DataFrame, final: pd.DataFrame, rows: pd.DataFrame, info) -> dict:
    """Everything the answer template words (see the template for how)."""
    from bench.reporting import answer as section  # the constants the prose quotes

    answer = answer.assign(entry=across.entries(answer))
    keys = answer[KEYS].drop_duplicates()
    scores = final.assign(diverged=final["status"] == "diverged", entry=across.entries(final))
    table = profiles.means(profiles.seed_scores(final))
    duplicates = across.near_duplicates(answer)
    order = list(answer.groupby("entry")["diff"].mean().sort_values(ascending=False).index)
    order.sort(key=lambda e: e != across.REFERENCE)  # ce stays itself: the reference of P(>ce)
    counted = across.representatives(duplicates, order)
    arrays, unit_table, dropped = across.unit_runs(scores, answer)
    kept = {e: a for e, a in arrays.items() if counted.get(e, e) == e}
    unit_table = unit_table[[c for c in unit_table.columns if c in kept]]
    return {
        "workloads": len(keys),
        # the fewest seeds any workload's best ran: at 3 or fewer most verdicts stay undecided
        "fewest_seeds": int(answer.groupby(KEYS)["seeds"].max().min()),
        "undecided": int((answer["verdict"] == "undecided").sum()),
        "alpha": verdicts.ALPHA,
        "margin_default": verdicts.MARGIN,
        "margin_se": verdicts.MARGIN_SE,
        "long_tail": section.LONG_TAIL,
        "target_fraction": section.TARGET_FRACTION,
        "time_margin": TIME_MARGIN,
        "bins": ece_bins(),
        "units": units(answer, info),
        "guessed_margins": [
            f"{r.dataset} · {r.model}" for r in info.itertuples() if math.isnan(r.n_test)
        ],
        "workload_table": markdown_table(workload_view(answer)),
        "loss_table": markdown_table(loss_view(answer)),
        "counts": verdict_counts(answer),
        "scenarios": scenarios(answer, scores, rows, table, info),
        "duplicates": duplicates.to_dict("records"),
        "counted_as": {e: c for e, c in counted.items() if e != c},
        "aggregate": aggregate(kept, unit_table, dropped),
        **entry_profiles(final, rows, section.TARGET_FRACTION),
    }


def entry_profiles(final: pd.DataFrame, rows: pd.DataFrame, fraction: float) -> dict:
    """``gaps`` and ``ratios`` of the performance profiles, per suite entry: a profile is a
    share of all workloads, so each loss is followed across them by its entry (``gce``), not by
    the setting that won tuning on one (``gce:q=0.7`` here, ``gce:q=0.3`` there), which would
    cap its profile at the share of workloads where that setting won."""
    final = final.assign(loss=across.entries(final))
    table = profiles.means(profiles.seed_scores(final))
    times = profiles.time_to_target(rows.assign(loss=across.entries(rows)), table, fraction)
    return {"gaps": profiles.gaps(table), "ratios": profiles.ratios(times)}


def units(answer: pd.DataFrame, info) -> list[dict]:
    """Per dataset × model: its noise levels, seeds per level, margin, metric and test size."""
    out = []
    for r in info.itertuples():
        mine = answer[(answer["dataset"] == r.dataset) & (answer["model"] == r.model)]
        seeds = mine.groupby("noise", sort=False)["seeds"].max()
        out.append(
            {
                "dataset": r.dataset,
                "model": r.model,
                "metric": r.metric,
                "noise": list(seeds.index),
                "seeds": [int(s) for s in seeds],
                "margin": float(mine["margin"].iloc[0]),
                "n_test": r.n_test,
                "prior_ratio": r.prior_ratio,
                "long_tailed": bool(r.long_tailed),
            }
        )
    return out


def workload_view(answer: pd.DataFrame) -> pd.DataFrame:
    """One row per workload: metric, seeds, δ, the best with its score, and the verdict counts
    (diverged runs beside)."""
    rows = []
    for key, group in answer.groupby(KEYS, sort=False):
        best = group[group["verdict"] == "best"]
        count = group["verdict"].value_counts()
        rows.append(
            {
                "workload": workload_name(key),
                "score": group["metric"].iloc[0],
                "seeds": int(group["seeds"].max()),
                "δ (points)": f"{100 * group['margin'].iloc[0]:.2g}",
                "best": f"{best['loss'].iloc[0]} ({best['score'].iloc[0]:.4f})"
                if len(best)
                else "—",
                **{v: int(count.get(v, 0)) for v in ("equivalent", "worse", "undecided")},
                "diverged runs": int(group["diverged"].sum()),
            }
        )
    return pd.DataFrame(rows)


def loss_view(answer: pd.DataFrame) -> pd.DataFrame:
    """One row per entry: its family, the workloads where it is best, equivalent, worse,
    undecided, its runs diverged, and its median gap to the best in points."""
    rows = []
    for entry, group in answer.groupby("entry", sort=False):
        count = group["verdict"].value_counts()
        rows.append(
            {
                "loss": entry,
                "family": families.family(entry),
                **{v: int(count.get(v, 0)) for v in verdicts.VERDICTS},
                "diverged runs": int(group["diverged"].sum()),
                "median gap (points)": f"{100 * group['diff'].median():+.2f}",
            }
        )
    view = pd.DataFrame(rows)
    return view.sort_values(
        ["best", "equivalent", "worse"], ascending=[False, False, True], kind="stable"
    )


def verdict_counts(answer: pd.DataFrame) -> dict:
    """{workload name: {verdict: count}} over the frame."""
    return {
        workload_name(k): {v: int((g["verdict"] == v).sum()) for v in verdicts.VERDICTS}
        for k, g in answer.groupby(KEYS, sort=False)
    }


def scenario_keys(answer: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The workloads (rows of KEYS) of each accuracy scenario, from the verdict frame alone:
    clean (no noise, not long-tailed), noisy (each dataset × model's strongest symmetric noise),
    long-tailed (no noise, ``prior_ratio`` ≥ the answer's LONG_TAIL)."""
    from bench.reporting import answer as section

    keys = answer[[*KEYS, "prior_ratio"]].drop_duplicates(KEYS)
    tailed = keys["prior_ratio"].map(section.long_tailed)
    keys = keys[KEYS]
    clean = keys[(keys["noise"] == "none") & ~tailed]
    symmetric = keys[keys["noise"].str.startswith("sym:")]
    level = symmetric["noise"].str.split(":").str[1].astype(float)
    strongest = level.groupby([symmetric["dataset"], symmetric["model"]]).transform("max")
    return {
        "clean": clean,
        "noisy": symmetric[level == strongest],
        "long_tailed": keys[(keys["noise"] == "none") & tailed],
    }


def scenarios(answer, scores, rows, table, info) -> list[dict]:
    """The picks, each :func:`across.scenario`'s facts with its ``name``, ``measured``, the
    workloads' ``names`` and their distinct ``bests``."""
    out = []
    for name, keys in scenario_keys(answer).items():
        found = across.scenario(answer, keys) if len(keys) else {}
        out.append({"name": name, "measured": bool(len(keys)), **found})
    for scaling in ("before", "after"):
        ece = with_entries(ece_answer(info, scaling), scores)
        found = across.scenario(ece, ece[KEYS]) if len(ece) else {}
        if found:
            found["ece"] = lowest_ece(ece, info, scaling)
        out.append({"name": f"calibrated_{scaling}", "measured": bool(len(ece)), **found})
    times = with_entries(time_answer(rows, table), scores)
    found = across.scenario(times, times[KEYS]) if len(times) else {}
    if found:
        first = times[times["verdict"] == "best"]["loss"].value_counts()
        found["first"] = {k: int(v) for k, v in first.items()}
    out.append({"name": "fastest", "measured": bool(len(times)), **found})
    for s in out:
        s["names"] = [workload_name(k) for k in s.get("workloads", [])]
        s["bests"] = list(dict.fromkeys(s.get("best", {}).values()))
    return out


def with_entries(frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (verdicts per workload and tuned spec) with each spec's suite ``entry``, so a
    scenario follows a loss across workloads whose tuning chose different settings of it. A spec
    that two entries both chose on one workload stands for each of them."""
    if frame.empty or "entry" not in scores:
        return frame
    specs = scores[[*KEYS, "loss", "entry"]].drop_duplicates()
    return frame.merge(specs, on=[*KEYS, "loss"], how="left")


def ece_runs(info) -> pd.DataFrame:
    """ECE of each clean run with saved weights (the calibration section's measurement), on the
    device each dataset × model is read on: workload columns, loss, seed, scaling, ece."""
    parts = []
    for r in info.itertuples():
        measured = calibration.measured(r.workload)
        if measured is None:
            continue
        metrics = measured[0]
        metrics = metrics[metrics["device"] == r.device]
        parts.append(metrics.assign(dataset=r.dataset, model=r.model, noise="none"))
    columns = [*KEYS, "loss", "seed", "scaling", "ece"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def ece_answer(info, scaling: str) -> pd.DataFrame:
    """Verdicts on ECE (lower is better: the score is −ECE) of the clean workloads, at the same
    margin as the workload's accuracy (an ECE is an average of accuracy gaps on the same test
    set, so the test set resolves it no finer)."""
    runs = ece_runs(info)
    runs = runs[runs["scaling"] == scaling]
    if runs.empty:
        return pd.DataFrame(columns=[*KEYS, "loss", "verdict"])
    parts = []
    for r in info.itertuples():
        mine = runs[(runs["dataset"] == r.dataset) & (runs["model"] == r.model)]
        if mine.empty:
            continue
        margin = verdicts.MARGIN if math.isnan(r.n_test) else verdicts.margin_for(int(r.n_test))
        parts.append(verdicts.verdicts(mine.assign(score=-mine["ece"], diverged=False), margin))
    answer = pd.concat(parts, ignore_index=True)
    answer["score"] = -answer["score"]  # back to ECE for the facts
    return answer


def lowest_ece(ece: pd.DataFrame, info, scaling: str) -> list[dict]:
    """Per clean workload: the lowest-ECE loss, its mean ECE and 95% t interval over seeds."""
    runs = ece_runs(info)
    runs = runs[runs["scaling"] == scaling]
    out = []
    for key, group in ece[ece["verdict"] == "best"].groupby(KEYS, sort=False):
        loss = group["loss"].iloc[0]
        mine = runs.merge(pd.DataFrame([key], columns=KEYS), on=KEYS)
        mean, _, half = stats.mean_ci(mine.loc[mine["loss"] == loss, "ece"])
        out.append(
            {
                "workload": workload_name(key),
                "loss": loss,
                "ece": mean,
                "lower": mean - half,
                "upper": mean + half,
            }
        )
    return out


def time_answer(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Verdicts on the time to the target (the score is −log seconds; a run that never reaches
    it counts as a failure), margin log TIME_MARGIN."""
    from bench.reporting import answer as section

    runs = profiles.run_seconds(rows, table, section.TARGET_FRACTION)
    if runs.empty:
        return pd.DataFrame(columns=[*KEYS, "loss", "verdict"])
    never = ~np.isfinite(runs["seconds"])
    runs = runs.assign(score=-np.log(runs["seconds"].where(~never)), diverged=never)
    answer = verdicts.verdicts(runs, math.log(TIME_MARGIN))
    answer["score"] = np.exp(-answer["score"])  # back to seconds
    return answer


def aggregate(arrays: dict, unit_table: pd.DataFrame, dropped: list) -> dict:
    """The aggregates over units: autorank's Friedman/Nemenyi result, rliable's IQM and the
    probability of improvement over ce, with the workloads left out."""
    result = across.critical_difference(unit_table)
    iqm = across.iqm(arrays).sort_values("iqm", ascending=False)
    better = across.improvement(arrays)
    facts = {
        "units": list(unit_table.index),
        "losses": len(unit_table.columns),
        "runs": next(iter(arrays.values())).shape[0] if arrays else 0,
        "dropped": [workload_name(k) for k in dropped],
        "cd": result,
        "iqm": iqm,
        "improvement": better.sort_values("probability", ascending=False),
    }
    if result is not None:
        ranks = result.rankdf["meanrank"]
        top = ranks.min()
        facts.update(
            friedman_p=float(result.pvalue),
            cd_value=float(result.cd),
            within_cd=[e for e, r in ranks.items() if r - top <= result.cd],
            top=ranks.idxmin(),
        )
    facts["above_ce"] = better.loc[better["lower"] > 0.5, "entry"].tolist()
    facts["below_ce"] = better.loc[better["upper"] < 0.5, "entry"].tolist()
    return facts


def ece_bins() -> int:
    from bench.analysis import calibration as measures

    return measures.BINS


def workload_name(key) -> str:
    dataset, model, noise = key
    return f"{dataset} · {model} · {'clean' if noise == 'none' else noise}"
