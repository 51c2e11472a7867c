"""Per-loss learning rates chosen on a validation split, never on the test set, and cached.

A stratified share of the training set (``bench.datasets.VALIDATION_FRACTION`` of each class,
seeded) is held out; each loss trains on the rest under the study's protocol at every rate of a
log grid, and the rate with the best validation accuracy wins. Results go to OUT/tuning.csv as
they finish, so a re-run tunes only what is missing (``--retune`` starts afresh). A linear model
trains all rates of a loss at once, stacked (bench.training.stacked); any other model trains
them one run at a time.
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
    ):
        self.path = None if path is None else Path(path)
        self.validation_fraction = validation_fraction
        self.workload = {"dataset": dataset, "model": model}
        self.protocol = {"epochs": epochs, "batch_size": batch_size, "schedule": schedule}
        self.grid = grid
        if retune and self.path is not None and self.path.exists():
            others = [row for row in self.trials() if not self._ours(row)]
            schema.write_rows(self.path, schema.TUNING, others)

    def trials(self) -> list[dict]:
        """Every cached trial; a torn last line (a kill mid-write) is dropped with a warning."""
        return [] if self.path is None else schema.read_rows(self.path, schema.TUNING)

    def missing(self, specs: list[str], device: str) -> list[tuple[str, float]]:
        """(loss, rate) trials not yet in the cache for this workload and protocol."""
        done = {(row["loss"], float(row["lr"])) for row in self._matching(device)}
        return [(spec, lr) for spec in specs for lr in self.grid if (spec, lr) not in done]

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
        for spec, rates in self.todo(specs, device).items():
            if should_stop():
                raise loop.Interrupted("stopped while tuning")
            for trial in self.trials_for(spec, rates, data, device, should_stop):
                self.record(trial)
                on_trial(trial)
        return self.chosen(specs, device)

    def todo(self, specs: list[str], device: str) -> dict[str, list[float]]:
        """The missing rates of each loss: what :meth:`trials_for` has to train."""
        todo: dict[str, list[float]] = {}
        for spec, lr in self.missing(specs, device):
            todo.setdefault(spec, []).append(lr)
        return todo

    def trials_for(self, spec: str, rates: list[float], data: Dataset, device: str,
                   should_stop: Callable[[], bool] = lambda: False) -> list[dict]:  # fmt: skip
        """Train ``spec`` at ``rates`` on the validation split of ``data``; the trials' rows
        (not yet recorded: :meth:`record` does that, in the driver)."""
        train_part = data.validation_split(self.validation_fraction)
        config = RunConfig(loss=spec, device=device, seed=0, **self.protocol, **self.workload)
        return [{**self.protocol, **self.workload, "loss": spec, "device": device, **result}
                for result in self._train(config, rates, train_part, should_stop)]  # fmt: skip

    def record(self, trial: dict) -> None:
        """Append one trial to OUT/tuning.csv."""
        schema.append_row(self.path, schema.TUNING, trial)

    def arguments(self) -> dict:
        """What a Tuner on a worker needs to train the same trials (no file)."""
        return {**self.protocol, **self.workload, "grid": self.grid,
                "validation_fraction": self.validation_fraction}  # fmt: skip

    def _train(self, config, rates, data, should_stop):
        if models.parse(config.model).linear:
            yield from stacked.train_rates(config, rates, data)
            return
        for rate in rates:  # a hidden layer has no single matmul to stack
            last = {}
            loop.train(dataclasses.replace(config, lr=rate), data, on_epoch=last.update,
                       should_stop=should_stop, step_mode="eager")  # fmt: skip
            ok = last["status"] == "ok"
            yield {"lr": rate, "status": last["status"],
                   "val_acc": last["test_acc"] if ok else float("nan"),
                   "train_loss": last["train_loss"]}  # fmt: skip

    def chosen(self, specs: list[str], device: str) -> dict[str, float]:
        """The best cached rate per loss by validation accuracy (the smaller rate on a tie)."""
        best: dict[str, tuple[float, float]] = {}
        for row in self._matching(device):
            acc, lr = float(row["val_acc"]), float(row["lr"])
            if row["loss"] not in specs or row["status"] != "ok" or math.isnan(acc):
                continue
            if row["loss"] not in best or (acc, -lr) > (
                best[row["loss"]][0],
                -best[row["loss"]][1],
            ):
                best[row["loss"]] = (acc, lr)
        unknown = [s for s in specs if s not in best]
        if unknown:
            raise ValueError(
                f"no usable learning rate for {', '.join(unknown)}: every trial diverged"
            )
        return {spec: best[spec][1] for spec in specs}

    def _ours(self, row: dict) -> bool:
        return all(row[k] == str(v) for k, v in self.workload.items())

    def _matching(self, device: str) -> list[dict]:
        want = {k: str(v) for k, v in self.protocol.items()}
        grid = set(self.grid)
        return [
            row
            for row in self.trials()
            if row["device"] == device
            and self._ours(row)
            and float(row["lr"]) in grid
            and all(row[k] == v for k, v in want.items())
        ]
