"""Normalized cross-entropy (Ma et al. 2020, "Normalized Loss Functions for Deep Learning with
Noisy Labels"): cross-entropy divided by its sum over every possible label, so it lies in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math

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
    paper = (
        'Ma, Huang, Wang, Romano, Erfani & Bailey 2020, "Normalized Loss '
        'Functions for Deep Learning with Noisy Labels", ICML'
    )
    code = "github.com/HanxunH/Active-Passive-Losses, loss.py (NormalizedCrossEntropy)"
    departures = ("no scale factor (APL's scale is a weighted sum here, e.g. 10*nce)",)
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


@dataclasses.dataclass(frozen=True)
class NormalizedNegativeCrossEntropy(Loss, name="nnce"):
    """Normalized negative cross-entropy (Ye et al. 2023, "Active Negative Loss Functions for
    Learning with Noisy Labels", NeurIPS; code github.com/Virusdoll/Active-Negative-Loss):
        L = 1 − u_y / Σ_k u_k,   u_k = A + log max(p_k, min_prob),   A = −ln(min_prob),
    so u_k in [0, A]: the clamp at min_prob is part of the definition. Writing U = Σ_k u_k and
    m_k = [p_k >= min_prob] (the clamp passes the gradient there), ∂L/∂u = (u_y/U²)·1 − e_y/U,
    d log p_k/do = e_k − p, so with c = m ⊙ ∂L/∂u:  ∇ₒL = c − p·Σ_k c_k.
    The paper's ANL-CE is the sum ``α*nce+β*nnce`` (α = β = 1 on MNIST, 5 and 5 on CIFAR-10);
    its δ·‖θ‖₁ weight penalty acts on the model's weights, not the scores, and is not here.
    Default min_prob = 1e-7, the official code's clamp. U >= A − ln K > 0 needs K < 1/min_prob.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    min_prob: float = 1e-7
    paper = (
        'Ye, Li, Yang, Liu & Wang 2023, "Active Negative Loss Functions for '
        'Learning with Noisy Labels", NeurIPS'
    )
    code = "github.com/Virusdoll/Active-Negative-Loss, loss.py"
    departures = (("the δ·‖θ‖₁ weight penalty of ANL acts on the model's weights and is not here"),)
    applied_to = "log_probs"
    family = "noise-robust"
    target_encoding = "class label"

    def validate_params(self) -> None:
        ok = isinstance(self.min_prob, int | float) and 0 < self.min_prob < 1
        if not ok:
            raise ValueError(f"nnce min_prob must lie in (0, 1), got {self.min_prob!r}")
        object.__setattr__(self, "min_prob", float(self.min_prob))

    def check_against(self, scores):
        if scores.shape[1] * self.min_prob >= 1:
            raise ValueError(
                f"nnce needs K < 1/min_prob = {1 / self.min_prob:g} classes, "
                f"got K = {scores.shape[1]}: lower min_prob"
            )

    def compute(self, scores, target):
        log_probs, probs = softmax.log_softmax(scores)
        floor = math.log(self.min_prob)
        kept = log_probs >= floor
        shifted = log_probs.clamp_min_(floor).sub_(floor)  # u_k = A + log p_k, in [0, A]
        total = shifted.sum(1, keepdim=True)
        index = target.unsqueeze(1)
        share = shifted.gather(1, index) / total
        coef = (share / total).expand_as(probs).clone()
        coef.scatter_add_(1, index, -1 / total).mul_(kept)
        grad = coef.sub_(probs.mul_(coef.sum(1, keepdim=True)))
        return (1 - share).squeeze(1), grad
