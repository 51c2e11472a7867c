"""The facts of the answer section, computed from the verdict frame (OUT/answer.csv) and the runs:
the per-workload and per-loss views, the units of dependent workloads, the scenario picks, the
near-duplicates and the aggregates. ``templates/answer.md.j2`` words them; tests check them
against answer.csv. Nothing here writes a sentence.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis import across, profiles, settings, verdicts
from bench.analysis import calibration as measures
from bench.reporting import calibration, families, noisy, scenarios
from bench.reporting.markdown import markdown_table

KEYS = profiles.KEYS
VARIANT = list(scenarios.VARIANT)
# The time scenario's target per workload: this share of the workload's best final mean score.
TARGET_FRACTION = 0.95
# Times to the target within this factor of each other are practically the same (timings on
# a shared 2-core machine vary by about this much from run to run).
TIME_MARGIN = 1.25
# A scenario's set is named in full up to this many entries; the answer table links the rest.
SHOWN = 8
# A figure's row names this many of a family's settings; the rest are counted.
LABELLED = 2


def primary(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the default protocol: a noisy validation split and, for verdicts, the last
    epoch's score. The aggregates, profiles, calibration and times are read on these, so runs
    of another protocol never pair with them."""
    frame = scenarios.with_variant(frame)
    keep = frame["validation"] == scenarios.DEFAULTS["validation"]
    if "verdict" in frame:
        keep &= frame["selection"] == scenarios.DEFAULTS["selection"]
    return frame[keep]


def facts(answer: pd.DataFrame, final: pd.DataFrame, rows: pd.DataFrame, info) -> dict:
    """Everything the answer template words (see the template for how)."""
    answer = scenarios.with_variant(answer)
    answer = answer.assign(entry=across.entries(answer))
    main, final, rows = primary(answer), primary(final), primary(rows)
    scores = final.assign(diverged=final["status"] == "diverged", entry=across.entries(final))
    table = profiles.means(profiles.seed_scores(final))
    duplicates = across.near_duplicates(main)
    order = list(main.groupby("entry")["diff"].mean().sort_values(ascending=False).index)
    order.sort(key=lambda e: e != across.REFERENCE)  # ce stays itself: the reference of P(>ce)
    counted = across.representatives(duplicates, order)
    arrays, unit_table, dropped = across.unit_runs(scores, main)
    kept = {e: a for e, a in arrays.items() if counted.get(e, e) == e}
    unit_table = unit_table[[c for c in unit_table.columns if c in kept]]
    found = scenario_facts(answer, scores, rows, table, info)
    return {
        "workloads": len(main[KEYS].drop_duplicates()),
        # the fewest seeds any workload's best ran: at 3 or fewer most verdicts stay undecided
        "fewest_seeds": int(answer.groupby(KEYS)["seeds"].max().min()),
        "undecided": int((answer["verdict"] == "undecided").sum()),
        "failed_runs": failed_runs(answer),
        "alpha": verdicts.ALPHA,
        "margin_default": verdicts.MARGIN,
        "margin_se": verdicts.MARGIN_SE,
        "margin_practical": verdicts.PRACTICAL,
        "reference_text": verdicts.REFERENCE_TEXT,
        "long_tail": scenarios.LONG_TAIL,
        "target_fraction": TARGET_FRACTION,
        "time_margin": TIME_MARGIN,
        "bins": ece_bins(),
        "ece_margin": measures.ECE_MARGIN,
        "cross_fit_folds": measures.CROSS_FIT_FOLDS,
        "units": units(main, info),
        "guessed_margins": [
            f"{r.dataset} · {r.model}" for r in info.itertuples() if math.isnan(r.n_test)
        ],
        "variants": variants(answer),
        "workload_table": markdown_table(workload_view(answer)),
        "loss_table": markdown_table(loss_view(main)),
        "row_labels": row_labels(answer),
        "counts": verdict_counts(answer),
        "scenarios": found,
        "finding": [s for s in found if s["measured"] and s["name"] in ACCURACY],
        "noisy_answers": noisy.answers(answer),
        "closed": noisy.closed_by_early_stopping(answer),
        "duplicates": duplicates.to_dict("records"),
        "counted_as": {e: c for e, c in counted.items() if e != c},
        "aggregate": aggregate(kept, unit_table, dropped),
        **entry_profiles(final, rows, TARGET_FRACTION),
    }


ACCURACY = ("noisy_memorising", "clean", "noisy_linear", "long_tailed")


def variants(answer: pd.DataFrame) -> dict:
    """Which validation protocols and score selections the frame holds (the template shows a
    column or a sentence for a variant only where there is more than one)."""
    return {
        "validation": sorted(
            answer["validation"].unique(), key=lambda v: scenarios.variant_order(v, "validation")
        ),
        "selection": sorted(
            answer["selection"].unique(), key=lambda v: scenarios.variant_order(v, "selection")
        ),
    }


def failed_runs(answer: pd.DataFrame) -> dict:
    """Failed runs over the frame's last-epoch verdicts, by kind (diverged, collapsed, at
    chance): counted, never averaged into a score."""
    last = answer[answer["selection"] == "last"]
    return {c: int(last[c].fillna(0).sum()) for c in across.FAILURES if c in last}


def entry_profiles(final: pd.DataFrame, rows: pd.DataFrame, fraction: float) -> dict:
    """``gaps`` and ``ratios`` of the performance profiles, per family (``entry``): a profile
    is a share of all workloads, so each loss is followed across them by its family (``gce``),
    not by the setting that won tuning on one (``gce:q=0.3`` here, ``gce:q=0.5`` there), which
    would cap its profile at the share of workloads where that setting won."""
    final = final.assign(loss=across.entries(final))
    table = profiles.means(profiles.seed_scores(final))
    times = profiles.time_to_target(rows.assign(loss=across.entries(rows)), table, fraction)
    return {"gaps": profiles.gaps(table), "ratios": profiles.ratios(times)}


def units(answer: pd.DataFrame, info) -> list[dict]:
    """Per dataset × model: its noise levels, seeds per level, margin, metric and test size."""
    out = []
    for r in info.itertuples():
        mine = answer[(answer["dataset"] == r.dataset) & (answer["model"] == r.model)]
        if mine.empty:
            continue
        seeds = mine.groupby("noise", sort=False)["seeds"].max()
        out.append(
            {
                "dataset": r.dataset,
                "model": r.model,
                "metric": r.metric,
                "noise": list(seeds.index),
                "seeds": [int(s) for s in seeds],
                "margin": float(mine["margin"].iloc[0]),
                "looks": int(max(r.looks.values(), default=1)),
                "n_test": r.n_test,
                "prior_ratio": r.prior_ratio,
                "long_tailed": bool(r.long_tailed),
            }
        )
    return out


def workload_view(answer: pd.DataFrame) -> pd.DataFrame:
    """One row per workload (and validation protocol and score, where the frame has more than
    one): metric, seeds, δ, the best setting with its score, the verdict counts and the failed
    runs beside (diverged, collapsed, at chance)."""
    several = {c: answer[c].nunique() > 1 for c in VARIANT}
    rows = []
    for key, group in answer.groupby([*KEYS, *VARIANT], sort=False):
        best = noisy.top(group)
        count = group["verdict"].value_counts()
        words = scenarios.variant_words(key[3], key[4])
        rows.append(
            {
                "workload": workload_name(key[:3]),
                **{c: words[c] for c in VARIANT if several[c]},
                "score": group["metric"].iloc[0],
                "seeds": int(group["seeds"].max()),
                "δ (points)": f"{100 * group['margin'].iloc[0]:.2g}",
                "best": f"{best['loss'].iloc[0]} ({best['score'].iloc[0]:.4f})"
                if len(best)
                else "—",
                **{
                    v: int(count.get(v, 0))
                    for v in ("equivalent", "worse", "undecided", "unstable")
                },
                **{
                    f"{c} runs": int(group[c].fillna(0).sum())
                    for c in across.FAILURES
                    if c in group
                },
            }
        )
    view = pd.DataFrame(rows)
    # collapses and chance are columns only where some run had one (diverged always shows)
    quiet = [f"{c} runs" for c in across.FAILURES[1:] if f"{c} runs" in view]
    return view.drop(columns=[c for c in quiet if not view[c].any()])


def row_labels(answer: pd.DataFrame) -> dict[str, str]:
    """{family: its label in a figure}: the family with each setting that trained and on how
    many workloads, the most frequent LABELLED first, "gce: q=0.3 (6), q=0.5 (4)", then how
    many more; the family alone when it ran as written."""
    trained = settings.per_workload(answer, KEYS)
    trained = trained[trained["tuned"] != ""]
    said = trained.groupby("entry", sort=False).apply(
        lambda g: ", ".join(
            [
                f"{t.replace(':', ' ')} ({n})"
                for t, n in zip(g["tuned"][:LABELLED], g["workloads"][:LABELLED], strict=True)
            ]
            + ([f"{len(g) - LABELLED} more"] if len(g) > LABELLED else [])
        ),
        include_groups=False,
    )
    return {e: f"{e}: {text}" for e, text in said.items()}


def loss_view(answer: pd.DataFrame) -> pd.DataFrame:
    """One row per family: the settings that trained (with the workloads each), the workloads
    it ran of all, where it is best, equivalent, worse, undecided, its failed runs and its
    median gap to the best in points."""
    total = len(answer[KEYS].drop_duplicates())
    trained = settings.per_workload(answer, KEYS)
    rows = []
    for entry, group in answer.groupby("entry", sort=False):
        count = group["verdict"].value_counts()
        mine = trained[(trained["entry"] == entry) & (trained["tuned"] != "")]
        rows.append(
            {
                "loss": entry,
                "settings that trained": ", ".join(
                    f"{t} ({n})" for t, n in zip(mine["tuned"], mine["workloads"], strict=True)
                )
                or "as written",
                "family": families.family(entry),
                "ran": f"{len(group)} of {total}",
                **{v: int(count.get(v, 0)) for v in verdicts.VERDICTS},
                "failed runs": int(across.failures(group).sum()),
                "median gap (points)": f"{100 * group['diff'].median():+.2f}",
            }
        )
    view = pd.DataFrame(rows)
    return view.sort_values(
        ["best", "equivalent", "worse"], ascending=[False, False, True], kind="stable"
    )


def verdict_counts(answer: pd.DataFrame) -> dict:
    """{workload name: {verdict: count}} over the frame's last-epoch, noisy-validation rows."""
    return {
        workload_name(k): {v: int((g["verdict"] == v).sum()) for v in verdicts.VERDICTS}
        for k, g in primary(answer).groupby(KEYS, sort=False)
    }


def scenario_facts(answer, scores, rows, table, info) -> list[dict]:
    """The scenarios: :func:`scenarios.accuracy`'s, then calibration before and after
    temperature scaling and the time to the target, each with ``names`` (its workloads in
    words) and ``bests`` (their distinct best families)."""
    out = scenarios.accuracy(answer)
    for scaling in ("before", "after"):
        ece = with_entries(calibration.ece_verdicts(info, scaling), scores)
        found = across.scenario(ece, ece[KEYS]) if len(ece) else {}
        if found:
            found["ece"] = lowest_ece(ece)
        out.append({"name": f"calibrated_{scaling}", "measured": bool(len(ece)), **found})
    times = with_entries(time_answer(rows, table), scores)
    found = across.scenario(times, times[KEYS]) if len(times) else {}
    if found:
        first = times[times["verdict"] == "best"]["entry"].value_counts()
        found["first"] = {k: int(v) for k, v in first.items()}
    out.append({"name": "fastest", "measured": bool(len(times)), **found})
    for s in out:
        s["anchor"] = scenarios.ANCHORS[s["name"]]
        s.setdefault("validation", scenarios.DEFAULTS["validation"])
        s.setdefault("selection", scenarios.DEFAULTS["selection"])
        s["said"] = scenarios.variant_words(s["validation"], s["selection"])
        s["names"] = [workload_name(k[:3]) for k in s.get("workloads", [])]
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


def lowest_ece(ece: pd.DataFrame) -> list[dict]:
    """Per clean workload of an ECE verdict frame (:func:`calibration.ece_verdicts`): the
    lowest-mean-ECE loss (its top mean of −ECE), its mean ECE and bootstrap interval."""
    out = []
    for key, group in ece.groupby(KEYS, sort=False):
        row = noisy.top(group)
        if row.empty:
            continue
        row = row.iloc[0]
        out.append(
            {
                "workload": workload_name(key),
                "loss": row["loss"],
                "ece": float(row["ece"]),
                "lower": float(row["ece_lower"]),
                "upper": float(row["ece_upper"]),
            }
        )
    return out


def time_answer(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Verdicts on the time to the target (the score is −log seconds; a run that never reaches
    it counts as a failure), margin log TIME_MARGIN."""
    runs = profiles.run_seconds(rows, table, TARGET_FRACTION)
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
    return measures.BINS


workload_name = scenarios.workload_name
