"""Forward + backward of every registered loss as a criterion against ``F.cross_entropy``, by shape.

    python tests/benchmarks/criteria_table.py [--shapes 64x10,4096x1000] [--specs ce,focal]
        [--rounds 9] [--csv OUT.csv]

One thread (``torch.set_num_threads(1)``), float32 scores, integer labels, ``mean`` reduction.
Each round times the criterion and ``F.cross_entropy`` back to back on the same batch
(interleaved, so a machine that drifts or is shared moves both); a cell is the ratio of the two
medians over the rounds. The goal (issue 33): ≤ 1.2× at (64, 10), (4096, 1000), (256, 32000),
below 1 at (4096, 10) and (65536, 10). The header names the CPU, torch and the thread count: a
number without its machine is not a result. The last column counts the ops that write an
(N, K)-sized tensor in one forward + backward (exact, where timings on a shared machine are
not): ``F.cross_entropy`` writes 3. ``make microbench`` runs it (and the peers' table,
``peers_table.py``).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import losses  # noqa: E402
from bench.environment import cpu_model  # noqa: E402
from losses import functional as LF  # noqa: E402

SHAPES = ((64, 10), (4096, 10), (65536, 10), (4096, 1000), (256, 32000))
GOALS = {(64, 10): 1.2, (4096, 10): 1.0, (65536, 10): 1.0, (4096, 1000): 1.2, (256, 32000): 1.2}


def environment() -> str:
    """The machine a table was measured on: CPU, threads, torch and Python."""
    threads = torch.get_num_threads()
    return (
        f"{cpu_model()}, {threads} thread{'' if threads == 1 else 's'}, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def forward_backward(mean_loss, scores, labels):
    leaf = scores.detach().requires_grad_()
    mean_loss(leaf, labels).backward()
    return leaf.grad


def interleaved(candidates: dict, rounds: int, reps: int) -> dict[str, list[float]]:
    """Seconds per call of each zero-argument callable, timed in turn each round: a list of
    ``rounds`` per callable."""
    times = {name: [] for name in candidates}
    for fn in candidates.values():
        fn()  # warm up: allocator, first-call dispatch
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            times[name].append((time.perf_counter() - start) / reps)
    return times


def ratios(times: dict[str, list[float]], ours: str, theirs: str) -> dict[str, float]:
    """Both medians (ms), their ratio, and the ratio of the fastest rounds (on a shared machine
    the least disturbed: the rounds are interleaved, so both saw the same machine)."""
    return {
        f"{ours}_ms": statistics.median(times[ours]) * 1e3,
        f"{theirs}_ms": statistics.median(times[theirs]) * 1e3,
        "ratio": statistics.median(times[ours]) / statistics.median(times[theirs]),
        "ratio_best": min(times[ours]) / min(times[theirs]),
    }


class FullWrites(TorchDispatchMode):
    """Counts the aten ops that write a tensor of the scores' size (N·K): the passes over memory
    that set the time at large shapes, counted exactly where timings on a shared machine are
    noisy."""

    def __init__(self, size: int):
        super().__init__()
        self.size, self.count = size, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        inputs = [a for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)]
        seen = {a.untyped_storage().data_ptr() for a in inputs if a.numel() == self.size}
        versions = [a._version for a in inputs]
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, tuple | list) else (out,)
        for t in outs:
            if not isinstance(t, torch.Tensor) or t.numel() != self.size:
                continue
            written_in_place = any(
                a.untyped_storage().data_ptr() == t.untyped_storage().data_ptr() and a._version > v
                for a, v in zip(inputs, versions, strict=True)
            )
            if t.untyped_storage().data_ptr() not in seen or written_in_place:
                self.count += 1  # a new (N, K) tensor, or one written in place (not a view)
                break
        return out


def full_writes(mean_loss, shape) -> int:
    """Ops writing an (N, K)-sized tensor in one forward + backward of ``mean_loss``."""
    scores, labels = batch(shape)
    with FullWrites(scores.numel()) as mode:
        forward_backward(mean_loss, scores, labels)
    return mode.count


def batch(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, k = shape
    return torch.randn(n, k, generator=g) * 2, torch.randint(0, k, (n,), generator=g)


def reps_for(shape) -> int:
    """Calls per timing: about 2 ms of work at least, so small shapes are not timer noise."""
    n, k = shape
    return max(1, min(200, 200_000 // (n * k)))


def measure(specs, shapes, rounds) -> pd.DataFrame:
    """One row per (shape, loss): both medians (ms) and their ratio."""
    rows = []
    for shape in shapes:
        scores, labels = batch(shape)
        prior = torch.full((shape[1],), 1.0 / shape[1])
        for spec in specs:
            the_loss = losses.parse(spec).with_prior(prior)
            times = interleaved(
                {
                    "criterion": lambda the_loss=the_loss, scores=scores, labels=labels: (
                        forward_backward(lambda s, y: LF.loss(the_loss, s, y), scores, labels)
                    ),
                    "cross_entropy": lambda scores=scores, labels=labels: forward_backward(
                        F.cross_entropy, scores, labels
                    ),
                },
                rounds,
                reps_for(shape),
            )
            rows.append(
                {
                    "shape": f"{shape[0]}×{shape[1]}",
                    "loss": spec,
                    "full_writes": full_writes(
                        lambda s, y, the_loss=the_loss: LF.loss(the_loss, s, y), shape
                    ),
                    **ratios(times, "criterion", "cross_entropy"),
                    "goal": GOALS.get(shape, float("nan")),
                }
            )
            print(
                f"{rows[-1]['shape']:>10} {rows[-1]['loss']:18} "
                f"{rows[-1]['criterion_ms']:9.3f} ms {rows[-1]['cross_entropy_ms']:9.3f} ms "
                f"{rows[-1]['ratio']:5.2f}× ({rows[-1]['ratio_best']:.2f}×)",
                file=sys.stderr,
                flush=True,
            )
    return pd.DataFrame(rows)


def table(frame: pd.DataFrame, first: str = "loss") -> str:
    """A Markdown table: a row per ``first`` (loss or peer), a column per shape; each cell the
    ratio of the medians, and in brackets that of the fastest rounds."""
    shapes = list(dict.fromkeys(frame["shape"]))
    cells = frame.assign(
        cell=[
            f"{m:.2f}× ({b:.2f}×)" for m, b in zip(frame["ratio"], frame["ratio_best"], strict=True)
        ]
    )
    grid = cells.pivot(index=first, columns="shape", values="cell")[shapes].fillna("—")
    writes = "full_writes" in frame
    extra = f" (N, K) writes at {shapes[-1]} |" if writes else ""
    lines = [
        f"| {first} | " + " | ".join(shapes) + " |" + extra,
        "|---|" + "---:|" * (len(shapes) + writes),
    ]
    if writes:
        counts = frame[frame["shape"] == shapes[-1]].set_index(first)["full_writes"]
        medians = frame.groupby("shape", sort=False)["cross_entropy_ms"].median()[shapes]
        reference = full_writes(F.cross_entropy, tuple(int(v) for v in shapes[-1].split("×")))
        lines.append(
            "| *F.cross_entropy, ms* | "
            + " | ".join(f"{v:.3g}" for v in medians)
            + f" | {reference} |"
        )
    for name, row in grid.iterrows():
        tail = f" {counts[name]} |" if writes else ""
        lines.append(f"| {name} | " + " | ".join(row) + " |" + tail)
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(f"{n}x{k}" for n, k in SHAPES))
    parser.add_argument("--specs", default=",".join(losses.names()))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    shapes = [tuple(int(v) for v in text.split("x")) for text in args.shapes.split(",")]
    frame = measure(args.specs.split(","), shapes, args.rounds)
    frame.insert(0, "environment", environment())
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.csv, index=False)
    print(
        f"Forward + backward, ratio to F.cross_entropy: interleaved medians of {args.rounds} "
        f"rounds (fastest rounds in brackets); {environment()}\n"
    )
    print(table(frame))


if __name__ == "__main__":
    main()
