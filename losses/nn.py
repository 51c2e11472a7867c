"""Any loss as a ``torch.nn.Module`` criterion, with its analytic gradient.

    from losses import nn as LN
    criterion = LN.FocalLoss(gamma=2, weight=w, ignore_index=255)   # or LN.Criterion("focal")
    criterion = LN.LDAMLoss(counts=train_counts)                    # a loss that reads the prior
    criterion(model(x), y).backward()

:class:`Criterion` wraps any loss (a spec string or a ``losses.Loss``); every registered loss
also has a named module (:data:`NAMED`) that builds it from keywords, the loss's own parameters
(its dataclass fields) beside the criterion's; :class:`NCEAndRCE`, :class:`NCEAndMAE` and
:class:`ANLCELoss` build the active–passive sums. Every one calls :func:`losses.functional.loss`.

The training label prior, one rule: a loss that reads it (``logit_adjusted``,
``balanced_softmax``, ``ldam``, ``vs``) takes it as ``prior=`` (K,) or ``counts=`` (K,) (the
training labels' class counts, π = counts / Σ counts); without one the criterion refuses, naming
the constructor that takes it. (A bare loss object, ``losses.parse("ldam")``, is the trainer's:
the trainer binds the prior with ``with_prior``, and unbound it computes with a uniform prior.)
Losses that do not read the prior ignore both keywords, as their ``with_prior`` does.
"""

from __future__ import annotations

import dataclasses

import torch

# the named modules' losses, registered before the modules read their fields (losses/__init__
# imports this package's modules alphabetically, nn before some of them)
from losses import (  # noqa: F401
    asymmetric,
    calibration,
    cross_entropy,
    functional,
    jensen_shannon,
    logit_adjusted,
    long_tail,
    margin,
    normalized,
    one_vs_all,
    regression,
    sparsemax,
    square,
    tempered,
    true_class,
)
from losses.base import REGISTRY, Loss
from losses.prior import CONSTRUCTORS, reads_prior, with_training_prior
from losses.sums import WeightedSum

# registered loss name -> its named module, filled as each module class is defined
NAMED: dict[str, type[NamedCriterion]] = {}


class Criterion(torch.nn.Module):
    """A loss as a criterion with ``torch.nn.CrossEntropyLoss``'s conventions.

    ``Criterion(spec_or_loss, prior=None, counts=None, weight=None, ignore_index=-100,
    reduction="mean", label_smoothing=0.0)``: the loss L (``"gce:q=0.7"``, or a
    ``losses.Loss``) of each example, weighted by its class's ``weight``, 0 where the label is
    ``ignore_index``, reduced by ``reduction``: ``mean`` divides by the sum of the weights of
    the labels not ignored (by N for probability targets), as ``F.cross_entropy`` does.
    ``label_smoothing`` ε replaces labels by (1 − ε)·e_y + ε/C, for losses that accept
    probability rows. The gradient is the loss's analytic one; fp16/bf16 scores are computed
    in float32 (see :func:`losses.functional.loss` for the exact formulas).

    ``prior`` (C,) or ``counts`` (C,): the training label prior π, or the class counts it is
    taken from (π = counts / Σ counts), for a loss that reads it (``logit_adjusted``,
    ``balanced_softmax``, ``ldam``, ``vs``, or a sum with one of them): required there, a
    ValueError naming this keyword without it; ignored by every other loss.

    Shape:
        - Input: (N, C) or (N, C, d1, ..., dk) scores.
        - Target: (N) or (N, d1, ..., dk) class indices of any integer dtype, or probability
          rows of the input's shape (losses with ``accepts_soft_targets``).
        - Output: a scalar for ``mean`` and ``sum``; (N) or (N, d1, ..., dk) for ``none``.
    """

    def __init__(
        self,
        spec_or_loss: str | Loss,
        *,
        prior: torch.Tensor | None = None,
        counts: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(spec_or_loss, str):
            import losses

            spec_or_loss = losses.parse(spec_or_loss)
        if isinstance(spec_or_loss, Loss):
            spec_or_loss = with_training_prior(spec_or_loss, prior, counts)
        self.loss = functional.resolve(spec_or_loss)
        functional.check_options(self.loss, reduction, label_smoothing)
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight))
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002
        return functional.loss(
            self.loss,
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        return (
            f"loss={str(self.loss)!r}, ignore_index={self.ignore_index}, "
            f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"
        )


class NamedCriterion(Criterion):
    """A criterion of one registered loss, its parameters given as keywords.

    A subclass names its loss (``class FocalLoss(NamedCriterion, loss="focal")``); the keywords
    it takes are that loss class's parameters (its dataclass fields), listed in its docstring,
    and ``prior=`` / ``counts=`` for a loss that reads the training prior.
    """

    loss_name: str

    def __init_subclass__(cls, loss: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if loss is None:
            return
        cls.loss_name = loss
        NAMED[loss] = cls
        CONSTRUCTORS[loss] = cls.__name__
        params = ", ".join(f"``{name}={default!r}``" for name, default in parameters(loss).items())
        prior = (
            " Needs the training label prior: ``prior=`` (C,) or ``counts=`` (C,)."
            if reads_prior(loss)
            else ""
        )
        soft = "" if REGISTRY[loss].accepts_soft_targets else " (class-index targets only)"
        cls.__doc__ = (cls.__doc__ or "").rstrip() + (
            f"\n\n    Parameters of ``{loss}``: {params or 'none'}; and the criterion's "
            f"``weight``, ``ignore_index``, ``reduction``, ``label_smoothing``.{prior}\n"
            f"\n    Shape: as :class:`Criterion`{soft}.\n"
        )

    def __init__(
        self,
        *,
        prior=None,
        counts=None,
        weight=None,
        ignore_index=-100,
        reduction="mean",
        label_smoothing=0.0,
        **params,
    ) -> None:
        super().__init__(
            self.build(**params),
            prior=prior,
            counts=counts,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )

    def build(self, **params) -> Loss:
        """The loss of these parameters; ValueError naming the allowed ones for any other."""
        allowed = parameters(self.loss_name)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no parameter {', '.join(unknown)}; its "
                f"loss's parameters are: {', '.join(allowed) or '(none)'}"
            )
        return REGISTRY[self.loss_name](**params)


def parameters(name: str) -> dict[str, object]:
    """A registered loss's parameters and their defaults: the dataclass fields its spec
    string carries (``compare=False`` fields such as a bound prior are the data's, not the
    loss's)."""
    return {f.name: f.default for f in dataclasses.fields(REGISTRY[name]) if f.compare}


# -- textbook and ce variants --------------------------------------------------------------------
class CrossEntropyLoss(NamedCriterion, loss="ce"):
    """Cross-entropy −Σ_c t_c log softmax(o)_c, equal to ``torch.nn.CrossEntropyLoss``."""


class LabelSmoothingLoss(NamedCriterion, loss="soft_label"):
    """Cross-entropy against (1 − ε)·t + ε/K (Szegedy et al. 2016), ε the loss's
    ``smoothing`` (the criterion's ``label_smoothing`` is the same thing done by the criterion).
    """


class L2Loss(NamedCriterion, loss="l2"):
    """½·Σ_k (p_k − t_k)², p = softmax(o) (``on="probs"``) or p = o (``on="scores"``)."""


class L1Loss(NamedCriterion, loss="l1"):
    """Σ_k |p_k − t_k|, p = softmax(o) or o; on probabilities it is MAE = 2(1 − p_y)."""


class HuberLoss(NamedCriterion, loss="huber"):
    """Σ_k h_δ(p_k − t_k), Huber's loss of the residual, p = softmax(o) or o (not
    ``torch.nn.HuberLoss``, a regression loss of raw outputs).
    """


class FocalLoss(NamedCriterion, loss="focal"):
    """Softmax focal loss −(1 − p_y)^γ·log p_y (Lin et al. 2017); per-class α is ``weight``."""


class PolyLoss(NamedCriterion, loss="poly1"):
    """Poly-1 −log p_y + ε·(1 − p_y) (Leng et al. 2022)."""


class BiTemperedLoss(NamedCriterion, loss="bi_tempered"):
    """Bi-tempered logistic loss with temperatures t1 < 1 < t2 (Amid et al. 2019)."""


class BinaryCrossEntropyLoss(NamedCriterion, loss="bce"):
    """One-vs-all sigmoid BCE Σ_k BCE(σ(o_k), t_k) on the logits, summed over classes (timm's
    ``BinaryCrossEntropy`` averages over them: a factor K).
    """


class HuiBelkinLoss(NamedCriterion, loss="hui_belkin"):
    """The rescaled square loss on raw scores (Hui & Belkin 2021)."""


# -- noise-robust ------------------------------------------------------------------------------
class GCELoss(NamedCriterion, loss="gce"):
    """Generalized cross-entropy (1 − p_y^q)/q (Zhang & Sabuncu 2018), robust to label noise."""


class SCELoss(NamedCriterion, loss="sce"):
    """Symmetric cross-entropy −α·log p_y − β·A·(1 − p_y) (Wang et al. 2019)."""


class RCELoss(NamedCriterion, loss="rce"):
    """Reverse cross-entropy −A·(1 − p_y) (Wang et al. 2019), A standing for log 0."""


class NCELoss(NamedCriterion, loss="nce"):
    """Normalized cross-entropy CE(o, t) / Σ_k CE(o, e_k) (Ma et al. 2020)."""


class NNCELoss(NamedCriterion, loss="nnce"):
    """Normalized negative cross-entropy (Ye et al. 2023), the passive half of ANL-CE
    (:class:`ANLCELoss`).
    """


class TaylorLoss(NamedCriterion, loss="taylor"):
    """Taylor cross-entropy Σ_{k=1..t} (1 − p_y)^k / k (Feng et al. 2020)."""


class AGCELoss(NamedCriterion, loss="agce"):
    """Asymmetric GCE ((a + 1)^q − (a + p_y)^q)/q (Zhou et al. 2021)."""


class AULLoss(NamedCriterion, loss="aul"):
    """Asymmetric unhinged loss ((a − p_y)^q − (a − 1)^q)/q (Zhou et al. 2021)."""


class AELLoss(NamedCriterion, loss="ael"):
    """Asymmetric exponential loss exp(−p_y/a) (Zhou et al. 2021)."""


class JensenShannonLoss(NamedCriterion, loss="js"):
    """The π1-weighted Jensen–Shannon divergence between e_y and p, scaled (Englesson &
    Azizpour 2021).
    """


# -- margins, sparse, calibration ------------------------------------------------------------
class SparsemaxLoss(NamedCriterion, loss="sparsemax"):
    """Sparsemax loss, gradient sparsemax(o) − t (Martins & Astudillo 2016)."""


class MarginLoss(NamedCriterion, loss="margin"):
    """Multiclass hinge: Crammer–Singer max_{i≠y}[Δ + o_i − o_y]_+ or Weston–Watkins Σ_{i≠y}."""


class MbLSLoss(NamedCriterion, loss="mbls"):
    """Margin-based label smoothing: ce + λ·mean_k [max_j o_j − o_k − margin]_+ (Liu et al.
    2022).
    """


class LogitNormLoss(NamedCriterion, loss="logitnorm"):
    """Cross-entropy of the scores normalised to norm 1/t (Wei et al. 2022)."""


class DualFocalLoss(NamedCriterion, loss="dual_focal"):
    """Dual focal loss (Tao, Dong & Xu 2023): focal with the runner-up's probability added."""


# -- long tail: these read the training label prior -----------------------------------------
class LogitAdjustedLoss(NamedCriterion, loss="logit_adjusted"):
    """Logit-adjusted cross-entropy: ce of o + τ·log π (Menon et al. 2021), π the training
    label prior. Without a prior it would be plain ``ce``: the criterion refuses instead.
    """


class BalancedSoftmaxLoss(NamedCriterion, loss="balanced_softmax"):
    """Balanced softmax: ce of o + log π (Ren et al. 2020), ``logit_adjusted`` at τ = 1."""


class LDAMLoss(NamedCriterion, loss="ldam"):
    """LDAM: ce of s·(o − Δ_y·e_y), Δ_j ∝ n_j^(−1/4) (Cao et al. 2019); ``counts=`` are the
    n_j. Its deferred re-weighting (DRW) is the criterion's ``weight``, set by your schedule.
    """


class VSLoss(NamedCriterion, loss="vs"):
    """Vector-scaling loss: ce of (n_j/n_max)^γ·o_j + τ·log π_j (Kini et al. 2021)."""


# -- the active–passive sums -----------------------------------------------------------------
class NCEAndRCE(Criterion):
    """NCE+RCE (Ma et al. 2020): α·NCE + β·RCE, RCE = −A·(1 − p_y): ``α*nce+β*rce:a=A``.

    APL's official code (github.com/HanxunH/Active-Passive-Losses, ``loss.py``, ``NCEandRCE``)
    clamps the one-hot label at 1e-4 inside RCE's log, so its A is ln 1e-4 ≈ −9.21: its
    ``NCEandRCE(alpha, beta)`` is ``NCEAndRCE(alpha, beta, a=math.log(1e-4))`` here, or
    ``α*nce+2.30β*rce`` at the default A = −4 (ln 1e4 / 4 = 2.303). Its settings: α = β = 1
    on CIFAR-10 (``1*nce+2.30*rce``), α = 1, β = 10 on MNIST, α = 10, β = 0.1 on CIFAR-100.
    It also clamps p at 1e-7 inside RCE; nothing is clamped here.
    Keywords: ``alpha``, ``beta``, ``a`` and the criterion's. Shape: as :class:`Criterion`
    (class-index targets only).
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, *, a: float = -4.0, **criterion):
        terms = ((alpha, normalized.NormalizedCrossEntropy()),)
        terms += ((beta, true_class.ReverseCrossEntropy(a=a)),)
        super().__init__(WeightedSum(terms), **criterion)


class NCEAndMAE(Criterion):
    """NCE+MAE (Ma et al. 2020): α·NCE + β·MAE with the paper's MAE = Σ_k |p_k − t_k| =
    2(1 − p_y) (``l1``): ``α*nce+β*l1``.

    APL's official code (github.com/HanxunH/Active-Passive-Losses, ``loss.py``,
    ``MeanAbsoluteError``) computes MAE as 1 − p_y, half the paper's: its
    ``NCEandMAE(alpha, beta)`` is ``NCEAndMAE(alpha, beta / 2)`` here. Its CIFAR-10 setting
    α = β = 1 is ``1*nce+0.5*l1``; MNIST's α = 1, β = 10 is ``1*nce+5*l1``.
    Keywords: ``alpha``, ``beta`` and the criterion's. Shape: as :class:`Criterion`.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, **criterion):
        terms = ((alpha, normalized.NormalizedCrossEntropy()), (beta, regression.L1()))
        super().__init__(WeightedSum(terms), **criterion)


class ANLCELoss(Criterion):
    """ANL-CE (Ye et al. 2023): α·NCE + β·NNCE, ``α*nce+β*nnce``; the official code
    (github.com/Virusdoll/Active-Negative-Loss) uses α = β = 1 on MNIST and 5, 5 on CIFAR-10.
    Keywords: ``alpha``, ``beta``, ``min_prob`` and the criterion's. Shape: as
    :class:`Criterion` (class-index targets only).
    """

    def __init__(
        self, alpha: float = 1.0, beta: float = 1.0, *, min_prob: float = 1e-7, **criterion
    ):
        terms = ((alpha, normalized.NormalizedCrossEntropy()),)
        terms += ((beta, normalized.NormalizedNegativeCrossEntropy(min_prob=min_prob)),)
        super().__init__(WeightedSum(terms), **criterion)
