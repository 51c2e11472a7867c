"""Which loss should I use? One answer across workloads (dataset × model × noise level): the best
loss of each and the losses tied with it, each loss's mean rank, performance profiles of accuracy
and of time to a target, and which loss to pick for clean, noisy, long-tailed and calibrated use.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.lines import Line2D

import losses
from bench.analysis import calibration, evaluation, profiles, tables
from bench.reporting import figures
from bench.reporting.markdown import markdown_table
from bench.reporting.workload import Workload
from bench.training.stacked import STACKED
from losses.base import FAMILIES

TRAINER = "lossbench"
# Long-tailed: the training label prior's largest class over its smallest above this; without the
# data, a dataset spec with "_lt" in its name.
LONG_TAIL = 1.5
# The time profile's target per workload: this share of the workload's best final mean score.
TARGET_FRACTION = 0.95
# The profiles' x ranges: δ in accuracy (0.1 = 10 points) and τ as a multiple of the fastest.
DELTA_MAX, TAU_MAX = 0.10, 10.0
# The points of the profiles the mean-rank table quotes.
DELTA_READ, TAU_READ = 0.01, 2.0
METRIC_WORDS = {"test_acc": "test acc", "balanced_acc": "balanced acc"}
LINE_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)),
               (0, (3, 1, 1, 1))]  # fmt: skip


def section(found: list[Workload]) -> str:
    """The "Which loss should I use?" section of a folder's workloads ("" without runs)."""
    final, rows, info = gather(found)
    if final.empty:
        return ""
    scores = profiles.seed_scores(final)
    table = profiles.ties(scores)
    gaps = profiles.gaps(table)
    times = profiles.time_to_target(rows, table, TARGET_FRACTION)
    ratios = profiles.ratios(times)
    ranked = profiles.mean_ranks(table).merge(tie_counts(table), on="loss")
    ranked["family"] = ranked["loss"].map(family)
    for column, measure, x in (
        ("within_delta", gaps, DELTA_READ),
        ("within_tau", ratios, TAU_READ),
    ):
        share = profiles.profile(measure, [x]).set_index("loss")["share"]
        ranked[column] = ranked["loss"].map(share)
    text = [
        "## Which loss should I use?",
        "",
        intro(table, info, final),
        "",
        markdown_table(per_workload(table, times, info)),
        "",
        "### Mean rank over workloads",
        "",
        f"Rank 1 is the best of a workload (ties of the mean share their average rank); a loss "
        f"is ranked only on the workloads it ran on. 'Best or tied': workloads where it is the "
        f"best or tied with it; the last columns are the profiles below at δ = {DELTA_READ} and "
        f"τ = {TAU_READ:g}.",
        "",
        markdown_table(rank_table(ranked, len(table[profiles.KEYS].drop_duplicates()))),
        "",
        "### Performance profiles",
        "",
        f"In the manner of Dolan & Moré and MLCommons AlgoPerf: left, for each loss the share of "
        f"workloads where its mean score is within δ of the best; right, the share where its time "
        f"to the target is within τ× the fastest loss's. The target of a workload is "
        f"{TARGET_FRACTION:.0%} of its best final mean score; a loss's time is the mean over "
        f"seeds of the training seconds (cumulative epoch time) until the run's score first "
        f"reaches it; a run that never does, or diverges, makes the time infinite, so its "
        f"profile never counts that workload. A loss missing from a workload never counts "
        f"either. {concurrency(rows)}",
        "",
        figures.image("performance profiles", figure(gaps, ratios),
                      SimpleNamespace(out=found[0].out, prefix=""), "answer_profiles.png"),
        "",
        "### Which to pick",
        "",
        *reading(table, times, info),
    ]  # fmt: skip
    return "\n".join(text)


def long_tailed(w) -> bool:
    """Whether a workload's training labels are long-tailed: from its data's training prior when
    loaded, else from its dataset spec's name."""
    if w.data is not None:
        prior = w.data.prior
        return bool(prior.max() > LONG_TAIL * prior.min())
    return "_lt" in w.dataset


def gather(found: list[Workload]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Our trainer's finished runs of every workload (their final rows and every epoch), on one
    device per dataset × model, with ``score`` the workload's metric; and per dataset × model
    its metric, whether it is long-tailed, the device read and the devices it ran on."""
    finals, epochs, info = [], [], []
    for w in found:
        mine = w.final[w.final["trainer"] == TRAINER]
        if mine.empty:
            continue
        tail = long_tailed(w)
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
        info.append({"dataset": w.dataset, "model": w.model, "metric": metric,
                     "long_tailed": tail, "device": device, "devices": sorted(counts.index),
                     "workload": w})  # fmt: skip
    if not finals:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    return pd.concat(finals, ignore_index=True), pd.concat(epochs, ignore_index=True), \
        pd.DataFrame(info)  # fmt: skip


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


def family(spec: str) -> str:
    try:
        return losses.parse(spec).family or "user"
    except ValueError:  # a plug-in loss not imported in this process
        return "user"


def intro(table: pd.DataFrame, info: pd.DataFrame, final: pd.DataFrame) -> str:
    count = len(table[profiles.KEYS].drop_duplicates())
    text = (
        f"Across {count} workload{'s' if count > 1 else ''} (dataset × model × noise level) of "
        f"{TRAINER}'s finished runs. A workload's score is the final test accuracy, or on "
        f"long-tailed data the balanced accuracy (mean of per-class recalls); long-tailed means "
        f"a training label prior whose largest class exceeds {LONG_TAIL:g}× its smallest (from "
        f"the data's training labels, or from a dataset name with `_lt` where the data are not "
        f"loaded). A diverged run counts as a failure, score 0. The best loss has the highest "
        f"mean score over seeds; every other loss is compared with it seed by seed (runs of one "
        f"seed share their initial weights and batches): a two-sided paired t-test, its p-values "
        f"Holm-corrected over the workload's losses; tied when the adjusted p ≥ {profiles.P_TIED}."
    )
    if table["tied"].isna().any():
        text += (
            " Where fewer than two seeds of a loss pair with the best's, its tie cannot "
            "be judged (one seed)."
        )
    lost = final[final["status"] == "diverged"]
    if not lost.empty:
        text += " Diverged (scored 0): " + ", ".join(
            f"{r.loss} seed {r.seed} on {name((r.dataset, r.model, r.noise))}"
            for r in lost.itertuples()) + "."  # fmt: skip
    several = info[info["devices"].map(len) > 1]
    for r in several.itertuples():
        text += (f" {r.dataset} · {r.model} ran on {', '.join(r.devices)}; the answer reads "
                 f"{r.device} (the most runs).")  # fmt: skip
    tail = info[info["long_tailed"] & (info["metric"] == "test_acc")]
    for r in tail.itertuples():
        text += (f" {r.dataset} is long-tailed but its runs did not record balanced accuracy: "
                 "its score is the test accuracy.")  # fmt: skip
    return text


def per_workload(table: pd.DataFrame, times: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """One row per workload: its metric, seeds, best loss, the losses tied with it, the target
    and the loss that reached it first."""
    metrics = info.set_index(["dataset", "model"])
    rows = []
    for key, group in table.groupby(profiles.KEYS, sort=False):
        best = group.loc[group["loss"] == group["best"]].iloc[0]
        others = group[group["loss"] != best["loss"]].sort_values("score", ascending=False)
        tied = others[others["tied"] == True]  # noqa: E712 — object column with NaN
        unjudged = others[others["tied"].isna()]
        if len(unjudged) == len(others) and len(others):
            said = "cannot be judged (one seed)"
        else:
            said = ", ".join(f"{r.loss} ({r.score:.4f})" for r in tied.itertuples()) or "none"
            if len(unjudged):
                said += "; not judged (one seed): " + ", ".join(unjudged["loss"])
        mine = times.merge(pd.DataFrame([key], columns=profiles.KEYS), on=profiles.KEYS)
        fast = mine.loc[mine["seconds"].idxmin()]
        rows.append({
            "workload": name(key),
            "score": METRIC_WORDS[metrics.loc[key[:2], "metric"]],
            "device": metrics.loc[key[:2], "device"],
            "seeds": int(group["seeds"].max()),
            "best": f"{best['loss']} ({best['score']:.4f})",
            f"tied with the best (Holm p ≥ {profiles.P_TIED})": said,
            "target": f"{fast['target']:.4f}",
            "first to the target": (f"{fast['loss']} ({fast['seconds']:.3g} s)"
                                    if math.isfinite(fast["seconds"]) else "none"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def tie_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Per loss: the workloads where it is the best or tied with it."""
    tied = (table["tied"] == True).groupby(table["loss"]).sum()  # noqa: E712
    return tied.rename("best_or_tied").reset_index()


def rank_table(ranked: pd.DataFrame, workloads: int) -> pd.DataFrame:
    return pd.DataFrame({
        "loss": ranked["loss"], "family": ranked["family"],
        "mean rank": ranked["mean_rank"].map(lambda r: f"{r:.2f}"),
        "ranked on": ranked["workloads"].map(lambda n: f"{n} of {workloads}"),
        "best or tied": ranked["best_or_tied"],
        f"within δ={DELTA_READ} of the best": ranked["within_delta"].map(lambda s: f"{s:.0%}"),
        f"time within {TAU_READ:g}× the fastest": ranked["within_tau"].map(lambda s: f"{s:.0%}"),
    })  # fmt: skip


def concurrency(rows: pd.DataFrame) -> str:
    """Whether the times of each workload compare runs timed alike: alone, or all sharing the
    machine (a parallel study), or a mix of the two, named; and how runs trained in a stack of
    losses are timed."""
    stacked = (rows["step_mode"] == STACKED if "step_mode" in rows
               else pd.Series(False, index=rows.index))  # fmt: skip
    lead = ("Runs trained in a stack of losses (a parallel study's linear runs, step mode "
            "`stacked`) count each epoch at the seconds their loss took trained alone, in the "
            "serial timing phase (OUT/timing.csv). " if stacked.any() else "")  # fmt: skip
    rows = rows[~stacked]
    if rows.empty:
        return lead.rstrip()
    shared = rows["concurrent"].astype(bool).groupby([rows[k] for k in profiles.KEYS])
    some, every = shared.any(), shared.all()
    if not some.any():
        return lead + ("Every other run" if lead else "Every run") + \
            " was timed with the machine to itself."  # fmt: skip
    text = lead + ("Runs that shared the machine with other runs (marked `concurrent`, a parallel "
                   f"study) are in {', '.join(some[some].index.map(name))}; ")  # fmt: skip
    mixed = some & ~every
    if not mixed.any():
        return text + (
            "within each workload every run was timed alike, so the time profile "
            "compares runs that shared the machine alike, not times of a run alone."
        )
    return text + (
        f"in {', '.join(mixed[mixed].index.map(name))} they mix with runs timed "
        "alone, so there the time profile is only indicative."
    )


def figure(gaps: pd.DataFrame, ratios: pd.DataFrame):
    """The two profiles as step plots, one colour per family and one line style per loss."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    order = sorted(gaps["loss"].unique(), key=lambda s: (_family_index(family(s)), s))
    palette = dict(zip(FAMILIES, plt.get_cmap("tab10").colors, strict=False))
    shares = []
    for measure, low, high in ((gaps, 0.0, DELTA_MAX), (ratios, 1.0, TAU_MAX)):
        grid = profiles.breakpoints(measure, low, high)
        shares.append(
            profiles.profile(measure, grid).pivot(index="x", columns="loss", values="share")
        )
    handles, seen = [], {}
    for loss in order:
        kind = family(loss)
        seen[kind] = seen.get(kind, -1) + 1
        if not seen[kind]:  # the family's name heads its losses in the legend
            handles.append(Line2D([], [], linestyle="none", label=kind))
        for ax, share in zip(axes, shares, strict=True):
            (line,) = ax.step(share.index, share[loss], where="post", lw=1.4,
                              color=palette.get(kind, "black"),
                              linestyle=LINE_STYLES[seen[kind] % len(LINE_STYLES)],
                              label=f"  {loss}")  # fmt: skip
        handles.append(line)
    axes[0].set(xlim=(0, DELTA_MAX), ylim=(-0.02, 1.02), xlabel="δ (score below the best)",
                ylabel="share of workloads", title="Within δ of the best score")  # fmt: skip
    axes[1].set(
        xscale="log",
        xlim=(1, TAU_MAX),
        ylim=(-0.02, 1.02),
        xlabel="τ (time to target ÷ the fastest's)",
        ylabel="share of workloads",
        title=f"Time to {TARGET_FRACTION:.0%} of the best within τ× the fastest",
    )
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if t <= TAU_MAX]
    axes[1].set_xticks(ticks, [f"{t:g}" for t in ticks])
    legend = fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.91, 0.5),
                        fontsize=7, ncol=1 if len(handles) <= 30 else 2, frameon=False)  # fmt: skip
    for text in legend.get_texts():
        if not text.get_text().startswith(" "):
            text.set_fontweight("bold")
    fig.subplots_adjust(wspace=0.25, right=0.9)
    return fig


def _family_index(kind: str) -> int:
    return FAMILIES.index(kind) if kind in FAMILIES else len(FAMILIES)


def reading(table: pd.DataFrame, times: pd.DataFrame, info: pd.DataFrame) -> list[str]:
    """Which loss to pick for clean, noisy, long-tailed and calibrated use, with the evidence;
    a kind of workload this folder lacks is said to be not measured."""
    tails = info.set_index(["dataset", "model"])
    keyed = table.merge(tails[["metric", "long_tailed"]].reset_index(), on=["dataset", "model"])
    clean = keyed[(keyed["noise"] == "none") & ~keyed["long_tailed"]]
    symmetric = keyed[keyed["noise"].str.startswith("sym:")]
    level = symmetric["noise"].str.split(":").str[1].astype(float)
    strongest = level.groupby([symmetric["dataset"], symmetric["model"]]).transform("max")
    noisy = symmetric[level == strongest]
    tailed = keyed[(keyed["noise"] == "none") & keyed["long_tailed"]]
    levels = ", ".join(sorted(noisy["noise"].unique()))
    lines = [
        pick("Clean labels", clean, "no clean workload of balanced data"),
        pick(f"Noisy labels ({levels}, the strongest symmetric noise each dataset × model ran)"
             if levels else "Noisy labels", noisy, "no run with symmetric label noise"),
        pick("Long-tailed data", tailed, f"no dataset here has a training prior whose largest "
             f"class exceeds {LONG_TAIL:g}× its smallest"),
        calibrated(table, info),
    ]  # fmt: skip
    finite = times[times["seconds"] < math.inf]
    if not finite.empty:
        first = finite.loc[finite.groupby(profiles.KEYS, sort=False)["seconds"].idxmin(), "loss"]
        wins = first.value_counts()
        count = len(times[profiles.KEYS].drop_duplicates())
        then = ", ".join(f"{loss} in {n}" for loss, n in wins.iloc[1:].items())
        lines.append(
            f"- **Quickest to the target** ({TARGET_FRACTION:.0%} of the best score): "
            f"**{wins.index[0]}**, first in {wins.iloc[0]} of {count} workload"
            f"{'s' if count > 1 else ''}" + (f" (then {then})." if then else ".")
        )
    return lines


def pick(label: str, subset: pd.DataFrame, absent: str) -> str:
    """The loss with the best mean rank over ``subset``'s workloads (among those ranked on the
    most of them), its evidence, and the losses tied with the best wherever it was."""
    if subset.empty:
        return f"- **{label}**: not measured here ({absent})."
    keys = subset[profiles.KEYS].drop_duplicates()
    count = len(keys)
    ranked = profiles.mean_ranks(subset)
    ranked = ranked[ranked["workloads"] == ranked["workloads"].max()]
    top = ranked[ranked["mean_rank"] == ranked["mean_rank"].min()]["loss"].tolist()
    tied = tie_counts(subset).set_index("loss")["best_or_tied"]
    score = subset.groupby("loss")["score"].mean()
    metric = subset["metric"].unique()
    words = METRIC_WORDS[metric[0]] if len(metric) == 1 else "score"
    where = ", ".join(name(k) for k in keys.itertuples(index=False))
    lead = top[0]
    text = (
        f"- **{label}**: **{' and '.join(top)}**: mean rank "
        f"{ranked.set_index('loss').loc[lead, 'mean_rank']:.2f} over {count} workload"
        f"{'s' if count > 1 else ''} ({where}), best or tied with the best in "
        f"{tied[lead]} of {count}; mean {words} {score[lead]:.4f}"
    )
    best = subset.groupby(profiles.KEYS)["score"].max().mean()
    text += "." if score[lead] == best else f" (the best of each, averaged: {best:.4f})."
    others = subset[subset["loss"] != subset["best"]]
    if len(others) and others["tied"].isna().all():
        return text + " Ties with it cannot be judged: one seed."
    alike = [loss for loss in tied.index[tied == count] if loss not in top]
    if alike:
        text += f" Also tied with the best in every one: {', '.join(sorted(alike))}."
    return text


def calibrated(table: pd.DataFrame, info: pd.DataFrame) -> str:
    """The loss with the lowest ECE before temperature scaling on the clean runs (from their
    saved weights), its accuracy beside it; or why it is not measured."""
    label = "- **Calibrated probabilities**"
    ece = ece_table(info)
    if ece.empty:
        return (f"{label}: not measured here (needs clean runs with saved weights and their "
                "data loaded).")  # fmt: skip
    per_loss = ece.groupby([*profiles.KEYS, "loss"], sort=False)["ece"].mean().reset_index()
    per_loss["rank"] = per_loss.groupby(profiles.KEYS)["ece"].rank(method="average")
    ranked = per_loss.groupby("loss").agg(rank=("rank", "mean"), ece=("ece", "mean"),
                                          workloads=("rank", "size"))  # fmt: skip
    ranked = ranked[ranked["workloads"] == ranked["workloads"].max()].sort_values(["rank", "ece"])
    lead = ranked.index[0]
    count = len(per_loss[profiles.KEYS].drop_duplicates())
    scores = table.merge(per_loss[profiles.KEYS].drop_duplicates(), on=profiles.KEYS)
    mine = scores.loc[scores["loss"] == lead, "score"].mean()
    best = scores.groupby(profiles.KEYS)["score"].max().mean()
    return (
        f"{label}: **{lead}**, the lowest expected calibration error before temperature "
        f"scaling ({calibration.BINS} bins; mean rank {ranked.iloc[0]['rank']:.2f} over "
        f"{count} clean workload{'s' if count > 1 else ''}): ECE {ranked.iloc[0]['ece']:.4f}, "
        f"the losses span {ranked['ece'].min():.4f}–{ranked['ece'].max():.4f}; its mean "
        f"score there {mine:.4f} against the best's {best:.4f}. The calibration section "
        "shows the order after temperature scaling."
    )


def ece_table(info: pd.DataFrame) -> pd.DataFrame:
    """ECE before temperature scaling of each clean run with saved weights: one row per
    (workload, loss, seed). Workloads without loaded data are left out."""
    rows = []
    for r in info.itertuples():
        w = r.workload
        if w.data is None:
            continue
        runs = tables.clean_runs(w.final)
        runs = runs[runs["device"] == r.device]
        test_x, test_y = w.data.test_x.cpu(), w.data.test_y.cpu()
        for run in runs.itertuples():
            model = evaluation.load_model(w.out, run)
            if model is None:
                continue
            with torch.no_grad():
                ece = calibration.metrics(model.scores(test_x), test_y)["ece"]
            rows.append({"dataset": w.dataset, "model": w.model, "noise": "none",
                         "loss": run.loss, "seed": run.seed, "ece": ece})  # fmt: skip
    return pd.DataFrame(rows)
