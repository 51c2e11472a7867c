"""Cross-entropy and its label-smoothed (soft-label) form, from log-sum-exp."""

from __future__ import annotations

import dataclasses

import torch

from losses import softmax, targets
from losses.base import Loss
from losses.true_class import split_by_softmax


@dataclasses.dataclass(frozen=True)
class CrossEntropy(Loss, name="ce"):
    """Cross-entropy −Σ_k t_k log softmax(o)_k;  gradient softmax(o) − t.

    log softmax is o − logsumexp(o) (``losses.softmax``), never log(softmax(o)), so float32
    scores of ±1e4 give finite values. For rows t that do not sum to 1 the gradient is
    (Σ_k t_k)·softmax(o) − t, the exact one of the formula (torch's, linear in t).
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    applied_to = "log_probs"
    family = "textbook"
    paper = "the textbook loss (Dive into Deep Learning, ch. 4.1)"
    code = "torch.nn.functional.cross_entropy (PyTorch)"
    departures = ()
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    convex_in_scores = True

    def compute(self, scores, target):
        if not target.is_floating_point() and scores.shape[1] >= softmax.FUSED_FROM_CLASSES:
            # many classes: one fused softmax pass, no (N, K) log-probabilities (torch.exp over
            # them costs more than the softmax kernel); exact log p_y as the p_y family's
            index = target.unsqueeze(1)
            log_p_y, _, rest, rivals, _ = split_by_softmax(scores, index)
            return log_p_y.neg_().squeeze(1), rivals.scatter_(1, index, rest.neg_())
        if target.is_floating_point():
            return soft_cross_entropy(scores, target)
        log_probs, probs = softmax.log_softmax(scores)
        value = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        return value, targets.residual_(probs, target)


@dataclasses.dataclass(frozen=True)
class SoftLabel(Loss, name="soft_label"):
    """Label-smoothed cross-entropy: ``ce`` against (1 − smoothing)·t + smoothing/K.

    Equals ``F.cross_entropy(..., label_smoothing=smoothing)``. Default smoothing 0.1, the value
    of Szegedy et al. (2016) and of most recipes since; 0 is plain ``ce``.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    smoothing: float = 0.1
    paper = (
        'Szegedy, Vanhoucke, Ioffe, Shlens & Wojna 2016, "Rethinking the '
        'Inception Architecture for Computer Vision", CVPR'
    )
    code = "torch.nn.functional.cross_entropy(label_smoothing=...) (PyTorch)"
    departures = ()
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
        eps, k = self.smoothing, scores.shape[1]
        if not target.is_floating_point() and k >= softmax.FUSED_FROM_CLASSES:
            # many classes: one fused softmax pass (as ce's); the mean log-probability is
            # mean(o) − lse with lse = o_y − log p_y, no (N, K) log-probabilities
            index = target.unsqueeze(1)
            log_p_y, _, rest, rivals, _ = split_by_softmax(scores, index)
            lse = scores.gather(1, index) - log_p_y
            uniform = scores.mean(1, keepdim=True) - lse
            value = (log_p_y * (eps - 1) - uniform * eps).squeeze(1)
            grad = rivals.sub_(eps / k).scatter_(1, index, (eps - eps / k) - rest)
            return value, grad
        log_probs, probs = softmax.log_softmax(scores)
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


def soft_cross_entropy(
    scores: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy −Σ t log p against rows t of any sum s = Σ_k t_k (torch's formula, linear
    in t), with its gradient s·p − t: p − t for probability rows, and weighted rows w ⊙ t need
    no normalising (``losses.functional``). Many classes: one fused softmax pass and
    −Σ t log p = s·lse − Σ t·o, lse = max o − log max p: no (N, K) log-probabilities.
    Shape: scores (N, K), target (N, K) -> (N,) and (N, K).
    """
    mass = target.sum(1, keepdim=True)
    if scores.shape[1] >= softmax.FUSED_FROM_CLASSES:
        probs = torch.softmax(scores, 1)
        lse = scores.amax(1, keepdim=True) - probs.amax(1, keepdim=True).log()
        value = (lse * mass).squeeze(1) - (target * scores).sum(1)
    else:
        log_probs, probs = softmax.log_softmax(scores)
        value = -(target * log_probs).sum(1)
    return value, probs.mul_(mass).sub_(target)
