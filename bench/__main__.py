"""The command line: python -m bench — train the softmax regressor under each loss, and report.

    python -m bench                                  # the default suite, CPU (+ CUDA if present)
    python -m bench --losses ce,huber:delta=0.05 --epochs 5 --seeds 1 --out /tmp/quick

Bad input ends with one line on stderr and exit status 2; Ctrl-C stops after the current step,
keeps every finished epoch, and the same command resumes.
"""

from __future__ import annotations

import argparse
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
from bench import graphs, noise, peers, reference, runs, speed, textbook, timing, train, tune
from bench.train import SCHEDULES, STEP_MODES, Interrupted, RunConfig

ROOT = Path(__file__).resolve().parents[1]


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors, one line too
        raise UsageError(f"{message} (see python -m bench --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--losses",
        default=",".join(runs.DEFAULT_LRS),
        metavar="SPEC,...",
        help="loss specs name:key=value:..., comma-separated "
        f"(registered: {', '.join(losses.names())}; default: the suite)",
    )
    parser.add_argument(
        "--devices",
        default="auto",
        help="auto, cpu, cuda or cpu,cuda (default auto: cpu, and cuda when available)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--batch-size", type=int, default=256)
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument(
        "--lr",
        type=float,
        default=None,
        help="one learning rate for every loss (default: tuned per loss)",
    )
    rate.add_argument(
        "--no-tune",
        action="store_true",
        help="use each loss's built-in default rate instead of tuning it",
    )
    parser.add_argument(
        "--retune", action="store_true", help="tune again even where OUT/tuning.csv has the answer"
    )
    parser.add_argument(
        "--tune-epochs",
        type=int,
        default=None,
        help="epochs per trial of the learning-rate search (default: --epochs, so the rate is "
        "chosen for the schedule it will run)",
    )
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    parser.add_argument(
        "--step-mode",
        choices=STEP_MODES,
        default="auto",
        help="how training steps run: auto (default) replays each step as a CUDA graph on a GPU, "
        "falling back to eager with a warning, and runs eager on the CPU; eager; device (the "
        "graph's step, not captured); cuda-graph (an error if capture fails)",
    )
    parser.add_argument(
        "--noise",
        default="none",
        metavar="SPEC,...",
        help="label noise levels: none, sym:RATE, pairs:RATE, comma-separated",
    )
    parser.add_argument(
        "--noise-seeds",
        type=int,
        default=1,
        help="seeds per noisy level (default 1; clean runs use --seeds)",
    )
    parser.add_argument(
        "--batch-sizes",
        default="",
        metavar="N,...",
        help="also sweep these batch sizes for speed (ce, 1 seed, 2 epochs), "
        "e.g. 64,256,1024,4096; rows go to OUT/speed.csv",
    )
    parser.add_argument(
        "--reference-iters",
        type=int,
        default=100,
        metavar="N",
        help="L-BFGS iterations for the convex losses' full-batch optimum "
        "(default 100; 0 skips it); cached in OUT/reference.csv",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also fit scikit-learn's SGDClassifier losses and LogisticRegression "
        "(needs pip install '.[peers]'); rows in OUT/peers.csv",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT / "data",
        help="Fashion-MNIST root, torchvision layout (default: data/ in the checkout)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="results folder")
    parser.add_argument(
        "--no-textbook",
        action="store_true",
        help="skip the D2L textbook loop (DataLoader + autograd) run beside ce",
    )
    parser.add_argument(
        "--textbook-epochs",
        type=int,
        default=textbook.EPOCHS,
        help=f"epochs of the textbook loop (default {textbook.EPOCHS}, the book's)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="train only; skip README.md and figures"
    )
    return parser


def resolve_devices(text: str) -> tuple[list[str], list[str]]:
    """Devices to run on, and notes for the report (a missing GPU under auto is a note)."""
    names = [d.strip() for d in text.split(",") if d.strip()]
    if names == ["auto"]:
        if torch.cuda.is_available():
            return ["cpu", "cuda"], []
        return ["cpu"], ["No CUDA device was available (--devices auto): only CPU runs were made."]
    if not names:
        raise UsageError("--devices is empty: use auto, cpu, cuda or cpu,cuda")
    for name in names:
        if name not in ("cpu", "cuda"):
            raise UsageError(f"unknown device {name!r}: use auto, cpu, cuda or cpu,cuda")
        if name == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                "--devices asks for cuda but no CUDA device is available: use --devices cpu or auto"
            )
    return list(dict.fromkeys(names)), []


def resolve_losses(text: str) -> list[str]:
    """The requested loss specs, canonical (``str(losses.parse(spec))``), in order."""
    specs = []
    for spec in filter(None, (s.strip() for s in text.split(","))):
        try:
            specs.append(str(losses.parse(spec)))
        except (ValueError, KeyError) as error:
            raise UsageError(f"--losses {spec}: {error}") from None
    if not specs:
        raise UsageError("--losses is empty: give at least one loss spec")
    return list(dict.fromkeys(specs))


def default_rates(specs: list[str]) -> dict[str, float]:
    """Each loss's built-in rate: its own entry, else its name's default parameters', else 0.1."""
    defaults = {str(losses.parse(spec)): rate for spec, rate in runs.DEFAULT_LRS.items()}
    chosen = {}
    for spec in specs:
        base = str(losses.get(losses.parse(spec).name))
        chosen[spec] = defaults.get(spec) or defaults.get(base) or 0.1
    return chosen


def resolve_noise(text: str) -> list[str]:
    levels = []
    for spec in filter(None, (s.strip() for s in text.split(","))):
        try:
            levels.append(noise.canonical(spec))
        except ValueError as error:
            raise UsageError(f"--noise: {error}") from None
    return list(dict.fromkeys(levels or ["none"]))


def resolve_batch_sizes(text: str) -> list[int]:
    sizes = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        if not item.isdigit() or int(item) < 1:
            raise UsageError(f"--batch-sizes: {item!r} is not a positive whole number")
        sizes.append(int(item))
    return list(dict.fromkeys(sizes))


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UsageError(
            f"--out {out} is not writable ({error.strerror}): choose a folder you can write to"
        ) from None


def check_counts(args: argparse.Namespace) -> None:
    if args.tune_epochs is None:
        args.tune_epochs = args.epochs
    for flag, value in (
        ("--epochs", args.epochs),
        ("--seeds", args.seeds),
        ("--batch-size", args.batch_size),
        ("--tune-epochs", args.tune_epochs),
        ("--noise-seeds", args.noise_seeds),
        ("--textbook-epochs", args.textbook_epochs),
    ):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.reference_iters < 0:
        raise UsageError(f"--reference-iters must be 0 or more, got {args.reference_iters}")
    if args.peers and not peers.available():
        raise UsageError("--peers needs scikit-learn: pip install '.[peers]' (or make peers)")


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
    except (UsageError, runs.RunsError, data_module.DataError, graphs.CaptureError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: list[str]) -> int:
    check_counts(args)
    specs = resolve_losses(args.losses)
    levels = resolve_noise(args.noise)
    batch_sizes = resolve_batch_sizes(args.batch_sizes)
    devices, notes = resolve_devices(args.devices)
    if args.step_mode == "cuda-graph" and "cpu" in devices:
        raise UsageError(
            "--step-mode cuda-graph needs CUDA: use --devices cuda, or --step-mode auto"
        )
    check_writable(args.out)

    protocol = {"epochs": args.epochs, "batch_size": args.batch_size, "schedule": args.schedule}
    rate_mode = "fixed" if args.lr is not None else "defaults" if args.no_tune else "tuned"
    meta = {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "config": {
            **protocol,
            "lr": args.lr,
            "rates": rate_mode,
            "losses": specs,
            "devices": devices,
            "seeds": list(range(args.seeds)),
            "noise": levels,
            "noise_seeds": list(range(args.noise_seeds)),
            "tune_epochs": args.tune_epochs,
            "step_mode": args.step_mode,
            "textbook": 0 if args.no_textbook else args.textbook_epochs,
            "data": str(args.data),
        },
        "environment": environment(),
        "notes": notes,
    }
    results = runs.Results(args.out)
    results.prepare(meta)
    data_module.provision(args.data)
    dataset = data_module.load(args.data)

    try:
        with StopFlag() as stop:
            if rate_mode == "fixed":
                rates = dict.fromkeys(specs, args.lr)
            elif rate_mode == "defaults":
                rates = default_rates(specs)
            else:
                rates = tune_rates(args, specs, dataset, devices[0], stop)
            configs = study(args, specs, devices, levels, rates)
            finished = results.resume(configs)
            todo = [c for c in configs if c not in finished]
            if len(todo) < len(configs):
                print(
                    f"resuming: {len(configs) - len(todo)} of {len(configs)} runs already in "
                    f"{results.csv_path}"
                )
            train_all(todo, dataset, results, args.data, stop, args.step_mode)
            if batch_sizes:
                batch_size_sweep(args, dataset, devices, batch_sizes, rates, stop)
            if "cpu" in devices:
                step_anatomy(args, specs, dataset)
            if args.reference_iters:
                convex_references(args, specs, dataset)
            if args.peers:
                peer_rows(args, dataset)
    except Interrupted:
        print(
            f"interrupted: {len(results.finished())} finished runs are in {results.csv_path}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    if not args.no_report:
        from bench import report

        print(f"report: {report.write_report(args.out, data=dataset)}")
    return 0


def tune_rates(args, specs, dataset, device, stop) -> dict[str, float]:
    """Each loss's rate from the validation search, cached in OUT/tuning.csv."""
    tuner = tune.Tuner(
        args.out / "tuning.csv",
        epochs=args.tune_epochs,
        batch_size=args.batch_size,
        schedule=args.schedule,
        retune=args.retune,
    )
    todo = tuner.missing(specs, device)
    if todo:
        with tqdm(total=len(todo), unit="trial", desc="tuning", dynamic_ncols=True) as bar:

            def step(trial):
                bar.set_postfix_str(f"{trial['loss']} lr {trial['lr']:g}")
                bar.update(1)

            rates = tuner.run(specs, dataset.to(device), device, on_trial=step, should_stop=stop)
    else:
        rates = tuner.chosen(specs, device)
    for spec, lr in rates.items():
        tqdm.write(f"learning rate {lr:<6g} for {spec} (best validation accuracy)")
    return rates


def batch_size_sweep(args, dataset, devices, batch_sizes, rates, stop) -> None:
    """The speed sweep into OUT/speed.csv; kept when it already covers these sizes and devices."""
    path = args.out / "speed.csv"
    done = {(r["device"], int(r["batch_size"])) for r in runs.read_rows(path, runs.COLUMNS)}
    if {(d, b) for d in devices for b in batch_sizes} <= done:
        return
    lr = rates.get("ce", runs.DEFAULT_LRS["ce"])
    rows = speed.sweep(
        dataset, devices, batch_sizes, lr=lr, should_stop=stop, step_mode=args.step_mode
    )
    runs.write_rows(path, runs.COLUMNS, rows)
    print(f"batch-size sweep: {len(batch_sizes)} sizes on {', '.join(devices)} -> {path}")


ANATOMY_COLUMNS = (
    "loss", "batch_size", *(f"{part}_us" for part in timing.ANATOMY_PARTS + timing.ANATOMY_EPOCHS)
)  # fmt: skip


def step_anatomy(args, specs, dataset) -> None:
    """Where each loss's CPU step time goes, cached in OUT/anatomy.csv for this batch size.

    The file is a cache of seconds-long measurements: one from an older version of lossbench
    (other columns) is measured again rather than refused."""
    path = args.out / "anatomy.csv"
    try:
        cached = runs.read_rows(path, ANATOMY_COLUMNS)
    except runs.RunsError:
        print(f"{path}: from an older version of lossbench, measuring the step anatomy again")
        cached = []
    rows = [r for r in cached if int(r["batch_size"]) == args.batch_size and r["loss"] in specs]
    todo = [s for s in specs if s not in {r["loss"] for r in rows}]
    for spec in todo:
        parts = timing.step_anatomy(losses.parse(spec), dataset, args.batch_size)
        rows.append(
            {"loss": spec, "batch_size": args.batch_size}
            | {f"{part}_us": seconds * 1e6 for part, seconds in parts.items()}
        )
    if todo or not path.exists():
        runs.write_rows(path, ANATOMY_COLUMNS, rows)


REFERENCE_COLUMNS = (
    "loss",
    "max_iter",
    "train_loss",
    "train_acc",
    "test_acc",
    "iterations",
    "seconds",
)


def convex_references(args, specs, dataset) -> None:
    """L-BFGS full-batch optimum of each convex loss, cached in OUT/reference.csv."""
    path = args.out / "reference.csv"
    rows = [
        r
        for r in runs.read_rows(path, REFERENCE_COLUMNS)
        if int(r["max_iter"]) == args.reference_iters
    ]
    done = {r["loss"] for r in rows}
    todo = [s for s in specs if losses.parse(s).convex_in_scores and s not in done]
    for spec in tqdm(todo, desc="L-BFGS reference", unit="loss", dynamic_ncols=True,
                     disable=not todo):
        result = reference.optimum(spec, dataset, max_iter=args.reference_iters)
        rows.append({**result, "max_iter": args.reference_iters})
        runs.write_rows(path, REFERENCE_COLUMNS, rows)
        tqdm.write(
            f"L-BFGS optimum of {spec}: train loss {result['train_loss']:.4f}, "
            f"test acc {result['test_acc']:.4f} ({result['seconds']:.0f} s)"
        )


def peer_rows(args, dataset) -> None:
    """scikit-learn peers, cached in OUT/peers.csv for this number of epochs."""
    path = args.out / "peers.csv"
    cached = runs.read_rows(path, peers.COLUMNS)
    if any(r["peer"] == "SGDClassifier" and int(r["epochs"]) == args.epochs for r in cached):
        return
    rows = []

    def report_row(row):
        rows.append(row)
        runs.write_rows(path, peers.COLUMNS, rows)
        tqdm.write(
            f"peer {row['peer']} {row['loss']}: test acc {row['test_acc']:.4f} "
            f"in {row['fit_s']:.1f} s"
        )

    peers.run(dataset, epochs=args.epochs, on_row=report_row)


def study(args, specs, devices, levels, rates) -> list[RunConfig]:
    """Every run of the study: clean runs over all seeds, noisy ones over the noise seeds."""
    protocol = {"epochs": args.epochs, "batch_size": args.batch_size, "schedule": args.schedule}
    configs = []
    for level in levels:
        seeds = range(args.seeds if level == "none" else args.noise_seeds)
        configs += runs.expand(specs, devices, seeds, lrs=rates, noise=level, **protocol)
    if not args.no_textbook and "cpu" in devices and "ce" in specs:
        configs.append(runs.textbook_run(args.textbook_epochs, args.batch_size))
    return configs


def train_all(todo: list[RunConfig], dataset, results: runs.Results, data_root: Path, stop,
              step_mode: str = "auto") -> None:  # fmt: skip
    """Train each run, appending its rows as epochs end; one summary line per finished run."""
    total = sum(c.epochs for c in todo)
    with tqdm(total=total, unit="epoch", dynamic_ncols=True, disable=not total) as bar:
        for device in dict.fromkeys(c.device for c in todo):
            on_device = dataset.to(device)
            for config in (c for c in todo if c.device == device):
                # measured right before each run: a shared machine's speed drifts over minutes,
                # and "× floor" should compare the run with the floor of the same moment
                floor = timing.gemm_floor(on_device.train_x, config.batch_size, repeats=2)
                bar.set_postfix_str(f"{config.loss} {device} seed {config.seed} {config.noise}")
                last = {"floor_s": floor}

                def record(row, last=last):
                    last.update(row)
                    results.append(last)
                    bar.update(1)

                if config.trainer == textbook.NAME:
                    textbook.train(config, data_root, on_epoch=record, should_stop=stop)
                else:
                    model = train.train(
                        config, on_device, on_epoch=record, should_stop=stop, step_mode=step_mode
                    )
                if last["status"] == "diverged":
                    bar.update(config.epochs - last["epoch"])
                elif config.trainer != textbook.NAME:
                    results.save_weights(config, model.state_dict())
                tqdm.write(summary(config, last))


def summary(config: RunConfig, row: dict) -> str:
    """One line per finished run."""
    name = config.loss if config.trainer == "lossbench" else f"{config.loss} ({config.trainer})"
    if config.noise != "none":
        name += f" [{config.noise}]"
    head = f"{name:<32} {config.device:<4} seed {config.seed}  lr {config.lr:<6g}"
    if row["status"] == "diverged":
        return f"{head} DIVERGED at epoch {row['epoch']}"
    return (
        f"{head} test acc {row['test_acc']:.4f}  train loss {row['train_loss']:.4f}  "
        f"step {row['step_ms'] * 1000:.0f} µs  epoch {row['epoch_s']:.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
