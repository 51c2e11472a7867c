"""One training run's configuration, its learning-rate schedule and its batches."""

from __future__ import annotations

import dataclasses
import math

from bench.datasets import noise, validation
from bench.training import optimizers

SCHEDULES = ("cosine", "constant")
# How steps run: "eager" (Python hands each step its rows and rate), "device" (the same step
# driven by device buffers, bench.graphs, called eagerly), "cuda-graph" (that step replayed as a
# CUDA graph); "auto" is cuda-graph on a GPU, with eager as the fallback, and eager elsewhere.
STEP_MODES = ("auto", "eager", "device", "cuda-graph")
# The trainer whose losses the benchmark compares; the other trains the textbook's loops.
TRAINER = "lossbench"
TRAINERS = (TRAINER, "d2l-textbook")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run: a loss, a device and a seed, under one protocol, on one dataset and
    model (their spec strings, canonical)."""

    loss: str
    device: str = "cpu"
    seed: int = 0
    epochs: int = 10
    lr: float = 0.1
    batch_size: int = 256
    schedule: str = "cosine"
    trainer: str = TRAINER
    noise: str = "none"
    dataset: str = "fashion_mnist"
    model: str = "linear"
    # the suite spec this run's loss was tuned from (``gce:q=0.7`` for a run of ``gce:q=0.9``):
    # one loss followed across noise levels; "" for a run that is its own entry
    entry: str = ""
    # the validation protocol (bench.datasets.validation): "noisy", or "trusted:N" (N training
    # examples held out with their true labels, excluded from training)
    validation: str = "noisy"
    # early stopping: hold out the validation split (by ``validation``) from training and
    # record ``val_acc`` every epoch, so the epoch it would choose can be scored
    early_stop: bool = False
    # the optimiser (bench.training.optimizers): "sgd", or a spec such as
    # "momentum:beta=0.9:wd=0.0005"; written canonical (every parameter)
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        noise.parse(self.noise)  # raises ValueError naming a bad spec
        validation.parse(self.validation)
        object.__setattr__(self, "optimizer", optimizers.canonical(self.optimizer))
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if self.trainer not in TRAINERS:
            raise ValueError(f"trainer must be one of {', '.join(TRAINERS)}, got {self.trainer!r}")


def learning_rate(config: RunConfig, step: int, total_steps: int) -> float:
    """The rate at ``step`` (0-based): constant, or cosine-decayed from lr towards 0."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def batch_rows(n: int, batch: int, step: int) -> int:
    """How many examples step ``step`` (0-based) of an epoch over ``n`` takes: ``batch``, or the
    rest in the last step."""
    return min(batch, n - step * batch)
