"""The logit-adjusted loss for long-tailed data: ce with the scores shifted by the label prior."""

from __future__ import annotations

import dataclasses
import math

import torch

from losses.cross_entropy import CrossEntropy


@dataclasses.dataclass(frozen=True)
class LogitAdjusted(CrossEntropy, name="logit_adjusted"):
    """Logit-adjusted cross-entropy (Menon et al. 2021, "Long-tail learning via logit adjustment"):
    ``ce`` on o + τ·log π, with π the training label prior;  gradient softmax(o + τ·log π) − t.

    Rare classes get a larger margin during training; prediction stays argmax(o), so the model
    learns to favour them where a plain ``ce`` model would not. Default τ = 1, the paper's. π comes
    from the training labels, bound by the trainer (:meth:`with_prior`); a loss object left
    unbound uses a uniform prior, where the loss equals ``ce`` (as on any balanced dataset), so
    the criteria refuse to run without ``counts=`` or ``prior=``
    (``losses.nn.LogitAdjustedLoss(counts=...)``; the rule is ``losses.prior``'s).
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    tau: float = 1.0
    paper = (
        'Menon, Jayasumana, Rawat, Jain, Veit & Kumar 2021, "Long-tail learning '
        'via logit adjustment", ICLR'
    )
    code = "github.com/google-research/google-research, logit_adjustment/ (TensorFlow)"
    departures = ()
    log_prior: torch.Tensor | None = dataclasses.field(default=None, compare=False, repr=False)
    applied_to = "log_probs"
    family = "ce-variant"
    sweep = {"tau": (0.5, 1.0, 1.5, 2.0)}  # Menon et al. 2021
    target_encoding = "one-hot"
    accepts_soft_targets = True
    convex_in_scores = True

    def validate_params(self) -> None:
        if not (isinstance(self.tau, int | float) and math.isfinite(self.tau)):
            raise ValueError(f"logit_adjusted tau must be a finite number, got {self.tau!r}")
        object.__setattr__(self, "tau", float(self.tau))

    def params(self) -> dict[str, object]:
        return {"tau": self.tau}  # the prior belongs to the data, not to the spec

    def with_prior(self, prior: torch.Tensor) -> LogitAdjusted:
        prior = torch.as_tensor(prior, dtype=torch.float64)
        if prior.dim() != 1 or not bool((prior > 0).all()):
            raise ValueError(
                "logit_adjusted needs a prior of shape (K,) with every class > 0: "
                "a class absent from the training labels has no logit adjustment"
            )
        return dataclasses.replace(self, log_prior=prior.log())

    def check_against(self, scores):
        if self.log_prior is not None and self.log_prior.shape[0] != scores.shape[1]:
            raise ValueError(
                f"logit_adjusted prior has {self.log_prior.shape[0]} classes but "
                f"scores have K = {scores.shape[1]}"
            )

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "margin": f"τ·log π, τ = {self.tau:g} (training prior)"}

    def compute(self, scores, target):
        if self.log_prior is None:
            return super().compute(scores, target)
        # ce of the shifted scores; d(o + τ·log π)/do = I, so its gradient is the gradient at o
        return super().compute(
            scores + self.tau * self.log_prior.to(scores.device, scores.dtype), target
        )


@dataclasses.dataclass(frozen=True)
class BalancedSoftmax(LogitAdjusted, name="balanced_softmax"):
    """Balanced softmax (Ren et al. 2020, "Balanced Meta-Softmax for Long-Tailed Visual
    Recognition", NeurIPS): ``ce`` on o + log π, i.e. ``logit_adjusted:tau=1`` under its own
    name, so users find it. τ is fixed at 1; use ``logit_adjusted:tau=T`` for another.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    paper = (
        'Ren, Yu, Ma, Zhao, Yi & Li 2020, "Balanced Meta-Softmax for Long-Tailed '
        'Visual Recognition", NeurIPS'
    )
    code = "github.com/jiawei-ren/BalancedMetaSoftmax-Classification, loss/BalancedSoftmaxLoss.py"
    departures = ()

    def validate_params(self) -> None:
        if self.tau != 1:
            raise ValueError(
                f"balanced_softmax is logit_adjusted with tau=1, got tau={self.tau!r}:"
                " use logit_adjusted:tau=T for another tau"
            )
        object.__setattr__(self, "tau", 1.0)

    def params(self) -> dict[str, object]:
        return {}
