"""The one code path of a benchmark: ``compare(...)`` from Python, ``python -m bench`` from a shell.

    import bench
    df = bench.compare(losses=["ce", "huber"], epochs=5, seeds=2, out="runs/mine")
    bench.report("runs/mine")

A :class:`Study` holds every choice of a command; :func:`run` carries it out: it takes the lock
on OUT, loads the dataset, checks OUT against this machine and protocol, tunes or looks up the
rates, trains what is not finished, runs the side stages and writes the report. Bad input raises
a one-line ``ValueError`` (the CLI prints it and exits with status 2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from bench import datasets, environment, models
from bench.datasets import noise, validation
from bench.options import (
    UsageError,
    built_in_rates,
    check_counts,
    check_losses,
    check_writable,
    import_plugins,
    resolve_devices,
    resolve_losses,
    resolve_noise,
    resolve_part,
)
from bench.peers import textbook as textbook_loop
from bench.study import protocol, stages, tune
from bench.study.lock import OutLock
from bench.study.results import Results
from bench.training import optimizers
from bench.training.loop import Interrupted

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "runs"  # git-ignored: a user's runs never touch the committed reports/


@dataclasses.dataclass(frozen=True)
class Study:
    """Every choice of one benchmark command; the CLI's flags, one field each."""

    losses: tuple[str, ...] = ()  # empty: the default suite
    dataset: str = datasets.DEFAULT
    model: str = models.DEFAULT
    imports: tuple[str, ...] = ()
    devices: str = "auto"
    epochs: int = 10
    seeds: int = 3
    batch_size: int = 256
    lr: float | None = None
    no_tune: bool = False
    retune: bool = False
    tune_epochs: int | None = None
    tune_screen_epochs: int | None = None  # the two-stage search: every trial this long first
    tune_budget: int = tune.BUDGET  # trials per loss and noise level (settings × rates)
    tune_keep: int = tune.KEEP  # with screening: the trials of the first rung that run in full
    tune_rates: tuple[float, float] | None = None  # the rates' range (low, high); None: RATES
    seed_cap: int | None = None  # racing: more seeds where verdicts are undecided, up to this
    seed_round: int = 2  # seeds added per round of the race
    schedule: str = "cosine"
    step_mode: str = "auto"
    noise: tuple[str, ...] = ("none",)
    noise_seeds: int = 1
    early_stop: bool = False  # final runs hold out the validation split; val_acc every epoch
    validation: str = "noisy"  # the protocol tuning selects on: noisy, or trusted:N true labels
    optimizer: str = "sgd"  # bench.training.optimizers: sgd, momentum:beta=B:wd=W, adamw:...
    batch_sizes: tuple[int, ...] = ()
    reference_iters: int = 100
    peers: bool = False
    data: Path = ROOT / "data"
    out: Path = DEFAULT_OUT
    textbook: bool = True
    textbook_epochs: int = textbook_loop.EPOCHS
    report: bool = True
    workers: int | None = None  # a local Dask cluster of this many single-threaded workers
    scheduler: str | None = None  # or an existing Dask scheduler's address
    stack: bool = True  # on a cluster, a linear model's runs of one seed and noise train as one

    @property
    def parallel(self) -> bool:
        return self.workers is not None or self.scheduler is not None

    @property
    def rate_mode(self) -> str:
        return "fixed" if self.lr is not None else "defaults" if self.no_tune else "tuned"

    @property
    def rate_decades(self) -> tuple[float, float]:
        """The decades the tuning grid's rates are log-spaced over (``tune_rates`` or RATES)."""
        return tune.RATES if self.tune_rates is None else tune.rate_decades(*self.tune_rates)

    @property
    def protocol(self) -> dict[str, object]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "schedule": self.schedule,
            "early_stop": self.early_stop,
            "validation": validation.canonical(self.validation),
            "optimizer": optimizers.canonical(self.optimizer),
        }


# -- carrying it out -----------------------------------------------------------------------------
class Clock:
    """A command's wall time, by phase (tuning, training, the serial stages, the report): what
    run.json's ``commands`` record, and the report states beside its grid."""

    def __init__(self):
        self.started = datetime.now(UTC)
        self._start = time.perf_counter()
        self.phases: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start

    def entry(self, command: str, workload: dict, status: str, runs: int) -> dict:
        return {
            "command": command,
            **workload,
            "status": status,
            "runs": runs,
            "started": self.started.isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - self._start, 1),
            "phases": {k: round(v, 1) for k, v in self.phases.items()},
        }


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

        try:
            self._previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread (e.g. a notebook's worker): no Ctrl-C handling
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run(study: Study, command: str = "") -> int:
    """Carry out ``study``; return 0, or 130 when interrupted (every finished epoch is kept)."""
    check_counts(study)
    if study.imports or _has_plugins():
        import_plugins(study.imports)
    specs = resolve_losses(study.losses)
    dataset_spec = resolve_part(datasets, study.dataset, "--dataset")
    model_spec = resolve_part(models, study.model, "--model")
    levels = resolve_noise(study.noise)
    devices, notes = resolve_devices(study.devices)
    if study.step_mode == "cuda-graph" and "cpu" in devices:
        raise UsageError(
            "--step-mode cuda-graph needs CUDA: use --devices cuda, or --step-mode auto"
        )
    if study.tune_keep < 1:
        raise UsageError(
            f"--tune-keep must be at least 1 (the screened trials that train in full), "
            f"got {study.tune_keep}"
        )
    if study.rate_mode == "defaults":
        built_in_rates(specs)  # before any work: a loss without a rate is refused at once
    out = Path(study.out)
    check_writable(out)
    command = command or "bench.compare(...)"
    with OutLock(out, command):
        part = datasets.parse(dataset_spec)
        part.provision(Path(study.data))
        data = part.load(Path(study.data))
        for level in levels:
            try:
                noise.check_fits(level, data.pairs, dataset_spec)
            except ValueError as error:
                raise UsageError(f"--noise: {error}") from None
        check_losses(specs, data.num_classes, data.prior)
        linear = models.parse(model_spec).linear
        skipped = {} if linear else dict(stages.LINEAR_ONLY)
        textbook_fits = textbook_loop.supports(dataset_spec, model_spec)
        if not textbook_fits:
            skipped["textbook"] = textbook_loop.SUPPORTED
        meta = {
            "command": command,
            "config": {
                **study.protocol,
                "lr": study.lr,
                "rates": study.rate_mode,
                "losses": specs,
                "dataset": dataset_spec,
                "model": model_spec,
                "devices": devices,
                "seeds": list(range(study.seeds)),
                "noise": levels,
                "noise_seeds": list(range(study.noise_seeds)),
                "tune_epochs": study.tune_epochs or study.epochs,
                "tune_screen_epochs": study.tune_screen_epochs,
                "step_mode": study.step_mode,
                "tune_budget": study.tune_budget,
                "tune_rates": [10**d for d in study.rate_decades],
                "tune_keep": study.tune_keep,
                "seed_cap": study.seed_cap,
                "seed_round": study.seed_round,
                **protocol.steps(len(data.train_y), study.batch_size, study.epochs),
                "textbook": study.textbook_epochs if study.textbook and textbook_fits else 0,
                "data": str(study.data),
                "imports": list(study.imports),
            },
            "environment": environment.environment(),
            "datasets": {dataset_spec: data.fingerprint()},
            "notes": notes,
            "skipped": skipped,
            "parallel": _parallel_meta(study),
        }
        results = Results(out)
        before = len(results.prepare(meta))
        clock, status, facts = Clock(), "failed", {}
        try:
            with StopFlag() as stop, _cluster(study) as cluster:
                facts = protocol.carry_out(
                    study,
                    specs,
                    data,
                    model_spec,
                    devices,
                    levels,
                    results,
                    stop,
                    textbook_fits,
                    cluster,
                    clock,
                )
            status = "finished"
        except Interrupted:
            status = "interrupted"
            print(
                f"interrupted: {len(results.finished())} finished runs are in "
                f"{results.csv_path}; run the same command again to resume",
                file=sys.stderr,
            )
            return 130
        finally:
            trained = len(results.finished()) - before
            results.log_command(
                {
                    **clock.entry(
                        command,
                        {"dataset": dataset_spec, "model": model_spec, "workers": _workers(study)},
                        status,
                        trained,
                    ),
                    **facts,
                }
            )
        if study.report:
            from bench import reporting as report_module

            print(f"report: {report_module.write_report(out, data={dataset_spec: data})}")
    return 0


def _has_plugins() -> bool:
    from importlib.metadata import entry_points

    return bool(entry_points(group="lossbench.losses"))


def _cluster(study: Study):
    """The Dask cluster of a parallel study (imported only then), or a null context."""
    if not study.parallel:
        return contextlib.nullcontext()
    from bench.study import parallel

    try:
        return parallel.Cluster(workers=study.workers, scheduler=study.scheduler)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _workers(study: Study) -> int | None:
    """How many runs trained at once: 1 serially, N local workers, unknown on a scheduler."""
    return None if study.scheduler else study.workers or 1


def _parallel_meta(study: Study) -> dict | None:
    if not study.parallel:
        return None
    return {"workers": study.workers, "scheduler": study.scheduler, "stack": study.stack}


# -- Python API ----------------------------------------------------------------------------------
def compare(
    losses=(),
    *,
    dataset: str = datasets.DEFAULT,
    model: str = models.DEFAULT,
    out: str | Path = DEFAULT_OUT,
    **options,
) -> pd.DataFrame:
    """Train and report ``losses`` (specs: a list, or one string of comma-separated specs as
    ``--losses`` takes them, ``"ce,gce"``) as ``python -m bench`` would; return every row of
    OUT/results.csv as a DataFrame. ``options`` are :class:`Study`'s fields (epochs, seeds,
    noise, devices, ...); bad input raises the CLI's one-line ValueError."""
    fields = {f.name for f in dataclasses.fields(Study)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise UsageError(
            f"compare() has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(sorted(fields))}"
        )
    for name in ("noise", "imports", "batch_sizes"):
        if isinstance(options.get(name), str):
            options[name] = (options[name],)
    if isinstance(losses, str):  # "ce,gce", as --losses takes them
        losses = tuple(spec for spec in losses.split(",") if spec.strip())
    study = Study(
        losses=tuple(losses),
        dataset=dataset,
        model=model,
        out=Path(out),
        **{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()},
    )
    if run(study) != 0:
        raise KeyboardInterrupt("interrupted: run compare() again to resume")
    from bench.analysis import tables

    return tables.load(Path(out) / "results.csv")


def report(out: str | Path) -> Path:
    """Write OUT/README.md and its figures from OUT's files, without training; return its path."""
    from bench import reporting as report_module

    out = Path(out)
    if not (out / "results.csv").exists() or not (out / "run.json").exists():
        raise UsageError(
            f"{out} has no results.csv and run.json: run python -m bench --out {out} first"
        )
    with OutLock(out, "bench.report"):
        return report_module.write_report(out)


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "bench", *argv])
