"""Forward + backward of the peers' copies of a loss against the equal lossbench criterion.

    python tests/benchmarks/peers_table.py [--shapes 64x10,4096x1000] [--rounds 9] [--csv OUT]

For each peer in ``peers.PEERS`` that is installed and each shape: value and gradient are
first checked equal (float32, 1e-5), then both are timed interleaved on one thread; a cell is
ours / theirs, the ratio of the medians (below 1: lossbench is faster), and in brackets that of
the fastest rounds. ``make microbench`` runs it after ``criteria_table.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
import criteria_table as criteria  # noqa: E402
import peers  # noqa: E402


def measure(shapes, rounds) -> pd.DataFrame:
    rows = []
    for peer in peers.PEERS:
        if not peer.installed:
            print(f"{peer.name}: {peer.module} not installed, left out", file=sys.stderr)
            continue
        for shape in shapes:
            if peer.max_classes is not None and shape[1] > peer.max_classes:
                continue
            data = peers.batch(shape, soft=peer.soft)
            theirs = peers.value_and_grad(peer.peer, *data)
            ours = peers.value_and_grad(peer.ours, *data)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
            times = criteria.interleaved(
                {
                    "ours": lambda peer=peer, data=data: peers.value_and_grad(peer.ours, *data),
                    "peer": lambda peer=peer, data=data: peers.value_and_grad(peer.peer, *data),
                },
                rounds,
                criteria.reps_for(shape),
            )
            rows.append(
                {
                    "peer": peer.name,
                    "shape": f"{shape[0]}×{shape[1]}",
                    **criteria.ratios(times, "ours", "peer"),
                }
            )
            print(
                f"{peer.name:45} {rows[-1]['shape']:>10} {rows[-1]['ours_ms']:9.3f} ms "
                f"{rows[-1]['peer_ms']:9.3f} ms {rows[-1]['ratio']:5.2f}×",
                file=sys.stderr,
                flush=True,
            )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(f"{n}x{k}" for n, k in criteria.SHAPES))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    shapes = [tuple(int(v) for v in text.split("x")) for text in args.shapes.split(",")]
    frame = measure(shapes, args.rounds)
    frame.insert(0, "environment", criteria.environment())
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.csv, index=False)
    print(
        f"Peers, forward + backward, ours / theirs (interleaved medians of {args.rounds}); "
        f"{criteria.environment()}\n"
    )
    print(criteria.table(frame, first="peer"))


if __name__ == "__main__":
    main()
