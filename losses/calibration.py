"""Losses for calibrated confidence: margin-based label smoothing (MbLS), logit normalisation
(LogitNorm) and dual focal loss. Each is ce or focal with one change; its special case is ce.
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss
from losses.cross_entropy import CrossEntropy
from losses.true_class import set_number, split_true_class


@dataclasses.dataclass(frozen=True)
class MarginLabelSmoothing(Loss, name="mbls"):
    """MbLS (Liu et al. 2022, "The Devil is in the Margins: Margin-based Label Smoothing for
    Network Calibration", CVPR; code github.com/by-liu/MbLS, ``LogitMarginL1``):
        L = ce(o, t) + λ·(1/K)·Σ_k max(0, max_j o_j − o_k − margin),
    the penalty averaged over classes as the official code's ``.mean()`` reduces it. With
    j* = argmax o and A the set of classes over the margin, its gradient is
    (λ/K)·(|A|·e_{j*} − 1_A) (max_j o_j is not detached, as in the code). λ = 0 is ``ce``.
    Defaults margin = 10, λ = 0.1: the paper's setting for its benchmarks; the sweep takes
    margins 2 to 10 at λ = 0.1, the range of the paper's ablation of the margin.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    margin: float = 10.0
    lam: float = 0.1
    paper = (
        'Liu, Ben Ayed, Galdran & Dolz 2022, "The Devil is in the Margins: '
        'Margin-based Label Smoothing for Network Calibration", CVPR'
    )
    code = "github.com/by-liu/MbLS, calibrate/losses/logit_margin_l1.py (LogitMarginL1)"
    departures = ("its optional schedule of λ (off by default, unused for the paper's results)",)
    applied_to = "log_probs"
    family = "calibration"
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    convex_in_scores = True
    sweep = {"margin": (2.0, 4.0, 6.0, 8.0, 10.0)}

    def validate_params(self) -> None:
        set_number(self, "margin", lambda m: m >= 0, "a finite number >= 0")
        set_number(self, "lam", lambda x: x >= 0, "a finite number >= 0")

    def compute(self, scores, target):
        value, grad = CrossEntropy.compute(self, scores, target)
        if self.lam == 0:
            return value, grad
        top, top_index = scores.max(1, keepdim=True)
        over = (top - self.margin) - scores  # max_j o_j − o_k − margin
        scale = self.lam / scores.shape[1]
        value = value + over.clamp_min_(0).sum(1) * scale
        active = over.sign_()  # [over > 0], in place: one (N, K) write in all
        grad = grad.sub_(active, alpha=scale)
        count = active.sum(1, keepdim=True)
        return value, grad.scatter_add_(1, top_index, count.mul_(scale))


@dataclasses.dataclass(frozen=True)
class LogitNorm(Loss, name="logitnorm"):
    """LogitNorm (Wei et al. 2022, "Mitigating Neural Network Overconfidence with Logit
    Normalization", ICML; code github.com/hongxin001/logitnorm_ood): ce on z = o/(t·r),
    r = ‖o‖₂ + 1e-7. With g = softmax(z) − t the ce gradient at z,
        ∇ₒ = g/(t·r) − o·(g·o)/(t·r²·‖o‖)   (the second term 0 at o = 0).
    Default t = 0.04, the paper's CIFAR-10 temperature; the sweep brackets it on a log scale.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    t: float = 0.04
    paper = (
        'Wei, Xie, Cheng, Feng, An & Li 2022, "Mitigating Neural Network '
        'Overconfidence with Logit Normalization", ICML'
    )
    code = "github.com/hongxin001/logitnorm_ood, common/loss_function.py (LogitNormLoss)"
    departures = ()
    applied_to = "log_probs"
    family = "calibration"
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    sweep = {"t": (0.01, 0.02, 0.04, 0.1)}

    def validate_params(self) -> None:
        set_number(self, "t", lambda t: t > 0, "a finite number > 0")

    def compute(self, scores, target):
        norm = torch.linalg.vector_norm(scores, dim=1, keepdim=True)
        radius = norm + 1e-7
        # z = o/r/t, in that order (the official code's), written once
        value, grad = CrossEntropy.compute(self, (scores / radius).div_(self.t), target)
        along = torch.linalg.vecdot(grad, scores).unsqueeze(1).div_(radius * norm.clamp_min(1e-30))
        return value, grad.addcmul_(scores, along, value=-1.0).div_(radius).div_(self.t)


@dataclasses.dataclass(frozen=True)
class DualFocal(Loss, name="dual_focal"):
    """Dual focal loss (Tao, Dong & Xu 2023, "Dual Focal Loss for Calibration", ICML; code
    github.com/Linwei94/ICML2023-DualFocalLoss): L = −F^γ·log p_y, F = 1 − p_y + p_j, p_j the
    largest probability strictly below p_y (0 if none), as the official code's mask.
    With s = −log p_y and G = γ·F^(γ−1)·s (written γ·F^γ·s/F, 0 where F underflows),
        ∇ₒ = (F^γ + G·p_y)·(p − e_y) − G·p_j·(p − e_j),
    both factors of the official code differentiated (it detaches neither). γ = 0 is ``ce``;
    where p_y rounds to 1, F = 0 and so is the gradient, as focal's. Default γ = 5, the paper's
    CIFAR-10 setting; the sweep brackets it, γ ∈ {2, …, 6}.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    gamma: float = 5.0
    paper = 'Tao, Dong & Xu 2023, "Dual Focal Loss for Calibration", ICML'
    code = "github.com/Linwei94/ICML2023-DualFocalLoss, Losses/dual_focal_loss.py (DualFocalLoss)"
    departures = ()
    applied_to = "log_probs"
    family = "calibration"
    target_encoding = "class label"
    sweep = {"gamma": (2.0, 3.0, 4.0, 5.0, 6.0)}

    def validate_params(self) -> None:
        set_number(self, "gamma", lambda g: g >= 0, "a finite number >= 0")

    def compute(self, scores, target):
        if self.gamma == 0:
            return CrossEntropy.compute(self, scores, target)
        index = target.unsqueeze(1)
        log_p_y, p_y, rest, rival_exp, total = split_true_class(scores, target)
        probs = rival_exp.div_(total)  # the rivals' probabilities, 0 in the true column
        below = torch.where(probs < p_y, probs, 0.0)
        p_j, j = below.max(1, keepdim=True)
        gap = rest + p_j
        damp, surprise = gap.pow(self.gamma), -log_p_y
        pull = damp * surprise.div_(gap.clamp_min(torch.finfo(gap.dtype).tiny)) * self.gamma
        weight, push = damp + pull * p_y, pull * p_j
        grad = probs.mul_(weight - push)
        grad.scatter_(1, index, -weight * rest - push * p_y)
        return (damp * -log_p_y).squeeze(1), grad.scatter_add_(1, j, push)
