"""Any loss as a function with ``F.cross_entropy``'s conventions, and its analytic gradient.

    from losses import functional as LF
    LF.loss("focal:gamma=2", logits, labels, weight=w, ignore_index=255)   # a scalar
    LF.loss("gce", logits, labels, reduction="none")                       # (N, d1, ...)

The loss's own :meth:`~losses.base.Loss.value_and_grad` runs once in the forward pass, under
no_grad, inside :class:`losses.analytic.AnalyticLoss`, which keeps the (N, K) gradient it returns
and scales it in the backward pass: no autograd graph through the formula. Probability rows that
require grad get their gradient, and ``create_graph=True`` differentiates the analytic gradient
(double backward), both through autograd on those paths alone. A loss that writes only
``value()`` (``grad_source == "autograd"``) is called on the live tensor instead and keeps its
graph. This module imports ``losses.base``, never the other way round.
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import REGISTRY, Loss, per_example

REDUCTIONS = ("none", "mean", "sum")
HALF = (torch.float16, torch.bfloat16)
# losses linear in their target, ℓ(o, u) = −Σ_c u_c log p_c(o), whose compute is exact for rows
# of any sum (gradient (Σu)·p − u): weighted rows u = w ⊙ t reach them unnormalised, so any class
# weights, negative or summing to 0, give torch's formula
LINEAR_IN_TARGET = ("ce",)
PARSED: dict[str, Loss] = {}  # spec string -> its loss (see parsed)
MAX_PARSED = 1024


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
      ``mean`` divides by the number of examples. For ``ce`` (linear in its target) that is
      −Σ_c w_c t_c log p_c, torch's formula, for any rows and any weights, negative ones
      included; another loss refuses negative weights with probability rows (its u / s would
      not be a probability row). Rows that require grad get their gradient;
    - ``label_smoothing`` ε > 0 (losses with ``accepts_soft_targets`` only): labels become the
      rows (1 − ε)·e_y + ε/C, then as above, with ``mean`` still dividing by Σ w_{y_i} and
      ignored labels still 0: exactly ``F.cross_entropy`` (weights also act on the smoothing
      term, pytorch#73205).

    Differentiable twice: ``create_graph=True`` gives the Hessian-vector products of the loss
    (autograd through its analytic gradient, on that path alone).
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
    value = fused(the_loss, input, target, weight, ignore_index, reduction, label_smoothing)
    if value is not None:
        return value
    scores, target, spatial = flatten(input, target)
    if input.dtype in HALF:
        scores = scores.float()
    num_classes = scores.shape[1]
    weight = check_weight(weight, num_classes, scores)
    linear = type(the_loss).name in LINEAR_IN_TARGET
    if target.is_floating_point():
        if not the_loss.accepts_soft_targets:
            raise ValueError(
                f"{the_loss.name} needs integer class labels, not probability rows: "
                "pass labels, or use a loss that accepts soft targets"
            )
        rows = target.to(scores.dtype)
        if label_smoothing > 0:
            rows = rows * (1.0 - label_smoothing) + label_smoothing / num_classes
        target, factor = weighted_rows(the_loss, rows, weight, linear)
        denominator = scores.shape[0]
    else:
        target, factor, denominator = label_targets(
            the_loss, target, scores, weight, ignore_index, label_smoothing, linear
        )
    value = per_example(the_loss, scores, target, factor, denominator, reduction, check=False)
    return value.reshape(spatial) if reduction == "none" else value


# Losses that are torch's own cross-entropy kernel of (transformed) scores, on float32 or
# float64 scores: ``ce``, ``ce`` of the scores shifted by τ·log π (``logit_adjusted``,
# ``balanced_softmax``), shifted at the label and scaled (``ldam``) or scaled and shifted per
# class (``vs``): the transform by autograd, the rest by F.cross_entropy. tests/losses/
# test_fused.py holds each to its analytic value and gradient. The fused call's fixed cost is a
# third of the general path's, but torch's kernels reduce a narrow class dimension slowly on
# the CPU, so each runs fused up to a number of scores N·K: (limit where K < WIDE, limit where
# K >= WIDE), measured side by side (1 thread, AMD EPYC; docs/timing.md). ``soft_label`` is not
# here: F.cross_entropy with label_smoothing was no faster at any shape measured.
WIDE = 128
FUSED = {
    "ce": (4096, 65536),
    "logit_adjusted": (4096, 65536),
    "balanced_softmax": (4096, 65536),
    "ldam": (4096, None),  # the general path's margin gather made it 5–8× at K = 1000
    "vs": (4096, 65536),
}


def fused(the_loss, input, target, weight, ignore_index, reduction, label_smoothing):  # noqa: A002
    """The loss by ``F.cross_entropy`` where it is that function of (transformed) scores (FUSED,
    the registered class, float32 or float64 scores, few enough by :func:`fits_fused`, and the
    options it composes with), else None: the general path, which also says what is wrong
    with a bad input."""
    name = type(the_loss).name
    if (
        name not in FUSED
        or REGISTRY.get(name) is not type(the_loss)
        or not isinstance(input, torch.Tensor)
        or not isinstance(target, torch.Tensor)
        or input.dtype not in (torch.float32, torch.float64)
        or input.dim() < 2
        or not fits_fused(FUSED[name], input)
        or (target.is_floating_point() and not the_loss.accepts_soft_targets)
    ):
        return None
    if not cuda_labels_fit(input, target, ignore_index):
        return None
    if name == "ce":
        return torch_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
    if weight is not None or label_smoothing > 0:
        return None  # torch's weights and smoothing would act on the transformed scores
    per_class = the_loss.adjust if name in ("ldam", "vs") else the_loss.log_prior
    if per_class is None and name != "ldam":
        return None  # unbound: refused before here, or the general path's uniform prior
    if per_class is not None:
        per_class = per_class[0] if isinstance(per_class, tuple) else per_class
        if per_class.shape != input.shape[1:2]:
            return None  # the general path says the prior does not fit
    view = (-1, *(1,) * (input.dim() - 2))  # a (C,) vector along the class dimension
    if name == "ldam":
        if target.is_floating_point() or target.dtype != torch.int64:
            return None
        index = torch.where(target == ignore_index, 0, target).unsqueeze(1)
        if the_loss.adjust is None:
            margin = torch.full_like(index, the_loss.max_margin, dtype=input.dtype)
        else:
            margin = the_loss.adjust[0].to(input.device, input.dtype)
        try:
            margin = margin if the_loss.adjust is None else margin[index]
            shifted = input.scatter_add(1, index, -margin)
        except (RuntimeError, IndexError):  # a label out of range: the general path says so
            return None
        scores = shifted * the_loss.s if the_loss.s != 1 else shifted
    elif name == "vs":
        scale, log_prior = (part.to(input.device, input.dtype) for part in the_loss.adjust)
        scores = input * scale.view(view) + (the_loss.tau * log_prior).view(view)
    else:
        shift = (the_loss.tau * the_loss.log_prior).to(input.device, input.dtype)
        scores = input + shift.view(view)
    return torch_cross_entropy(scores, target, None, ignore_index, reduction, 0.0)


def fits_fused(limits: tuple[int, int | None], input: torch.Tensor) -> bool:  # noqa: A002
    """Whether the scores are few enough for the fused path: ``limits`` (narrow, wide) caps N·K
    below and from WIDE classes on (None: no cap)."""
    limit = limits[input.shape[1] >= WIDE]
    return limit is None or input.numel() <= limit


def cuda_labels_fit(input, target, ignore_index) -> bool:  # noqa: A002
    """On CUDA, whether every label not ignored lies in [0, C) (read back once): an
    out-of-range label there is a device-side assert, not an exception the general path can
    turn into an error. True on the CPU, for probability rows and under torch.compile."""
    if not input.is_cuda or target.is_floating_point() or torch.compiler.is_compiling():
        return True
    if target.dtype != torch.int64:
        return False
    kept = target[target != ignore_index]
    return not kept.numel() or 0 <= kept.min().item() <= kept.max().item() < input.shape[1]


def torch_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing):  # noqa: A002
    """``F.cross_entropy`` with these options, or None where it refuses the input: then the
    general path runs and raises the library's clearer error (or computes what torch would not,
    e.g. labels of another integer dtype). On CUDA, :func:`cuda_labels_fit` comes first."""
    compiling = torch.compiler.is_compiling()
    if not compiling:
        weight = check_weight(weight, input.shape[1], input)
    try:
        return torch.nn.functional.cross_entropy(
            input,
            target,
            weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
    except (RuntimeError, IndexError, ValueError):
        if compiling:  # no fallback inside a graph: torch's own error
            raise
        return None


def label_targets(the_loss, labels, scores, weight, ignore_index, label_smoothing, linear):
    """What the loss reads for class labels: (target, factor, denominator of ``mean``).

    In eager mode one aminmax reads the labels' range: when every label lies in [0, C) and
    none can equal ``ignore_index``, the labels pass as they are (factor w_y, or none, and
    ``mean`` divides by N); otherwise ignored labels are masked (label 0, factor 0) and the
    rest checked. With smoothing the target is the smoothed rows, weighted as probability rows.
    Shape: labels (M,), scores (M, C) -> (M,) labels or (M, C) rows, (M,) or None, a scalar.
    """
    num_classes = scores.shape[1]
    labels = labels if labels.dtype == torch.int64 else labels.long()
    clean = False
    if not torch.compiler.is_compiling() and labels.numel():
        low, high = torch.stack(torch.aminmax(labels)).tolist()
        clean = 0 <= low and high < num_classes and not low <= ignore_index <= high
    if clean:
        keep = None
        factor = None if weight is None else weight[labels]
        denominator = labels.shape[0] if factor is None else factor.sum()
    else:
        keep = labels != ignore_index
        labels = torch.where(keep, labels, 0)
        if not torch.compiler.is_compiling():
            check_labels(labels, num_classes)
        keep = keep.to(scores.dtype)
        factor = keep if weight is None else weight[labels] * keep
        denominator = factor.sum()
    if label_smoothing <= 0:
        return labels, factor, denominator
    rows = torch.full_like(scores, label_smoothing / num_classes)
    rows.scatter_add_(
        1, labels.unsqueeze(1), rows.new_full((rows.shape[0], 1), 1.0 - label_smoothing)
    )
    rows, row_factor = weighted_rows(the_loss, rows, weight, linear)
    if keep is not None:
        if row_factor is None:
            rows = rows * keep.unsqueeze(1)
        else:
            row_factor = row_factor * keep
    return rows, row_factor, denominator


def weighted_rows(
    the_loss: Loss, rows: torch.Tensor, weight: torch.Tensor | None, linear: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Probability rows and class weights as the loss reads them: (target, factor).

    A loss linear in its target reads u = w ⊙ t unnormalised (factor none); any other reads
    u / s with factor s = Σ_c u_c (``reweighted``), and refuses negative weights, for which
    u / s is no probability row (one read-back of the (C,) weights).
    Shape: rows (M, C), weight (C,) or None -> (M, C), (M,) or None.
    """
    if linear:
        return (rows if weight is None else rows * weight), None
    if weight is not None and not torch.compiler.is_compiling() and bool((weight < 0).any()):
        raise ValueError(
            f"{the_loss.name} with probability targets needs non-negative class weights "
            f"(w ⊙ t must stay a distribution up to scale); only {', '.join(LINEAR_IN_TARGET)} "
            "takes negative ones, as torch does"
        )
    return reweighted(rows, weight)


def resolve(spec_or_loss: str | Loss) -> Loss:
    """A loss from a spec string or a Loss; ValueError for anything else, or for a loss whose
    training prior is unbound (``logit_adjusted`` without a prior would be plain ``ce``)."""
    if isinstance(spec_or_loss, str):
        spec_or_loss = parsed(spec_or_loss)
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


def parsed(spec: str) -> Loss:
    """``losses.parse(spec)``, parsed once per string (a loss is immutable; parsing costs more
    than a small batch's loss): re-parsed where the name's registered class has changed."""
    the_loss = PARSED.get(spec)
    if the_loss is None or REGISTRY.get(the_loss.name) is not type(the_loss):
        import losses

        the_loss = losses.parse(spec)
        if len(PARSED) < MAX_PARSED:
            PARSED[spec] = the_loss
    return the_loss


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
    elif target.dtype == torch.bool or target.shape != spatial:
        raise ValueError(
            f"class-index target must be integers of shape {tuple(spatial)}, "
            f"got {target.dtype} {tuple(target.shape)}"
        )
    if scores.dim() == 2:  # already rows: no reshaping on the common path
        return scores, target, spatial
    if target.is_floating_point():
        target = target.movedim(1, -1).reshape(-1, scores.shape[1])
    else:
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
