"""Cross-entropy and its label-smoothed (soft-label) form, from log-sum-exp."""

from __future__ import annotations

import dataclasses

import torch

from losses import softmax, targets
from losses.base import Loss


@dataclasses.dataclass(frozen=True)
class CrossEntropy(Loss, name="ce"):
    """Cross-entropy −Σ_k t_k log softmax(o)_k;  gradient softmax(o) − t.

    log softmax is o − logsumexp(o) (``losses.softmax``), never log(softmax(o)), so float32
    scores of ±1e4 give finite values. The gradient assumes rows of t sum to 1, as checked.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    applied_to = "log_probs"
    family = "textbook"
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    convex_in_scores = True

    def compute(self, scores, target):
        log_probs, probs = softmax.log_softmax(scores)
        if target.is_floating_point():
            value = -(target * log_probs).sum(1)
        else:
            value = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        return value, targets.residual(probs, target)


@dataclasses.dataclass(frozen=True)
class SoftLabel(Loss, name="soft_label"):
    """Label-smoothed cross-entropy: ``ce`` against (1 − smoothing)·t + smoothing/K.

    Equals ``F.cross_entropy(..., label_smoothing=smoothing)``. Default smoothing 0.1, the value
    of Szegedy et al. (2016) and of most recipes since; 0 is plain ``ce``.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    smoothing: float = 0.1
    applied_to = "log_probs"
    family = "ce-variant"
    sweep = {"smoothing": (0.05, 0.1, 0.2, 0.3)}  # Szegedy et al. 2016; Müller et al. 2019
    target_encoding = "smoothed one-hot"
    accepts_soft_targets = True
    convex_in_scores = True

    def validate_params(self) -> None:
        if not (isinstance(self.smoothing, int | float) and 0 <= self.smoothing <= 1):
            raise ValueError(f"smoothing must lie in [0, 1], got {self.smoothing!r}")
        object.__setattr__(self, "smoothing", float(self.smoothing))

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "target": f"(1 − ε)·one-hot + ε/K, ε = {self.smoothing:g}"}

    def compute(self, scores, target):
        log_probs, probs = softmax.log_softmax(scores)
        eps, k = self.smoothing, scores.shape[1]
        uniform = log_probs.sum(1) / k
        if target.is_floating_point():
            value = -(1 - eps) * (target * log_probs).sum(1) - eps * uniform
            grad = probs - targets.smooth(target, eps)
        else:
            hit = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
            value = -(1 - eps) * hit - eps * uniform
            grad = _subtract_smoothed(probs, target, eps)
        return value, grad


def _subtract_smoothed(probs: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """probs − ((1 − eps)·onehot(labels) + eps/K) without building the one-hot matrix."""
    grad = probs - eps / probs.shape[1]
    return grad.scatter_add_(1, labels.unsqueeze(1), grad.new_full((grad.shape[0], 1), eps - 1.0))
