"""Tuning: the setting of its own hyperparameters and the rate that won each loss's search, per
noise level, the searches as a figure (a row of panels per loss family, a column per noise
level), what the validation split could resolve at each level in clean-accuracy points, and how
well the screening rung ranked the settings that ran in full (bench.analysis.resolving)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from bench import schema
from bench.analysis import resolving, tables
from bench.datasets import validation as protocols
from bench.reporting import families, figures, prose, scenarios
from bench.reporting import workload as workloads
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload

# How tuning.csv names the score a search selected by (bench.study.tune.METRICS), in words.
METRIC_WORDS = {"accuracy": "accuracy", "balanced_acc": "balanced accuracy"}
# Lines in one axis of the figure at most (STYLE.md: more becomes small multiples).
LINES = 8


def facts(w: Workload) -> dict:
    """What the section states: ``chosen`` (tables.tuning's frame for this workload), the
    metrics the searches selected by and whether that is the verdicts' score here, the noise
    levels searched (clean first) and those of runs no search ran at (``untuned``), whether any
    loss had settings of its own to choose, the first rung's trials per search (fewest and
    most), the search's epochs (one level, or a screen of every trial then the ``kept`` best
    for longer), the validation split and why stacking was skipped."""
    cache = w.caches["tuning"]
    if cache.empty:
        return {"tuned": False}
    chosen = tables.tuning(cache)
    trials = tables.tuning_trials(cache)
    levels = sorted(trials["epochs"].unique())
    searches = trials.groupby(tables.TUNING_KEYS)
    first = trials[trials["epochs"] == levels[0]].groupby(tables.TUNING_KEYS).size()
    full = trials[trials["epochs"] == levels[-1]].groupby(tables.TUNING_KEYS).size()
    metrics = sorted(chosen["metric"].unique())
    verdicts_by = "balanced_acc" if scenarios.long_tailed(workloads.prior_ratio(w)) else "accuracy"
    return {
        "tuned": True,
        "chosen": chosen,
        "metrics": metrics,
        "verdicts_by": verdicts_by,
        "same_score": metrics == [verdicts_by],
        "levels": sorted(chosen["noise"].unique(), key=workloads.noise_order),
        "untuned": sorted(set(w.final["noise"]) - set(chosen["noise"]), key=workloads.noise_order),
        "settings": int(searches["loss"].nunique().max()),
        "fewest": int(first.min()),
        "most": int(first.max()),
        "epochs": int(levels[-1]),
        "screen_epochs": int(levels[0]) if len(levels) > 1 else None,
        "kept": int(full.max()),
        "held_out": w.held_out(),
        # the trusted-label protocols searched beside the noisy split (bench.datasets.validation)
        "trusted": [protocols.parse(v).size for v in trials["validation"].unique() if v != "noisy"],
        "stacked_skipped": w.skipped("stacked tuning"),
        # searches whose trials were scored at their best epoch, as the runs early-stop
        "early_stopped": bool((trials["selection"] == "early_stopped").any()),
    }


def winners(chosen: pd.DataFrame) -> pd.DataFrame:
    """One row per loss (its suite entry, by family), one column per noise level (clean first):
    "setting @ rate", the spec string that won and its rate. A second device adds a column.

    Shape: chosen (S, 12) -> (entries, 1 + noise levels [+ 1])."""
    cells = chosen.assign(cell=chosen["loss"] + " @ " + chosen["lr"].map("{:.2g}".format))
    validation = cells["validation"] if "validation" in cells else pd.Series("noisy", cells.index)
    # a search on trusted labels gets a column of its own beside the noisy one
    column = [_level_name(n, v) for n, v in zip(cells["noise"], validation, strict=True)]
    order = {
        c: (v != "noisy", workloads.noise_order(n))
        for c, n, v in zip(column, cells["noise"], validation, strict=True)
    }
    cells = cells.assign(column=column)
    index = ["entry", "device"] if cells["device"].nunique() > 1 else ["entry"]
    wide = cells.pivot_table(index=index, columns="column", values="cell", aggfunc="first")
    levels = sorted(wide.columns, key=order.get)
    wide = wide[levels].reset_index()
    wide.columns.name = None
    first = {e: i for i, e in enumerate(dict.fromkeys(chosen["entry"]))}
    order = wide["entry"].map(lambda e: (families.rank(families.family(e)), first[e]))
    wide = wide.iloc[order.argsort(kind="stable")].rename(columns={"entry": "loss"})
    return wide.reset_index(drop=True)


def section(w: Workload) -> str:
    found = facts(w)
    if not found["tuned"]:
        return prose.render("tuning", tuned=False)
    chosen = found.pop("chosen")
    searches_seen, screens = seen(w)
    levels = resolving.by_level(searches_seen)
    return prose.render(
        "tuning",
        table=markdown_table(winners(chosen)),
        figure=figure(w),
        resolving=_resolving_facts(levels),
        resolving_table=markdown_table(resolving_table(levels)) if len(levels) else "",
        screen_table=markdown_table(screen_table(screens)) if len(screens) else "",
        blind_se=resolving.BLIND_SE,
        blind_clean=100 * resolving.BLIND_CLEAN,
        metric_words=[METRIC_WORDS.get(m, m) for m in found["metrics"]],
        verdict_words=METRIC_WORDS.get(found["verdicts_by"]),
        **found,
    )


def seen(w: Workload) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What this workload's searches could see: OUT/resolving.csv's and OUT/screening.csv's rows
    of it, or where the study predates them, the same computed from tuning.csv and the data."""
    saved = [
        tables.of_workload(tables.read_cache(w.out / name, columns), w.dataset, w.model)
        for name, columns in (
            ("resolving.csv", schema.RESOLVING),
            ("screening.csv", schema.SCREENING),
        )
    ]
    if not saved[0].empty or w.data is None:
        return saved[0], saved[1]
    cache = w.caches["tuning"]
    keys = cache.assign(
        validation=cache.get("validation", pd.Series("noisy", index=cache.index)).fillna("noisy")
    )[["validation", "noise"]].drop_duplicates()
    slopes, sizes = {}, {}
    for spec, level in keys.itertuples(index=False):
        key = (w.dataset, spec, level)
        slopes[key] = resolving.noise_slope(w.data, level, spec)
        sizes[key] = resolving.validation_size(w.data, spec, level)
    return resolving.frame(cache, slopes, sizes), resolving.screen_ranks(cache)


def _level_name(level: str, validation: str) -> str:
    name = "clean" if level == "none" else level
    return name if validation == "noisy" else f"{name}, {validation}"


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-level rows, the noisy protocol first, then clean first within each."""
    key = frame["noise"].map(workloads.noise_order)
    return frame.assign(key=key).sort_values(["validation", "key"], kind="stable")


def _resolving_facts(levels: pd.DataFrame) -> list[dict]:
    """Per level (clean first): its name, the slope, one standard error and the resolvable
    difference in clean points, and the searches tuned blind of all."""
    if levels.empty:
        return []
    return [
        {
            "level": _level_name(row.noise, row.validation),
            "slope": row.slope,
            "se_points": 100 * row.se_clean,
            "resolvable_points": 100 * row.resolvable,
            "blind": int(row.blind),
            "losses": int(row.losses),
        }
        for row in _ordered(levels).itertuples(index=False)
    ]


def resolving_table(levels: pd.DataFrame) -> pd.DataFrame:
    """One row per level: the slope of the validation score in clean accuracy, one standard
    error and the smallest difference the split resolves (medians over losses, clean points),
    and the losses tuned blind."""
    facts = _resolving_facts(levels)
    return pd.DataFrame(
        {
            "level": [f["level"] for f in facts],
            "slope": [f"{f['slope']:.2f}" for f in facts],
            "1 SE (clean points)": [f"{f['se_points']:.2f}" for f in facts],
            "resolvable (clean points)": [f"{f['resolvable_points']:.1f}" for f in facts],
            "tuned blind": [f"{f['blind']} of {f['losses']}" for f in facts],
        }
    )


def screen_table(screens: pd.DataFrame) -> pd.DataFrame:
    """One row per level: the screen's and full training's epochs, Spearman's ρ between their
    scores within a loss (mean) and pooled, and the share of losses whose screen-best won."""
    rows = _ordered(screens)
    return pd.DataFrame(
        {
            "level": [_level_name(r.noise, r.validation) for r in rows.itertuples()],
            "epochs": [f"{r.screen_epochs} → {r.full_epochs}" for r in rows.itertuples()],
            "ρ within a loss": [f"{r:.2f}" for r in rows["rho_within"]],
            "ρ pooled": [f"{r:.2f}" for r in rows["rho_pooled"]],
            "screen's best won": [f"{100 * s:.0f}%" for s in rows["screen_best_won"]],
            "candidates": rows["candidates"].astype(int).tolist(),
        }
    )


def searches(cache: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The first rung of each search (the trials every setting ran; each validation protocol's
    searches their own, e.g. a 10-epoch screen with trusted labels beside a 3-epoch one with
    noisy labels): per (noise, validation, entry, rate), the best validation score over the
    entry's settings, in a column per search ("score none", "score sym:0.8",
    "score sym:0.8 trusted:1000", ...), with ``loss`` the entry, ``column`` the search's name
    and ``rung`` its first rung's epochs, and the searches' names (clean first, the noisy
    protocol before the others). A rate at which every setting diverged is NaN (a gap).

    Shape: cache (T, 5+) -> ((rows, 5 + searches), searches)."""
    cache = tables.tuning_trials(cache)  # epochs typed as int there
    rung = cache.groupby(["noise", "validation"], sort=False)["epochs"].transform("min")
    first = cache[cache["epochs"] == rung]
    best = (
        first.groupby(["noise", "validation", "entry", "lr"], sort=False)
        .agg(val_score=("val_score", "max"), rung=("epochs", "first"))
        .reset_index()
    )
    best["column"] = best["noise"].where(
        best["validation"] == "noisy", best["noise"] + " " + best["validation"]
    )
    order = best.drop_duplicates("column").sort_values(
        ["noise", "validation"],
        key=lambda c: c.map(workloads.noise_order) if c.name == "noise" else c != "noisy",
    )
    columns = order["column"].tolist()
    wide = best.rename(columns={"entry": "loss"})
    for column in columns:
        wide[f"score {column}"] = wide["val_score"].where(wide["column"] == column)
    return wide.drop(columns="val_score"), columns


def rows(entries, size: int = LINES) -> list[tuple[str, list[str]]]:
    """The figure's rows: each family's entries (FAMILY_ORDER, then first seen), in chunks of
    at most ``size`` so that no axis holds more lines; a split family's rows are numbered."""
    frame = pd.DataFrame({"loss": list(dict.fromkeys(entries))})
    return [(name, chunk["loss"].tolist()) for name, chunk in families.chunks(frame, size=size)]


def figure(w: Workload) -> str:
    """Validation score against the rate, the best setting at each rate, in each search's first
    rung: a row of panels per family (at most LINES lines an axis), a column per noise level
    and validation protocol, each column on one scale."""
    wide, levels = searches(w.caches["tuning"])
    rungs = wide.drop_duplicates("column").set_index("column")["rung"]
    grid = rows(wide["loss"])
    palette = families.palette(wide["loss"])
    fig, axes = plt.subplots(
        len(grid),
        len(levels),
        squeeze=False,
        sharex=True,
        figsize=(4.2 * len(levels) + 2, 2.4 * len(grid)),
    )
    for r, (name, chunk) in enumerate(grid):
        for c, level in enumerate(levels):
            ax = axes[r, c]
            shown = wide[wide["loss"].isin(chunk) & (wide["column"] == level)]
            for entry, line in shown.groupby("loss", sort=False):
                ax.plot(
                    line["lr"],
                    line[f"score {level}"],
                    marker="o",
                    ms=3,
                    lw=1.2,
                    color=palette[entry],
                    label=entry,
                )
            ax.set_xscale("log")
            if shown.empty:  # this family's searches at this level are not finished
                ax.axis("off")
            ax.tick_params(which="both", labelsize=7)
            if r == 0:
                title = "clean" if level == "none" else level
                ax.set_title(f"{title} ({rungs[level]}-epoch rung)", fontsize=9)
            if r == len(grid) - 1:
                ax.set_xlabel("learning rate (peak of the schedule)", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{name}\nvalidation score", fontsize=8)
        handles = {}  # every loss of the row once, whichever level it ran at
        for ax in axes[r]:
            handles.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
        if handles:
            axes[r, -1].legend(
                list(handles.values()),
                list(handles),
                loc="upper left",
                bbox_to_anchor=(1.02, 1),
                fontsize=7,
                frameon=False,
            )
    for c in range(len(levels)):
        drawn = [ax for ax in axes[:, c] if ax.lines]
        if drawn:
            low = min(ax.get_ylim()[0] for ax in drawn)
            high = max(ax.get_ylim()[1] for ax in drawn)
            for ax in drawn:
                ax.set_ylim(low, high)
    fig.suptitle(
        "Validation score of each loss's best setting at each rate"
        + ("\n" if len(levels) < 2 else " ")
        + "(each search's first rung, every trial; gaps: diverged)",
        fontsize=10,
    )
    fig.tight_layout()
    return figures.image("tuning", fig, w, "tuning.png")
