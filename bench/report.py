"""The report: OUT/README.md with tables (pandas views of the tidy rows) and seaborn figures.

    python -m bench.report OUT      # remake the report from OUT without training

Every number in the report is computed from OUT's CSV files (results, tuning, speed, reference,
peers) and the saved weights; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import losses  # noqa: E402
from bench import evaluation, stats, tables, timing  # noqa: E402

DPI = 110
FALLBACK_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                    "sneaker", "bag", "ankle boot")  # fmt: skip


# -- formatting ----------------------------------------------------------------------------------
def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame`` as it is (format the cells before)."""
    if frame.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


def _cell(value) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _acc(mean: float, std: float = math.nan) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _num(value: float, digits: int = 0) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def label(row) -> str:
    """How a run group is named in tables and legends: the spec, the trainer when not ours."""
    name = row["loss"]
    if row.get("trainer", "lossbench") != "lossbench":
        name = f"{row['trainer']} ({name})"
    return name


# -- inputs --------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame()


def _load_data(meta: dict, data):
    if data is not None:
        return data, None
    try:
        from bench import data as data_module

        return data_module.load(Path(meta.get("config", {}).get("data", "data"))), None
    except Exception as error:  # noqa: BLE001 — any failure only drops the image figures
        return None, f"the data could not be loaded ({str(error).splitlines()[0]})"


def _classes():
    try:
        from bench.data import CLASSES

        return CLASSES
    except ImportError:
        return FALLBACK_CLASSES


# -- the report ----------------------------------------------------------------------------------
def write_report(out: Path, *, data=None) -> Path:
    """Write OUT/README.md and its figures from OUT's files; return the README's path."""
    out = Path(out)
    meta = json.loads((out / "run.json").read_text())
    rows = tables.load(out / "results.csv")
    final, unfinished = tables.finished_runs(rows)
    data, data_note = _load_data(meta, data)
    sns.set_theme(style="whitegrid", context="notebook")
    rows = rows.assign(run=rows.apply(label, axis=1))
    final = final.assign(run=final.apply(label, axis=1))

    parts = [
        _header(meta, final, unfinished),
        _environment(meta),
        _comparability(final),
    ]
    accuracy = tables.accuracy(final)
    accuracy["run"] = accuracy.apply(label, axis=1)
    reference = _read_csv(out / "reference.csv")
    parts.append(_accuracy(out, rows, final, accuracy, reference, _read_csv(out / "peers.csv")))
    parts.append(_targets(accuracy, reference, out, final, data))
    parts.append(_paired(final, accuracy))
    parts.append(_tuning(out, _read_csv(out / "tuning.csv")))
    parts.append(_learning_speed(out, rows, final))
    sweep, anatomy = _read_csv(out / "speed.csv"), _read_csv(out / "anatomy.csv")
    parts.append(_speed(out, rows, final, sweep, anatomy))
    parts.append(_noise(out, final))
    if data is not None:
        # the temperature is fitted on a split of the training images: a test-only object
        # (test_x, test_y) still gets the per-class and prediction figures
        if all(hasattr(data, name) for name in ("train_x", "train_y", "to")):
            parts.append(_calibration(out, final, data))
        else:
            parts.append(
                "## Calibration\n\nSkipped: the data given has no training images to "
                "fit the temperature on."
            )
        parts.append(_per_class(out, final, data))
        parts.append(_predictions(out, final, accuracy, data))
    else:
        parts.append(f"## Calibration, per-class errors, predictions\n\nSkipped: {data_note}.")
    parts.append(_gradients(out))
    parts.append(_reading(accuracy, final, rows))
    path = out / "README.md"
    path.write_text("\n\n".join(p.strip() for p in parts if p) + "\n")
    return path


def _save(fig, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return name


def _epoch_axes(fig, axes) -> None:
    """Whole epochs on the x axes, and room between panels for the right one's y label."""
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.subplots_adjust(wspace=0.3)


def _header(meta: dict, final: pd.DataFrame, unfinished: int) -> str:
    config = meta.get("config", {})
    mine = final[final["trainer"] == "lossbench"]
    noises = ", ".join(config.get("noise", ["none"]))
    rate = {
        "fixed": f"one rate for all, {config.get('lr')}",
        "defaults": "each loss's built-in rate",
        "tuned": "each loss's rate chosen on a validation split (below)",
    }.get(config.get("rates"), "as recorded")
    text = (
        "# lossbench report\n\n"
        "Softmax regression (D2L chapter 3: o = xW + b, 784 pixels → 10 classes) trained on "
        f"Fashion-MNIST under {mine['loss'].nunique()} losses on "
        f"{', '.join(config.get('devices', []))}: {config.get('epochs')} epochs of minibatch SGD, "
        f"batch {config.get('batch_size')}, {config.get('schedule')} learning-rate schedule, "
        f"{rate}; seeds {config.get('seeds')}; label noise: {noises}. "
        f"{len(final)} runs finished"
    )
    text += f", {unfinished} unfinished (excluded from every table)." if unfinished else "."
    return text + f"\n\n```\n{meta.get('command', '')}\n```"


def _environment(meta: dict) -> str:
    env = meta.get("environment", {})
    lines = [
        "## Environment",
        "",
        f"- Python {env.get('python')}, torch {env.get('torch')}, "
        f"torchvision {env.get('torchvision')}",
        f"- CPU: {env.get('cpu')}, {env.get('threads')} threads",
    ]
    if env.get("cuda") in (None, "no CUDA device"):
        lines.append(
            "- GPU: **no CUDA device was available**, so this report has CPU rows only; "
            "the GPU rows are absent because there was no GPU, not left out."
        )
    else:
        lines.append(f"- GPU: {env['cuda']}")
    lines += [f"- {note}" for note in meta.get("notes", [])]
    return "\n".join(lines)


def _comparability(final: pd.DataFrame) -> str:
    specs = final.loc[final["trainer"] == "lossbench", "loss"].drop_duplicates()
    frame = pd.DataFrame([{"loss": s, **losses.parse(s).describe()} for s in specs])
    return (
        "## What makes the losses comparable\n\n"
        "Every loss sees the same model, initial weights (per seed), batches (per seed), "
        "schedule and number of steps; what differs is below. The trainer averages each "
        "example's loss over the batch.\n\n" + markdown_table(frame)
    )


def _accuracy(out, rows, final, accuracy, reference, peers) -> str:
    shown = pd.DataFrame(
        {
            "loss": accuracy["run"],
            "device": accuracy["device"],
            "lr": accuracy["lr"],
            "test acc (mean ± sd)": [
                f"diverged at epoch {int(r.diverged_epoch)}"
                if r.diverged == r.seeds
                else _acc(r.test_acc, r.test_acc_std)
                for r in accuracy.itertuples()
            ],
            "95% CI ±": accuracy["test_acc_ci95"],
            "seeds": accuracy["seeds"],
            "train acc": accuracy["train_acc"],
            "train loss": accuracy["train_loss"],
        }
    )
    unconverged = []
    if not reference.empty:
        optimum = reference.set_index("loss")
        shown["L-BFGS optimum: test acc"] = accuracy["loss"].map(optimum["test_acc"])
        shown["L-BFGS optimum: train loss"] = accuracy["loss"].map(optimum["train_loss"])
        shown.loc[accuracy["trainer"] != "lossbench", shown.columns[-2:]] = math.nan
        unconverged = [loss for loss, ok in converged(accuracy, reference).items() if not ok]
    text = [
        "## Accuracy",
        "",
        "Final test accuracy of the clean runs (no label noise), mean ± sample standard deviation "
        "over seeds with the half-width of the 95% confidence interval of the mean (Student's t). "
        "For the convex losses, the last columns give the full-batch optimum of the same "
        "training objective found by L-BFGS"
        + (f" (at most {int(reference['max_iter'].iloc[0])} iterations, from the same init)"
           if not reference.empty else "")
        + ": the ceiling that SGD is chasing.",
        "",
        markdown_table(shown),
    ]
    if unconverged:
        text += ["", f"L-BFGS did not get below SGD's own training loss for "
                 f"{', '.join(unconverged)} within its iterations: those columns are not yet the "
                 "optimum (`make study` runs 500 iterations)."]
    if not peers.empty:
        peer_table = pd.DataFrame(
            {
                "peer": peers["peer"] + " (" + peers["loss"] + ")",
                "epochs / iterations": peers["epochs"],
                "test acc": peers["test_acc"],
                "train acc": peers["train_acc"],
                "fit s": peers["fit_s"],
            }
        )
        text += [
            "",
            "**Peers** (scikit-learn on the same data and machine; float64, one seed; "
            "scikit-learn's default step sizes, not tuned):",
            "",
            markdown_table(peer_table),
        ]
        guessing = 1 / len(_classes())
        failed = peer_table[peers["test_acc"] <= guessing]
        if not failed.empty:
            names = ", ".join(f"{p} ({a:.4f})" for p, a in zip(failed["peer"],
                                                                 failed["test acc"], strict=True))
            text += ["", f"{names} scored no better than guessing ({guessing:.2f}): scikit-learn's "
                     "default step size (learning_rate='optimal') is too large for that loss on "
                     "these raw pixel inputs and the fit diverged, so the row measures a failed "
                     "fit, not the loss."]
    clean = rows.merge(final.loc[final["noise"] == "none", tables.RUN], on=tables.RUN)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    sns.lineplot(clean, x="epoch", y="test_acc", hue="run", style="device", errorbar="sd",
                 ax=axes[0])
    axes[0].set(title="Test accuracy per epoch (band: sd over seeds)", ylabel="test accuracy",
                ylim=(max(0.6, clean["test_acc"].min() - 0.01), None))
    sns.lineplot(clean, x="epoch", y="train_loss", hue="run", style="device", errorbar="sd",
                 ax=axes[1], legend=False)
    axes[1].set(title="Training loss per epoch (each loss on its own scale)",
                ylabel="running mean of the trained loss", yscale="log")
    axes[0].legend(fontsize=7, loc="lower right")
    _epoch_axes(fig, axes)
    text += ["", f"![learning curves]({_save(fig, out, 'curves.png')})"]

    finished = final[(final["noise"] == "none") & (final["status"] == "ok")]
    order = accuracy.dropna(subset=["test_acc"])["run"].drop_duplicates()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    sns.barplot(finished, y="run", x="test_acc", hue="device", order=order, errorbar="sd", ax=ax)
    ax.set(xlim=(max(0.5, finished["test_acc"].min() - 0.03), None), xlabel="final test accuracy",
           ylabel="", title="Final test accuracy (error bars: sd over seeds)")
    text += ["", f"![final accuracy]({_save(fig, out, 'final_accuracy.png')})"]
    return "\n".join(text)


def converged(accuracy, reference) -> pd.Series:
    """Per loss with a reference: did L-BFGS reach a training loss at or below SGD's?"""
    sgd = accuracy[accuracy["trainer"] == "lossbench"].set_index("loss")["train_loss"]
    lbfgs = reference.set_index("loss")["train_loss"]
    both = lbfgs.index.intersection(sgd.index)
    return lbfgs[both] <= sgd[both] * (1 + 1e-3)


def _targets(accuracy, reference, out, final, data) -> str:
    table = tables.targets(accuracy)
    if table.empty:
        return ""
    optimum = pd.Series(dtype=float)
    if not reference.empty:
        # only an optimum that beats SGD's own training loss says what the objective allows
        done = converged(accuracy, reference)
        optimum = reference.set_index("loss")["test_acc"][done[done].index]
    why = []
    for row in table.itertuples():
        if row.met:
            why.append("met")
            continue
        reasons = []
        if row.loss in optimum.index:
            reasons.append(f"the L-BFGS optimum of this objective scores {optimum[row.loss]:.4f}")
            if optimum[row.loss] < row.target:
                reasons.append("so no optimiser of this unregularised objective reaches the "
                               "target; closing the gap needs regularisation (weight decay), "
                               "which the protocol leaves out for every loss alike")
        if data is not None:
            dead = _dead_classes(out, final, row.loss, row.device, data)
            if dead:
                reasons.append(f"classes with test accuracy < 0.05 in some seed: {dead}")
        if not reasons:
            reasons.append(f"{row.target - row.test_acc:.4f} short")
        why.append("; ".join(reasons))
    shown = pd.DataFrame(
        {
            "loss": table["loss"],
            "device": table["device"],
            "test acc": table["test_acc"],
            "target": table["target"],
            "met": table["met"].map({True: "yes", False: "no"}),
            "why not (measured)": why,
        }
    )
    return (
        "## Accuracy targets\n\n"
        "The targets of the default suite, against the mean final test accuracy. Where one is "
        "missed, the measured cause is given rather than a lower bar.\n\n" + markdown_table(shown)
    )


def _dead_classes(out, final, loss, device, data) -> str:
    runs = final[(final["loss"] == loss) & (final["device"] == device) & (final["noise"] == "none")
                 & (final["trainer"] == "lossbench")]
    per_class = evaluation.per_class_accuracy(out, runs[["loss", "device", "seed"]], data,
                                              _classes())
    if per_class.empty:
        return ""
    dead = per_class[per_class["accuracy"] < 0.05]
    return ", ".join(f"{r['class']} (seed {r['seed']})" for _, r in dead.iterrows())


def _paired(final, accuracy) -> str:
    mine = final[(final["trainer"] == "lossbench") & (final["noise"] == "none")
                 & (final["status"] == "ok")]
    ranked = accuracy[(accuracy["trainer"] == "lossbench")].dropna(subset=["test_acc"])
    if mine.empty or ranked.empty or mine["seed"].nunique() < 2:
        return ("## Paired comparisons\n\nNeeds at least two seeds per loss.")
    best = ranked.iloc[0]["loss"]
    table = stats.paired_differences(mine, reference=best)
    table = table.sort_values("difference", ascending=False)
    shown = pd.DataFrame(
        {
            "loss": table["loss"],
            "device": table["device"],
            f"test acc − {best}": table["difference"].map(lambda v: f"{v:+.4f}"),
            "95% CI ±": table["ci95"],
            "seeds": table["seeds"],
            "beyond the seed spread": table["clear"].map({True: "yes", False: "no"}),
        }
    )
    return (
        "## Paired comparisons\n\n"
        f"Each loss against the best, **{best}**, seed by seed: runs with the same seed share "
        "their initial weights and batch order, so the per-seed difference removes the seed's "
        "own effect. 'yes' means the 95% interval of the mean difference excludes zero.\n\n"
        + markdown_table(shown)
    )


def _tuning(out, tuning) -> str:
    if tuning.empty:
        return ("## Learning rates\n\nNo tuning in this run: rates were fixed or built in "
                "(see the accuracy table).")
    tuning = tuning.assign(val_acc=pd.to_numeric(tuning["val_acc"], errors="coerce"))
    best = tuning.loc[tuning.dropna(subset=["val_acc"]).groupby("loss")["val_acc"].idxmax()]
    shown = pd.DataFrame({
        "loss": best["loss"], "chosen lr": best["lr"], "validation acc": best["val_acc"],
        "rates tried": best["loss"].map(tuning.groupby("loss").size()),
        "diverged": best["loss"].map(tuning[tuning["status"] == "diverged"].groupby("loss").size())
        .fillna(0).astype(int),
    })
    fig, ax = plt.subplots(figsize=(10, 4.5))
    sns.lineplot(tuning, x="lr", y="val_acc", hue="loss", marker="o", ax=ax)
    ax.set(xscale="log", xlabel="learning rate (peak of the schedule)",
           ylabel="validation accuracy", ylim=(max(0.5, tuning["val_acc"].min()), None),
           title="Validation accuracy against the learning rate (gaps: diverged)")
    ax.legend(fontsize=7)
    epochs = tuning["epochs"].iloc[0]
    return (
        "## Learning rates\n\n"
        "Each loss's rate is the best of a log grid by accuracy on 10,000 training images held "
        f"out (1,000 per class, seeded), training on the other 50,000 for {epochs} epochs under "
        "the same schedule; the test set is never consulted. All rates of a loss train at once "
        "as one stacked model (same batches).\n\n"
        + markdown_table(shown) + f"\n\n![tuning]({_save(fig, out, 'tuning.png')})"
    )


def _learning_speed(out, rows, final) -> str:
    table = tables.learning_speed(rows, final)
    if table.empty:
        return ""
    table["run"] = table.apply(label, axis=1)
    shown = pd.DataFrame({"loss": table["run"], "device": table["device"]})
    for threshold in tables.THRESHOLDS:
        name = f"{round(threshold * 100)}"
        shown[f"epochs to {name}%"] = table[f"epochs_to_{name}"]
        shown[f"steps to {name}%"] = table[f"steps_to_{name}"].map(_num)
        shown[f"seconds to {name}%"] = table[f"seconds_to_{name}"].map(lambda v: _num(v, 2))
    shown["area under the curve"] = table["auc"]
    mine = rows.merge(final.loc[(final["noise"] == "none") & (final["trainer"] == "lossbench"),
                                tables.RUN], on=tables.RUN)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    sns.lineplot(mine, x="epoch", y="grad_norm", hue="run", errorbar=None, ax=axes[0])
    axes[0].set(yscale="log", ylabel="‖∂L/∂W‖ (full batch)", title="Gradient norm per epoch")
    axes[0].legend(fontsize=7)
    sns.lineplot(mine, x="epoch", y="active_frac", hue="run", errorbar=None, ax=axes[1],
                 legend=False)
    axes[1].set(ylabel="share of training examples", ylim=(0, 1.02),
                title="Examples still sending a gradient (some |∂l/∂o| > 1e-4)")
    _epoch_axes(fig, axes)
    return (
        "## Learning speed, and what drives it\n\n"
        "Epochs, steps and training seconds until the test accuracy first reaches 80% and 83% "
        "(mean over the seeds that reach it; — when none does), and the area under the "
        "learning curve (mean test accuracy over the epochs).\n\n"
        + markdown_table(shown)
        + f"\n\n![gradient dynamics]({_save(fig, out, 'dynamics.png')})\n\n"
        "Hinge losses go quiet once margins are met, and L1/L2 on saturated softmax "
        "probabilities stop sending gradient from examples whose true class has p ≈ 0: the right "
        "panel measures it."
    )


def _speed(out, rows, final, sweep, anatomy=None) -> str:
    table = tables.speed(rows, final)
    table["run"] = table.apply(label, axis=1)
    shown = pd.DataFrame(
        {
            "loss": table["run"],
            "device": table["device"],
            "median step µs": table["step_us"].map(_num),
            "p90 step µs": table["step_p90_us"].map(_num),
            "samples/s": table["samples_per_s"].map(_num),
            "epoch s": table["epoch_s"].map(lambda v: f"{v:.3f}"),
            "GEMM floor s": table["floor_s"].map(lambda v: f"{v:.3f}"),
            "× floor": table["x_floor"].map(lambda v: f"{v:.2f}"),
            "peak MB": table["peak_mem_mb"].map(_num),
            "steps": table["step_mode"],
        }
    )
    text = [
        "## Speed",
        "",
        "Single-model runs only. Step = gather the batch, scores, loss value and gradient, "
        "parameter update; timed with perf_counter on the CPU, CUDA events on a GPU (read at "
        "epoch end, no synchronisation in the loop). Median over epochs of each epoch's median "
        "step, mean over seeds. 'Steps' says how they ran: eager (Python launches each op, the "
        "rows and the rate handed in per step) or cuda-graph (the whole step replayed as one "
        "captured CUDA graph, reading its rows and rate from device buffers). 'GEMM floor' is one "
        "epoch of the two GEMMs alone (forward (W xᵀ)ᵀ and update gᵀx, in the trainer's layout, "
        "batch by batch over all 60,000 images), measured in the same process right before the "
        "run; '× floor' is the epoch time over it. Peak memory is the process's peak RSS on the "
        "CPU and torch's max allocated on a GPU.",
        "",
        markdown_table(shown),
        "",
        _drift(rows, final),
    ]
    textbook = table[table["trainer"] == "d2l-textbook"]
    ours = table[(table["trainer"] == "lossbench") & (table["loss"] == "ce")]
    if not textbook.empty and not ours.empty:
        ratio = textbook["epoch_s"].iloc[0] / ours[ours["device"] == "cpu"]["epoch_s"].iloc[0]
        text += ["", f"The D2L textbook loop takes {textbook['epoch_s'].iloc[0]:.2f} s per epoch "
                 f"on this CPU; lossbench's `ce` epoch is **{ratio:.0f}× faster**."]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    mine = table[table["trainer"] == "lossbench"]
    sns.barplot(mine, y="run", x="step_us", hue="device", ax=ax)
    ax.set(xlabel="median step (µs)", ylabel="", title="Step time per loss and device")
    text += ["", f"![step time]({_save(fig, out, 'step_time.png')})"]
    if anatomy is not None and not anatomy.empty:
        text += ["", _anatomy(out, anatomy, table)]
    if not sweep.empty:
        per = sweep.groupby(["device", "batch_size"]).agg(
            step_ms=("step_ms", "median"), samples_per_s=("samples_per_s", "median"),
            epoch_s=("epoch_s", "median"), floor_s=("floor_s", "median")).reset_index()
        text += ["", "### Batch size", "",
                 f"`{sweep['loss'].iloc[0]}`, one seed, {sweep['epochs'].iloc[0]} epochs per "
                 "batch size, single model:", "",
                 markdown_table(pd.DataFrame({
                     "device": per["device"], "batch": per["batch_size"],
                     "median step µs": (per["step_ms"] * 1000).map(_num),
                     "samples/s": per["samples_per_s"].map(_num),
                     "epoch s": per["epoch_s"].map(lambda v: f"{v:.3f}"),
                     "× floor": (per["epoch_s"] / per["floor_s"]).map(lambda v: f"{v:.2f}")}))]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        sns.lineplot(per, x="batch_size", y="step_ms", hue="device", marker="o", ax=axes[0])
        axes[0].set(xscale="log", yscale="log", xlabel="batch size", ylabel="median step (ms)",
                    title="Step time grows with the batch")
        sns.lineplot(per, x="batch_size", y="samples_per_s", hue="device", marker="o",
                     ax=axes[1])
        axes[1].set(xscale="log", xlabel="batch size", ylabel="samples/s",
                    title="Throughput")
        text += ["", f"![batch sizes]({_save(fig, out, 'batch_sizes.png')})"]
    micro = _microbench(out / "microbench.json")
    if micro:
        text += ["", micro]
    return "\n".join(text)


def _drift(rows, final) -> str:
    """How much the same loss's step time moved between its runs: the machine's own noise."""
    keys = final.loc[(final["noise"] == "none") & (final["trainer"] == "lossbench"), tables.RUN]
    per_run = rows.merge(keys, on=tables.RUN).groupby(tables.RUN)["step_ms"].median()
    spread = per_run.groupby(["loss", "device"]).agg(lambda s: s.max() / s.min())
    if spread.empty or per_run.groupby(["loss", "device"]).size().max() < 2:
        return ""
    worst = spread.idxmax()
    return (
        f"Between seeds of one loss, the median step moved by up to {spread.max():.2f}× "
        f"({worst[0]} on {worst[1]}): on a shared machine the speed of the same work drifts, so "
        "differences between losses smaller than that are noise; `make microbench` times each "
        "loss's value and gradient in isolation."
    )


def _anatomy(out, anatomy: pd.DataFrame, speed: pd.DataFrame) -> str:
    """Where a CPU step's time goes, per loss (OUT/anatomy.csv), beside the GEMM floor; with
    the epochs measured beside the parts (anatomy.csv from this version), each loss's whole
    epoch against the floor with and without the by-index gather, all of one moment."""
    parts = [part for part in timing.ANATOMY_PARTS if part != "step"]
    anatomy = anatomy.sort_values("step_us").reset_index(drop=True)
    batch = int(anatomy["batch_size"].iloc[0])
    epochs = "gather_floor_us" in anatomy
    shown = pd.DataFrame(
        {
            "loss": anatomy["loss"],
            **{f"{part} µs": anatomy[f"{part}_us"].map(_num) for part in parts},
            "step µs": anatomy["step_us"].map(_num),
            "loss share": (anatomy["loss_us"] / anatomy["step_us"]).map(lambda v: f"{v:.0%}"),
        }
    )
    if epochs:
        shown["epoch µs/step"] = anatomy["epoch_us"].map(_num)
        shown["× floor"] = (anatomy["epoch_us"] / anatomy["floor_us"]).map(lambda v: f"{v:.2f}")
        shown["× gather floor"] = (anatomy["epoch_us"] / anatomy["gather_floor_us"]).map(
            lambda v: f"{v:.2f}"
        )
    text = [
        "### Where a CPU step's time goes",
        "",
        f"Each part of the eager step timed on its own over the same 200 random batches of {batch} "
        "(median µs): gather (the batch's rows of x and y, by index), scores (the forward GEMM), "
        "loss (value and gradient), update (the gᵀx GEMM and the bias), and the whole step."
        + (
            " Right after, at the same moment: the loss's own training epoch per step (the best "
            "of three, eager), over the GEMM floor and over the floor with the gather (below)."
            if epochs
            else ""
        ),
        "",
        markdown_table(shown),
    ]
    cpu = speed[(speed["device"] == "cpu") & (speed["trainer"] == "lossbench")]
    if epochs:
        floor_us = anatomy["floor_us"].median()
    elif not cpu.empty:
        floor_us = cpu["floor_s"].median() / math.ceil(cpu["examples"].median() / batch) * 1e6
    else:
        floor_us = None
    if floor_us is not None:
        gemms_us = (anatomy["scores_us"] + anatomy["update_us"]).median()
        text += [
            "",
            f"The floor's two GEMMs take {floor_us:,.0f} µs per step, reading their rows where "
            f"they lie in memory; inside the step, on the freshly gathered batch, they take "
            f"{gemms_us:,.0f} µs. The gather costs {anatomy['gather_us'].median():,.0f} µs, "
            "about as much as the GEMMs: a step that reshuffles by index pays for moving the "
            "batch, and that, with the loss, is what separates an epoch from the floor.",
        ]
    if epochs:
        text += _floors(anatomy)
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(anatomy) + 1.5))
    left = np.zeros(len(anatomy))
    for part, color in zip(parts, sns.color_palette("deep", len(parts)), strict=True):
        ax.barh(anatomy["loss"], anatomy[f"{part}_us"], left=left, label=part, color=color)
        left += anatomy[f"{part}_us"].to_numpy()
    ax.invert_yaxis()
    ax.set(xlabel="median µs per part", title=f"Anatomy of a CPU step, batch {batch}")
    ax.legend(loc="lower right", ncols=4)
    text += ["", f"![step anatomy]({_save(fig, out, 'anatomy.png')})"]
    return "\n".join(text)


def _floors(anatomy: pd.DataFrame) -> list[str]:
    """The GEMM floor beside the same floor with the by-index gather, and `ce`'s epoch against
    both (anatomy.csv's epoch_us, floor_us and gather_floor_us, measured together)."""
    floor, gathered = anatomy["floor_us"].median(), anatomy["gather_floor_us"].median()
    text = (
        f"The same pass with each batch first gathered by index through a random permutation, "
        f"as the trainer does, takes {gathered:,.0f} µs per step ({gathered / floor:.2f}× the "
        "floor): the least an index-shuffled step can cost before any loss work."
    )
    ce = anatomy[anatomy["loss"] == "ce"]
    if not ce.empty:
        ce = ce.iloc[0]
        text += (
            f" `ce`'s epoch, {ce['epoch_us']:,.0f} µs per step, is "
            f"{ce['epoch_us'] / ce['floor_us']:.2f}× the GEMM floor and "
            f"**{ce['epoch_us'] / ce['gather_floor_us']:.2f}× the floor with the gather**: the "
            "rest is the loss's value and gradient, the bias, the loss sum and the loop."
        )
    return ["", text]


def _microbench(path: Path) -> str:
    """Summary of `make microbench`'s pytest-benchmark JSON, when it is there: each loss's
    value + gradient against torch's forward + backward, and one training step per loss."""
    if not path.exists():
        return ""
    saved = json.loads(path.read_text())
    frame = pd.DataFrame([{"group": b.get("group") or "", "test": b["name"].split("[")[0],
                           "case": b.get("param") or b["name"],
                           "median_us": b["stats"]["median"] * 1e6}
                          for b in saved["benchmarks"]])
    if frame.empty:
        return ""
    machine = saved.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", ""))
    text = [f"### Micro-benchmarks (`make microbench`, {saved.get('datetime', '')[:10]}, {cpu})"]
    versus = frame.pivot_table(index="case", columns="test", values="median_us")
    ours, theirs = "test_lossbench_value_and_grad", "test_torch_builtin_forward_backward"
    if {ours, theirs} <= set(versus.columns):
        pairs = versus[[ours, theirs]].dropna()
        text += ["", "Value and gradient on 65536×10 (median µs): lossbench's analytic gradient "
                 "against the torch built-in's forward and autograd backward.", "",
                 markdown_table(pd.DataFrame({
                     "loss": pairs.index, "lossbench µs": pairs[ours].map(_num),
                     "torch µs": pairs[theirs].map(_num),
                     "torch / lossbench": (pairs[theirs] / pairs[ours]).map(lambda v: f"{v:.2f}"),
                 }))]
    steps = frame[frame["test"] == "test_training_step"]
    if not steps.empty:
        text += ["", "One training step at batch 256 (median µs):", "",
                 markdown_table(pd.DataFrame({"loss": steps["case"],
                                              "step µs": steps["median_us"].map(_num)}))]
    return "\n".join(text)


def _noise(out, final) -> str:
    table = tables.noise(final)
    if table["noise"].nunique() < 2:
        return ""
    accuracy = table.pivot_table(index="loss", columns="noise", values="test_acc")
    memorised = table.pivot_table(index="loss", columns="noise", values="memorised")
    levels = [c for c in accuracy.columns if c != "none"]
    shown = accuracy.reset_index()
    for level in levels:
        shown[f"memorised {level}"] = (
            shown["loss"].map(memorised[level]) if level in memorised else math.nan
        )
    shown = shown.sort_values(levels[-1] if levels else "none", ascending=False)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    order = ["none"] + sorted(levels)
    hue_order = sorted(table["loss"].unique())  # the same colour for a loss in both panels
    table["noise"] = pd.Categorical(table["noise"], order, ordered=True)
    sns.pointplot(table, x="noise", y="test_acc", hue="loss", hue_order=hue_order, ax=axes[0],
                  order=order)
    axes[0].set(ylabel="clean test accuracy", title="Accuracy under label noise")
    axes[0].legend(fontsize=7)
    noisy = table[table["noise"] != "none"]
    sns.barplot(noisy, x="noise", y="memorised", hue="loss", hue_order=hue_order, ax=axes[1],
                order=sorted(levels))
    axes[1].set(ylabel="share of flipped labels fitted", title="Memorisation of flipped labels")
    axes[1].legend().remove()
    return (
        "## Label noise\n\n"
        "Training labels flipped (seeded, the same flips for every loss); test labels clean. "
        "`sym:r` flips a share r of labels to another class uniformly; `pairs:r` flips shirt ↔ "
        "t-shirt/top and pullover ↔ coat with probability r. Memorisation is the share of "
        "flipped training examples the model predicts as their wrong label.\n\n"
        + markdown_table(shown) + f"\n\n![label noise]({_save(fig, out, 'noise.png')})"
    )


def _best_runs(final) -> pd.DataFrame:
    """One clean run per lossbench loss and device: its best seed."""
    mine = final[(final["trainer"] == "lossbench") & (final["noise"] == "none")
                 & (final["status"] == "ok")]
    return mine.loc[mine.groupby(["loss", "device"])["test_acc"].idxmax(),
                    ["loss", "device", "seed", "test_acc"]]


def _calibration(out, final, data) -> str:
    runs = final[(final["trainer"] == "lossbench") & (final["noise"] == "none")
                 & (final["status"] == "ok")][["loss", "device", "seed"]]
    metrics, bins = evaluation.calibration_table(out, runs, data)
    if metrics.empty:
        return ""
    mean = metrics.groupby(["loss", "scaling"]).mean(numeric_only=True).reset_index()
    before = mean[mean["scaling"] == "before"].set_index("loss")
    after = mean[mean["scaling"] == "after"].set_index("loss")
    shown = pd.DataFrame({
        "loss": before.index,
        "NLL": before["nll"].values, "Brier": before["brier"].values,
        "ECE": before["ece"].values, "MCE": before["mce"].values,
        "T": after["temperature"].values,
        "NLL after T": after["nll"].values, "ECE after T": after["ece"].values,
        "MCE after T": after["mce"].values,
    }).sort_values("ECE")
    first = bins[bins["seed"] == bins.groupby("loss")["seed"].transform("min")]
    grid = sns.relplot(first, x="confidence", y="accuracy", hue="scaling", col="loss",
                       col_wrap=5, kind="line", marker="o", height=2.4, facet_kws={"xlim": (0, 1),
                                                                                  "ylim": (0, 1)})
    for ax in grid.axes.flat:
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    grid.set_titles("{col_name}", size=7)
    return (
        "## Calibration\n\n"
        "Probabilities are softmax(o / T) for every loss (for margin and least-squares losses the "
        "scale of o is not a likelihood, which is what temperature scaling corrects). Test-set "
        "NLL, Brier score, expected and maximum calibration error (15 equal-width confidence "
        "bins), mean over seeds; T is fitted by NLL on the 10,000-image validation split of the "
        "training set (those images were also trained on, so T slightly under-corrects).\n\n"
        + markdown_table(shown)
        + f"\n\n![reliability]({_save(grid.figure, out, 'reliability.png')})"
    )


def _per_class(out, final, data) -> str:
    best_runs = _best_runs(final)
    if best_runs.empty:
        return ""
    classes = _classes()
    runs = final[(final["trainer"] == "lossbench") & (final["noise"] == "none")
                 & (final["status"] == "ok")][["loss", "device", "seed"]]
    per_class = evaluation.per_class_accuracy(out, runs, data, classes)
    pivot = per_class.pivot_table(index="loss", columns="class", values="accuracy")[list(classes)]
    pivot["worst class"] = pivot.idxmin(axis=1)
    ranked = best_runs.sort_values("test_acc", ascending=False)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    for ax, run in zip(axes, [ranked.iloc[0], ranked.iloc[-1]], strict=True):
        model = evaluation.load_model(out, run["loss"], run["device"], int(run["seed"]))
        counts = evaluation.confusion(model, data).numpy()
        sns.heatmap(counts, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                    xticklabels=classes, yticklabels=classes, annot_kws={"size": 7})
        ax.set(title=f"{run['loss']} (seed {int(run['seed'])}, acc {run['test_acc']:.4f})",
               xlabel="predicted", ylabel="true")
    fig.subplots_adjust(wspace=0.35)
    return (
        "## Per-class errors\n\n"
        "Test accuracy of each class (recall), mean over seeds: which classes each loss "
        "sacrifices.\n\n" + markdown_table(pivot.reset_index())
        + "\n\nConfusion matrices of the best and the worst loss (their best seed):\n\n"
        + f"![confusion]({_save(fig, out, 'confusion.png')})"
    )


def _predictions(out, final, accuracy, data) -> str:
    # the best loss by its mean over seeds (the accuracy table's first row), then its best seed
    ranked = accuracy[accuracy["trainer"] == "lossbench"].dropna(subset=["test_acc"])
    if ranked.empty:
        return ""
    top = ranked.iloc[0]
    best_runs = _best_runs(final)
    best_runs = best_runs[(best_runs["loss"] == top["loss"])
                          & (best_runs["device"] == top["device"])]
    if best_runs.empty:
        return ""
    best = best_runs.iloc[0]
    model = evaluation.load_model(out, best["loss"], best["device"], int(best["seed"]))
    if model is None:
        return ""
    images, labels = data.test_x[:18].cpu(), data.test_y[:18].cpu()
    predicted = model.predict(images)
    classes = _classes()
    fig, axes = plt.subplots(2, 9, figsize=(13, 3.6))
    for k, ax in enumerate(axes.flat):
        ax.imshow(images[k].view(28, 28).numpy(), cmap="gray_r")
        wrong = bool(predicted[k] != labels[k])
        ax.set_title(f"{classes[labels[k]]}\n{classes[predicted[k]]}", fontsize=8,
                     color="crimson" if wrong else "black")
        ax.axis("off")
    fig.suptitle(f"First 18 test images, true / predicted by {best['loss']} "
                 f"(seed {int(best['seed'])}; red: wrong)", fontsize=10)
    return (
        f"## Predictions\n\nThe best loss by mean test accuracy, {best['loss']} on "
        f"{best['device']}, with its best seed ({int(best['seed'])}, test accuracy "
        f"{best['test_acc']:.4f}):\n\n![predictions]({_save(fig, out, 'predictions.png')})"
    )


def _gradients(out) -> str:
    try:
        from losses import plots

        fig = plots.plot_grid()
    except Exception as error:  # noqa: BLE001 — the figure is optional; say why it is missing
        return f"## The losses\n\nThe loss / likelihood / gradient figure is missing: {error}."
    return (
        "## The losses, their likelihoods and gradients\n\n"
        "Each loss as a function of the score margin o_y − o_i (classification losses) or of "
        "the prediction (regression losses), its likelihood exp(−l) and the gradient the "
        "trainer sees, computed by the same code that trains.\n\n"
        f"![gradients]({_save(fig, out, 'gradients.png')})"
    )


def _reading(accuracy, final, rows) -> str:
    mine = accuracy[accuracy["trainer"] == "lossbench"].dropna(subset=["test_acc"])
    if mine.empty:
        return ""
    best, worst = mine.iloc[0], mine.iloc[-1]
    lines = [
        "## Reading the results",
        "",
        f"- Best: **{best['loss']}** on {best['device']}, test accuracy "
        f"{_acc(best['test_acc'], best['test_acc_std'])}; worst: **{worst['loss']}**, "
        f"{_acc(worst['test_acc'], worst['test_acc_std'])}.",
    ]
    spread = mine.groupby("device")["test_acc"].agg(["max", "min"])
    for device, row in spread.iterrows():
        lines.append(f"- On {device} the losses span {row['max'] - row['min']:.4f} of accuracy.")
    speed = tables.speed(rows, final)
    for device, group in speed[speed["trainer"] == "lossbench"].groupby("device"):
        fast, slow = group.loc[group["step_us"].idxmin()], group.loc[group["step_us"].idxmax()]
        lines.append(
            f"- On {device} the median step is shortest under {fast['loss']} "
            f"({fast['step_us']:,.0f} µs) and longest under {slow['loss']} "
            f"({slow['step_us']:,.0f} µs, {slow['step_us'] / fast['step_us']:.2f}×)."
        )
    diverged = final[final["status"] == "diverged"]
    for run in diverged.itertuples():
        lines.append(f"- {run.loss} (seed {run.seed}, noise {run.noise}) diverged at epoch "
                     f"{run.epoch}.")
    clean = final[(final["trainer"] == "lossbench") & (final["noise"] == "none")
                  & (final["status"] == "ok")]
    if clean["seed"].nunique() > 1:
        paired = stats.paired_differences(clean, reference=best["loss"])
        tied = paired.loc[~paired["clear"], "loss"].tolist()
        if tied:
            lines.append(f"- Within the seed spread of the best (paired 95% CI includes 0): "
                         f"{', '.join(tied)}.")
    noisy = tables.noise(final)
    noisy = noisy[noisy["noise"].str.startswith("sym:")]
    if not noisy.empty:
        level = max(noisy["noise"], key=lambda n: float(n.split(":")[1]))
        at = noisy[noisy["noise"] == level].sort_values("test_acc", ascending=False)
        lines.append(f"- Under the strongest symmetric label noise ({level}) the most robust is "
                     f"{at.iloc[0]['loss']} ({at.iloc[0]['test_acc']:.4f} clean test accuracy), "
                     f"the least {at.iloc[-1]['loss']} ({at.iloc[-1]['test_acc']:.4f}).")
    unstable = mine[mine["test_acc_std"] > 3 * mine["test_acc_std"].median()]
    for run in unstable.itertuples():
        lines.append(f"- {run.loss} varies across seeds (sd {run.test_acc_std:.4f}): see the "
                     "per-class table for the classes it loses.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("out", type=Path, help="a results folder written by python -m bench")
    args = parser.parse_args(argv)
    if not (args.out / "results.csv").exists() or not (args.out / "run.json").exists():
        print(f"bench.report: error: {args.out} has no results.csv and run.json: run "
              "python -m bench --out DIR first", file=sys.stderr)
        return 2
    print(f"report: {write_report(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
