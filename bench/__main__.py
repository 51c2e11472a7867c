"""The command line: python -m bench — train the softmax regressor under each loss, and report.

    python -m bench                                  # the default suite, CPU (+ CUDA if present)
    python -m bench --losses ce,huber:delta=0.05 --epochs 5 --seeds 1 --out /tmp/quick

Bad input ends with one line on stderr and exit status 2; Ctrl-C stops after the current step,
keeps every finished epoch, and the same command resumes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import signal
import sys
import tempfile
from pathlib import Path

import torch
import torchvision
from tqdm import tqdm

import losses
from bench import data as data_module
from bench import runs
from bench.train import SCHEDULES, Interrupted, RunConfig, train

ROOT = Path(__file__).resolve().parents[1]

class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors, one line too
        raise UsageError(f"{message} (see python -m bench --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", default=",".join(runs.DEFAULT_LRS), metavar="SPEC,...",
                        help="loss specs name:key=value:..., comma-separated "
                             f"(registered: {', '.join(losses.names())}; default: the suite)")
    parser.add_argument("--devices", default="auto", help="auto, cpu, cuda or cpu,cuda (default auto: "
                        "cpu, and cuda when available)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=None,
                        help="one learning rate for every loss (default: each loss's own)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    parser.add_argument("--data", type=Path, default=ROOT / "data",
                        help="Fashion-MNIST root, torchvision layout (default: data/ in the checkout)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="results folder")
    parser.add_argument("--no-report", action="store_true", help="train only; skip README.md and figures")
    return parser


def resolve_devices(text: str) -> tuple[list[str], list[str]]:
    """Devices to run on, and notes for the report (a missing GPU under auto is a note)."""
    names = [d.strip() for d in text.split(",") if d.strip()]
    if names == ["auto"]:
        if torch.cuda.is_available():
            return ["cpu", "cuda"], []
        return ["cpu"], ["No CUDA device was available (--devices auto): only CPU runs were made."]
    for name in names:
        if name not in ("cpu", "cuda"):
            raise UsageError(f"unknown device {name!r}: use auto, cpu, cuda or cpu,cuda")
        if name == "cuda" and not torch.cuda.is_available():
            raise UsageError("--devices asks for cuda but no CUDA device is available: "
                             "use --devices cpu or auto")
    if not names:
        raise UsageError("--devices is empty: use auto, cpu, cuda or cpu,cuda")
    return list(dict.fromkeys(names)), []


def resolve_losses(text: str, lr: float | None) -> dict[str, float]:
    """Canonical spec -> learning rate, for each requested loss."""
    defaults = {str(losses.parse(spec)): rate for spec, rate in runs.DEFAULT_LRS.items()}
    chosen = {}
    for spec in filter(None, (s.strip() for s in text.split(","))):
        try:
            canonical = str(losses.parse(spec))
        except (ValueError, KeyError) as error:
            raise UsageError(f"--losses {spec}: {error}") from None
        base = str(losses.get(losses.parse(spec).name))
        chosen[canonical] = lr or defaults.get(canonical) or defaults.get(base) or 0.1
    if not chosen:
        raise UsageError("--losses is empty: give at least one loss spec")
    return chosen


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UsageError(f"--out {out} is not writable ({error.strerror}): "
                         "choose a folder you can write to") from None


def environment() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class StopFlag:
    """Ctrl-C sets the flag (the loop stops after its current step); a second Ctrl-C aborts."""

    def __init__(self):
        self.set = False

    def __call__(self) -> bool:
        return self.set

    def __enter__(self):
        def handler(signum, frame):
            if self.set:
                raise KeyboardInterrupt
            self.set = True
            tqdm.write("stopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

        self._previous = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(build_parser().parse_args(argv), argv)
    except (UsageError, runs.RunsError, data_module.DataError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {args.seeds}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    lrs = resolve_losses(args.losses, args.lr)
    devices, notes = resolve_devices(args.devices)
    check_writable(args.out)

    protocol = {"epochs": args.epochs, "batch_size": args.batch_size, "schedule": args.schedule}
    configs = runs.expand(list(lrs), devices, range(args.seeds), lrs=lrs, **protocol)
    meta = {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "config": {**protocol, "lr": args.lr, "losses": lrs, "devices": devices,
                   "seeds": list(range(args.seeds)), "data": str(args.data)},
        "environment": environment(),
        "notes": notes,
    }
    results = runs.Results(args.out)
    finished = results.prepare(meta)
    todo = [c for c in configs if c not in finished]
    if len(todo) < len(configs):
        print(f"resuming: {len(configs) - len(todo)} of {len(configs)} runs already in {results.csv_path}")

    data_module.provision(args.data)
    dataset = data_module.load(args.data)
    try:
        with StopFlag() as stop, tqdm(total=sum(c.epochs for c in todo), unit="epoch", dynamic_ncols=True) as bar:
            for device in devices:
                on_device = dataset.to(device)
                for config in (c for c in todo if c.device == device):
                    bar.set_postfix_str(f"{config.loss} {device} seed {config.seed}")
                    last = {}

                    def record(row, last=last):
                        results.append(row)
                        last.update(row)
                        bar.update(1)

                    model = train(config, on_device, on_epoch=record, should_stop=stop)
                    if last["status"] == "diverged":
                        bar.update(config.epochs - last["epoch"])
                    else:
                        results.save_weights(config, model.state_dict())
                    tqdm.write(summary(config, last))
    except Interrupted:
        done = len(results.finished())
        print(f"interrupted: {done} finished runs are in {results.csv_path}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    if not args.no_report:
        from bench import report

        path = report.write_report(args.out, data=dataset)
        print(f"report: {path}")
    return 0


def summary(config: RunConfig, row: dict) -> str:
    """One line per finished run."""
    head = f"{config.loss:<30} {config.device:<4} seed {config.seed}  lr {config.lr:<6g}"
    if row["status"] == "diverged":
        return f"{head} DIVERGED at epoch {row['epoch']}"
    return (f"{head} test acc {row['test_acc']:.4f}  train loss {row['train_loss']:.4f}  "
            f"step {row['step_ms'] * 1000:.0f} µs  epoch {row['epoch_s']:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
