"""Many models trained at once, as one matmul over stacked weights.

:func:`train_trials` (tuning): M softmax regressors that differ only in their loss setting
(``gce:q=0.3``, ``gce:q=0.9``) and learning rate see the same batches in the same order. Their
weights are stacked as one (M·K, D) matrix, so a step is still two GEMMs: scores x·Wᵀ of shape
(N, M·K) read as N·M rows of K scores, each setting's loss on its block of rows, and the update
gᵀx. Row m of the stack follows exactly the trajectory a single
run at lr_m would (same init, same batches), up to floating-point summation order. A model that
diverges leaves the stack at the end of that epoch (its rows are dropped, so it costs no more
compute) and the others train on undisturbed. Softmax regression only (``part.linear``): a
model with a hidden layer has no single matmul to stack, and tunes its rates one run at a time.

:func:`train_losses` (a parallel study's runs): the runs of one seed and noise level that differ
only in their loss and rate share their init, their noisy labels and every batch, so they train
as one stack too: the batch is gathered once, the scores of every loss come from one GEMM and
the update is one GEMM, and each loss computes its value and gradient on its own K columns. Each
run's rows are those :func:`bench.training.loop.train` would write (same metrics at the same
epochs, the same weights up to summation order); only its times differ: a stack's epoch time is
shared, so each run records its share (``step_mode`` "stacked", ``concurrent``), and the report
reads per-loss speed from the serial timing phase instead.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import torch

import losses
from bench import models
from bench.schema import one_line
from bench.training import loop, optimizers
from bench.training.config import TRAINER, RunConfig, learning_rate

STACKED = "stacked"  # the step_mode of a run trained in a stack of losses
# The most runs in one stack: a larger group is cut into near-equal stacks. Fixed, not derived
# from the cluster's size, so a run's stack (and so its sums' order) is the same on 1 or N workers.
STACK_MOST = 32


@torch.no_grad()
def train_rates(config: RunConfig, rates: list[float], data) -> list[dict[str, float]]:
    """:func:`train_trials` of ``config.loss`` at each of ``rates``; each result has ``lr``."""
    return [
        {"lr": rate, **{k: v for k, v in result.items() if k not in ("loss", "lr")}}
        for rate, result in zip(
            rates, train_trials(config, [(config.loss, r) for r in rates], data), strict=True
        )
    ]


@torch.no_grad()
def train_trials(config: RunConfig, trials: list[tuple[str, float]], data) -> list[dict]:
    """Train one softmax regression per (loss spec, rate) of ``trials`` under ``config`` (its
    ``loss`` and ``lr`` ignored), all from the same init on the same batches, as one stack;
    per trial, in order: ``loss``, ``lr``, ``status``, the final ``val_acc`` and
    ``val_balanced_acc`` on ``data``'s test split (a validation split when tuning) and the mean
    ``train_loss`` of the last epoch.

    Trials of one loss form one block of the stack, whose scores (N·M_b, K) that loss takes at
    once: a step is two GEMMs and one loss call per distinct spec.

    Shape: the stack's weight is (M·K, D), the scores of a batch of N (N, M, K).
    """
    part = models.parse(config.model)
    if not part.linear:
        raise ValueError(f"stacked tuning needs a linear model, not {config.model}")
    if not optimizers.is_plain(config.optimizer):
        raise ValueError(
            f"stacked tuning carries plain SGD only, not optimizer {config.optimizer}: "
            "train the trials one at a time"
        )
    device = torch.device(config.device)
    prior = data.prior.to(device)
    parsed = {spec: losses.parse(spec).with_prior(prior) for spec, _ in trials}
    order = sorted(range(len(trials)), key=lambda i: list(parsed).index(trials[i][0]))
    k = data.num_classes
    init = part.init(config.seed, data.train_x.shape[1], k).W  # the single run's init, exactly
    alive = list(order)  # the stack's models, by index into trials; a diverged one leaves it
    m = len(alive)
    weight = init.T.repeat(m, 1).to(device)  # (M·K, D): model j owns rows j·K .. j·K + K − 1
    bias = torch.zeros(m * k, device=device)
    step_sizes = torch.tensor(
        [trials[i][1] for i in alive], dtype=torch.float32, device=device
    ).view(1, m, 1)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    n, batch = data.train_x.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    loss_sum = torch.zeros(m, dtype=torch.float64, device=device)
    batch_x = torch.empty(batch, data.train_x.shape[1], device=device)
    batch_y = torch.empty(batch, dtype=torch.int64, device=device)
    results: dict[int, dict] = {}
    blocks = _spec_blocks(alive, trials)
    for epoch in range(config.epochs):
        perm = torch.randperm(n, generator=shuffle, device=device)
        loss_sum.zero_()
        for step in range(steps):
            rows = perm[step * batch : (step + 1) * batch]
            # into buffers, as the training loop does (x[rows] allocates: 5x slower at batch 256)
            x = torch.index_select(data.train_x, 0, rows, out=batch_x[: len(rows)])
            labels = torch.index_select(data.train_y, 0, rows, out=batch_y[: len(rows)])
            scores = torch.addmm(bias, x, weight.T).view(len(rows), m, k)
            grad = torch.empty_like(scores)
            for spec, lo, hi in blocks:
                value, block_grad = parsed[spec].value_and_grad(
                    scores[:, lo:hi].reshape(-1, k), labels.repeat_interleave(hi - lo), check=False
                )
                grad[:, lo:hi] = block_grad.view(len(rows), hi - lo, k)
                loss_sum[lo:hi] += value.view(-1, hi - lo).sum(0)
            # the schedule's factor (1 at the start, cosine-decayed), times each model's own rate
            factor = learning_rate(config, epoch * steps + step, config.epochs * steps) / config.lr
            scale = factor / len(rows)
            grad = (grad * step_sizes).view(len(rows), m * k)
            weight.addmm_(grad.T, x, alpha=-scale)
            bias.sub_(grad.sum(0), alpha=scale)
        finite = torch.isfinite(weight.view(m, -1)).all(1) & torch.isfinite(loss_sum)
        if not finite.all():  # a diverged model stays diverged: train only the others from here
            for j in (~finite).nonzero().flatten().tolist():
                results[alive[j]] = {
                    "status": "diverged",
                    "val_acc": float("nan"),
                    "val_balanced_acc": float("nan"),
                    "train_loss": loss_sum[j].item() / n,
                }
            keep = finite.nonzero().flatten()
            alive = [alive[j] for j in keep.tolist()]
            m = len(alive)
            if m == 0:
                break
            weight, bias = _blocks(weight, bias, keep, k)
            step_sizes = step_sizes[:, keep]
            loss_sum = loss_sum[keep]
            blocks = _spec_blocks(alive, trials)
    if m:
        predicted = torch.addmm(bias, data.test_x, weight.T).view(-1, m, k).argmax(2)
        hit = (predicted == data.test_y.unsqueeze(1)).float()  # (N test, M)
        present = [c for c in range(k) if (data.test_y == c).any()]
        recall = torch.stack([hit[data.test_y == c].mean(0) for c in present])  # (C, M)
        for j, index in enumerate(alive):
            results[index] = {
                "status": "ok",
                "val_acc": hit[:, j].mean().item(),
                "val_balanced_acc": recall[:, j].mean().item(),
                "train_loss": loss_sum[j].item() / n,
            }
    return [{"loss": spec, "lr": rate, **results[i]} for i, (spec, rate) in enumerate(trials)]


def _spec_blocks(alive: list[int], trials) -> list[tuple[str, int, int]]:
    """(spec, first, end) of each run of equal specs along the stack ``alive``."""
    blocks: list[tuple[str, int, int]] = []
    for j, index in enumerate(alive):
        spec = trials[index][0]
        if blocks and blocks[-1][0] == spec:
            blocks[-1] = (spec, blocks[-1][1], j + 1)
        else:
            blocks.append((spec, j, j + 1))
    return blocks


def stack_key(config: RunConfig) -> tuple:
    """What the runs of one stack share: every field but the loss and the rate."""
    return tuple(
        v for k, v in dataclasses.asdict(config).items() if k not in ("loss", "lr", "entry")
    )


def stackable(config: RunConfig) -> bool:
    """Whether :func:`train_losses` can train this run: our trainer on a linear model with plain
    SGD (not on a model that is not registered here: that run fails on its own, with its
    reason)."""
    try:
        return (
            config.trainer == TRAINER
            and models.parse(config.model).linear
            and optimizers.is_plain(config.optimizer)
        )
    except ValueError:
        return False


def stacks(configs: list[RunConfig], most: int = STACK_MOST) -> list[list[RunConfig]]:
    """``configs`` (stackable) in stacks of runs sharing :func:`stack_key`, in first-seen order,
    each cut into near-equal parts of at most ``most`` runs."""
    groups: dict[tuple, list[RunConfig]] = {}
    for config in configs:
        groups.setdefault(stack_key(config), []).append(config)
    out = []
    for group in groups.values():
        parts = math.ceil(len(group) / max(1, most))
        size = math.ceil(len(group) / parts)
        out += [group[i : i + size] for i in range(0, len(group), size)]
    return out


@torch.no_grad()
def train_losses(
    configs: list[RunConfig], data, *, should_stop: Callable[[], bool] = lambda: False
) -> list[dict]:
    """Train the runs ``configs`` (one :func:`stack_key`, linear) as one stack on ``data`` (on
    their device). Returns, per config in order, ``{"config", "rows", "state"}`` (``state``
    None when it diverged) or ``{"config", "error"}`` when its loss raised (that run leaves the
    stack; the others go on). ``should_stop()`` is polled after every step; when true, raises
    :class:`bench.training.loop.Interrupted`.
    """
    if len({stack_key(c) for c in configs}) != 1:
        raise ValueError("a stack's runs must differ only in their loss and rate")
    first = configs[0]
    part = models.parse(first.model)
    if not part.linear or first.trainer != TRAINER or not optimizers.is_plain(first.optimizer):
        raise ValueError(
            f"a stack of losses needs our trainer on a linear model with plain SGD, not "
            f"{first.trainer} on {first.model} with {first.optimizer}"
        )
    device = torch.device(first.device)
    prior = data.prior.to(device)
    data, flips, val = loop.prepare(first, data)  # the noise and hold-out a single run has
    n, d, k = data.train_x.shape[0], data.train_x.shape[1], data.num_classes
    batch = first.batch_size
    steps, total = math.ceil(n / batch), first.epochs * math.ceil(n / batch)
    init = part.init(first.seed, d, k, device)  # the single run's init, exactly
    runs = [{"config": c, "rows": [], "state": None} for c in configs]
    alive: list[dict] = []
    for run in runs:
        try:
            run["loss"] = losses.parse(run["config"].loss).with_prior(prior)
            alive.append(run)
        except Exception as error:  # noqa: BLE001 — that run's failure, recorded with its reason
            run["error"] = one_line(error)
    weight = init.weight.repeat(len(alive), 1)  # (M·K, D): run m owns rows m·K .. m·K + K − 1
    bias = init.b.repeat(len(alive))
    update = torch.empty(len(alive) * k, batch, device=device)  # each run's rate × gᵀ
    shuffle = torch.Generator(device=device).manual_seed(first.seed)
    batch_x = torch.empty(batch, d, device=device)
    batch_y = torch.empty(batch, dtype=torch.int64, device=device)
    passes = set(loop.train_pass_epochs(first.epochs))
    for epoch in range(1, first.epochs + 1):
        if not alive:
            break
        order = torch.randperm(n, generator=shuffle, device=device)
        sums = [torch.zeros((), dtype=torch.float64, device=device) for _ in alive]
        failed: set[int] = set()
        started = time.perf_counter()
        for step in range(steps):
            rows = order[step * batch : (step + 1) * batch]
            x = torch.index_select(data.train_x, 0, rows, out=batch_x[: len(rows)])
            labels = torch.index_select(data.train_y, 0, rows, out=batch_y[: len(rows)])
            scores = torch.addmm(bias.unsqueeze(1), weight, x.T)  # (M·K, N)
            grads = update[:, : len(rows)]
            for m, run in enumerate(alive):
                if m in failed:
                    continue
                block = slice(m * k, (m + 1) * k)
                try:  # the scores as the single run's model gives them: (N, K), strides (1, N)
                    value, grad = run["loss"].value_and_grad(scores[block].T, labels, check=False)
                    torch.mul(
                        grad.T,
                        learning_rate(run["config"], (epoch - 1) * steps + step, total),
                        out=grads[block],
                    )
                except Exception as error:  # noqa: BLE001 — this run fails, the others go on
                    run["error"] = one_line(error)
                    failed.add(m)
                    grads[block].zero_()
                    continue
                sums[m] += value.sum()
            weight.addmm_(grads, x, alpha=-1.0 / len(rows))
            bias.sub_(grads.sum(1), alpha=1.0 / len(rows))
            if should_stop():
                raise loop.Interrupted(
                    f"stopped in epoch {epoch} of a stack of {len(alive)} losses on {first.device}"
                )
        share = (time.perf_counter() - started) / len(alive)  # each run's part of the epoch
        finite = [
            m
            for m in range(len(alive))
            if m not in failed
            and math.isfinite(sums[m].item())
            and _block(weight, bias, m, k).is_finite()
        ]
        metrics = _evaluate(
            weight,
            bias,
            [alive[m]["loss"] for m in finite],
            finite,
            data,
            flips,
            val,
            train=epoch in passes,
        )
        keep = []
        for m, run in enumerate(alive):
            if m in failed:
                continue
            diverged = m not in metrics
            run["rows"].append(
                {
                    **dataclasses.asdict(run["config"]),
                    "epoch": epoch,
                    "status": "diverged" if diverged else "ok",
                    "step_mode": STACKED,
                    "grad": getattr(run["loss"], "grad_source", "analytic"),
                    "train_loss": sums[m].item() / n,
                    **metrics.get(m, dict.fromkeys(loop.METRICS, float("nan"))),
                    "epoch_s": share,
                    "step_ms": share / steps * 1e3,
                    "step_ms_p90": float("nan"),
                    "samples_per_s": n / share,
                    "peak_mem_mb": loop.peak_memory_mb(device),
                }
            )
            if not diverged:
                keep.append(m)
        if len(keep) < len(alive):  # the diverged and the failed leave the stack
            weight, bias = _blocks(weight, bias, keep, k)
            update = update[: len(keep) * k]
            alive = [alive[m] for m in keep]
    for m, run in enumerate(alive):
        run["state"] = _block(weight, bias, m, k).state_dict()
    for run in runs:
        run.pop("loss", None)
        if "error" in run:
            del run["rows"], run["state"]
    return runs


def _evaluate(
    weight: torch.Tensor,
    bias: torch.Tensor,
    run_losses: list,
    blocks: list[int],
    data,
    flips,
    val,
    *,
    train: bool,
) -> dict[int, dict[str, float]]:
    """:func:`bench.training.loop.evaluate` of the stack's runs ``blocks`` (with their losses),
    by block, each pass over a split one GEMM for all of them."""
    k = data.num_classes
    if not blocks:
        return {}
    weight, bias = _blocks(weight, bias, blocks, k)

    def predict(x):  # (B, N): each block's predictions on x (N, D)
        return torch.addmm(bias.unsqueeze(1), weight, x.T).view(len(blocks), k, -1).argmax(1)

    predicted = predict(data.test_x)
    out = {m: loop.test_metrics(predicted[i], data) for i, m in enumerate(blocks)}
    if flips is not None:
        predicted = predict(flips.x)
        for i, m in enumerate(blocks):
            out[m] |= loop.flip_metrics(predicted[i], flips)
    if val is not None:
        predicted = predict(val[0])
        for i, m in enumerate(blocks):
            out[m]["val_acc"] = loop.accuracy(predicted[i], val[1])
    if not train:
        return out
    scores = torch.addmm(bias.unsqueeze(1), weight, data.train_x.T)  # (B·K, N train)
    grads = torch.empty_like(scores)
    for i, (m, loss) in enumerate(zip(blocks, run_losses, strict=True)):
        block = slice(i * k, (i + 1) * k)
        measured, grad = loop.train_metrics(loss, scores[block].T, data.train_y)
        grads[block] = grad.T
        out[m] |= measured
    # ‖∂(mean loss)/∂W‖ = ‖gᵀx‖ / N per run, as SoftmaxRegression.grad_norm
    norms = torch.linalg.vector_norm((grads @ data.train_x).view(len(blocks), -1), dim=1)
    for i, m in enumerate(blocks):
        out[m]["grad_norm"] = norms[i].item() / data.train_x.shape[0]
    return out


def _blocks(
    weight: torch.Tensor, bias: torch.Tensor, blocks, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The stack of only the models ``blocks`` (indices, a list or an int64 tensor), in that
    order: copies of their K rows of ``weight`` (M·K, D) and entries of ``bias`` (M·K,)."""
    index = torch.as_tensor(blocks, dtype=torch.int64, device=weight.device)
    return (
        weight.view(-1, k, weight.shape[1]).index_select(0, index).view(-1, weight.shape[1]),
        bias.view(-1, k).index_select(0, index).flatten(),
    )


def _block(weight: torch.Tensor, bias: torch.Tensor, m: int, k: int):
    """Run m of a stack as a softmax regression whose parameters are views into the stack."""
    from bench.models.linear import SoftmaxRegression

    return SoftmaxRegression(weight[m * k : (m + 1) * k], bias[m * k : (m + 1) * k])
