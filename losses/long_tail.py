"""Margins for long-tailed data from the training label prior: LDAM (Cao et al. 2019) and the
vector-scaling loss VS (Kini et al. 2021). Class counts n_j enter only through ratios, so the
prior π_j = n_j/n stands for them. The prior, one rule for every loss that reads it
(``losses.prior``): the trainer binds its training labels' prior
(:meth:`~losses.base.Loss.with_prior`), and a loss object left unbound computes with a uniform
prior; the criteria take ``counts=`` or ``prior=`` (``losses.nn.LDAMLoss(counts=...)``,
``losses.nn.VSLoss(counts=...)``) and refuse to run without one.
"""

from __future__ import annotations

import dataclasses

import torch

from losses import softmax, targets
from losses.base import Loss
from losses.cross_entropy import CrossEntropy
from losses.true_class import set_number


def checked_prior(name: str, prior) -> torch.Tensor:
    """The prior as float64 (K,), every class > 0; one-line ValueError otherwise."""
    prior = torch.as_tensor(prior, dtype=torch.float64)
    if prior.dim() != 1 or not bool((prior > 0).all()) or not bool(prior.isfinite().all()):
        raise ValueError(
            f"{name} needs a prior of shape (K,) with every class > 0: a class "
            "absent from the training labels has no margin"
        )
    return prior


def check_classes(name: str, bound: torch.Tensor | None, scores: torch.Tensor) -> None:
    if bound is not None and bound.shape[0] != scores.shape[1]:
        raise ValueError(
            f"{name} prior has {bound.shape[0]} classes but scores have K = {scores.shape[1]}"
        )


@dataclasses.dataclass(frozen=True)
class LabelDistributionAwareMargin(Loss, name="ldam"):
    """LDAM (Cao et al. 2019, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
    Loss", NeurIPS; code github.com/kaidic/LDAM-DRW): ce on z = s·(o − Δ_y·e_y),
        Δ_j = max_margin · (n_j / n_min)^(−1/4)   (largest, for the rarest class, = max_margin);
    gradient ∇ₒ = s·(softmax(z) − e_y). On raw scores s is an inverse temperature: the paper's
    code pairs it with cosine logits (normalised features and weights, |o_j| <= 1), where s = 30
    makes the margins matter; on a linear model's raw scores it scales the scores themselves.
    Defaults max_margin = 0.5, s = 30: the paper's CIFAR setting (its code's ``max_m``, ``s``).
    The paper fixes them; the sweep brackets them. Its deferred re-weighting (DRW) schedule is
    a trainer's, not a loss's, and is not here.
    Unbound (uniform prior) every class gets max_margin; max_margin = 0 with s = 1 is ``ce``.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    max_margin: float = 0.5
    s: float = 30.0
    paper = (
        'Cao, Wei, Gaidon, Arechiga & Ma 2019, "Learning Imbalanced Datasets with '
        'Label-Distribution-Aware Margin Loss", NeurIPS'
    )
    code = "github.com/kaidic/LDAM-DRW, losses.py (LDAMLoss)"
    departures = (
        (
            "the paper's cosine logits (normalised features and weights) are the "
            "model's; here s scales whatever scores come in"
        ),
        ("the deferred re-weighting (DRW) schedule is the trainer's (the criterion's weight=)"),
    )
    # (Δ (K,), log π (K,)) once a prior is bound
    adjust: tuple | None = dataclasses.field(default=None, compare=False, repr=False)
    applied_to = "log_probs"
    family = "long-tail"
    target_encoding = "class label"
    convex_in_scores = True
    sweep = {"max_margin": (0.1, 0.3, 0.5), "s": (1.0, 10.0, 30.0)}

    def validate_params(self) -> None:
        set_number(self, "max_margin", lambda m: m >= 0, "a finite number >= 0")
        set_number(self, "s", lambda s: s > 0, "a finite number > 0")

    def params(self) -> dict[str, object]:
        return {"max_margin": self.max_margin, "s": self.s}  # the prior belongs to the data

    def with_prior(self, prior) -> LabelDistributionAwareMargin:
        prior = checked_prior(self.name, prior)
        quarter = prior.pow(-0.25)
        margins = quarter * (self.max_margin / quarter.max())
        return dataclasses.replace(self, adjust=(margins, prior.log()))

    def check_against(self, scores):
        check_classes(self.name, None if self.adjust is None else self.adjust[0], scores)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "margin": f"Δ_y ∝ n_y^(−1/4), max {self.max_margin:g}; s = {self.s:g} (training prior)",
        }

    def compute(self, scores, target):
        index = target.unsqueeze(1)
        if self.adjust is None:
            margin = scores.new_full((scores.shape[0], 1), self.max_margin)
        else:
            margin = self.adjust[0].to(scores.device, scores.dtype)[index]
        shifted = scores.scatter_add(1, index, -margin)
        if self.s != 1:
            shifted = shifted.mul_(self.s)
        log_probs, probs = softmax.log_softmax(shifted)
        grad = targets.residual(probs, target)
        return -log_probs.gather(1, index).squeeze(1), grad.mul_(self.s) if self.s != 1 else grad


@dataclasses.dataclass(frozen=True)
class VectorScaling(Loss, name="vs"):
    """VS loss (Kini et al. 2021, "Label-Imbalanced and Group-Sensitive Classification under
    Overparameterization", NeurIPS; code github.com/orparask/VS-Loss): ce on z = Δ ⊙ o + ι,
        Δ_j = (n_j / n_max)^γ (multiplicative),  ι_j = τ·log π_j (additive, as logit_adjusted);
    gradient ∇ₒ = Δ ⊙ (softmax(z) − t). γ = 0 is ``logit_adjusted`` at the same τ (exactly:
    Δ = 1); unbound (uniform prior) it is ``ce``. Defaults γ = 0.3, τ = 1: the official
    ``VSLoss``'s defaults (its x / (n_max/n_j)^γ is the Δ ⊙ o here); the sweep brackets them
    and the γ = 0.15, τ = 1.25 of published CIFAR-10-LT code: γ ∈ {0.1, 0.15, 0.2, 0.3},
    τ ∈ {1, 1.25}.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    gamma: float = 0.3
    tau: float = 1.0
    paper = (
        'Kini, Paraskevas, Oymak & Thrampoulidis 2021, "Label-Imbalanced and '
        'Group-Sensitive Classification under Overparameterization", NeurIPS'
    )
    code = "github.com/orparask/VS-Loss, losses.py (VSLoss)"
    departures = ()
    # ((n_j/n_max)^γ (K,), log π (K,)) once a prior is bound
    adjust: tuple | None = dataclasses.field(default=None, compare=False, repr=False)
    applied_to = "log_probs"
    family = "long-tail"
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    sweep = {"gamma": (0.1, 0.15, 0.2, 0.3), "tau": (1.0, 1.25)}

    def validate_params(self) -> None:
        set_number(self, "gamma", lambda g: g >= 0, "a finite number >= 0")
        set_number(self, "tau", lambda t: True, "a finite number")

    def params(self) -> dict[str, object]:
        return {"gamma": self.gamma, "tau": self.tau}  # the prior belongs to the data

    def with_prior(self, prior) -> VectorScaling:
        prior = checked_prior(self.name, prior)
        scale = (prior / prior.max()).pow(self.gamma)
        return dataclasses.replace(self, adjust=(scale, prior.log()))

    def check_against(self, scores):
        check_classes(self.name, None if self.adjust is None else self.adjust[0], scores)

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "margin": f"(n_j/n_max)^γ·o_j + τ·log π_j, γ = "
            f"{self.gamma:g}, τ = {self.tau:g} (training prior)",
        }

    def compute(self, scores, target):
        if self.adjust is None:
            return CrossEntropy.compute(self, scores, target)
        scale, log_prior = (part.to(scores.device, scores.dtype) for part in self.adjust)
        # ce of the adjusted scores (as logit_adjusted's), its gradient times d(adjusted)/do
        value, grad = CrossEntropy.compute(self, scores * scale + self.tau * log_prior, target)
        return value, grad.mul_(scale)
