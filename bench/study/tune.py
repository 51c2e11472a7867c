"""Each loss's own hyperparameters and its learning rate, chosen jointly per noise level on a
validation split, never on the test set, and cached.

Per (loss, noise level), the search has one budget of trials, the same for every loss
(``budget``, :data:`BUDGET` by default): a loss with H settings of its own hyperparameters
(bench.study.sweeps: only the parameters its entry does not write; ``gce:q=0.7`` has one
setting, ``gce`` four) tries each at ``budget // H`` rates, log-spaced over :data:`RATES`; a
loss with none spends the budget on a finer rate grid. The validation protocol
(bench.datasets.validation) says what the trials are scored on: ``noisy`` (default) flips the
training labels with the noise level's noise (seed 0) *before* a stratified share
(``bench.datasets.VALIDATION_FRACTION``) is held out, so the validation labels are as noisy as
the training labels: a user with noisy labels has no clean ones; ``trusted:N`` holds out N
examples with their true labels instead, excluded from training. Trials of the two protocols
are kept apart in tuning.csv (its ``validation`` column). A trial is scored by the metric the
verdicts use (:func:`metric_for`): balanced accuracy on long-tailed data (training prior's
largest class ≥ LONG_TAIL × its smallest), accuracy elsewhere. It is read where the final runs
will be scored (``selection``): at the last epoch, or, where they early-stop (``--early-stop``),
at the epoch of the trial's best score (the first of ties), so the rate is chosen for the
checkpoint a practitioner keeps. A network that memorises noisy labels shows why: ce's
last-epoch validation score favours the rates that memorise least, its early-stopped score the
rates that peak highest. Trials of the two selections are kept apart (tuning.csv's
``selection``).

With ``screen_epochs`` S the search is successive halving in two rungs: every trial trains S
epochs (the same schedule, compressed), and only the ``keep`` best go on to the full epochs; the
best of those wins (the smaller rate on a tie). A linear model trains a loss's trials of one rung
as one stack (bench.training.stacked.train_trials), settings and rates together; any other model
trains them one run at a time. Trials go to OUT/tuning.csv as they finish, so a re-run tunes
only what is missing (``--retune`` starts afresh).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import torch

from bench import models, schema
from bench.analysis import resolving
from bench.datasets import VALIDATION_FRACTION, Dataset
from bench.datasets import validation as protocols
from bench.study import sweeps
from bench.training import loop, optimizers, stacked
from bench.training.config import RunConfig

# The rates' range in decades of 10 (DESIGN.md: 0.001 to 30): a grid of R rates is log-spaced
# over it, so R = 10 is the half-decade grid 0.001, 0.0032, 0.01, ..., 32.
RATES = (-3.0, 1.5)
# Trials per loss and noise level in the first rung: 4 settings × 10 rates, or 40 rates alone.
BUDGET = 40
# Trials of the screening rung that go on to the full epochs.
KEEP = 3
# A training prior whose largest class is at least this many times its smallest is long-tailed:
# the verdicts score such a workload by balanced accuracy, and so does tuning.
LONG_TAIL = 10.0
METRICS = {"accuracy": "val_acc", "balanced_acc": "val_balanced_acc"}
# Where a trial is scored (bench.analysis.early_stopping.SELECTIONS): its last epoch, or the
# epoch of its best validation score.
SELECTIONS = ("last", "early_stopped")


class Trial(NamedTuple):
    spec: str
    lr: float


class TuneJob(NamedTuple):
    """One rung of one loss's search at one noise level: what a worker trains as one task."""

    entry: str
    noise: str
    epochs: int
    trials: tuple[Trial, ...]


# What a run scores by each tuning metric: results.csv's column (a trial's scores are on its
# validation split, which its run evaluates as the test split). The verdicts read the same.
SCORE_COLUMN = {"accuracy": "test_acc", "balanced_acc": "balanced_acc"}


def metric_for(prior: torch.Tensor) -> str:
    """ "balanced_acc" when ``prior`` (K,) is long-tailed (max/min ≥ LONG_TAIL), else "accuracy"."""
    present = prior[prior > 0]
    return "balanced_acc" if (present.max() / present.min()).item() >= LONG_TAIL else "accuracy"


def rate_grid(count: int, decades: tuple[float, float] = RATES) -> tuple[float, ...]:
    """``count`` rates log-spaced over ``decades`` (RATES by default), to 2 significant digits;
    one rate alone is the range's geometric middle."""
    if count < 1:
        raise ValueError(f"a rate grid needs at least 1 rate, got {count}")
    low, high = decades
    exponents = [low + (high - low) * i / max(1, count - 1) for i in range(count)]
    middle = low + 3 if decades == RATES else (low + high) / 2
    return tuple(float(f"{10**e:.2g}") for e in (exponents if count > 1 else [middle]))


def rate_decades(low: float, high: float) -> tuple[float, float]:
    """The decades (log10) of a rate range ``low`` < ``high`` (``--tune-rates LOW,HIGH``);
    ValueError for a range that is not two positive rates in increasing order."""
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(
            f"a rate range must be two positive rates, the lower first, got {low:g},{high:g}: "
            "e.g. --tune-rates 0.003,0.3"
        )
    return (math.log10(low), math.log10(high))


def candidates(
    entry: str, budget: int = BUDGET, decades: tuple[float, float] = RATES
) -> list[Trial]:
    """The first rung's trials of ``entry``: each setting at ``budget // H`` rates (H settings),
    log-spaced over ``decades``.

    A budget below H is an error: every setting must get at least one trial."""
    settings = sweeps.settings(entry)
    if budget < len(settings):
        raise ValueError(
            f"a tuning budget of {budget} trials cannot try the {len(settings)} "
            f"settings of {entry}: use --tune-budget {len(settings)} or more"
        )
    rates = rate_grid(budget // len(settings), decades)
    return [Trial(spec, lr) for spec in settings for lr in rates]


class Tuner:
    """Chooses and caches each loss's setting and rate per noise level on one workload;
    OUT/tuning.csv holds every trial."""

    def __init__(
        self,
        path: Path | None,
        *,
        epochs: int,
        batch_size: int,
        schedule: str,
        dataset: str = "fashion_mnist",
        model: str = "linear",
        budget: int = BUDGET,
        retune: bool = False,
        validation_fraction: float = VALIDATION_FRACTION,
        screen_epochs: int | None = None,
        keep: int = KEEP,
        metric: str = "accuracy",
        validation: str = protocols.DEFAULT,
        optimizer: str = optimizers.DEFAULT,
        decades: tuple[float, float] = RATES,
        selection: str = "last",
    ):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        if not (isinstance(keep, int) and keep >= 1):
            raise ValueError(
                f"--tune-keep must be a whole number of trials, at least 1, got {keep!r}"
            )
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        self.path = None if path is None else Path(path)
        self.validation_fraction = validation_fraction
        self.validation = protocols.canonical(validation)
        self.workload = {
            "dataset": dataset,
            "model": model,
            "validation": self.validation,
            "selection": selection,
        }
        self.protocol = {
            "epochs": epochs,
            "batch_size": batch_size,
            "schedule": schedule,
            "optimizer": optimizers.canonical(optimizer),
        }
        self.budget, self.keep, self.metric = budget, keep, metric
        self.decades = tuple(decades)
        self.screen_epochs = screen_epochs if screen_epochs and screen_epochs < epochs else None
        if retune and self.path is not None and self.path.exists():
            others = [row for row in self.rows() if not self._ours(row)]
            schema.write_rows(self.path, schema.TUNING, others)

    def rows(self) -> list[dict]:
        """Every cached trial; a torn last line (a kill mid-write) is dropped with a warning."""
        return [] if self.path is None else schema.read_rows(self.path, schema.TUNING)

    def todo(self, entries: list[str], levels: list[str], device: str) -> list[TuneJob]:
        """The rungs still to train: per (loss, noise level), the first rung's missing trials;
        once it is complete, the ``keep`` best of it at the full epochs (with screening)."""
        rows = self.rows()
        full, jobs = self.protocol["epochs"], []
        for level in levels:
            for entry in entries:
                trials, epochs = candidates(entry, self.budget, self.decades), full
                if self.screen_epochs is not None:
                    screened = self._scores(rows, entry, level, device, self.screen_epochs)
                    epochs = self.screen_epochs
                    if set(trials) <= set(screened):
                        trials, epochs = self._best(screened, self.keep), full
                done = self._scores(rows, entry, level, device, epochs)
                missing = tuple(t for t in trials if t not in done)
                if missing:
                    jobs.append(TuneJob(entry, level, epochs, missing))
        return jobs

    def run(
        self,
        entries: list[str],
        levels: list[str],
        data: Dataset,
        device: str,
        on_trial: Callable[[dict], None] = lambda row: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[tuple[str, str], Trial]:
        """Train the missing trials here; return (noise, entry) -> the chosen Trial."""
        while jobs := self.todo(entries, levels, device):
            for job in jobs:
                if should_stop():
                    raise loop.Interrupted("stopped while tuning")
                for row in self.train(job, data, device, should_stop):
                    self.record(row)
                    on_trial(row)
        return self.chosen(entries, levels, device)

    def split(self, data: Dataset, level: str) -> Dataset:
        """The split of ``data`` a trial trains and is scored on: training labels with
        ``level``'s noise (seed 0), the held-out examples as "test", labelled as the protocol
        gives them (noisy, or true for ``trusted:N``)."""
        return protocols.tuning_set(data, self.validation, level, fraction=self.validation_fraction)

    def train(
        self,
        job: TuneJob,
        data: Dataset,
        device: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[dict]:
        """Train one rung ``job`` on the validation split of ``data``; its rows for
        tuning.csv (recorded by :meth:`record`, in the driver)."""
        protocol = {**self.protocol, "epochs": job.epochs}
        part = self.split(data, job.noise)
        workload = {k: v for k, v in self.workload.items() if k != "selection"}
        config = RunConfig(loss=job.trials[0].spec, device=device, seed=0, **protocol, **workload)
        stack = models.parse(config.model).linear and optimizers.is_plain(config.optimizer)
        if stack and self.workload["selection"] == "last":
            results = stacked.train_trials(config, list(job.trials), part)
        else:  # a hidden layer has no single matmul to stack; a stack steps with plain SGD and
            # scores the last epoch only
            results = [
                self._train_one(config, trial, part, should_stop, self.workload["selection"])
                for trial in job.trials
            ]
        column = METRICS[self.metric]
        return [
            {
                **protocol,
                **self.workload,
                "noise": job.noise,
                "entry": job.entry,
                "device": device,
                "metric": self.metric,
                "val_score": result[column],
                **result,
            }
            for result in results
        ]

    def _train_one(self, config, trial: Trial, data, should_stop, selection="last") -> dict:
        """Train one trial; its scores at the last epoch, or (``early_stopped``) at the first
        epoch of its best score by the metric. A trial that diverged scores NaN either way."""
        epochs = []
        loop.train(
            dataclasses.replace(config, loss=trial.spec, lr=trial.lr),
            data,
            on_epoch=epochs.append,
            should_stop=should_stop,
            step_mode="eager",
            train_metrics=False,
            flip_metrics=False,
        )
        last = epochs[-1]
        ok = last["status"] == "ok"
        read = last
        if ok and selection == "early_stopped":
            column = SCORE_COLUMN[self.metric]
            read = max(epochs, key=lambda row: row[column])  # the first of ties
        return {
            "loss": trial.spec,
            "lr": trial.lr,
            "status": last["status"],
            "val_acc": read["test_acc"] if ok else math.nan,
            "val_balanced_acc": read["balanced_acc"] if ok else math.nan,
            "train_loss": last["train_loss"],
        }

    def record(self, row: dict) -> None:
        """Append one trial to OUT/tuning.csv."""
        schema.append_row(self.path, schema.TUNING, row)

    def arguments(self) -> dict:
        """What a Tuner on a worker needs to train the same trials (no file)."""
        return {
            **self.protocol,
            **self.workload,
            "budget": self.budget,
            "decades": self.decades,
            "keep": self.keep,
            "validation_fraction": self.validation_fraction,
            "metric": self.metric,
            "screen_epochs": self.screen_epochs,
        }

    def chosen(
        self, entries: list[str], levels: list[str], device: str
    ) -> dict[tuple[str, str], Trial]:
        """(noise, entry) -> the best trial at the full epochs by the metric (the smaller rate,
        then the earlier setting, on a tie); ValueError when every trial of one diverged."""
        rows, chosen, unknown = self.rows(), {}, []
        for level in levels:
            for entry in entries:
                best = self._best(
                    self._scores(rows, entry, level, device, self.protocol["epochs"]), 1
                )
                if best:
                    chosen[(level, entry)] = best[0]
                else:
                    unknown.append(f"{entry} at noise {level}")
        if unknown:
            raise ValueError(f"no usable setting for {', '.join(unknown)}: every trial diverged")
        return chosen

    @staticmethod
    def _best(scores: dict[Trial, float], count: int) -> list[Trial]:
        """The ``count`` trials of highest score (smaller rates, then earlier settings, first on
        a tie), diverged trials (NaN) left out."""
        order = {trial: i for i, trial in enumerate(scores)}
        usable = [t for t, s in scores.items() if not math.isnan(s)]
        return sorted(usable, key=lambda t: (-scores[t], t.lr, order[t]))[:count]

    def resolving(self, entries: list[str], levels: list[str], data: Dataset, device: str):
        """What these searches could see (bench.analysis.resolving): (one row per (noise, entry)
        search: the winner's standard error and the candidates' spreads in clean points; one
        row per noise level: the screen's rank correlation with full training)."""
        full, screen = self.protocol["epochs"], self.screen_epochs
        rungs = {e for e in (full, screen) if e}
        same = {k: str(v) for k, v in self.protocol.items() if k != "epochs"}
        allowed = {entry: set(candidates(entry, self.budget, self.decades)) for entry in entries}
        kept = [
            row
            for row in self.rows()
            if row["entry"] in allowed
            and row["noise"] in levels
            and row["device"] == device
            and row["metric"] == self.metric
            and self._ours(row)
            and int(row["epochs"]) in rungs
            and all(row[k] == v for k, v in same.items())
            and Trial(row["loss"], float(row["lr"])) in allowed[row["entry"]]
        ]
        frame = pd.DataFrame(kept, columns=list(schema.TUNING))
        slopes, sizes = {}, {}
        for level in levels:
            key = (self.workload["dataset"], self.validation, level)
            slopes[key] = resolving.noise_slope(data, level, self.validation)
            sizes[key] = resolving.validation_size(
                data, self.validation, level, self.validation_fraction
            )
        return resolving.frame(frame, slopes, sizes), resolving.screen_ranks(frame)

    def _ours(self, row: dict) -> bool:
        return all(row[k] == str(v) for k, v in self.workload.items())

    def _scores(
        self, rows: list[dict], entry: str, level: str, device: str, epochs: int
    ) -> dict[Trial, float]:
        """{trial: validation score (NaN when diverged)} of the cached trials of ``entry`` at
        ``level`` among today's candidates, at ``epochs``, scored by this tuner's metric."""
        want = {k: str(v) for k, v in {**self.protocol, "epochs": epochs}.items()}
        allowed = set(candidates(entry, self.budget, self.decades))
        found = {}
        for row in rows:
            if not (
                row["entry"] == entry
                and row["noise"] == level
                and row["device"] == device
                and row["metric"] == self.metric
                and self._ours(row)
                and all(row[k] == v for k, v in want.items())
            ):
                continue
            trial = Trial(row["loss"], float(row["lr"]))
            if trial in allowed:
                found[trial] = float(row["val_score"]) if row["status"] == "ok" else math.nan
        return found
