"""The properties of a loss that the zoo's pages state, each measured from the loss itself.

Every number comes from the loss's own ``value_and_grad`` in float64 at K = 10 classes, on
random score rows at scales 1e-3 to 1e4 and on saturated rows, never from a second copy of a
formula. Losses that read the training prior are measured with :data:`PRIOR` bound.

- **symmetric**: Σ_k L(o, e_k) is the same for every score row o, Ghosh, Kumar & Sastry's (2017)
  condition for a loss to tolerate symmetric label noise; measured as the relative spread of that
  sum over the rows.
- **bounded**: sup_o L(o, y) < ∞; a loss is read as bounded when its largest value grows by
  less than 5% (of max(1, value)) from scale 1e3 to 1e4, where an unbounded one grows about 10×.
- **Lipschitz** in the scores: sup_o ‖∇ₒL‖₂ < ∞; read as Lipschitz when the largest gradient norm
  over every scale stays within 10× of the largest at scales 0.1 to 10 (an unbounded gradient
  grows with the scale, as square losses', or as the scale shrinks, as LogitNorm's).
- **gradient at saturation**: ‖∇ₒL‖₂ on a row confidently right (o = s·e_y) and on one
  confidently wrong (o = s·e_j, j ≠ y) at s = 30, and whether it vanishes, stays or grows from
  s = 30 to 300. A gradient that vanishes on the confidently wrong row is how a bounded loss
  stops fitting a label it cannot fit, a wrong one included.

    from losses import properties
    properties.measure(losses.parse("gce"))   # Properties(symmetric=False, bounded=True, ...)
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss

K = 10
SCALES = (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4)
MIDDLE = (0.1, 1.0, 10.0)  # the scales the Lipschitz reading compares the rest against
SATURATION = (30.0, 300.0)
PRIOR = torch.tensor([0.7**j for j in range(K)], dtype=torch.float64)  # a long tail, ratio 25
SYMMETRIC_SPREAD = 1e-9  # relative spread of Σ_k L(o, e_k) below which a loss reads symmetric


@dataclasses.dataclass(frozen=True)
class Properties:
    """What :func:`measure` found for one loss (K = 10, float64)."""

    symmetric: bool
    symmetric_spread: float  # (max − min) / max(1, |mean|) of Σ_k L(o, e_k) over the rows
    bounded: bool
    largest_value: float  # the largest L(o, y) seen, over every scale
    lipschitz: bool
    largest_grad: float  # the largest ‖∇ₒL‖₂ seen, over every scale
    grad_right: float  # ‖∇ₒL‖₂ at o = 30·e_y
    grad_wrong: float  # ‖∇ₒL‖₂ at o = 30·e_j, j ≠ y
    right_trend: str  # "vanishes", "stays" or "grows" from s = 30 to 300
    wrong_trend: str


def measure(loss: Loss, rows: int = 256, seed: int = 0) -> Properties:
    """The four properties of ``loss`` (with :data:`PRIOR` bound if it reads one)."""
    loss = loss.with_prior(PRIOR)
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(rows, K, generator=g, dtype=torch.float64)
    labels = torch.randint(0, K, (rows,), generator=g)
    spread = symmetric_spread(loss, scores)
    largest, grads = {}, {}
    for scale in SCALES:
        value, grad = loss.value_and_grad(*with_saturated(scores * scale, labels, scale))
        largest[scale] = value.max().item()
        grads[scale] = torch.linalg.vector_norm(grad, dim=1).max().item()
    right = [saturated_grad(loss, s, wrong=False) for s in SATURATION]
    wrong = [saturated_grad(loss, s, wrong=True) for s in SATURATION]
    middle = max(grads[s] for s in MIDDLE)
    return Properties(
        symmetric=spread < SYMMETRIC_SPREAD,
        symmetric_spread=spread,
        bounded=largest[1e4] - largest[1e3] <= 0.05 * max(1.0, abs(largest[1e3])),
        largest_value=max(largest.values()),
        lipschitz=max(grads.values()) <= 10 * middle,
        largest_grad=max(grads.values()),
        grad_right=right[0],
        grad_wrong=wrong[0],
        right_trend=trend(*right),
        wrong_trend=trend(*wrong),
    )


def symmetric_spread(loss: Loss, scores: torch.Tensor) -> float:
    """(max − min) / max(1, |mean|) over rows o (at scales 0.1, 1, 10) of Σ_k L(o, e_k).

    Shape: scores (N, K)."""
    rows = torch.cat([scores * s for s in MIDDLE])
    n, k = rows.shape
    every = rows.repeat_interleave(k, dim=0)  # each row once per label
    labels = torch.arange(k).repeat(n)
    total = loss.value_and_grad(every, labels)[0].reshape(n, k).sum(1)
    return ((total.max() - total.min()) / total.mean().abs().clamp_min(1.0)).item()


def with_saturated(
    scores: torch.Tensor, labels: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows plus, for every class y, the saturated rows ±scale·e_y and scale·e_j (j ≠ y).

    Shape: (N, K), (N,) -> (N + 3K, K), (N + 3K,)."""
    eye = torch.eye(K, dtype=scores.dtype) * scale
    label = torch.arange(K)
    extra = torch.cat([eye, -eye, eye.roll(1, dims=1)])
    return torch.cat([scores, extra]), torch.cat([labels, label, label, label])


def saturated_grad(loss: Loss, scale: float, *, wrong: bool) -> float:
    """The largest ‖∇ₒL‖₂ over labels y of o = scale·e_y (``wrong=False``) or scale·e_(y+1)."""
    eye = torch.eye(K, dtype=torch.float64) * scale
    scores = eye.roll(1, dims=1) if wrong else eye
    grad = loss.value_and_grad(scores, torch.arange(K))[1]
    return torch.linalg.vector_norm(grad, dim=1).max().item()


def trend(first: float, second: float) -> str:
    """ "vanishes", "stays" or "grows": the gradient norm from s = 30 (``first``) to 300."""
    if second <= 1e-12 or second < 0.5 * first:
        return "vanishes"
    return "grows" if second > 2 * first else "stays"
