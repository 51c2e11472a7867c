"""Multiclass margin (hinge) losses: the score of the true class must beat every other by Δ(y, i).

Both read the margin violations v_i = Δ(y, i) + o_i − o_y for i ≠ y:

- Crammer–Singer: max(0, max_{i≠y} v_i); only the worst violator is pushed down.
- Weston–Watkins: Σ_{i≠y} max(0, v_i); every violator is pushed down. Equals K times
  ``F.multi_margin_loss`` with ``margin=Δ``.

Hinge subgradients are 0 at a violation of exactly 0, as in torch.
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss

KINDS = ("crammer_singer", "weston_watkins")


@dataclasses.dataclass(frozen=True)
class Margin(Loss, name="margin"):
    """Multiclass margin loss with margin Δ(y, i): a scalar, or a K×K matrix (row y, column i).

    Default delta = 1 (scores are free to scale, so only Δ relative to the weight norm matters;
    1 is the SVM convention). Default kind Crammer–Singer, which scored best here (DESIGN.md).
    Needs integer labels: a margin is defined against one true class.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    kind: str = "crammer_singer"
    delta: float | torch.Tensor = 1.0
    accepts_soft_targets = False
    convex_in_scores = True

    def validate_params(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"margin kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if isinstance(self.delta, torch.Tensor):
            d = self.delta
            if d.dim() != 2 or d.shape[0] != d.shape[1]:
                raise ValueError(f"margin delta matrix must be K×K, got shape {tuple(d.shape)}")
            off_diagonal = d[~torch.eye(d.shape[0], dtype=torch.bool, device=d.device)]
            if not (torch.isfinite(d).all() and (off_diagonal >= 0).all()):
                raise ValueError("margin delta matrix must be finite and non-negative")
            return
        if not (isinstance(self.delta, int | float) and 0 < self.delta < float("inf")):
            raise ValueError(f"margin delta must be a positive finite number, got {self.delta!r}")
        object.__setattr__(self, "delta", float(self.delta))

    def describe(self) -> dict[str, str]:
        delta = "K×K matrix" if isinstance(self.delta, torch.Tensor) else f"{self.delta:g}"
        kind = {
            "crammer_singer": "Crammer–Singer (worst rival)",
            "weston_watkins": "Weston–Watkins (every rival)",
        }[self.kind]
        over = "max over rivals" if self.kind == "crammer_singer" else "sum over rivals"
        return {
            **super().describe(),
            "target": "class label",
            "margin": f"Δ = {delta}, {kind}",
            "reduction": f"{over}; mean over the batch",
        }

    def check_against(self, scores):
        if isinstance(self.delta, torch.Tensor) and self.delta.shape[0] != scores.shape[1]:
            raise ValueError(
                f"margin delta matrix is {self.delta.shape[0]}×{self.delta.shape[0]} "
                f"but scores have K = {scores.shape[1]} classes"
            )

    def compute(self, scores, target):
        labels = target.unsqueeze(1)
        true_score = scores.gather(1, labels)
        if isinstance(self.delta, torch.Tensor):
            delta = self.delta.to(scores.device, scores.dtype)[target]
            violation = scores + delta - true_score
        else:
            violation = scores + (self.delta - true_score)
        # The true class is no rival: a violation of 0 adds nothing and has no gradient.
        violation.scatter_(1, labels, 0.0)
        if self.kind == "crammer_singer":
            worst, rival = violation.max(1, keepdim=True)
            value = worst.clamp_min(0).squeeze(1)
            active = (worst > 0).to(scores.dtype)
            grad = torch.zeros_like(scores).scatter_(1, rival, active)
            return value, grad.scatter_add_(1, labels, -active)
        active = (violation > 0).to(scores.dtype)
        value = violation.clamp_min(0).sum(1)
        return value, active.scatter_(1, labels, -active.sum(1, keepdim=True))
