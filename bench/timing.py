"""Per-step timers that add no synchronisation to the loop they measure.

CPU: torch's CPU ops run synchronously, so ``perf_counter`` around the step is the step's time.
CUDA: a pair of events recorded around each step on the stream; they are read only at the end
of the epoch (one synchronisation per epoch, outside the timed steps).
"""

from __future__ import annotations

import math
import time

import torch


class CpuStepTimer:
    """Step times from ``time.perf_counter``; ``start``/``stop`` bracket one step."""

    def __init__(self, steps: int):
        self._seconds = [0.0] * steps
        self._count = 0
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        self._seconds[self._count] = time.perf_counter() - self._started
        self._count += 1

    def read(self) -> torch.Tensor:
        """The epoch's step times in seconds, float64 (steps,); resets the timer."""
        seconds = torch.tensor(self._seconds[: self._count], dtype=torch.float64)
        self._count = 0
        return seconds


class CudaStepTimer:
    """Step times from CUDA events, preallocated for an epoch and read once at its end."""

    def __init__(self, steps: int):
        self._starts = [torch.cuda.Event(enable_timing=True) for _ in range(steps)]
        self._stops = [torch.cuda.Event(enable_timing=True) for _ in range(steps)]
        self._count = 0

    def start(self) -> None:
        self._starts[self._count].record()

    def stop(self) -> None:
        self._stops[self._count].record()
        self._count += 1

    def read(self) -> torch.Tensor:
        torch.cuda.synchronize()
        ms = [s.elapsed_time(e) for s, e in zip(self._starts, self._stops, strict=False)][
            : self._count
        ]
        self._count = 0
        return torch.tensor(ms, dtype=torch.float64) / 1000.0


def step_timer(device: torch.device, steps: int) -> CpuStepTimer | CudaStepTimer:
    """The timer for ``device``: CUDA events on a GPU, perf_counter elsewhere."""
    return CudaStepTimer(steps) if device.type == "cuda" else CpuStepTimer(steps)


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (CUDA only): used at epoch boundaries, never per step."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_floor(train_x: torch.Tensor, batch_size: int, repeats: int = 3, *,
               gather: bool = False) -> float:  # fmt: skip
    """Seconds for one epoch's GEMMs alone: the floor under any training epoch of this model.

    One pass over all rows of ``train_x`` in batches: the forward scores (W xᵀ + b)ᵀ and the
    weight update gᵀx, in the layout the trainer uses (the fastest measured, see bench.model),
    with no gather, loss or bookkeeping. The best of ``repeats`` passes, measured on
    ``train_x``'s device in the calling process.

    ``gather=True`` adds what a loop that shuffles by index cannot avoid: each batch's rows are
    first copied out through a random permutation into one reused buffer (``index_select``, as
    the trainer does), and the GEMMs read that copy. The floor of an index-shuffled epoch,
    before any loss work.
    """
    device = train_x.device
    n = train_x.shape[0]
    weight = torch.full((10, train_x.shape[1]), 0.01, device=device)
    bias = torch.zeros(10, 1, device=device)
    grad = torch.full((batch_size, 10), 1e-3, device=device)
    if gather:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).to(device)
        buffer = torch.empty(batch_size, train_x.shape[1], device=device)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        for start in range(0, n, batch_size):
            if gather:
                rows = order[start : start + batch_size]
                x = torch.index_select(train_x, 0, rows, out=buffer[: rows.shape[0]])
            else:
                x = train_x[start : start + batch_size]
            torch.addmm(bias, weight, x.T)
            weight.addmm_(grad[: x.shape[0]].T, x, alpha=-1e-6)
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


ANATOMY_PARTS = ("gather", "scores", "loss", "update", "step")
# Measured beside the parts, each as an epoch's time per step: a training epoch of the trainer,
# the GEMM floor, and that floor with the by-index gather of every batch.
ANATOMY_EPOCHS = ("epoch", "floor", "gather_floor")


@torch.no_grad()
def step_anatomy(
    loss, data, batch_size: int, steps: int = 200, seed: int = 0, warmup: int = 20,
    rounds: int = 3,
) -> dict[str, float]:
    """Where an eager CPU step's time goes: median seconds of each part, each timed on its own
    over the same ``steps`` random batches (after ``warmup`` untimed calls: the first calls of
    a kernel pay for allocation and caches), and of the whole step.

    Parts: gather (the batch's rows of x and y), scores (the forward GEMM), loss (value and
    gradient), update (the gᵀx GEMM and the bias). ``step`` is all four back to back, as the
    trainer runs them; it can exceed the parts' sum (a gathered batch is timed while it is
    still in cache when a part runs alone). CPU only: a GPU's asynchronous kernels would need a
    synchronisation per part, which would measure the launch, not the work.

    Then, right after, ANATOMY_EPOCHS, each the best of ``rounds`` epochs' seconds over the
    steps of an epoch: ``epoch``, the trainer's own eager epoch (bench.train.train), and the
    two floors of :func:`gemm_floor`, as it is and with ``gather=True``. Measured in
    interleaved rounds, they compare the whole loop with both floors at one moment of a
    machine whose speed drifts.
    """
    from bench.model import SoftmaxRegression
    from bench.train import RunConfig, sgd_step, train  # bench.train imports this module

    if data.train_x.device.type != "cpu":
        raise ValueError("step_anatomy times CPU steps; pass data on the CPU")
    generator = torch.Generator().manual_seed(seed)
    n = data.train_x.shape[0]
    batches = [
        torch.randperm(n, generator=generator)[:batch_size] for _ in range(steps)
    ]
    model = SoftmaxRegression.init(seed)
    x = torch.empty(batch_size, data.train_x.shape[1])
    y = torch.empty(batch_size, dtype=torch.int64)
    lr = 1e-3  # small: the model stays put, so every part sees alike data

    def gather(rows):
        torch.index_select(data.train_x, 0, rows, out=x)
        torch.index_select(data.train_y, 0, rows, out=y)

    scores = model.scores(x.copy_(data.train_x[:batch_size]))
    _, grad = loss.value_and_grad(scores, data.train_y[:batch_size], check=False)

    def step(rows):
        gather(rows)
        sgd_step(model, loss, x, y, lr).sum()  # as the trainer runs it

    parts = {
        "gather": gather,
        "scores": lambda rows: model.scores(x),
        "loss": lambda rows: loss.value_and_grad(scores, y, check=False),
        "update": lambda rows: model.update(x, grad, lr / batch_size),
        "step": step,
    }
    medians = {}
    for name, part in parts.items():
        seconds = []
        for i, rows in enumerate(batches[:warmup] + batches):
            if name in ("scores", "loss", "update"):
                gather(rows)  # the part's input, fresh from this batch, outside the timer
            started = time.perf_counter()
            part(rows)
            if i >= warmup:
                seconds.append(time.perf_counter() - started)
        medians[name] = sorted(seconds)[len(seconds) // 2]
    steps_per_epoch = math.ceil(n / batch_size)
    config = RunConfig(loss=str(loss), seed=seed, epochs=1, lr=lr, batch_size=batch_size)
    times: dict[str, list[float]] = {name: [] for name in ANATOMY_EPOCHS}
    for _ in range(rounds):  # interleaved, so that a slow spell of the machine hits all three
        times["floor"].append(gemm_floor(data.train_x, batch_size, 1))
        times["gather_floor"].append(gemm_floor(data.train_x, batch_size, 1, gather=True))
        train(config, data, on_epoch=lambda row: times["epoch"].append(row["epoch_s"]),
              step_mode="eager")  # fmt: skip
    for name, seconds in times.items():
        medians[name] = min(seconds) / steps_per_epoch
    return medians
