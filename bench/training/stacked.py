"""Many models trained at once, as one matmul over stacked weights: for sweeps, not for timing.

M softmax regressors that differ only in their learning rate see the same batches in the same
order. Their weights are stacked as one (M·K, D) matrix, so a step is still two GEMMs: scores
x·Wᵀ of shape (N, M·K) read as N·M rows of K scores, the loss on all rows at once, and the
update gᵀx. Row m of the stack follows exactly the trajectory a single run at lr_m would
(same init, same batches), up to floating-point summation order. A model that diverges leaves
the stack at the end of that epoch (its rows are dropped, so it costs no more compute) and the
others train on undisturbed. Softmax regression only (``part.linear``): a
model with a hidden layer has no single matmul to stack, and tunes its rates one run at a time.
"""

from __future__ import annotations

import math

import torch

import losses
from bench import models
from bench.training.config import RunConfig, learning_rate


@torch.no_grad()
def train_rates(config: RunConfig, rates: list[float], data) -> list[dict[str, float]]:
    """Train one model per rate under ``config`` (its ``lr`` ignored); per model, the final
    test accuracy of ``data`` (a validation split when tuning), train loss and status."""
    part = models.parse(config.model)
    if not part.linear:
        raise ValueError(f"stacked tuning needs a linear model, not {config.model}")
    device = torch.device(config.device)
    loss = losses.parse(config.loss).with_prior(data.prior.to(device))
    m, k = len(rates), data.num_classes
    init = part.init(config.seed, data.train_x.shape[1], k).W  # the single run's init, exactly
    weight = init.T.repeat(m, 1).to(device)  # (M·K, D): model m owns rows m·K .. m·K + K − 1
    bias = torch.zeros(m * k, device=device)
    step_sizes = torch.tensor(rates, dtype=torch.float32, device=device).view(1, m, 1)
    shuffle = torch.Generator(device=device).manual_seed(config.seed)
    n, batch = data.train_x.shape[0], config.batch_size
    steps = math.ceil(n / batch)
    loss_sum = torch.zeros(m, dtype=torch.float64, device=device)
    batch_x = torch.empty(batch, data.train_x.shape[1], device=device)
    batch_y = torch.empty(batch, dtype=torch.int64, device=device)
    alive = list(range(m))  # the stack's models, by index into rates; a diverged one leaves it
    results: dict[int, dict] = {}
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=shuffle, device=device)
        loss_sum.zero_()
        for step in range(steps):
            rows = order[step * batch : (step + 1) * batch]
            # into buffers, as the training loop does (x[rows] allocates: 5x slower at batch 256)
            x = torch.index_select(data.train_x, 0, rows, out=batch_x[: len(rows)])
            labels = torch.index_select(data.train_y, 0, rows, out=batch_y[: len(rows)])
            scores = torch.addmm(bias, x, weight.T).view(-1, k)  # (N·M, K), model fastest
            value, grad = loss.value_and_grad(scores, labels.repeat_interleave(m), check=False)
            loss_sum += value.view(-1, m).sum(0)
            # the schedule's factor (1 at the start, cosine-decayed), times each model's own rate
            factor = learning_rate(config, epoch * steps + step, config.epochs * steps) / config.lr
            scale = factor / len(rows)
            grad = (grad.view(-1, m, k) * step_sizes).view(len(rows), m * k)
            weight.addmm_(grad.T, x, alpha=-scale)
            bias.sub_(grad.sum(0), alpha=scale)
        finite = torch.isfinite(weight.view(m, -1)).all(1) & torch.isfinite(loss_sum)
        if not finite.all():  # a diverged model stays diverged: train only the others from here
            for i in (~finite).nonzero().flatten().tolist():
                results[alive[i]] = {"status": "diverged", "val_acc": float("nan"),
                                     "train_loss": loss_sum[i].item() / n}  # fmt: skip
            keep = finite.nonzero().flatten()
            alive = [alive[i] for i in keep.tolist()]
            m = len(alive)
            if m == 0:
                break
            weight = weight.view(-1, k, weight.shape[1])[keep].view(m * k, -1)
            bias = bias.view(-1, k)[keep].flatten()
            step_sizes = step_sizes[:, keep]
            loss_sum = loss_sum[keep]
    if m:
        predicted = torch.addmm(bias, data.test_x, weight.T).view(-1, m, k).argmax(2)
        accuracy = (predicted == data.test_y.unsqueeze(1)).float().mean(0)
        for i, index in enumerate(alive):
            results[index] = {"status": "ok", "val_acc": accuracy[i].item(),
                              "train_loss": loss_sum[i].item() / n}  # fmt: skip
    return [{"lr": rate, **results[i]} for i, rate in enumerate(rates)]
