"""Multiclass margin (hinge) losses: the score of the true class must beat every other by Δ(y, i).

Both read the margin violations v_i = Δ(y, i) + o_i − o_y for i ≠ y:

- Crammer–Singer: max(0, max_{i≠y} v_i); only the worst violator is pushed down.
- Weston–Watkins: Σ_{i≠y} max(0, v_i); every violator is pushed down. Equals K times
  ``F.multi_margin_loss`` with ``margin=Δ``.

``power=2`` squares each hinge (the squared hinge, L2-SVM): Crammer–Singer max(0, max_{i≠y} v_i)²,
Weston–Watkins Σ_{i≠y} max(0, v_i)² = K·``F.multi_margin_loss(p=2)``. Its gradient 2·max(0, v_i)
is continuous: it shrinks to 0 as a violation closes, where the hinge's stays 1 up to the kink.
Hinge subgradients are 0 at a violation of exactly 0, as in torch.
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss

KINDS = ("crammer_singer", "weston_watkins")
POWERS = (1, 2)


@dataclasses.dataclass(frozen=True)
class Margin(Loss, name="margin"):
    """Multiclass margin loss with margin Δ(y, i): a scalar, or a K×K matrix (row y, column i).

    Default delta = 1 (scores are free to scale, so only Δ relative to the weight norm matters;
    1 is the SVM convention). Default kind Crammer–Singer, which scored best here (DESIGN.md).
    Default power 1, the hinge; 2 is the squared hinge (both convex). The spec string leaves out
    power=1, so the specs of results recorded before power existed still name the same loss.
    Needs integer labels: a margin is defined against one true class.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    kind: str = "crammer_singer"
    delta: float | torch.Tensor = 1.0
    power: int = 1
    paper = (
        "Crammer & Singer 2001 (JMLR) and Weston & Watkins 1999 (ESANN), the multiclass SVM losses"
    )
    code = None
    departures = (("torch.nn.MultiMarginLoss is Weston–Watkins divided by K; here it is the sum"),)
    applied_to = "scores"
    family = "margin-sparse"
    sweep = {"delta": (0.5, 1.0, 2.0, 4.0)}
    target_encoding = "class label"
    accepts_soft_targets = False
    convex_in_scores = True

    def validate_params(self) -> None:
        if isinstance(self.power, bool) or self.power not in POWERS:
            raise ValueError(
                f"margin power must be 1 (hinge) or 2 (squared hinge), got {self.power!r}"
            )
        object.__setattr__(self, "power", int(self.power))
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
        squared = ", squared hinge" if self.power == 2 else ""
        return {
            **super().describe(),
            "margin": f"Δ = {delta}, {kind}{squared}",
            "reduction": f"{over}; mean over the batch",
        }

    def params(self) -> dict[str, object]:
        """The parameters, leaving out power=1: today's spec strings stay those of the hinge."""
        params = super().params()
        if params["power"] == 1:
            del params["power"]
        return params

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
        if self.power == 2:
            return self._squared(violation, labels)
        if self.kind == "crammer_singer":
            worst, rival = violation.max(1, keepdim=True)
            value = worst.clamp_min(0).squeeze(1)
            active = (worst > 0).to(scores.dtype)
            grad = torch.zeros_like(scores).scatter_(1, rival, active)
            return value, grad.scatter_add_(1, labels, -active)
        active = (violation > 0).to(scores.dtype)
        value = violation.clamp_min(0).sum(1)
        return value, active.scatter_(1, labels, -active.sum(1, keepdim=True))

    def _squared(self, violation, labels):
        """Squared hinges of the violations (true class's set to 0): value and gradient.

        Crammer–Singer: max(0, v_r)² with r the worst rival, gradient 2·max(0, v_r) at r and
        its negative at y. Weston–Watkins: Σ_i max(0, v_i)², gradient 2·max(0, v_i) at each i
        and minus their sum at y.
        """
        if self.kind == "crammer_singer":
            worst, rival = violation.max(1, keepdim=True)
            hinge = worst.clamp_min_(0.0)
            slope = hinge * 2.0
            grad = torch.zeros_like(violation).scatter_(1, rival, slope)
            return hinge.square_().squeeze(1), grad.scatter_add_(1, labels, -slope)
        hinge = violation.clamp_min_(0.0)
        value = hinge.square().sum(1)
        grad = hinge.mul_(2.0)
        return value, grad.scatter_(1, labels, -grad.sum(1, keepdim=True))
