"""Any loss as a function with ``F.cross_entropy``'s conventions, and its analytic gradient.

    from losses import functional as LF
    LF.loss("focal:gamma=2", logits, labels, weight=w, ignore_index=255)   # a scalar
    LF.loss("gce", logits, labels, reduction="none")                       # (N, d1, ...)

The loss's own :meth:`~losses.base.Loss.value_and_grad` runs once in the forward pass, under
no_grad, inside a :class:`torch.autograd.Function` that keeps the (N, K) gradient it returns and
scales it in the backward pass: no autograd graph through the formula. A loss that writes only
``value()`` (``grad_source == "autograd"``) is called on the live tensor instead and keeps its
graph, so higher-order gradients work for it.
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss

REDUCTIONS = ("none", "mean", "sum")
HALF = (torch.float16, torch.bfloat16)


def loss(
    spec_or_loss: str | Loss,
    input: torch.Tensor,  # noqa: A002 - F.cross_entropy's keyword
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """The loss ``spec_or_loss`` of ``input`` scores against ``target``, as ``F.cross_entropy``.

    With w the class weights (1 without ``weight``) and ℓ_i = L(o_i, t_i) the loss of example i:

    - labels: l_i = w_{y_i}·ℓ_i, 0 where y_i = ``ignore_index``; ``mean`` is Σ l_i / Σ w_{y_i}
      over the examples not ignored (NaN when all are, as torch);
    - probability rows t (soft targets, for losses with ``accepts_soft_targets``): the weights
      act per class inside the row, u = w ⊙ t, and l_i = s_i·L(o_i, u_i / s_i), s_i = Σ_c u_ic;
      ``mean`` divides by the number of examples. For ``ce`` that is −Σ_c w_c t_c log p_c,
      torch's formula, also for rows that do not sum to 1;
    - ``label_smoothing`` ε > 0 (losses with ``accepts_soft_targets`` only): labels become the
      rows (1 − ε)·e_y + ε/C, then as above, with ``mean`` still dividing by Σ w_{y_i} and
      ignored labels still 0: exactly ``F.cross_entropy`` (weights also act on the smoothing
      term, pytorch#73205).

    float16 and bfloat16 scores are computed in float32; the loss comes back in float32 (as
    ``F.cross_entropy`` under autocast) and the gradient in the scores' dtype.
    Out-of-range labels raise ValueError in eager mode, read back with one reduction (aminmax);
    under ``torch.compile`` the check is left out, so the compiled graph has no host sync.
    Inside a compiled region pass a ``Loss`` (or call a ``losses.nn.Criterion``) built outside
    it: parsing a spec string is Python that ``torch.compile`` does not trace (a graph break).

    Shape:
        input: (N, C) or (N, C, d1, ..., dk) scores.
        target: (N) or (N, d1, ..., dk) class indices of any integer dtype, or probability rows
            of the input's shape.
        weight: (C) or None.
        Output: a scalar for ``mean`` and ``sum``; (N) or (N, d1, ..., dk) for ``none``.
    """
    the_loss = resolve(spec_or_loss)
    check_options(the_loss, reduction, label_smoothing)
    scores, target, spatial = flatten(input, target)
    if input.dtype in HALF:
        scores = scores.float()
    soft = target.is_floating_point()
    if soft and not the_loss.accepts_soft_targets:
        raise ValueError(
            f"{the_loss.name} needs integer class labels, not probability rows: "
            "pass labels, or use a loss that accepts soft targets"
        )
    num_classes = scores.shape[1]
    weight = check_weight(weight, num_classes, scores)
    if soft:
        rows = target.to(scores.dtype)
        if label_smoothing > 0:
            rows = rows * (1.0 - label_smoothing) + label_smoothing / num_classes
        rows, factor = reweighted(rows, weight)
        denominator = scores.new_tensor(float(scores.shape[0]))
        target = rows
    else:
        keep = target != ignore_index
        labels = torch.where(keep, target, 0).long()
        if not torch.compiler.is_compiling():
            check_labels(labels, num_classes)
        keep = keep.to(scores.dtype)
        label_weight = keep if weight is None else weight[labels] * keep
        denominator = label_weight.sum()
        if label_smoothing > 0:
            rows = torch.full_like(scores, label_smoothing / num_classes)
            rows.scatter_add_(
                1, labels.unsqueeze(1), rows.new_full((rows.shape[0], 1), 1.0 - label_smoothing)
            )
            target, factor = reweighted(rows, weight)
            factor = factor * keep
        else:
            target, factor = labels, label_weight
    value = per_example(the_loss, scores, target, factor, denominator, reduction, check=False)
    return value.reshape(spatial) if reduction == "none" else value


def per_example(
    the_loss: Loss,
    scores: torch.Tensor,
    target: torch.Tensor,
    factor: torch.Tensor | None = None,
    denominator: torch.Tensor | None = None,
    reduction: str = "none",
    *,
    check: bool = True,
) -> torch.Tensor:
    """factor ⊙ L(scores, target), reduced: Σ/denominator (mean), Σ (sum), or as is (none).

    What ``Loss.__call__`` runs on scores that require grad (no factor, no reduction); the
    gradient is the loss's analytic one unless it writes only ``value()``. ``check`` is
    ``value_and_grad``'s. Shape: scores (N, K); target (N,) or (N, K); factor (N,) or None
    -> (N,) for ``none``, else a scalar.
    """
    if type(the_loss).compute is Loss.compute:  # value-only: autograd through its formula
        the_loss.check_inputs(scores, target, check=check)
        value = the_loss.value(scores, target)
        if not isinstance(value, torch.Tensor) or value.shape != scores.shape[:1]:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
            raise ValueError(
                f"loss {the_loss} value() must return shape (N,) = "
                f"({scores.shape[0]},), got {shape}"
            )
        if scores.requires_grad and torch.is_grad_enabled() and not value.requires_grad:
            raise ValueError(
                f"loss {the_loss} value() returned a tensor without an autograd graph: "
                "compute it from scores with torch operations, or write compute()"
            )
        return reduce(value if factor is None else value * factor, denominator, reduction)
    return AnalyticLoss.apply(scores, target, factor, denominator, the_loss, reduction, check)


def reduce(value: torch.Tensor, denominator: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """The reduction of the (N,) weighted losses: as is, Σ, or Σ / denominator."""
    if reduction == "none":
        return value
    total = value.sum()
    return total if reduction == "sum" else total / denominator


class AnalyticLoss(torch.autograd.Function):
    """The loss's value and analytic gradient in one pass forward; the saved (N, K) gradient,
    scaled by the factor, the reduction and the incoming gradient, backward.

    Differentiable once: asking for a second derivative (``create_graph=True``) raises
    RuntimeError, rather than giving the zero that a saved constant gradient would.
    """

    @staticmethod
    def forward(ctx, scores, target, factor, denominator, the_loss, reduction, check):
        value, grad = the_loss.value_and_grad(scores, target, check=check)
        if factor is not None:
            value = value * factor
        ctx.save_for_backward(grad, factor, denominator)
        ctx.reduction = reduction
        return reduce(value, denominator, reduction)

    @staticmethod
    def backward(ctx, grad_output):
        if torch.is_grad_enabled():  # create_graph=True: backward would need the loss's Hessian
            raise RuntimeError(
                "losses: the analytic gradient can be differentiated only once (no second "
                "derivative, create_graph=True); for one, write the loss's value() alone"
            )
        grad, factor, denominator = ctx.saved_tensors
        rows = grad_output if factor is None else factor * grad_output
        if ctx.reduction == "mean":
            rows = rows / denominator
        if rows.dim() == 0:
            rows = rows.expand(grad.shape[0])
        return grad * rows.unsqueeze(1), None, None, None, None, None, None


def resolve(spec_or_loss: str | Loss) -> Loss:
    """A loss from a spec string or a Loss; ValueError for anything else, or for a loss whose
    training prior is unbound (``logit_adjusted`` without a prior would be plain ``ce``)."""
    if isinstance(spec_or_loss, str):
        import losses

        spec_or_loss = losses.parse(spec_or_loss)
    if not isinstance(spec_or_loss, Loss):
        raise ValueError(
            f"expected a loss spec string or a losses.Loss, got {type(spec_or_loss).__name__}"
        )
    if prior_unbound(spec_or_loss):
        raise ValueError(
            f"{spec_or_loss.name} needs the training label prior: bind it with "
            f"loss.with_prior(prior) (or use losses.nn.LogitAdjustedLoss(prior=...))"
        )
    return spec_or_loss


def prior_unbound(the_loss: Loss) -> bool:
    """Whether a loss that reads the training prior (it overrides ``with_prior``, keeping the
    prior in ``compare=False`` fields, e.g. ``log_prior``) has none bound yet."""
    if type(the_loss).with_prior is Loss.with_prior:
        return False
    data = [f.name for f in dataclasses.fields(the_loss) if not f.compare]
    return bool(data) and all(getattr(the_loss, name) is None for name in data)


def check_options(the_loss: Loss, reduction: str, label_smoothing: float) -> None:
    """ValueError for a reduction not in REDUCTIONS or a smoothing outside [0, 1]."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if not (isinstance(label_smoothing, int | float) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing!r}")
    if label_smoothing > 0 and not the_loss.accepts_soft_targets:
        raise ValueError(f"{the_loss.name} takes no label_smoothing: it accepts only class labels")


def flatten(
    scores: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
    """(N, C, d1, ..., dk) scores and their target as (M, C) rows, M = N·d1⋯dk, and the shape
    ``reduction="none"`` gives back. Shape: -> (M, C), (M,) or (M, C), (N, d1, ..., dk)."""
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise ValueError(
            f"input must be a floating tensor of scores, got "
            f"{getattr(scores, 'dtype', type(scores).__name__)}"
        )
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if scores.dim() < 2:
        raise ValueError(
            f"input must have shape (N, C) or (N, C, d1, ...), got "
            f"{tuple(scores.shape)}: add the batch dimension with unsqueeze(0)"
        )
    spatial = scores.shape[:1] + scores.shape[2:]
    if target.is_floating_point():
        if target.shape != scores.shape:
            raise ValueError(
                f"probability targets must have the input's shape "
                f"{tuple(scores.shape)}, got {tuple(target.shape)}"
            )
        if target.requires_grad:
            raise ValueError(
                "target requires grad: the criteria give no gradient for the "
                "target; pass target.detach()"
            )
        target = target.movedim(1, -1).reshape(-1, scores.shape[1])
    else:
        if target.dtype == torch.bool or target.shape != spatial:
            raise ValueError(
                f"class-index target must be integers of shape {tuple(spatial)}, "
                f"got {target.dtype} {tuple(target.shape)}"
            )
        target = target.reshape(-1)
    return scores.movedim(1, -1).reshape(-1, scores.shape[1]), target, spatial


def check_weight(
    weight: torch.Tensor | None, num_classes: int, scores: torch.Tensor
) -> torch.Tensor | None:
    """The class weights as a (C,) tensor in the scores' dtype and device, or None."""
    if weight is None:
        return None
    weight = torch.as_tensor(weight)
    if weight.shape != (num_classes,):
        raise ValueError(
            f"weight must have shape (C,) = ({num_classes},), got {tuple(weight.shape)}"
        )
    if weight.requires_grad:
        raise ValueError(
            "weight requires grad: the criteria give no gradient for the class "
            "weights; pass weight.detach()"
        )
    return weight.to(scores.device, scores.dtype)


def reweighted(
    rows: torch.Tensor, weight: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(u / s, s) for u = weight ⊙ rows and s = Σ_c u_c: rows the loss reads, each summing to 1,
    and each example's factor. A row with s = 0 weighs 0. Shape: (M, C) -> (M, C), (M,)."""
    if weight is not None:
        rows = rows * weight
    total = rows.sum(1)
    return rows / total.clamp_min(torch.finfo(rows.dtype).tiny).unsqueeze(1), total


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    """ValueError for a label outside [0, C); one aminmax, read back once (eager mode only)."""
    if labels.numel() == 0:
        return
    low, high = torch.stack(torch.aminmax(labels)).tolist()
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"target label {bad} is out of range [0, {num_classes}) for C = "
            f"{num_classes} classes (nor is it ignore_index)"
        )
