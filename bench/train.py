"""The training loop: minibatch SGD on softmax regression with the losses' analytic gradients.

A step is: gather the batch, scores o = xW + b, the loss's value and gradient g w.r.t. o,
then dW = xᵀ(g/N) and db = Σ g/N, and the update, all in place. No autograd, no DataLoader,
no host-device copy inside the loop; the dataset already lives on the run's device.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable
from types import SimpleNamespace

import torch

import losses
from bench import graphs, noise, timing
from bench.model import SoftmaxRegression

SCHEDULES = ("cosine", "constant")
# How steps run: "eager" (Python hands each step its rows and rate), "device" (the same step
# driven by device buffers, bench.graphs, called eagerly), "cuda-graph" (that step replayed as a
# CUDA graph); "auto" is cuda-graph on a GPU, with eager as the fallback, and eager elsewhere.
STEP_MODES = ("auto", "eager", "device", "cuda-graph")
TRAINERS = ("lossbench", "d2l-textbook")
# A score-gradient row counts as active when some entry exceeds this: softmax gradients are
# never exactly 0, but below it an example no longer moves the weights (hinge zeros, saturation).
ACTIVE_GRAD = 1e-4


class Interrupted(Exception):
    """Training stopped on request (Ctrl-C) after a step; the unfinished epoch is not recorded."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """One training run: a loss, a device and a seed, under one protocol."""

    loss: str
    device: str = "cpu"
    seed: int = 0
    epochs: int = 10
    lr: float = 0.1
    batch_size: int = 256
    schedule: str = "cosine"
    trainer: str = "lossbench"
    noise: str = "none"

    def __post_init__(self) -> None:
        noise.parse(self.noise)  # raises ValueError naming a bad spec
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


def sgd_step(model: SoftmaxRegression, loss: losses.Loss, x, labels, lr: float) -> torch.Tensor:
    """One SGD step on the batch (x (N, 784), labels (N,)); returns the per-example loss (N,).

    The parameter gradients are those of the batch mean: g = dl/do / N, dW = xᵀg, db = Σ g;
    the 1/N is folded into the step size, which saves an elementwise pass over g.
    """
    scores = model.scores(x)
    value, grad = loss.value_and_grad(scores, labels, check=False)
    model.update(x, grad, lr / x.shape[0])
    return value


@torch.no_grad()
def evaluate(model: SoftmaxRegression, loss: losses.Loss, data, flipped=None) -> dict[str, float]:
    """Accuracy on the train (as trained: noisy labels) and test sets, the full-batch gradient's
    norm and activity, and, when labels were flipped (mask ``flipped``), memorisation: the share
    of flipped training examples predicted as their wrong label."""
    train_scores = model.scores(data.train_x)
    _, grad = loss.value_and_grad(train_scores, data.train_y, check=False)
    weight_grad = grad.T @ data.train_x / grad.shape[0]
    hits = train_scores.argmax(1) == data.train_y
    memorised = float("nan")
    if flipped is not None and flipped.any():
        memorised = (hits & flipped).sum().item() / flipped.sum().item()
    return {
        "train_acc": hits.float().mean().item(),
        "test_acc": (model.predict(data.test_x) == data.test_y).float().mean().item(),
        "grad_norm": torch.linalg.vector_norm(weight_grad).item(),
        "active_frac": (grad.abs().amax(1) > ACTIVE_GRAD).float().mean().item(),
        "memorised": memorised,
    }


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA's max allocated on a GPU, the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@torch.no_grad()
def train(
    config: RunConfig,
    data,
    *,
    on_epoch: Callable[[dict], None] = lambda row: None,
    should_stop: Callable[[], bool] = lambda: False,
    step_mode: str = "auto",
) -> SoftmaxRegression:
    """Train one model; call ``on_epoch(row)`` as each epoch ends; return the final model.

    ``data`` has train_x (N, 784), train_y (N,), test_x, test_y, all on ``config.device``;
    ``config.noise`` flips training labels (seeded by the run's seed); test labels stay clean.
    A row whose loss or parameters are no longer finite has status "diverged" and ends the run.
    ``should_stop()`` is polled after every step; when true, raises :class:`Interrupted`.
    ``step_mode`` is one of STEP_MODES; each row records the mode the steps ran in.
    """
    device = torch.device(config.device)
    loss = losses.parse(config.loss)
    flipped = None
    if config.noise != "none":
        noisy = noise.flip(data.train_y, config.noise, config.seed)
        flipped = noisy != data.train_y
        data = SimpleNamespace(
            train_x=data.train_x, train_y=noisy, test_x=data.test_x, test_y=data.test_y
        )
    model = SoftmaxRegression.init(config.seed, device)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    n, batch = data.train_x.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    batch_x = torch.empty(batch, data.train_x.shape[1], device=device)
    batch_y = torch.empty(batch, dtype=torch.int64, device=device)
    timer = timing.step_timer(device, steps)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    step_mode, device_step, replay = _device_steps(config, step_mode, model, loss, data)

    for epoch in range(1, config.epochs + 1):
        if device_step is None:
            order = torch.randperm(n, generator=shuffle, device=device)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        else:
            torch.randperm(n, generator=shuffle, device=device, out=device_step.order)
            loss_sum = device_step.loss_sum.zero_()
        timing.synchronize(device)
        started = time.perf_counter()
        for step in range(steps):
            timer.start()
            if replay is not None:
                replay[batch_rows(n, batch, step)]()
            else:
                rows = order[step * batch : (step + 1) * batch]
                x = torch.index_select(data.train_x, 0, rows, out=batch_x[: rows.shape[0]])
                labels = torch.index_select(data.train_y, 0, rows, out=batch_y[: rows.shape[0]])
                lr = learning_rate(config, (epoch - 1) * steps + step, config.epochs * steps)
                loss_sum += sgd_step(model, loss, x, labels, lr).sum()
            timer.stop()
            if should_stop():
                raise Interrupted(f"stopped in epoch {epoch} of {config.loss} on {config.device}")
        timing.synchronize(device)
        epoch_s = time.perf_counter() - started
        step_s = timer.read()

        train_loss = loss_sum.item() / n
        diverged = not (math.isfinite(train_loss) and model.is_finite())
        metrics = (
            dict.fromkeys(
                ("train_acc", "test_acc", "grad_norm", "active_frac", "memorised"), float("nan")
            )
            if diverged
            else evaluate(model, loss, data, flipped)
        )
        on_epoch(
            {
                **dataclasses.asdict(config),
                "epoch": epoch,
                "status": "diverged" if diverged else "ok",
                "step_mode": step_mode,
                "train_loss": train_loss,
                **metrics,
                "epoch_s": epoch_s,
                "step_ms": step_s.median().item() * 1e3,
                "step_ms_p90": step_s.quantile(0.9).item() * 1e3,
                "samples_per_s": n / epoch_s,
                "peak_mem_mb": peak_memory_mb(device),
            }
        )
        if diverged:
            break
    return model


def _device_steps(config: RunConfig, mode: str, model, loss, data):
    """(mode, DeviceStep or None, {batch length: step call} or None) for ``mode``.

    A CUDA graph that cannot be captured, or does not reproduce the eager step, falls back to
    the eager loop with a warning naming the reason, unless "cuda-graph" was asked for: then it
    is an error (:class:`bench.graphs.CaptureError`).
    """
    if mode not in STEP_MODES:
        raise ValueError(f"step mode must be one of {', '.join(STEP_MODES)}, got {mode!r}")
    asked = mode
    if mode == "auto":
        mode = "cuda-graph" if graphs.available(config.device) else "eager"
    if mode == "eager":
        return mode, None, None
    n, batch = data.train_x.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    lengths = sorted({batch_rows(n, batch, i) for i in (0, steps - 1)}, reverse=True)
    total = config.epochs * steps
    step_sizes = [
        learning_rate(config, s, total) / batch_rows(n, batch, s % steps) for s in range(total)
    ]
    step = graphs.DeviceStep(model, loss, data, step_sizes, batch)
    if mode == "device":
        return mode, step, {rows: functools.partial(step, rows) for rows in lengths}
    try:
        return mode, step, graphs.capture(step, lengths)
    except graphs.CaptureError as error:
        if asked == "cuda-graph":
            raise graphs.CaptureError(
                f"step mode cuda-graph: {error}; use --step-mode auto or eager"
            ) from error
        warnings.warn(f"{config.loss} on {config.device}: {error}; running eager steps",
                      stacklevel=3)  # fmt: skip
        return "eager", None, None
