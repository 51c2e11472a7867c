"""Speed: step times, throughput and the epoch against its floor, per loss; the machine's own
drift; the textbook loop; the step anatomy, the batch-size sweep and the micro-benchmarks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from bench.analysis import tables
from bench.reporting import anatomy, families, figures
from bench.reporting.markdown import markdown_table, number, ratio, skipped
from bench.reporting.workload import Workload


def section(w: Workload, micro: str = "") -> str:
    """The speed section; ``micro`` is the micro-benchmarks' summary, placed at its end."""
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
    text = [
        "## Speed",
        "",
        "Single-model runs only. Step = gather the batch, scores, loss value and gradient, "
        "parameter update; timed with perf_counter on the CPU, CUDA events on a GPU (read at "
        "epoch end, no synchronisation in the loop). Median over epochs of each epoch's median "
        "step, mean over seeds. 'Steps' says how they ran: eager (Python launches each op, the "
        "rows and the rate handed in per step) or cuda-graph (the whole step replayed as one "
        f"captured CUDA graph, reading its rows and rate from device buffers). {floor(w)} "
        "Peak memory is the process's peak RSS on the CPU and torch's max allocated on a GPU.",
        "",
        markdown_table(shown),
        "",
        drift(w),
    ]
    if w.timed_apart:
        epochs = int(w.caches["timing"]["epochs"].iloc[0])
        text[-1:-1] = [
            f"The runs above ran in parallel and shared the machine, so none of their times is "
            f"shown: each loss was timed again alone, {epochs} epochs of seed 0, in a serial "
            "phase after them (OUT/timing.csv).", "",
        ]
    text += textbook(w)
    ours = families.ordered(table[table["trainer"] == "lossbench"], by="step_us", ascending=True)
    fig = figures.bars(ours, y="run", x="step_us", order=ours["run"].drop_duplicates().tolist(),
                       xlabel="median step (µs)", title="Step time per loss (by family)")
    text += ["", figures.image("step time", fig, w, "step_time.png")]
    if not w.caches["anatomy"].empty:
        text += ["", anatomy.section(w)]
    text += batch_sizes(w)
    if micro:
        text += ["", micro]
    return "\n".join(text)


def floor(w: Workload) -> str:
    """What the floor column measures, for this workload's model and training set."""
    over = "the training set"
    if w.train_size is not None:
        over = f"all {w.train_size:,} training {w.noun}"
    work = ("the two GEMMs alone (forward (W xᵀ)ᵀ and update gᵀx, in the trainer's layout, "
            if w.linear is not False else
            "the model's own work alone (its forward scores and its update from a fixed score "
            "gradient, ")  # fmt: skip
    gpu = ("; on a GPU the pass is replayed as one captured CUDA graph, so the floor is the "
           "kernels' time, not Python's launches" if "cuda" in set(w.rows["device"]) else "")
    return (f"'GEMM floor' is one epoch of {work}batch by batch over {over}), measured in the "
            f"same process right before the run{gpu}; '× floor' is the epoch time over it.")


def drift(w: Workload) -> str:
    """How much the same loss's step time moved between its runs: the machine's own noise."""
    found = tables.step_drift(w.rows, w.final)
    if found is None:
        return ""
    spread, (_, _, loss, device) = found
    return (
        f"Between seeds of one loss, the median step moved by up to {spread:.2f}× "
        f"({loss} on {device}): on a shared machine the speed of the same work drifts, so "
        "differences between losses smaller than that are noise; `make microbench` times each "
        "loss's value and gradient in isolation."
    )


def textbook(w: Workload) -> list[str]:
    """The D2L textbook loop against lossbench's `ce`, or why the loop did not run."""
    reason = w.skipped("textbook")
    if reason:
        return ["", skipped("The D2L textbook loop", reason)]
    pairs = w.caches["textbook"]
    if not pairs.empty:
        book_rows = w.rows[w.rows["trainer"] == "d2l-textbook"]
        return side_by_side(pairs, book_rows["lr"].iloc[0] if len(book_rows) else None)
    table = w.speed
    loop = table[table["trainer"] == "d2l-textbook"]
    if loop.empty:  # a parallel study's table is its serial timing phase; the loop ran alone too
        alone = tables.speed(w.rows, w.final)
        loop = alone[alone["trainer"] == "d2l-textbook"]
    ours = table[(table["trainer"] == "lossbench") & (table["loss"] == "ce")
                 & (table["device"] == "cpu")]  # fmt: skip
    if loop.empty or ours.empty:
        return []
    seconds, ratio = loop["epoch_s"].iloc[0], loop["epoch_s"].iloc[0] / ours["epoch_s"].iloc[0]
    return ["", f"The D2L textbook loop takes {seconds:.2f} s per epoch on this CPU (median "
            f"over its epochs); lossbench's `ce` epoch ({ours['epoch_s'].iloc[0]:.3f} s) is "
            f"**{times(ratio)} faster**."]


def side_by_side(pairs: pd.DataFrame, lr: float | None) -> list[str]:
    """The book's epochs against lossbench's, timed alternately (OUT/textbook.csv)."""
    book, ours = pairs["textbook_s"].median(), pairs["lossbench_s"].median()
    rate = f" and rate {lr:g}" if lr is not None else ""
    text = (f"Side by side on this CPU, each of the D2L textbook loop's epochs followed by one "
            f"epoch of lossbench's own `ce` on the same model, batch "
            f"{int(pairs['batch_size'].iloc[0])}{rate}, so that both see the same moment of the "
            f"machine: the book's loop takes {book:.2f} s per epoch and lossbench's {ours:.3f} s "
            f"(medians over {len(pairs)} epochs each). lossbench is **{times(book / ours)} "
            "faster**.")  # fmt: skip
    if len(pairs) > 1:
        fastest_book, fastest_ours = pairs["textbook_s"].min(), pairs["lossbench_s"].min()
        each = pairs["textbook_s"] / pairs["lossbench_s"]
        text += (f" Each loop's fastest epoch (the least disturbed by whatever else ran on the "
                 f"machine): {fastest_book:.2f} s against {fastest_ours:.3f} s, "
                 f"{times(fastest_book / fastest_ours)}. Epoch by epoch: {times(each.min())} to "
                 f"{times(each.max())}.")  # fmt: skip
    return ["", text]


def times(ratio: float) -> str:
    """"9.5×", "47×": one decimal below 20×, so that "10×" never rounds up from 9.5."""
    return f"{ratio:.1f}×" if ratio < 20 else f"{ratio:.0f}×"


def graph_gain(per: pd.DataFrame) -> list[str]:
    """A sentence per batch size that ran both as CUDA graphs and eagerly on one device: the
    eager step over the graph's."""
    both = per.pivot_table(index=["device", "batch_size"], columns="step_mode", values="step_ms")
    if not {"cuda-graph", "eager"} <= set(both.columns):
        return []
    both = both.dropna(subset=["cuda-graph", "eager"])
    if both.empty:
        return []
    parts = [f"batch {batch}: {row['cuda-graph'] * 1000:.0f} µs against "
             f"{row['eager'] * 1000:.0f} µs ({row['eager'] / row['cuda-graph']:.1f}×)"
             for (_, batch), row in both.iterrows()]  # fmt: skip
    return ["", "Replayed as one CUDA graph, a step costs less than the same step launched op by "
            f"op from Python (median step, graph against eager): {'; '.join(parts)}."]


def batch_sizes(w: Workload) -> list[str]:
    """The batch-size sweep (OUT/speed.csv): one loss, one seed, each batch size."""
    sweep = w.caches["speed"]
    if sweep.empty:
        return []
    per = tables.batch_sweep(sweep)
    per["steps"] = per["device"] + " " + per["step_mode"]
    text = ["", "### Batch size", "",
            f"`{sweep['loss'].iloc[0]}`, one seed, {sweep['epochs'].iloc[0]} epochs per "
            "batch size and step mode, single model:", "",
            markdown_table(pd.DataFrame({
                "device": per["device"], "steps": per["step_mode"], "batch": per["batch_size"],
                "median step µs": (per["step_ms"] * 1000).map(number),
                "samples/s": per["samples_per_s"].map(number),
                "epoch s": per["epoch_s"].map(lambda v: f"{v:.3f}"),
                "× floor": (per["epoch_s"] / per["floor_s"]).map(ratio)}))]  # fmt: skip
    text += graph_gain(per)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    sns.lineplot(per, x="batch_size", y="step_ms", hue="steps", marker="o", ax=axes[0])
    axes[0].set(xscale="log", yscale="log", xlabel="batch size", ylabel="median step (ms)",
                title="Step time grows with the batch")  # fmt: skip
    sns.lineplot(per, x="batch_size", y="samples_per_s", hue="steps", marker="o", ax=axes[1])
    axes[1].set(xscale="log", xlabel="batch size", ylabel="samples/s", title="Throughput")
    return text + ["", figures.image("batch sizes", fig, w, "batch_sizes.png")]
