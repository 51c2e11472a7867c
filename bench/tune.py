"""Per-loss learning rates chosen on a validation split, never on the test set, and cached.

10,000 training images (1,000 per class, seeded) are held out; each loss trains on the other
50,000 under the study's protocol at every rate of a log grid (all rates at once, stacked), and
the rate with the best validation accuracy wins. Results go to OUT/tuning.csv as they finish,
so a re-run tunes only what is missing (``--retune`` starts afresh).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

from bench import stacked
from bench.runs import append_row, read_rows
from bench.train import Interrupted, RunConfig

# Half-decade steps over the range every loss here needs (DESIGN.md: 0.001 to 30).
GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
VALIDATION_SIZE = 10_000
COLUMNS = ("loss", "device", "epochs", "batch_size", "schedule", "lr", "status", "val_acc")


def split(data, size: int = VALIDATION_SIZE, seed: int = 0, num_classes: int = 10):
    """Stratified hold-out: (train part, validation part), each with train_*/test_* tensors.

    The validation part sits in ``test_x``/``test_y`` of the returned training part, so the
    trainer's per-epoch test accuracy is the validation accuracy.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = data.train_y.cpu()
    held = []
    for c in range(num_classes):
        members = (labels == c).nonzero().squeeze(1)
        held.append(
            members[torch.randperm(len(members), generator=generator)[: size // num_classes]]
        )
    held = torch.cat(held)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held] = False
    kept = keep.nonzero().squeeze(1)
    held, kept = held.to(data.train_x.device), kept.to(data.train_x.device)
    return SimpleNamespace(
        train_x=data.train_x[kept],
        train_y=data.train_y[kept],
        test_x=data.train_x[held],
        test_y=data.train_y[held],
    )


class Tuner:
    """Chooses and caches each loss's rate; OUT/tuning.csv holds every trial."""

    def __init__(
        self,
        path: Path,
        *,
        epochs: int,
        batch_size: int,
        schedule: str,
        grid: tuple[float, ...] = GRID,
        retune: bool = False,
        validation_size: int = VALIDATION_SIZE,
    ):
        self.path = Path(path)
        self.validation_size = validation_size
        self.protocol = {"epochs": epochs, "batch_size": batch_size, "schedule": schedule}
        self.grid = grid
        if retune and self.path.exists():
            self.path.unlink()

    def trials(self) -> list[dict]:
        """Every cached trial; a torn last line (a kill mid-write) is dropped with a warning."""
        return read_rows(self.path, COLUMNS)

    def missing(self, specs: list[str], device: str) -> list[tuple[str, float]]:
        """(loss, rate) trials not yet in the cache for this protocol."""
        done = {(row["loss"], float(row["lr"])) for row in self._matching(device)}
        return [(spec, lr) for spec in specs for lr in self.grid if (spec, lr) not in done]

    def run(
        self,
        specs: list[str],
        data,
        device: str,
        on_trial: Callable[[dict], None] = lambda row: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, float]:
        """Train the missing trials on the split of ``data``; return loss -> chosen rate.

        A loss's missing rates train together as one stacked model (bench.stacked): the same
        batches for every rate, one matmul per step. ``should_stop`` is polled between losses.
        """
        todo = self.missing(specs, device)
        if todo:
            train_part = split(data, self.validation_size)
            for spec in dict.fromkeys(s for s, _ in todo):
                if should_stop():
                    raise Interrupted("stopped while tuning")
                rates = [lr for s, lr in todo if s == spec]
                config = RunConfig(loss=spec, device=device, seed=0, **self.protocol)
                for result in stacked.train_rates(config, rates, train_part):
                    trial = {**self.protocol, "loss": spec, "device": device, **result}
                    self._append(trial)
                    on_trial(trial)
        return self.chosen(specs, device)

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

    def _matching(self, device: str) -> list[dict]:
        want = {k: str(v) for k, v in self.protocol.items()}
        grid = set(self.grid)
        return [
            row
            for row in self.trials()
            if row["device"] == device
            and float(row["lr"]) in grid
            and all(row[k] == v for k, v in want.items())
        ]

    def _append(self, trial: dict) -> None:
        append_row(self.path, COLUMNS, trial)
