"""Per-loss learning rates chosen on a validation split, never on the test set, and cached.

A stratified share of the training set (``bench.datasets.VALIDATION_FRACTION`` of each class,
seeded) is held out; each loss trains on the rest under the study's protocol at every rate of a
log grid, and the rate with the best validation accuracy wins. Results go to OUT/tuning.csv as
they finish, so a re-run tunes only what is missing (``--retune`` starts afresh). A linear model
trains all rates of a loss at once, stacked (bench.training.stacked); any other model trains
them one run at a time.

With ``screen_epochs`` S the search is cheaper and in two stages, as in successive halving: every
rate of the grid trains for S epochs (the same schedule, compressed), and only the ``keep`` best
of them train for the full epochs; the best of those wins. Both stages' trials are in tuning.csv.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

from bench import models, schema
from bench.datasets import VALIDATION_FRACTION, Dataset
from bench.training import loop, stacked
from bench.training.config import RunConfig

# Half-decade steps over the range every loss here needs (DESIGN.md: 0.001 to 30).
GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
# Rates of the screening stage that go on to the full epochs. On Fashion-MNIST (24 losses, a
# 10-epoch screen, against every rate at 30 epochs) keeping 2 lost at most 0.0006 of validation
# accuracy (2 losses), keeping 3 at most 0.0002 (1 loss), keeping 1 up to 0.046.
KEEP = 2


class Tuner:
    """Chooses and caches each loss's rate on one workload; OUT/tuning.csv holds every trial."""

    def __init__(
        self,
        path: Path | None,
        *,
        epochs: int,
        batch_size: int,
        schedule: str,
        dataset: str = "fashion_mnist",
        model: str = "linear",
        grid: tuple[float, ...] = GRID,
        retune: bool = False,
        validation_fraction: float = VALIDATION_FRACTION,
        screen_epochs: int | None = None,
        keep: int = KEEP,
    ):
        self.path = None if path is None else Path(path)
        self.validation_fraction = validation_fraction
        self.workload = {"dataset": dataset, "model": model}
        self.protocol = {"epochs": epochs, "batch_size": batch_size, "schedule": schedule}
        self.grid = grid
        self.screen_epochs = screen_epochs if screen_epochs and screen_epochs < epochs else None
        self.keep = keep
        if retune and self.path is not None and self.path.exists():
            others = [row for row in self.trials() if not self._ours(row)]
            schema.write_rows(self.path, schema.TUNING, others)

    def trials(self) -> list[dict]:
        """Every cached trial; a torn last line (a kill mid-write) is dropped with a warning."""
        return [] if self.path is None else schema.read_rows(self.path, schema.TUNING)

    def missing(self, specs: list[str], device: str) -> list[tuple[str, float, int]]:
        """(loss, rate, epochs) trials the search still needs for this workload and protocol:
        the grid at the full epochs; with screening, first the grid at the screening epochs,
        then the ``keep`` best of those at the full epochs."""
        full = self.protocol["epochs"]
        todo = []
        for spec in specs:
            if self.screen_epochs is None:
                rates, epochs = list(self.grid), full
            else:
                screened = self._trials(spec, device, self.screen_epochs)
                rates, epochs = list(self.grid), self.screen_epochs
                if set(self.grid) <= set(screened):
                    rates, epochs = self._best(screened, self.keep), full
            done = self._trials(spec, device, epochs)
            todo += [(spec, lr, epochs) for lr in rates if lr not in done]
        return todo

    def run(
        self,
        specs: list[str],
        data: Dataset,
        device: str,
        on_trial: Callable[[dict], None] = lambda row: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, float]:
        """Train the missing trials on the validation split of ``data``; return loss -> rate.

        ``should_stop`` is polled between losses (and between rates of a non-linear model).
        """
        while todo := self.todo(specs, device):
            for (spec, epochs), rates in todo.items():
                if should_stop():
                    raise loop.Interrupted("stopped while tuning")
                for trial in self.trials_for(spec, rates, data, device, should_stop, epochs):
                    self.record(trial)
                    on_trial(trial)
        return self.chosen(specs, device)

    def todo(self, specs: list[str], device: str) -> dict[tuple[str, int], list[float]]:
        """The missing rates of each (loss, epochs): what :meth:`trials_for` has to train next."""
        todo: dict[tuple[str, int], list[float]] = {}
        for spec, lr, epochs in self.missing(specs, device):
            todo.setdefault((spec, epochs), []).append(lr)
        return todo

    def trials_for(self, spec: str, rates: list[float], data: Dataset, device: str,
                   should_stop: Callable[[], bool] = lambda: False,
                   epochs: int | None = None) -> list[dict]:  # fmt: skip
        """Train ``spec`` at ``rates`` for ``epochs`` (default: the protocol's) on the validation
        split of ``data``; the trials' rows (recorded by :meth:`record`, in the driver)."""
        protocol = {**self.protocol, "epochs": epochs or self.protocol["epochs"]}
        train_part = data.validation_split(self.validation_fraction)
        config = RunConfig(loss=spec, device=device, seed=0, **protocol, **self.workload)
        return [{**protocol, **self.workload, "loss": spec, "device": device, **result}
                for result in self._train(config, rates, train_part, should_stop)]  # fmt: skip

    def record(self, trial: dict) -> None:
        """Append one trial to OUT/tuning.csv."""
        schema.append_row(self.path, schema.TUNING, trial)

    def arguments(self) -> dict:
        """What a Tuner on a worker needs to train the same trials (no file)."""
        return {**self.protocol, **self.workload, "grid": self.grid,
                "validation_fraction": self.validation_fraction,
                "screen_epochs": self.screen_epochs, "keep": self.keep}  # fmt: skip

    def _train(self, config, rates, data, should_stop):
        if models.parse(config.model).linear:
            yield from stacked.train_rates(config, rates, data)
            return
        for rate in rates:  # a hidden layer has no single matmul to stack
            last = {}
            loop.train(dataclasses.replace(config, lr=rate), data, on_epoch=last.update,
                       should_stop=should_stop, step_mode="eager", train_metrics=False)  # fmt: skip
            ok = last["status"] == "ok"
            yield {"lr": rate, "status": last["status"],
                   "val_acc": last["test_acc"] if ok else float("nan"),
                   "train_loss": last["train_loss"]}  # fmt: skip

    def chosen(self, specs: list[str], device: str) -> dict[str, float]:
        """The best rate per loss by validation accuracy at the full epochs (the smaller rate on
        a tie)."""
        chosen, unknown = {}, []
        for spec in specs:
            trials = self._trials(spec, device, self.protocol["epochs"])
            best = self._best(trials, 1)
            if best:
                chosen[spec] = best[0]
            else:
                unknown.append(spec)
        if unknown:
            raise ValueError(
                f"no usable learning rate for {', '.join(unknown)}: every trial diverged"
            )
        return chosen

    @staticmethod
    def _best(trials: dict[float, float], count: int) -> list[float]:
        """The ``count`` rates of highest validation accuracy (smaller rates first on a tie),
        diverged trials (NaN) left out."""
        usable = [(acc, -lr) for lr, acc in trials.items() if not math.isnan(acc)]
        return [-neg for _, neg in sorted(usable, reverse=True)[:count]]

    def _ours(self, row: dict) -> bool:
        return all(row[k] == str(v) for k, v in self.workload.items())

    def _trials(self, spec: str, device: str, epochs: int) -> dict[float, float]:
        """{rate: validation accuracy (NaN when diverged)} of the cached trials of ``spec`` on
        the grid at ``epochs``."""
        want = {k: str(v) for k, v in {**self.protocol, "epochs": epochs}.items()}
        grid = set(self.grid)
        return {
            float(row["lr"]): float(row["val_acc"]) if row["status"] == "ok" else math.nan
            for row in self.trials()
            if row["loss"] == spec and row["device"] == device and self._ours(row)
            and float(row["lr"]) in grid and all(row[k] == v for k, v in want.items())
        }  # fmt: skip
