"""The convex reference: the full-batch optimum of a convex loss, found by L-BFGS.

For the losses convex in the scores (ce, soft_label, L2 and Huber on raw scores, both margins)
the training objective mean_i l(x_i W + b, y_i) is convex in (W, b): its minimum is the ceiling
that SGD is chasing. L-BFGS gets the loss's own analytic gradient (no autograd here either).
Softmax regression only (``part.linear``): with a hidden layer the objective is not convex.
"""

from __future__ import annotations

import time

import torch

import losses
from bench import models


def optimum(
    spec: str, data, *, max_iter: int = 200, seed: int = 0, model: str = "linear"
) -> dict[str, float]:
    """Minimise the mean training loss over (W, b) from D2L's init with L-BFGS (strong Wolfe).

    Returns the final training loss, train and test accuracy, iterations and seconds.
    Raises ValueError for a loss that is not convex in the scores (no single optimum to report).
    """
    loss = losses.parse(spec).with_prior(data.prior.to(data.train_x.device))
    if not loss.convex_in_scores:
        raise ValueError(f"{spec} is not convex in the scores: it has no convex reference")
    part = models.parse(model)
    if not part.linear:
        raise ValueError(f"the L-BFGS optimum needs a linear model, not {model}")
    model = part.init(seed, data.train_x.shape[1], data.num_classes, data.train_x.device)
    params = [model.weight.requires_grad_(False), model.b.requires_grad_(False)]
    x, labels, n = data.train_x, data.train_y, data.train_x.shape[0]
    optimizer = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure():
        value, grad = loss.value_and_grad(model.scores(x), labels, check=False)
        model.weight.grad = grad.T @ x / n
        model.b.grad = grad.sum(0) / n
        return value.mean()

    started = time.perf_counter()
    optimizer.step(closure)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        train_loss = loss(model.scores(x), labels, check=False).mean().item()
        return {
            "loss": spec,
            "train_loss": train_loss,
            "train_acc": (model.predict(x) == labels).float().mean().item(),
            "test_acc": (model.predict(data.test_x) == data.test_y).float().mean().item(),
            "iterations": optimizer.state[optimizer._params[0]]["n_iter"],
            "seconds": seconds,
        }
