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
from typing import NamedTuple

import torch

import losses
from bench import models
from bench.datasets import Dataset, noise, validation
from bench.training import graphs, optimizers, timers
from bench.training.config import STEP_MODES, RunConfig, batch_rows, learning_rate

# A score-gradient row counts as active when some entry exceeds this: softmax gradients are
# never exactly 0, but below it an example no longer moves the weights (hinge zeros, saturation).
ACTIVE_GRAD = 1e-4


class Interrupted(Exception):
    """Training stopped on request (Ctrl-C) after a step; the unfinished epoch is not recorded."""


def sgd_step(model, loss: losses.Loss, x, labels, lr: float, optimizer=None) -> torch.Tensor:
    """One step on the batch (x (N, D), labels (N,)); returns the per-example loss (N,).

    The parameter gradients are those of the batch mean: g = dl/do / N backpropagated through
    the model (softmax regression: dW = xᵀg, db = Σ g). ``optimizer`` (a bound optimiser,
    bench.training.optimizers) turns them into the update; None is plain SGD, the model's own
    update, with the 1/N folded into the step size (which saves an elementwise pass over g).
    """
    scores = models.training_scores(model, x)
    value, grad = loss.value_and_grad(scores, labels, check=False)
    if optimizer is None:
        model.update(x, grad, lr / x.shape[0])
    else:
        optimizer.step(x, grad, lr)
    return value


TEST_METRICS = ("test_acc", "balanced_acc", "worst_class_acc", "macro_f1")
# Measured with a pass over the whole training set, which costs as much compute as a training
# epoch's GEMMs: so only at the epochs of train_pass_epochs (NaN at the others).
TRAIN_METRICS = ("train_acc", "grad_norm", "active_frac")
# Measured every epoch of a noisy run (NaN on clean labels), on the flipped training examples:
# the share predicted as their noisy label (memorised) and as their true label (corrected).
FLIP_METRICS = ("memorised", "corrected")
# Measured every epoch of a run that holds out a validation split (``early_stop``), else NaN:
# accuracy on the held-out examples, labels as the validation protocol gives them.
VAL_METRICS = ("val_acc",)
METRICS = (*TEST_METRICS, *TRAIN_METRICS, *FLIP_METRICS, *VAL_METRICS)
TRAIN_PASSES = 3  # about this many evenly spaced epochs, besides the first
# FLIP_METRICS look at most this many flipped examples (a seeded sample, the same every epoch):
# a share's standard error on it is at most 0.5/√2,000 = 1.1 points a run. Measured (1 thread,
# AMD EPYC): on the 10,000-image subset's 784-256-256-10 MLP, a training epoch takes 0.20 s, the
# test pass 84 ms and a pass over 5,000 flips 38 ms (2,000: 15 ms); linear on 60,000 images
# (48,000 flips), 0.26 s an epoch, 93 ms for all flips. 5,000 cost the memorisation workload
# about a minute of make study's hour.
FLIP_SAMPLE = 2_000


class Flips(NamedTuple):
    """The training examples whose labels noise flipped (or a seeded sample of FLIP_SAMPLE of
    them): inputs ``x`` (F, D), their labels as trained ``noisy`` (F,) and their ``true`` ones
    (F,); ``total`` the number flipped in all."""

    x: torch.Tensor
    noisy: torch.Tensor
    true: torch.Tensor
    total: int

    @classmethod
    def of(cls, x, noisy, true, seed: int = 0, most: int = FLIP_SAMPLE) -> Flips | None:
        """The flips of a training set (x (N, D), labels as trained and true, (N,)); None when
        no label was flipped. More than ``most`` flips: a sample of ``most``, drawn with
        ``seed``, in training-set order."""
        rows = (noisy != true).nonzero().squeeze(1)
        if rows.numel() == 0:
            return None
        total = rows.numel()
        if total > most:
            generator = torch.Generator().manual_seed(seed)
            pick = torch.randperm(total, generator=generator)[:most].sort().values
            rows = rows[pick.to(rows.device)]
        return cls(x[rows], noisy[rows], true[rows], total)


class Prepared(NamedTuple):
    """What a run trains on: ``data`` (its training labels noisy where the run has noise, and
    without the held-out examples where it holds some out), ``flips`` (:class:`Flips` or None)
    and ``val`` ((val_x (V, D), val_y (V,)) or None)."""

    data: Dataset
    flips: Flips | None
    val: tuple[torch.Tensor, torch.Tensor] | None


def prepare(config: RunConfig, data: Dataset) -> Prepared:
    """The run's training set: labels flipped by ``config.noise`` with the run's seed (the same
    examples for every loss); with ``config.early_stop``, the validation split of
    ``config.validation`` held out (bench.datasets.validation.holdout, drawn with the run's
    seed: a new split per seed) and excluded from training. Without ``early_stop`` the whole
    training set trains, exactly as a run without a validation split always has."""
    true = data.train_y
    if config.early_stop:
        part = validation.holdout(
            data, config.validation, config.noise, seed=config.seed, split_seed=config.seed
        )
        data, true, val = part.train, part.clean_y, (part.val_x, part.val_y)
    else:
        val = None
        if config.noise != "none":
            noisy = _flip(data, config)
            data = dataclasses.replace(data, train_y=noisy)
    flips = None
    if config.noise != "none":
        flips = Flips.of(data.train_x, data.train_y, true, seed=config.seed)
    return Prepared(data, flips, val)


def _flip(data: Dataset, config: RunConfig) -> torch.Tensor:
    """The run's noisy training labels (noise.flip with the run's seed; instance-dependent
    noise reads the training inputs)."""
    return noise.flip(
        data.train_y,
        config.noise,
        config.seed,
        data.num_classes,
        data.pairs,
        features=data.train_x,
    )


def train_pass_epochs(epochs: int) -> list[int]:
    """The epochs whose TRAIN_METRICS are measured: the first, the last and every
    ``round(epochs / TRAIN_PASSES)``-th (all of them up to 4 epochs; 1, 10, 20 and 30 of 30).
    The test metrics, the training loss and the times are recorded every epoch."""
    every = max(1, round(epochs / TRAIN_PASSES))
    return sorted({1, epochs, *range(every, epochs + 1, every)})


@torch.no_grad()
def evaluate(
    model,
    loss: losses.Loss,
    data: Dataset,
    flips: Flips | None = None,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    train: bool = True,
) -> dict[str, float]:
    """METRICS of a model: accuracy on the test set and the metrics of imbalance there
    (:func:`class_metrics`); where labels were flipped (``flips``), :func:`flip_metrics`; on a
    held-out split ``val`` (x, labels), ``val_acc``; with ``train``, accuracy on the training
    set (as trained: noisy labels) and the full-batch gradient's norm and activity. What is not
    measured is NaN."""
    metrics = test_metrics(model.predict(data.test_x), data)
    if flips is not None:
        metrics |= flip_metrics(model.predict(flips.x), flips)
    if val is not None:
        metrics["val_acc"] = accuracy(model.predict(val[0]), val[1])
    if not train:
        return metrics
    measured, grad = train_metrics(loss, model.scores(data.train_x), data.train_y)
    return metrics | measured | {"grad_norm": model.grad_norm(data.train_x, grad)}


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of ``predicted`` (N,) equal to ``labels`` (N,)."""
    return (predicted == labels).float().mean().item()


def flip_metrics(predicted: torch.Tensor, flips: Flips) -> dict[str, float]:
    """On the flipped examples, predictions ``predicted`` (F,): ``memorised``, the share
    predicted as their noisy label (the wrong one the model was trained on), and ``corrected``,
    the share predicted as their true label. The rest (1 − memorised − corrected) went to a
    third class."""
    return {
        "memorised": accuracy(predicted, flips.noisy),
        "corrected": accuracy(predicted, flips.true),
    }


def test_metrics(predicted: torch.Tensor, data: Dataset) -> dict[str, float]:
    """The test metrics of the test-set predictions (N,), and NaN for the other METRICS."""
    return {
        "test_acc": accuracy(predicted, data.test_y),
        **class_metrics(predicted, data.test_y, data.num_classes),
        **dict.fromkeys((*TRAIN_METRICS, *FLIP_METRICS, *VAL_METRICS), float("nan")),
    }


def train_metrics(
    loss: losses.Loss, scores: torch.Tensor, labels: torch.Tensor
) -> tuple[dict[str, float], torch.Tensor]:
    """TRAIN_METRICS but ``grad_norm`` from the training set's scores (N, K) and labels (as
    trained), and the score gradient (N, K) the model turns into ``grad_norm``."""
    _, grad = loss.value_and_grad(scores, labels, check=False)
    metrics = {
        "train_acc": accuracy(scores.argmax(1), labels),
        "active_frac": (grad.abs().amax(1) > ACTIVE_GRAD).float().mean().item(),
    }
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
    flip_metrics: bool = True,
):
    """Train one model; call ``on_epoch(row)`` as each epoch ends; return the final model.

    ``data`` is the run's dataset, all on ``config.device``; the model is ``config.model``'s part;
    ``config.noise`` flips training labels (seeded by the run's seed); test labels stay clean;
    ``config.early_stop`` holds out the validation split (:func:`prepare`).
    A row whose loss or parameters are no longer finite has status "diverged" and ends the run.
    ``should_stop()`` is polled after every step; when true, raises :class:`Interrupted`.
    ``step_mode`` is one of STEP_MODES; each row records the mode the steps ran in.
    TRAIN_METRICS are measured at the epochs of :func:`train_pass_epochs`, or never without
    ``train_metrics`` (a run kept for its times); VAL_METRICS every epoch, and FLIP_METRICS every
    epoch, or never without ``flip_metrics`` (a tuning trial, scored on its validation split only).
    """
    device = torch.device(config.device)
    # the prior of the training labels as given (before any noise): what logit adjustment uses
    loss = losses.parse(config.loss).with_prior(data.prior.to(device))
    data, flips, val = prepare(config, data)
    if not flip_metrics:
        flips = None
    model = models.parse(config.model).init_for(config.seed, data, device)
    optimizer = optimizers.parse(config.optimizer).bind(model)
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
                loss_sum += sgd_step(model, loss, x, labels, lr, optimizer).sum()
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
            else evaluate(model, loss, data, flips, val, train=epoch in train_passes)
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
    plain = optimizers.is_plain(config.optimizer)
    if mode == "auto":
        mode = "cuda-graph" if graphs.available(config.device) else "eager"
        if mode != "eager" and not plain:
            warnings.warn(
                f"optimizer {config.optimizer}: the device step and its CUDA graph carry plain "
                "SGD only; running eager steps",
                stacklevel=3,
            )
            mode = "eager"
    if mode == "eager":
        return mode, None, None
    if not plain:
        raise ValueError(
            f"step mode {mode} carries plain SGD only, not optimizer {config.optimizer}: "
            "use --step-mode eager (or auto)"
        )
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
