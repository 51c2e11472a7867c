"""The bi-tempered logistic loss (Amid et al. 2019): a bounded loss on heavy-tailed probabilities.

Two tempered functions replace log and exp (t = 1 gives back log and exp):

    log_t(x) = (x^(1−t) − 1) / (1 − t),    exp_t(x) = [1 + (1 − t)·x]_+^(1/(1−t)).

The tempered softmax is p = exp_t2(o − λ(o)), with the normaliser λ(o) chosen so that Σ_k p_k = 1.
For t2 > 1 its tail is heavy (a polynomial, not an exponential); for t2 < 1 its support is
finite (classes far below the best get probability exactly 0).
"""

from __future__ import annotations

import dataclasses

import torch

from losses import softmax
from losses.base import Loss

# Newton steps of the normaliser, a fixed count (no data-dependent loop, so a CUDA graph can
# capture it). Measured worst cases over t2 in [0.01, 10], K from 2 to 100 and score scales
# from 1e-3 to 1e4 (uniform, one-dominant, two-cluster and mixed-scale rows): 9 steps reach
# float64 round-off (|Σp − 1| ~ 1e-15), 7 reach float32's.
NEWTON_STEPS = {torch.float64: 10}
NEWTON_STEPS_DEFAULT = 8
T2_MAX = 10.0


def tempered_softmax(
    scores: torch.Tensor, t: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tempered softmax p = exp_t(o − λ(o)) with Σ_k p_k = 1, and what its gradient needs.

    Returns (p, log p, p^t, λ): log p is −inf outside the support (t < 1); p^t, divided by its
    row sum, is the escort distribution, dλ/do = p^t / Σ_k p_k^t.

    λ is found by Newton's method on h(λ) = (Σ_k exp_t(o_k − λ))^(1−t) − 1 from λ = max o, a
    fixed number of steps (``NEWTON_STEPS``). h + 1 is a power mean of the b_k(λ) =
    [1 + (1 − t)(o_k − λ)]_+: concave and increasing in λ for t > 1, convex and decreasing for
    t < 1. So from λ = max o, where Σ_k exp_t(o_k − λ) >= 1, every Newton step stays below the
    root and the iterates rise monotonically to it, quadratically at the end; h is exactly
    linear where one class dominates or all tie. The official code's methods (jax/loss.py), a
    fixed-point iteration for t > 1 and bisection for t < 1, both run num_iters = 5 steps when
    called through the loss (the bisection's own default of 10 applies only when it is called
    alone); on Gaussian scores, K = 10, that leaves Σ_k p_k off 1 by up to 6e-3 (fixed point,
    t = 2) and 5e-2 (bisection, t = 0.8): too far for an exact gradient. Powers are
    exp(log1p(·)·c), accurate near t = 1 where 1/(1 − t) is large.
    t = 1 is the ordinary softmax, λ = logsumexp(o). (log1p by :func:`_log1p`.)
    Shape: scores (N, K) -> (N, K), (N, K), (N, K), (N, 1).
    """
    top = scores.amax(1, keepdim=True)
    if t == 1:
        log_probs, probs = softmax.log_softmax(scores)
        return probs, log_probs, probs, top - log_probs.amax(1, keepdim=True)  # logsumexp
    one_minus_t = 1.0 - t
    scaled = (scores - top).mul_(one_minus_t)  # (1 − t)(o − max o)
    lam = scores.new_zeros(scores.shape[0], 1)  # λ − max o
    for _ in range(NEWTON_STEPS.get(scores.dtype, NEWTON_STEPS_DEFAULT)):
        arg = _base_minus_one(scaled, lam, t)
        escort = _log1p(arg).mul_(t / one_minus_t).exp_()  # p^t
        # Σ p = Σ p^t·(1 + (b − 1)): the step needs the two sums, not p itself
        escort_total = escort.sum(1, keepdim=True)
        total = torch.linalg.vecdot(escort, arg).unsqueeze(1).add_(escort_total)
        # λ ← λ − h/h′ = λ − Σp·((Σp)^(t−1) − 1) / ((1 − t)·Σp^t)
        step = torch.expm1(total.log().mul_(-one_minus_t)).mul_(total)
        lam.addcdiv_(step, escort_total, value=-1.0 / one_minus_t)
    log_base, escort, probs = _powers(scaled, lam, t)
    return probs, log_base.div_(one_minus_t), escort, lam + top


def _powers(
    scaled: torch.Tensor, lam: torch.Tensor, t: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log b, b^(t/(1−t)) = p^t, b^(1/(1−t)) = p) of b = [1 + (1 − t)(o − max o − λ)]_+.

    Shape: scaled (N, K), lam (N, 1) -> three (N, K) tensors.
    """
    arg = _base_minus_one(scaled, lam, t)
    log_base = _log1p(arg)
    escort = log_base.mul(t / (1.0 - t)).exp_()
    return log_base, escort, torch.addcmul(escort, escort, arg)  # b^(t/(1−t))·(1 + (b − 1))


def _base_minus_one(scaled: torch.Tensor, lam: torch.Tensor, t: float) -> torch.Tensor:
    """b − 1 = (1 − t)(o − max o − λ), at least −1: outside the support (t < 1) b = 0, so
    p = p^t = 0 (t > 0). Shape: scaled (N, K), lam (N, 1) -> (N, K), a new tensor."""
    arg = torch.sub(scaled, lam, alpha=1.0 - t)
    return arg.clamp_min_(-1.0) if t < 1 else arg


def _log1p(x: torch.Tensor) -> torch.Tensor:
    """log(1 + x) for x >= −1 (−inf at −1), as ``torch.log1p``: in float64 that itself; else
    log u − (u − 1 − x)/u, u = 1 + x (the first-order correction of the rounding of u, within
    about 1.2 ulp of torch's: torch's float32 log1p is scalar code on the CPU, 37 ms at 4096×1000
    against 10 ms for this, 1 thread, AMD EPYC, and was two thirds of this loss's time).
    Shape: (N, K) -> (N, K), a new tensor."""
    if x.dtype == torch.float64:
        return torch.log1p(x)
    u = x + 1.0
    correction = (u - 1.0).sub_(x).div_(u)  # 0/0 at u = 0 (x = −1): log u is −inf there
    correction.nan_to_num_(nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    return u.log_().sub_(correction)


@dataclasses.dataclass(frozen=True)
class BiTempered(Loss, name="bi_tempered"):
    """Bi-tempered logistic loss (Amid, Warmuth, Anil & Koren, NeurIPS 2019), the Bregman
    divergence of the tempered logarithm log_t1 between the target t and p = tempered softmax:

        L = Σ_k [ t_k (log_t1 t_k − log_t1 p_k) − (t_k^(2−t1) − p_k^(2−t1)) / (2 − t1) ],
        p = exp_t2(o − λ(o)),  Σ_k p_k = 1   (``tempered_softmax``).

    For a label y: L = −log_t1 p_y − (1 − Σ_k p_k^(2−t1)) / (2 − t1). t1 < 1 bounds the loss
    (below 1/(1 − t1) = −log_t1 0), so a far mislabelled example stops pulling; t2 > 1 gives p a
    heavy tail, so a near mislabelled example does not stretch the boundary. t1 = t2 = 1 is
    ``ce`` on labels (and ce minus the target's entropy on probability rows: same gradient).

    Gradient, through the implicit normaliser (dp_j/do_k = p_j^t2 (δ_jk − e_k), with the escort
    e = p^t2 / Σ p^t2 = dλ/do):  g = r − e·Σ_j r_j,  r = (p − t) ⊙ p^(t2−t1)  (r_k = 0 outside
    the support when t2 < 1, where p_k is locally constant).

    Default (t1, t2) = (0.8, 1.2): a mild pair from the range the paper tunes over in its
    noisy-label experiments (it picks the pair per data set and noise rate, so it has no single
    default) and the pair most implementations default to. Ranges: 0 <= t1 <= 1 (above 1 the
    loss grows faster than ce and overflows float32 at large scores) and 0 < t2 <= 10 (above,
    λ ~ K^(t2−1)/(t2−1) overflows float32 for moderate K); t2 < 1 needs t1 < 1, else the loss is
    infinite wherever the target class falls outside the support.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    t1: float = 0.8
    t2: float = 1.2
    paper = (
        'Amid, Warmuth, Anil & Koren 2019, "Robust Bi-Tempered Logistic Loss Based on Bregman '
        'Divergences", NeurIPS'
    )
    code = "github.com/google/bi-tempered-loss, jax/loss.py (bi_tempered_logistic_loss)"
    departures = (
        "the normaliser by Newton's method to round-off (NEWTON_STEPS), where the official "
        "5-step fixed point (t2 > 1) and bisection (t2 < 1) leave Σ p off 1 by up to 6e-3 and "
        "5e-2: an exact gradient needs Σ p = 1",
        "no 1e-10 added to the target inside log_t (a shift of about 1e-10)",
    )
    applied_to = "probs"
    family = "ce-variant"
    sweep = {"t1": (0.6, 0.8, 0.9), "t2": (1.2, 2.0)}  # Amid et al. 2019
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    convex_in_scores = False  # convex only at t1 = t2 = 1 (ce)

    def validate_params(self) -> None:
        for key, low, high, low_open in (("t1", 0.0, 1.0, False), ("t2", 0.0, T2_MAX, True)):
            value = getattr(self, key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and (low < value if low_open else low <= value) and value <= high
            if not ok:
                span = f"({low:g}, {high:g}]" if low_open else f"[{low:g}, {high:g}]"
                raise ValueError(f"bi_tempered {key} must be a number in {span}, got {value!r}")
            object.__setattr__(self, key, float(value))
        if self.t2 < 1 and self.t1 == 1:
            raise ValueError(
                f"bi_tempered t2 < 1 needs t1 < 1: with t1 = 1 the loss is infinite where the "
                f"target class leaves the finite support, got t1={self.t1:g}, t2={self.t2:g}"
            )

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "applied to": f"tempered softmax probabilities (t2 = {self.t2:g})",
        }

    def compute(self, scores, target):
        t1, t2 = self.t1, self.t2
        probs, log_probs, escort, _ = tempered_softmax(scores, t2)
        u = 1.0 - t1  # log_t1(x) = expm1(u·log x)/u, and log x itself at u = 0
        soft = target.is_floating_point()
        if soft and u == 0:  # t1 = 1: Σ t log t − Σ t log p, with 0·log 0 = 0
            value = torch.xlogy(target, target).sub_(target * log_probs).sum(1)
        elif soft:
            log_target = target.log()
            value = _tempered_log(log_target, u).sub_(_tempered_log(log_probs, u))
            value = value.mul_(target).sum(1)
            target_power = (log_target * u).exp_().mul_(target).sum(1)
            value -= (target_power - _power_sum(probs, log_probs, u)) / (1.0 + u)
        else:
            labels = target.unsqueeze(1)
            value = -_tempered_log(log_probs.gather(1, labels).squeeze(1), u)
            if u > 0:
                value -= (1.0 - _power_sum(probs, log_probs, u)) / (1.0 + u)
        # r = (p − t) ⊙ p^(t2−t1): 0 outside the support (t2 < 1), where p is locally constant
        factor = log_probs.mul(t2 - t1).exp_()
        if t2 < 1:
            factor.masked_fill_(probs == 0, 0.0)
        if soft:
            residual = (probs - target).mul_(factor)
        else:
            residual = probs.mul(factor)
            residual.scatter_add_(1, labels, -factor.gather(1, labels))
        escort = escort.div_(escort.sum(1, keepdim=True))
        grad = residual.sub_(escort.mul_(residual.sum(1, keepdim=True)))
        return value.clamp_min_(0.0), grad  # a divergence: >= 0 up to round-off


def _tempered_log(log_x: torch.Tensor, u: float) -> torch.Tensor:
    """log_t(x) = (x^u − 1)/u from log x, u = 1 − t (log x itself at u = 0); −1/u at x = 0."""
    if u == 0:
        return log_x.clone()
    return torch.expm1(log_x * u).div_(u)


def _power_sum(probs: torch.Tensor, log_probs: torch.Tensor, u: float) -> torch.Tensor:
    """Σ_k p_k^(1+u) = Σ_k p_k·exp(u·log p_k). Shape: (N, K) -> (N,)."""
    return (log_probs * u).exp_().mul_(probs).sum(1)
