"""Normalized cross-entropy (Ma et al. 2020, "Normalized Loss Functions for Deep Learning with
Noisy Labels"): cross-entropy divided by its sum over every possible label, so it lies in [0, 1].
"""

from __future__ import annotations

import dataclasses

from losses import softmax
from losses.base import Loss


@dataclasses.dataclass(frozen=True)
class NormalizedCrossEntropy(Loss, name="nce"):
    """Normalized cross-entropy L = −Σ_k t_k log p_k / (−Σ_j log p_j), with p = softmax(o).

    With labels, L = log p_y / Σ_j log p_j. Write c = −Σ_k t_k log p_k (cross-entropy, gradient
    p − t) and S = −Σ_j log p_j (gradient K·p − 1, a vector of ones subtracted); then
        ∇ₒL = (∇c − L·∇S)/S = ((1 − K·L)·p + L − t)/S.
    Not a loss of p_y alone: S reads every class. Ma et al. pair it with a passive loss
    (``1*nce+1*rce``, ``1*nce+1*l1``): alone it underfits. No parameters. Needs K >= 2
    (with one class S = 0).
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    applied_to = "log_probs"
    family = "noise-robust"
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True

    def check_against(self, scores):
        if scores.shape[1] < 2:
            raise ValueError(f"nce needs at least 2 classes, got K = {scores.shape[1]}")

    def compute(self, scores, target):
        log_probs, probs = softmax.log_softmax(scores)
        total = log_probs.sum(1, keepdim=True).neg_()  # S >= K log K > 0
        if target.is_floating_point():
            ce = (target * log_probs).sum(1, keepdim=True).neg_()
        else:
            ce = log_probs.gather(1, target.unsqueeze(1)).neg_()
        value = ce / total
        grad = probs.mul_((1 - scores.shape[1] * value) / total).add_(value / total)
        if target.is_floating_point():
            return value.squeeze(1), grad.addcdiv_(target, total, value=-1)
        return value.squeeze(1), grad.scatter_add_(1, target.unsqueeze(1), -1 / total)
