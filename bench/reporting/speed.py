"""Speed: step times, throughput and the epoch against its floor, per loss; the machine's own
drift; the textbook loop; the step anatomy and the batch-size sweep. Facts here, words in
templates/speed.md.j2 and batch_sizes.md.j2."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from bench.analysis import tables
from bench.reporting import anatomy, families, figures, prose
from bench.reporting.markdown import markdown_table, number, ratio
from bench.reporting.workload import Workload
from bench.training.config import TRAINER

times = prose.times  # kept importable here: "9.5×", "47×"


def speed_table(w: Workload) -> pd.DataFrame:
    """The speed table as shown: one row per run label and device."""
    table = w.speed
    shown = pd.DataFrame(
        {
            "loss": table["run"],
            "device": table["device"],
            "median step µs": table["step_us"].map(number),
            "p90 step µs": table["step_p90_us"].map(number),
            "samples/s": table["samples_per_s"].map(number),
            "epoch s": table["epoch_s"].map(lambda v: f"{v:.3f}"),
            "GEMM floor s": table["floor_s"].map(lambda v: f"{v:.3f}"),
            "× floor": table["x_floor"].map(ratio),
            "peak MB": table["peak_mem_mb"].map(number),
            "steps": table["step_mode"],
        }
    )
    if "grad" in table:
        shown["grad"] = table["grad"]
    return shown


def section(w: Workload, title: str = "Speed") -> str:
    """The speed section under ``title``: step times per loss, the textbook loop, step anatomy,
    batch sizes."""
    ours = families.ordered(w.speed[w.speed["trainer"] == TRAINER], by="step_us", ascending=True)
    if ours.empty:  # e.g. a folder of noisy levels only: no table, no figure
        parts = [
            f"## {title}\n\nNo step times to show: the speed table takes finished clean runs "
            "timed with the machine to themselves, and this folder has none."
        ]
        return "\n\n".join(p for p in [*parts, batch_sizes(w)] if p)
    fig = figures.bars(
        ours,
        y="run",
        x="step_us",
        order=ours["run"].drop_duplicates().tolist(),
        xlabel="median step (µs)",
        title="Step time per loss (by family)",
    )
    timing = w.caches["timing"]
    text = prose.render(
        "speed",
        title=title,
        table=markdown_table(speed_table(w)),
        linear=w.linear is not False,
        train_size=w.train_size,
        noun=w.noun,
        gpu="cuda" in set(w.rows["device"]),
        timed_apart=int(timing["epochs"].iloc[0]) if w.timed_apart else None,
        drift=drift(w),
        textbook_skipped=w.skipped("textbook"),
        book=textbook(w),
        figure=figures.image("step time", fig, w, "step_time.png"),
    )
    parts = [text]
    if not w.caches["anatomy"].empty:
        parts.append(anatomy.section(w))
    parts.append(batch_sizes(w))
    return "\n\n".join(p for p in parts if p)


def drift(w: Workload) -> dict | None:
    """How much the same loss's step time moved between its runs (the machine's own noise):
    {spread (max over min), loss, device}; None with fewer than two timed seeds."""
    found = tables.step_drift(w.rows, w.final)
    if found is None:
        return None
    spread, (_, _, loss, device) = found
    return {"spread": spread, "loss": loss, "device": device}


def textbook(w: Workload) -> dict | None:
    """The D2L textbook loop against lossbench's `ce`: side by side (OUT/textbook.csv) when
    timed so, else from the speed table; None when it did not run."""
    if w.skipped("textbook"):
        return None
    pairs = w.caches["textbook"]
    if not pairs.empty:
        book_rows = w.rows[w.rows["trainer"] == "d2l-textbook"]
        return side_by_side(pairs, book_rows["lr"].iloc[0] if len(book_rows) else None)
    table = w.speed
    loop = table[table["trainer"] == "d2l-textbook"]
    if loop.empty:  # a parallel study's table is its serial timing phase; the loop ran alone too
        alone = tables.speed(w.rows, w.final)
        loop = alone[alone["trainer"] == "d2l-textbook"]
    ours = table[
        (table["trainer"] == TRAINER) & (table["loss"] == "ce") & (table["device"] == "cpu")
    ]
    if loop.empty or ours.empty:
        return None
    book, mine = float(loop["epoch_s"].iloc[0]), float(ours["epoch_s"].iloc[0])
    return {"epochs": 0, "textbook_s": book, "lossbench_s": mine, "ratio": book / mine}


def side_by_side(pairs: pd.DataFrame, lr: float | None) -> dict:
    """The book's epochs against lossbench's, timed alternately (OUT/textbook.csv): medians,
    their ratio, the fastest epoch of each and the range of the per-epoch ratios."""
    book, ours = pairs["textbook_s"].median(), pairs["lossbench_s"].median()
    each = pairs["textbook_s"] / pairs["lossbench_s"]
    fastest_book, fastest_ours = pairs["textbook_s"].min(), pairs["lossbench_s"].min()
    return {
        "epochs": len(pairs),
        "batch_size": int(pairs["batch_size"].iloc[0]),
        "lr": None if lr is None else f"{lr:g}",
        "textbook_s": book,
        "lossbench_s": ours,
        "ratio": book / ours,
        "fastest_textbook_s": fastest_book,
        "fastest_lossbench_s": fastest_ours,
        "fastest_ratio": fastest_book / fastest_ours,
        "each_min": each.min(),
        "each_max": each.max(),
    }


def graph_gain(per: pd.DataFrame) -> pd.DataFrame:
    """Per device and batch size that ran both as CUDA graphs and eagerly: the graph's and the
    eager median step (µs) and their ratio (eager over graph). Empty without both modes."""
    columns = ["device", "batch_size", "graph_us", "eager_us", "ratio"]
    both = per.pivot_table(index=["device", "batch_size"], columns="step_mode", values="step_ms")
    if not {"cuda-graph", "eager"} <= set(both.columns):
        return pd.DataFrame(columns=columns)
    both = both.dropna(subset=["cuda-graph", "eager"]).reset_index()
    return pd.DataFrame(
        {
            "device": both["device"],
            "batch_size": both["batch_size"],
            "graph_us": both["cuda-graph"] * 1000,
            "eager_us": both["eager"] * 1000,
            "ratio": both["eager"] / both["cuda-graph"],
        }
    )[columns]


def batch_sizes(w: Workload) -> str:
    """The batch-size sweep (OUT/speed.csv): one loss, one seed, each batch size."""
    sweep = w.caches["speed"]
    if sweep.empty:
        return ""
    per = tables.batch_sweep(sweep)
    per["steps"] = per["device"] + " " + per["step_mode"]
    table = pd.DataFrame(
        {
            "device": per["device"],
            "steps": per["step_mode"],
            "batch": per["batch_size"],
            "median step µs": (per["step_ms"] * 1000).map(number),
            "samples/s": per["samples_per_s"].map(number),
            "epoch s": per["epoch_s"].map(lambda v: f"{v:.3f}"),
            "× floor": (per["epoch_s"] / per["floor_s"]).map(ratio),
        }
    )
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    sns.lineplot(per, x="batch_size", y="step_ms", hue="steps", marker="o", ax=axes[0])
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="batch size",
        ylabel="median step (ms)",
        title="Step time grows with the batch",
    )
    sns.lineplot(per, x="batch_size", y="samples_per_s", hue="steps", marker="o", ax=axes[1])
    axes[1].set(xscale="log", xlabel="batch size", ylabel="samples/s", title="Throughput")
    return prose.render(
        "batch_sizes",
        loss=sweep["loss"].iloc[0],
        epochs=int(sweep["epochs"].iloc[0]),
        table=markdown_table(table),
        gains=graph_gain(per).to_dict("records"),
        figure=figures.image("batch sizes", fig, w, "batch_sizes.png"),
    )
