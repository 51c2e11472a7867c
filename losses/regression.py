"""Regression losses on one-hot targets: L2, L1 and Huber, on softmax probabilities or raw scores.

Each loss is a function h of the residual r = p − t summed over classes, written once with its
derivative dh/dr. The link (``on``) is applied around it, never copied into it:

- ``on="scores"``: p = o, so dl/do = dh/dr.
- ``on="probs"``:  p = softmax(o), so dl/do = p ⊙ (dh/dr − ⟨p, dh/dr⟩), the softmax Jacobian
  (diag(p) − p pᵀ) applied to dh/dr.
"""

from __future__ import annotations

import dataclasses

import torch

from losses import softmax, targets
from losses.base import Loss

LINKS = ("probs", "scores")


@dataclasses.dataclass(frozen=True)
class ResidualLoss(Loss):
    """A loss Σ_k h(p_k − t_k) of the residual, on probabilities or on raw scores."""

    on: str = "probs"
    accepts_soft_targets = True
    target_encoding = "one-hot or probability rows"

    def validate_params(self) -> None:
        if self.on not in LINKS:
            raise ValueError(f"on must be one of {', '.join(LINKS)}, got {self.on!r}")

    @property
    def applied_to(self) -> str:  # type: ignore[override]
        return self.on

    @property
    def family(self) -> str:  # type: ignore[override]
        """On probabilities the textbook's regression losses; on raw scores, square losses."""
        return "textbook" if self.on == "probs" else "square"

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "reduction": "sum over classes; mean over the batch"}

    def residual_value_and_grad(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (Σ_k h(r_k) of shape (N,), dh/dr of shape (N, K))."""
        raise NotImplementedError

    def compute(self, scores, target):
        if self.on == "scores":
            return self.residual_value_and_grad(targets.residual(scores, target))
        probs = softmax.softmax(scores)
        if target.is_floating_point():
            value, dr = self.residual_value_and_grad(targets.residual(probs, target))
            return value, probs * (dr - torch.linalg.vecdot(probs, dr).unsqueeze(1))
        # labels: r = p − e_y is written over p, and with p = r + e_y the Jacobian's product is
        # p ⊙ (dh/dr − s) = r ⊙ (dh/dr − s) + e_y·((dh/dr)_y − s), s = ⟨r, dh/dr⟩ + (dh/dr)_y:
        # two (N, K) writes fewer (at 4096×1000, 1 thread, AMD EPYC: see docs/timing.md)
        labels = target.unsqueeze(1)
        r = targets.residual_(probs, target)
        value, dr = self.residual_value_and_grad(r)
        at_y = dr.gather(1, labels)
        s = torch.linalg.vecdot(r, dr).unsqueeze(1) + at_y
        grad = dr - s if dr is r else dr.sub_(s)
        return value, grad.mul_(r).scatter_add_(1, labels, at_y - s)

    @property
    def convex_in_scores(self) -> bool:  # type: ignore[override]
        return self.on == "scores"


@dataclasses.dataclass(frozen=True)
class L2(ResidualLoss, name="l2"):
    """Squared error ½ Σ_k (p_k − t_k)²;  dh/dr = r.

    On probabilities (the default) it is the bounded Brier-type loss; on raw scores it is
    least-squares classification, convex but unbounded (and unstable at large learning rates).
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    paper = (
        "the textbook loss (Dive into Deep Learning, ch. 3.1); on probabilities, the Brier score"
    )
    code = None
    departures = ()

    def residual_value_and_grad(self, r):
        return 0.5 * torch.linalg.vecdot(r, r), r


@dataclasses.dataclass(frozen=True)
class L1(ResidualLoss, name="l1"):
    """Absolute error Σ_k |p_k − t_k|;  dh/dr = sign(r), 0 at r = 0 (as torch).

    On probabilities it is bounded (≤ 2) and so robust to label noise (Ghosh et al. 2017), but its
    gradient −2·p_y·(e_y − p) vanishes where p_y ≈ 0: a class the model has given up on stays lost.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    paper = (
        'Ghosh, Kumar & Sastry 2017, "Robust Loss Functions under Label Noise for '
        'Deep Neural Networks", AAAI (MAE on probabilities)'
    )
    code = None
    departures = (
        (
            "the paper's MAE Σ_k |p_k − t_k| = 2(1 − p_y); APL's and ALFs' copies "
            "compute 1 − p_y (ALFs then scale by 2)"
        ),
    )

    def residual_value_and_grad(self, r):
        return r.abs().sum(1), r.sign()


@dataclasses.dataclass(frozen=True)
class Huber(ResidualLoss, name="huber"):
    """Huber loss on the residual r = p − t, summed over classes.

    h(r) = r²/2 if |r| <= delta else delta·(|r| − delta/2);  dh/dr = c = clamp(r, −delta, delta).
    Both branches are c·(r − c/2): one expression, no ``torch.where``.
    Default delta: 0.1 on probabilities, where |r| <= 1 and so delta >= 1 would be plain L2
    (0.1 makes it quadratic only near a correct prediction); 1.0 on raw scores, torch's default.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    delta: float | None = None
    paper = 'Huber 1964, "Robust Estimation of a Location Parameter" (here on the residual p − t)'
    code = None
    departures = ()
    sweep = {"delta": (0.05, 0.1, 0.3, 1.0)}

    def validate_params(self) -> None:
        super().validate_params()
        if self.delta is None:
            object.__setattr__(self, "delta", 0.1 if self.on == "probs" else 1.0)
        if not (isinstance(self.delta, int | float) and 0 < self.delta < float("inf")):
            raise ValueError(f"huber delta must be a positive finite number, got {self.delta!r}")
        object.__setattr__(self, "delta", float(self.delta))

    def residual_value_and_grad(self, r):
        clipped = r.clamp(-self.delta, self.delta)
        return r.add(clipped, alpha=-0.5).mul_(clipped).sum(1), clipped
