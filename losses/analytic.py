"""The autograd.Function that carries a loss's analytic gradient into anyone's training.

A loss's :meth:`~losses.base.Loss.value_and_grad` runs once in the forward pass, under no_grad;
the (N, K) gradient it returns is saved and, in the backward pass, scaled by each example's
factor, the reduction and the incoming gradient: no autograd graph through the formula.

- Probability rows that require grad get their gradient ∂ℓ_i/∂t_i through autograd on the
  loss's own formula, on that path alone (scores detached), only when it is asked for.
- Double backward (``create_graph=True``, i.e. grad mode on inside ``backward``) differentiates
  the loss's analytic gradient by autograd: the Hessian-vector products ∇²ℓ·v, mixed
  ∂²ℓ/∂o∂t too. The formula runs under :func:`torch.func.functionalize`, so the in-place
  arithmetic the losses use for speed is traced as its out-of-place twin.

Nothing here imports the rest of the library: ``losses.base.per_example`` calls it, and
``losses.functional`` reaches it through that (one direction: functional → base → analytic).
"""

from __future__ import annotations

import torch
from torch.func import functionalize


def by_autograd(the_loss, scores, target, factor, denominator, reduction, check):
    """A value-only loss, reduced as ``AnalyticLoss`` reduces: autograd through its own formula
    (which also carries its higher derivatives), checked to have a graph."""
    the_loss.check_inputs(scores, target, check=check)
    value = the_loss.value(scores, target)
    if not isinstance(value, torch.Tensor) or value.shape != scores.shape[:1]:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
        raise ValueError(
            f"loss {the_loss} value() must return shape (N,) = ({scores.shape[0]},), got {shape}"
        )
    if scores.requires_grad and torch.is_grad_enabled() and not value.requires_grad:
        raise ValueError(
            f"loss {the_loss} value() returned a tensor without an autograd graph: "
            "compute it from scores with torch operations, or write compute()"
        )
    return reduce(value if factor is None else value * factor, denominator, reduction)


def reduce(value: torch.Tensor, denominator, reduction: str) -> torch.Tensor:
    """The reduction of the (N,) weighted losses: as is, Σ, or Σ / denominator (one mean
    where the denominator is the number N of examples)."""
    if reduction == "none":
        return value
    if reduction == "sum":
        return value.sum()
    if type(denominator) is int and denominator == value.shape[0]:
        return value.mean()
    return value.sum() / denominator


class AnalyticLoss(torch.autograd.Function):
    """The loss's value and analytic gradient in one pass forward; the saved (N, K) gradient,
    scaled by the factor, the reduction and the incoming gradient, backward.

    Inputs: scores (N, K); target (N,) labels or (N, K) rows; factor (N,) or None; the
    denominator of ``mean`` (a tensor or a number); the loss; the reduction; ``check``.
    Gradients flow to scores, to probability rows and to the factor.
    """

    @staticmethod
    def forward(ctx, scores, target, factor, denominator, the_loss, reduction, check):
        value, grad = the_loss.value_and_grad(scores, target, check=check)
        ctx.the_loss, ctx.reduction = the_loss, reduction
        ctx.denominator = denominator  # a tensor without grad, or a number
        # scores and target are held (not copied) for double backward and the target's
        # gradient; the unweighted value only where the factor needs a gradient
        keep_value = value if ctx.needs_input_grad[2] else None
        ctx.save_for_backward(grad, factor, scores, target, keep_value)
        if factor is not None:
            value = value * factor
        return reduce(value, denominator, reduction)

    @staticmethod
    def backward(ctx, grad_output):
        grad, factor, scores, target, value = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: value and gradient with their graph
            value, grad = formula(ctx.the_loss)(scores, target)
        mean = ctx.reduction == "mean"
        if mean:
            grad_output = grad_output / ctx.denominator
        row_weight = grad_output if factor is None else factor * grad_output  # (N,) or ()
        scores_grad = target_grad = factor_grad = None
        if ctx.needs_input_grad[0]:
            scores_grad = grad * (row_weight if row_weight.dim() == 0 else row_weight[:, None])
        if ctx.needs_input_grad[1]:
            if row_weight.dim() == 0:
                row_weight = row_weight.expand(grad.shape[0])
            target_grad = target_gradient(ctx, scores, target, row_weight)
        if ctx.needs_input_grad[2]:
            factor_grad = value * grad_output
        return scores_grad, target_grad, factor_grad, None, None, None, None


def formula(the_loss):
    """The loss's (value, gradient) as a function autograd can trace (in-place ops made
    out-of-place by functionalize): run under grad mode, both carry a graph to scores and to
    target rows that require grad, so backward's outputs can be differentiated again."""

    return functionalize(the_loss.compute)


def target_gradient(ctx, scores, target, row_weight):
    """Σ_i row_weight_i · ∂ℓ_i/∂t_i, by autograd through the formula on the target alone
    (keeping the graph when double backward asks for it). Shape: -> (N, K)."""
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        rows = target if create_graph else target.detach().requires_grad_()
        at = scores if create_graph else scores.detach()
        value, _ = formula(ctx.the_loss)(at, rows)
        (grad,) = torch.autograd.grad(
            value, rows, row_weight, create_graph=create_graph, allow_unused=True
        )
    return torch.zeros_like(target) if grad is None else grad
