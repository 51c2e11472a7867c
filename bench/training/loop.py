"""The training loop: minibatch SGD on any model part with the losses' gradients at the scores.

A step is: gather the batch, the model's scores o, the loss's value and gradient g w.r.t. o, and
the model's update from g (for softmax regression dW = xᵀ(g/N), db = Σ g/N), all in place. No
DataLoader, no host-device copy inside the loop; the dataset already lives on the run's device.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable

import torch

import losses
from bench import models
from bench.datasets import Dataset, noise
from bench.training import graphs, timers
from bench.training.config import STEP_MODES, RunConfig, batch_rows, learning_rate

# A score-gradient row counts as active when some entry exceeds this: softmax gradients are
# never exactly 0, but below it an example no longer moves the weights (hinge zeros, saturation).
ACTIVE_GRAD = 1e-4


class Interrupted(Exception):
    """Training stopped on request (Ctrl-C) after a step; the unfinished epoch is not recorded."""


def sgd_step(model, loss: losses.Loss, x, labels, lr: float) -> torch.Tensor:
    """One SGD step on the batch (x (N, D), labels (N,)); returns the per-example loss (N,).

    The parameter gradients are those of the batch mean: g = dl/do / N backpropagated through
    the model (softmax regression: dW = xᵀg, db = Σ g); the 1/N is folded into the step size,
    which saves an elementwise pass over g.
    """
    scores = models.training_scores(model, x)
    value, grad = loss.value_and_grad(scores, labels, check=False)
    model.update(x, grad, lr / x.shape[0])
    return value


TEST_METRICS = ("test_acc", "balanced_acc", "worst_class_acc", "macro_f1")
# Measured with a pass over the whole training set, which costs as much compute as a training
# epoch's GEMMs: so only at the epochs of train_pass_epochs (NaN at the others).
TRAIN_METRICS = ("train_acc", "grad_norm", "active_frac", "memorised")
METRICS = (*TEST_METRICS, *TRAIN_METRICS)
TRAIN_PASSES = 3  # about this many evenly spaced epochs, besides the first


def train_pass_epochs(epochs: int) -> list[int]:
    """The epochs whose TRAIN_METRICS are measured: the first, the last and every
    ``round(epochs / TRAIN_PASSES)``-th (all of them up to 4 epochs; 1, 10, 20 and 30 of 30).
    The test metrics, the training loss and the times are recorded every epoch."""
    every = max(1, round(epochs / TRAIN_PASSES))
    return sorted({1, epochs, *range(every, epochs + 1, every)})


@torch.no_grad()
def evaluate(
    model, loss: losses.Loss, data: Dataset, flipped=None, *, train: bool = True
) -> dict[str, float]:
    """METRICS of a model: accuracy on the test set and the metrics of imbalance there
    (:func:`class_metrics`); with ``train``, accuracy on the training set (as trained: noisy
    labels), the full-batch gradient's norm and activity and, when labels were flipped (mask
    ``flipped``), memorisation: the share of flipped training examples predicted as their wrong
    label. Without ``train`` those are NaN."""
    metrics = test_metrics(model.predict(data.test_x), data)
    if not train:
        return metrics
    measured, grad = train_metrics(loss, model.scores(data.train_x), data.train_y, flipped)
    return metrics | measured | {"grad_norm": model.grad_norm(data.train_x, grad)}


def test_metrics(predicted: torch.Tensor, data: Dataset) -> dict[str, float]:
    """The test metrics of the test-set predictions (N,), and NaN for TRAIN_METRICS."""
    return {
        "test_acc": (predicted == data.test_y).float().mean().item(),
        **class_metrics(predicted, data.test_y, data.num_classes),
        **dict.fromkeys(TRAIN_METRICS, float("nan")),
    }


def train_metrics(
    loss: losses.Loss, scores: torch.Tensor, labels: torch.Tensor, flipped=None
) -> tuple[dict[str, float], torch.Tensor]:
    """TRAIN_METRICS but ``grad_norm`` from the training set's scores (N, K) and labels (as
    trained), and the score gradient (N, K) the model turns into ``grad_norm``."""
    _, grad = loss.value_and_grad(scores, labels, check=False)
    hits = scores.argmax(1) == labels
    metrics = {
        "train_acc": hits.float().mean().item(),
        "active_frac": (grad.abs().amax(1) > ACTIVE_GRAD).float().mean().item(),
    }
    if flipped is not None and flipped.any():
        metrics["memorised"] = (hits & flipped).sum().item() / flipped.sum().item()
    return metrics, grad


def class_metrics(
    predicted: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> dict[str, float]:
    """Balanced accuracy (the mean of per-class recalls), the worst class's recall, and macro-F1
    (the mean of per-class F1, 0 for a class never predicted right), over the classes present in
    ``labels``. Shape: predicted, labels (N,) int64."""
    counts = torch.bincount(labels * num_classes + predicted, minlength=num_classes**2)
    confusion = counts.reshape(num_classes, num_classes).double()
    true, hits = confusion.sum(1), confusion.diag()
    present = true > 0
    recall = hits[present] / true[present]
    f1 = 2 * hits / (true + confusion.sum(0)).clamp_min(1)  # = 2pr / (p + r)
    return {
        "balanced_acc": recall.mean().item(),
        "worst_class_acc": recall.min().item(),
        "macro_f1": f1[present].mean().item(),
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
    data: Dataset,
    *,
    on_epoch: Callable[[dict], None] = lambda row: None,
    should_stop: Callable[[], bool] = lambda: False,
    step_mode: str = "auto",
    train_metrics: bool = True,
):
    """Train one model; call ``on_epoch(row)`` as each epoch ends; return the final model.

    ``data`` is the run's dataset, all on ``config.device``; the model is ``config.model``'s part;
    ``config.noise`` flips training labels (seeded by the run's seed); test labels stay clean.
    A row whose loss or parameters are no longer finite has status "diverged" and ends the run.
    ``should_stop()`` is polled after every step; when true, raises :class:`Interrupted`.
    ``step_mode`` is one of STEP_MODES; each row records the mode the steps ran in.
    TRAIN_METRICS are measured at the epochs of :func:`train_pass_epochs`, or never without
    ``train_metrics`` (a run kept for its times).
    """
    device = torch.device(config.device)
    # the prior of the training labels as given (before any noise): what logit adjustment uses
    loss = losses.parse(config.loss).with_prior(data.prior.to(device))
    flipped = None
    if config.noise != "none":
        noisy = noise.flip(data.train_y, config.noise, config.seed, data.num_classes, data.pairs)
        flipped = noisy != data.train_y
        data = dataclasses.replace(data, train_y=noisy)
    model = models.parse(config.model).init_for(config.seed, data, device)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    n, batch = data.train_x.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    batch_x = torch.empty(batch, data.train_x.shape[1], device=device)
    batch_y = torch.empty(batch, dtype=torch.int64, device=device)
    timer = timers.step_timer(device, steps)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    step_mode, device_step, replay = _device_steps(config, step_mode, model, loss, data)
    train_passes = set(train_pass_epochs(config.epochs)) if train_metrics else set()

    for epoch in range(1, config.epochs + 1):
        if device_step is None:
            order = torch.randperm(n, generator=shuffle, device=device)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        else:
            torch.randperm(n, generator=shuffle, device=device, out=device_step.order)
            loss_sum = device_step.loss_sum.zero_()
        timers.synchronize(device)
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
        timers.synchronize(device)
        epoch_s = time.perf_counter() - started
        step_s = timer.read()

        train_loss = loss_sum.item() / n
        diverged = not (math.isfinite(train_loss) and model.is_finite())
        metrics = (
            dict.fromkeys(METRICS, float("nan"))
            if diverged
            else evaluate(model, loss, data, flipped, train=epoch in train_passes)
        )
        on_epoch(
            {
                **dataclasses.asdict(config),
                "epoch": epoch,
                "status": "diverged" if diverged else "ok",
                "step_mode": step_mode,
                "grad": getattr(loss, "grad_source", "analytic"),
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
        warnings.warn(
            f"{config.loss} on {config.device}: {error}; running eager steps", stacklevel=3
        )
        return "eager", None, None
