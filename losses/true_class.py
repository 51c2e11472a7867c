"""Losses of the true class's probability alone: cross-entropy reweighted per example.

Every loss L = f(p_y) of p = softmax(o) has the gradient

    ∇ₒL = f′(p_y)·p_y·(e_y − p) = w(p_y)·(p − e_y),   w(p_y) = −p_y·f′(p_y),

since ∂p_y/∂o = p_y·(e_y − p). Cross-entropy is w = 1; each loss here writes only f and w, side
by side (:meth:`TrueClassLoss.value_and_weight`), and :class:`TrueClassLoss` applies the shape
once. MAE is ``l1`` on probabilities, 2(1 − p_y), w = 2·p_y (``losses.regression``).

Stable for any finite scores: log p_y comes from log-sum-exp, never log of a probability, and
1 − p_y is the sum of the rival probabilities, never 1 minus a number close to 1; the true
class's gradient entry is written as −w·(1 − p_y), not w·(p_y − 1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

from losses import softmax
from losses.base import Loss


def split_true_class(
    scores: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The softmax split into the true class and its rivals, sharing every pass over the scores.

    Returns (log p_y, p_y, 1 − p_y, rival_exp, total): rival_exp is exp(o − max o) with 0 in
    the true class's column (a fresh tensor the caller may overwrite), total its row sums
    plus the true class's term, so the rival probabilities are rival_exp / total.
    log p_y = o_y − max o − log(total) takes the rounding error of total back in (TwoSum), so
    it stays exact (≈ −Σ rivals) where p_y rounds to 1; log1p would too, but torch's float32
    log1p is scalar code on the CPU, 8× slower than log.
    From K = 128 classes up the split comes from torch's fused softmax instead (see
    :func:`split_by_softmax`); total is then 1.
    Shape: scores (N, K), labels (N,) -> four (N, 1) columns and rival_exp (N, K).
    """
    index = labels.unsqueeze(1)
    if scores.shape[1] >= softmax.FUSED_FROM_CLASSES:
        return split_by_softmax(scores, index)
    shifted = scores - scores.amax(1, keepdim=True)
    true_shifted = shifted.gather(1, index)
    rival_exp = shifted.exp_()
    true_exp = rival_exp.gather(1, index)
    rival_sum = rival_exp.scatter_(1, index, 0.0).sum(1, keepdim=True)
    total = rival_sum + true_exp
    back = total - true_exp
    rounding = (true_exp - (total - back)).add_(rival_sum - back)  # (true + rivals) − total
    log_p_y = true_shifted.sub_(total.log()).sub_(rounding.div_(total))
    return log_p_y, true_exp / total, rival_sum / total, rival_exp, total


def split_by_softmax(scores: torch.Tensor, index: torch.Tensor):
    """:func:`split_true_class` from one fused softmax pass, for many classes, where torch.exp
    over the (N, K) scores costs more than the whole softmax kernel.

    rival_exp is p with 0 in the true column and total is 1. log p_y, on (N, 1) columns only:
    where y is the most probable class, −log1p(Σ_{k≠y} p_k / p_y), exact as p_y → 1; elsewhere
    o_y − max o + log max p (log-sum-exp is max o − log max p), exact where p_y underflows,
    since max p >= 1/K never does. Shape: scores (N, K), index (N, 1) -> as split_true_class.
    """
    probs = torch.softmax(scores, 1)
    p_y = probs.gather(1, index)
    rivals = probs.scatter_(1, index, 0.0)
    rest = rivals.sum(1, keepdim=True)
    top_rival = rivals.amax(1, keepdim=True)
    on_top = p_y >= top_rival
    # both branches stay finite (the other's gradient would be 0·inf under double backward)
    near_one = -torch.log1p(rest / torch.where(on_top, p_y, 1.0))
    below = scores.gather(1, index) - scores.amax(1, keepdim=True)
    below = below + torch.where(on_top, 1.0, top_rival).log()
    log_p_y = torch.where(on_top, near_one, below)
    return log_p_y, p_y, rest, rivals, torch.ones_like(p_y)


@dataclasses.dataclass(frozen=True)
class TrueClassLoss(Loss):
    """A loss f(p_y) of the true class's softmax probability; gradient w(p_y)·(p − e_y).

    Subclasses write :meth:`value_and_weight`. Labels only: a loss of p_y has no soft form
    unless a subclass defines one.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    applied_to = "probs"
    target_encoding = "class label"
    accepts_soft_targets = False

    def value_and_weight(
        self, log_p_y: torch.Tensor, p_y: torch.Tensor, rest: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (f(p_y), w(p_y)) from log p_y, p_y and rest = 1 − p_y (any equal shapes)."""
        raise NotImplementedError

    def compute(self, scores, target):
        log_p_y, p_y, rest, rival_exp, total = split_true_class(scores, target)
        value, weight = self.value_and_weight(log_p_y, p_y, rest)
        grad = rival_exp.mul_(weight / total)
        return value.squeeze(1), grad.scatter_(1, target.unsqueeze(1), -weight * rest)

    def weight(self, p_y: torch.Tensor) -> torch.Tensor:
        """w(p_y) = −p_y·f′(p_y), the factor this loss puts on cross-entropy's gradient.

        Shape: any -> the same; p_y in (0, 1].
        """
        return self.value_and_weight(p_y.log(), p_y, 1 - p_y)[1]


@dataclasses.dataclass(frozen=True)
class Focal(TrueClassLoss, name="focal"):
    """Focal loss f = −(1 − p_y)^γ·log p_y (Lin et al. 2017, "Focal Loss for Dense Object
    Detection").

    w = (1 − p_y)^γ·(1 + γ·p_y·(−log p_y)/(1 − p_y)): examples already fit (p_y → 1) weigh
    (1 − p_y)^γ, hard ones about 1 as in cross-entropy. Default γ = 2, the paper's best
    (its Table 1b); γ = 0 is ``ce``.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    gamma: float = 2.0
    paper = 'Lin, Goyal, Girshick, He & Dollár 2017, "Focal Loss for Dense Object Detection", ICCV'
    code = (
        "Detectron's softmax form: github.com/pytorch/pytorch, "
        "modules/detectron/softmax_focal_loss_op.cu (SoftmaxFocalLoss)"
    )
    departures = (
        "no scalar α on every class (Detectron's alpha): per-class α is the criterion's weight=",
        "log p_y from log-sum-exp, where the op takes log max(p_y, FLT_MIN)",
    )
    applied_to = "log_probs"
    family = "ce-variant"
    sweep = {"gamma": (0.5, 1.0, 2.0, 5.0)}  # Lin et al. 2017, Table 1a

    def validate_params(self) -> None:
        set_number(self, "gamma", lambda g: g >= 0, "a finite number >= 0")

    def value_and_weight(self, log_p_y, p_y, rest):
        damp, surprise = rest.pow(self.gamma), -log_p_y
        # −log p_y / (1 − p_y) (→ 1 as p_y → 1); where rest underflowed to 0 so did surprise,
        # and the ratio's 0 there is harmless: γ·damp multiplies it, 0 for γ > 0 and for γ = 0
        ratio = surprise / rest.clamp_min(torch.finfo(rest.dtype).tiny)
        return damp * surprise, damp * (1 + self.gamma * p_y * ratio)


@dataclasses.dataclass(frozen=True)
class GeneralizedCrossEntropy(TrueClassLoss, name="gce"):
    """Generalized cross-entropy (Zhang & Sabuncu 2018): f = (1 − p_y^q)/q;  w = p_y^q.

    q → 0 is ``ce`` (w = 1), q = 1 is MAE/2 = 1 − p_y (w = p_y). Default q = 0.7, the paper's
    choice for all its experiments. p_y^q = exp(q·log p_y), so f = −expm1(q·log p_y)/q, exact
    where p_y rounds to 1. Nothing is clamped; APL's copy, the code most runs use, clamps p at
    1e-7 (where p_y < 1e-7 its value is (1 − 1e-7^q)/q and its gradient 0).
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    q: float = 0.7
    paper = (
        'Zhang & Sabuncu 2018, "Generalized Cross Entropy Loss for Training Deep Neural '
        'Networks with Noisy Labels", NeurIPS'
    )
    code = (
        "none by the authors; the copy most runs use: "
        "github.com/HanxunH/Active-Passive-Losses, loss.py (GeneralizedCrossEntropy)"
    )
    departures = (
        "no clamp of p at 1e-7 (APL's copy clamps: where p_y < 1e-7 its value is "
        "(1 − 1e-7^q)/q and its gradient 0)",
        "no truncation (the paper's truncated L_q variant is not written)",
    )
    family = "noise-robust"
    sweep = {"q": (0.3, 0.5, 0.7, 0.9)}  # Zhang & Sabuncu 2018

    def validate_params(self) -> None:
        set_number(self, "q", lambda q: 0 < q <= 1, "in (0, 1]")

    def value_and_weight(self, log_p_y, p_y, rest):
        scaled = log_p_y * self.q
        return expm1_of_negative(scaled).div_(-self.q), scaled.exp()


@dataclasses.dataclass(frozen=True)
class ReverseCrossEntropy(TrueClassLoss, name="rce"):
    """Reverse cross-entropy −Σ_k p_k·log t_k with log 0 := A (Wang et al. 2019, "Symmetric
    Cross Entropy for Robust Learning with Noisy Labels"): f = −A·(1 − p_y);  w = −A·p_y.

    A scaled MAE: bounded, so robust to symmetric label noise. Default A = −4, the paper's.
    (The authors' code clamps t at 1e-4, i.e. A = ln 1e-4 ≈ −9.2; the paper's A is used here.
    APL's copy also clamps p at 1e-7, which zeroes the gradient of classes below it; nothing
    is clamped here.)
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    a: float = -4.0
    paper = (
        'Wang, Ma, Chen, Luo, Yi & Bailey 2019, "Symmetric Cross Entropy for Robust Learning '
        'with Noisy Labels", ICCV'
    )
    code = (
        "github.com/YisenWang/symmetric_cross_entropy_for_noisy_labels, loss.py "
        "(symmetric_cross_entropy, Keras)"
    )
    departures = (
        "A = −4 as the paper states; the authors' code clips the one-hot label at 1e-4, "
        "A = ln 1e-4 ≈ −9.21 (rce:a=-9.21 is theirs)",
        "no clamp of p at 1e-7 (APL's copy clamps it: its value shifts by up to "
        "9.21·(K − 1)·1e-7 and those classes' gradient is 0)",
    )
    family = "noise-robust"

    def validate_params(self) -> None:
        set_number(self, "a", lambda a: a < 0, "a finite number < 0 (it stands for log 0)")

    def value_and_weight(self, log_p_y, p_y, rest):
        return rest * -self.a, p_y * -self.a


@dataclasses.dataclass(frozen=True)
class SymmetricCrossEntropy(TrueClassLoss, name="sce"):
    """Symmetric cross-entropy α·CE + β·RCE (Wang et al. 2019): f = −α·log p_y − β·A·(1 − p_y).

    w = α − β·A·p_y. Defaults α = 0.1, β = 1, A = −4: the paper's CIFAR-10 setting (its
    MNIST setting is α = 0.01, β = 1; CIFAR-100 α = 6, β = 0.1). The authors' Keras code clips
    p at 1e-7 inside CE's log: the CE term is capped at −ln 1e-7 ≈ 16.1 and its gradient is 0
    on rows with p_y < 1e-7; and its A is ln 1e-4 (the label clipped at 1e-4). APL's copy
    clamps p at 1e-7 inside RCE. Nothing is clamped here.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    alpha: float = 0.1
    beta: float = 1.0
    a: float = -4.0
    paper = ReverseCrossEntropy.paper
    code = ReverseCrossEntropy.code
    departures = (
        "A = −4 as the paper states; the authors' code clips the one-hot label at 1e-4, "
        "A = ln 1e-4 ≈ −9.21",
        "no clip of p inside CE's log: the authors' Keras code clips p at 1e-7, which caps "
        "the CE term at −ln 1e-7 ≈ 16.1 and zeroes its gradient where p_y < 1e-7 (the loss "
        "there is lower by α·(−ln p_y − 16.1)); APL's copy clamps p at 1e-7 inside RCE",
    )
    applied_to = "log_probs"
    family = "noise-robust"
    sweep = {"alpha": (0.01, 0.1, 1.0, 6.0), "beta": (0.1, 1.0)}  # Wang et al. 2019

    def validate_params(self) -> None:
        set_number(self, "alpha", lambda x: x >= 0, "a finite number >= 0")
        set_number(self, "beta", lambda x: x >= 0, "a finite number >= 0")
        set_number(self, "a", lambda a: a < 0, "a finite number < 0 (it stands for log 0)")

    def value_and_weight(self, log_p_y, p_y, rest):
        reverse = -self.beta * self.a
        return log_p_y * -self.alpha + rest * reverse, p_y * reverse + self.alpha


@dataclasses.dataclass(frozen=True)
class Poly1(TrueClassLoss, name="poly1"):
    """Poly-1 (Leng et al. 2022, "PolyLoss"): f = −log p_y + ε·(1 − p_y);  w = 1 + ε·p_y.

    Cross-entropy with the first term of its Taylor series in (1 − p_y) reweighted. Default
    ε = 1, the paper's Listing 1; ε = 0 is ``ce``; ε >= −1 keeps w >= 0 and f decreasing.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    epsilon: float = 1.0
    paper = (
        'Leng, Xu, Liu, Li, Gan, Hu, Zhou, Yang & Anguelov 2022, "PolyLoss: A Polynomial '
        'Expansion Perspective of Classification Loss Functions", ICLR'
    )
    code = "none by the authors; the paper's Listing 1 (TensorFlow) is the reference"
    departures = ()
    applied_to = "log_probs"
    family = "ce-variant"
    sweep = {"epsilon": (-1.0, 1.0, 2.0, 5.0)}  # Leng et al. 2022

    def validate_params(self) -> None:
        set_number(self, "epsilon", lambda e: e >= -1, "a finite number >= -1")

    def value_and_weight(self, log_p_y, p_y, rest):
        return rest * self.epsilon - log_p_y, p_y * self.epsilon + 1


@dataclasses.dataclass(frozen=True)
class TaylorCrossEntropy(TrueClassLoss, name="taylor"):
    """Taylor cross-entropy (Feng et al. 2020, "Can Cross Entropy Loss Be Robust to Label
    Noise?"): f = Σ_{k=1..t} (1 − p_y)^k / k, cross-entropy's series cut at order t.

    w = p_y·Σ_{k=0..t−1} (1 − p_y)^k = 1 − (1 − p_y)^t, both by Horner's rule. t = 1 is MAE/2,
    t → ∞ is ``ce``. Default t = 2, the smallest order of the paper's search {2, …, 6} and the
    one its analysis reads as MAE plus MSE.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    t: int = 2
    paper = (
        'Feng, Shu, Lin, Lv, Li & An 2020, "Can Cross Entropy Loss Be Robust to Label '
        'Noise?", IJCAI'
    )
    code = None
    departures = ()
    family = "noise-robust"
    sweep = {"t": (1, 2, 4, 6)}  # Feng et al. 2020

    def validate_params(self) -> None:
        set_number(
            self, "t", lambda t: t >= 1 and float(t).is_integer(), "an integer >= 1", kind=int
        )

    def value_and_weight(self, log_p_y, p_y, rest):
        value, series = torch.zeros_like(rest), torch.ones_like(rest)
        for k in range(self.t, 0, -1):
            value = value.add_(1.0 / k).mul_(rest)
        for _ in range(self.t - 1):
            series = series.mul_(rest).add_(1.0)
        return value, series.mul_(p_y)


def expm1_of_negative(z: torch.Tensor) -> torch.Tensor:
    """exp(z) − 1 for z <= 0, as 2·tanh(z/2) / (1 − tanh(z/2)): exact to a few ulps, with no
    cancellation (1 − tanh >= 1), and vectorised where torch's float32 expm1 on the CPU is
    not (8× slower). Shape: any -> the same, a new tensor."""
    half = (z * 0.5).tanh_()
    return (half * 2.0).div_(1.0 - half)


def set_number(
    loss: Loss, field: str, allowed: Callable[[float], bool], rule: str, kind: type = float
) -> None:
    """Check a numeric parameter and store it as ``kind``; one-line ValueError naming it."""
    value = getattr(loss, field)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and allowed(value)):
        raise ValueError(f"{loss.name} {field} must be {rule}, got {value!r}")
    object.__setattr__(loss, field, kind(value))
