"""What an epoch cannot go below, and where a CPU step's time goes.

The floor of an epoch is the model's own work alone: its forward scores and its update from a
fixed score gradient, batch by batch over the training set, with no loss and no bookkeeping
(for softmax regression: the two GEMMs). The anatomy times each part of an eager step on its own.
Both use the model protocol (bench.models.base) and nothing else.
"""

from __future__ import annotations

import math
import time

import torch

from bench import models
from bench.training import graphs, loop, timers
from bench.training.config import RunConfig

ANATOMY_PARTS = ("gather", "scores", "loss", "update", "step")
# Measured beside the parts, each as an epoch's time per step: a training epoch of the trainer,
# the GEMM floor, and that floor with the by-index gather of every batch.
ANATOMY_EPOCHS = ("epoch", "floor", "gather_floor")
ANATOMY_STEPS = 200  # random batches each part is timed over
ANATOMY_ROUNDS = 3  # interleaved rounds of the epoch and the two floors; the best is kept


def gemm_floor(
    data, batch_size: int, repeats: int = 3, *, model: str = "linear", gather: bool = False
) -> float:
    """Seconds for one epoch of the model's own GEMMs: the floor under any training epoch.

    One pass over all rows of ``data.train_x`` in batches: the model's forward scores and its
    update from a fixed score gradient, in the layout the trainer uses, with no gather, loss or
    bookkeeping. The best of ``repeats`` passes, measured on the data's device in the calling
    process.

    ``gather=True`` adds what a loop that shuffles by index cannot avoid: each batch's rows are
    first copied out through a random permutation into one reused buffer (``index_select``, as
    the trainer does), and the GEMMs read that copy. The floor of an index-shuffled epoch,
    before any loss work.

    On a CUDA device the pass is captured once as a CUDA graph and the replays are timed: the
    floor is the kernels' own time. Launched op by op from Python, the pass would time the
    launches instead (81 µs a batch on an H100 for softmax regression's GEMMs, more than a whole
    captured training step), and a graph step would run "below its floor".
    """
    train_x = data.train_x
    device = train_x.device
    n = train_x.shape[0]
    net = models.parse(model).init_for(0, data, device)
    grad = torch.full((batch_size, data.num_classes), 1e-3, device=device)
    if gather:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).to(device)
        buffer = torch.empty(batch_size, train_x.shape[1], device=device)

    def one_pass() -> None:
        for start in range(0, n, batch_size):
            if gather:
                rows = order[start : start + batch_size]
                x = torch.index_select(train_x, 0, rows, out=buffer[: rows.shape[0]])
            else:
                x = train_x[start : start + batch_size]
            models.training_scores(net, x)
            net.update(x, grad[: x.shape[0]], 1e-6)

    if graphs.available(device):
        one_pass = graphs.replay_of(one_pass)
    best = float("inf")
    for _ in range(repeats):
        timers.synchronize(device)
        started = time.perf_counter()
        one_pass()
        timers.synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


@torch.no_grad()
def step_anatomy(
    loss,
    data,
    batch_size: int,
    steps: int = ANATOMY_STEPS,
    seed: int = 0,
    warmup: int = 20,
    rounds: int = ANATOMY_ROUNDS,
    model: str = "linear",
) -> dict[str, float]:
    """Where an eager CPU step's time goes: median seconds of each part, each timed on its own
    over the same ``steps`` random batches (after ``warmup`` untimed calls: the first calls of
    a kernel pay for allocation and caches), and of the whole step.

    Parts: gather (the batch's rows of x and y), scores (the model's forward), loss (value and
    gradient), update (the model's update from the score gradient). ``step`` is all four back to
    back, as the trainer runs them; it can exceed the parts' sum (a gathered batch is timed while
    it is still in cache when a part runs alone). CPU only: a GPU's asynchronous kernels would
    need a synchronisation per part, which would measure the launch, not the work.

    Then, right after, ANATOMY_EPOCHS, each the best of ``rounds`` epochs' seconds over the
    steps of an epoch: ``epoch``, the trainer's own eager epoch (bench.training.loop.train), and
    the two floors of :func:`gemm_floor`, as it is and with ``gather=True``. Measured in
    interleaved rounds, they compare the whole loop with both floors at one moment of a
    machine whose speed drifts.
    """
    if data.train_x.device.type != "cpu":
        raise ValueError("step_anatomy times CPU steps; pass data on the CPU")
    generator = torch.Generator().manual_seed(seed)
    n = data.train_x.shape[0]
    batch_size = min(batch_size, n)
    batches = [torch.randperm(n, generator=generator)[:batch_size] for _ in range(steps)]
    net = models.parse(model).init_for(seed, data)
    x = torch.empty(batch_size, data.train_x.shape[1])
    y = torch.empty(batch_size, dtype=torch.int64)
    lr = 1e-3  # small: the model stays put, so every part sees alike data

    def gather(rows):
        torch.index_select(data.train_x, 0, rows, out=x)
        torch.index_select(data.train_y, 0, rows, out=y)

    scores = models.training_scores(net, x.copy_(data.train_x[:batch_size]))
    _, grad = loss.value_and_grad(scores, data.train_y[:batch_size], check=False)

    def step(rows):
        gather(rows)
        loop.sgd_step(net, loss, x, y, lr).sum()  # as the trainer runs it

    parts = {
        "gather": gather,
        "scores": lambda rows: models.training_scores(net, x),
        "loss": lambda rows: loss.value_and_grad(scores, y, check=False),
        "update": lambda rows: net.update(x, grad, lr / batch_size),
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
    config = RunConfig(
        loss=str(loss),
        seed=seed,
        epochs=1,
        lr=lr,
        batch_size=batch_size,
        dataset=data.spec or "fashion_mnist",
        model=model,
    )
    times: dict[str, list[float]] = {name: [] for name in ANATOMY_EPOCHS}
    for _ in range(rounds):  # interleaved, so that a slow spell of the machine hits all three
        times["floor"].append(gemm_floor(data, batch_size, 1, model=model))
        times["gather_floor"].append(gemm_floor(data, batch_size, 1, model=model, gather=True))
        loop.train(
            config,
            data,
            on_epoch=lambda row: times["epoch"].append(row["epoch_s"]),
            step_mode="eager",
            train_metrics=False,
        )
    for name, seconds in times.items():
        medians[name] = min(seconds) / steps_per_epoch
    return medians
