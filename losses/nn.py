"""Any loss as a ``torch.nn.Module`` criterion, with its analytic gradient.

    from losses import nn as LN
    criterion = LN.FocalLoss(gamma=2, weight=w, ignore_index=255)   # or LN.Criterion("focal")
    criterion(model(x), y).backward()

:class:`Criterion` wraps any loss (a spec string or a ``losses.Loss``); the named modules below
build theirs from keywords, the loss's own parameters (its dataclass fields) beside the
criterion's. Every one calls :func:`losses.functional.loss`.
"""

from __future__ import annotations

import dataclasses

import torch

# the named modules' losses, registered before the modules read their fields (losses/__init__
# imports this package's modules alphabetically, nn before some of them)
from losses import (  # noqa: F401
    cross_entropy,
    functional,
    logit_adjusted,
    margin,
    normalized,
    sparsemax,
    tempered,
    true_class,
)
from losses.base import REGISTRY, Loss


class Criterion(torch.nn.Module):
    """A loss as a criterion with ``torch.nn.CrossEntropyLoss``'s conventions.

    ``Criterion(spec_or_loss, weight=None, ignore_index=-100, reduction="mean",
    label_smoothing=0.0)``: the loss L (``"gce:q=0.7"``, or a ``losses.Loss``) of each example,
    weighted by its class's ``weight``, 0 where the label is ``ignore_index``, reduced by
    ``reduction``: ``mean`` divides by the sum of the weights of the labels not ignored (by N
    for probability targets), as ``F.cross_entropy`` does. ``label_smoothing`` ε replaces
    labels by (1 − ε)·e_y + ε/C, for losses that accept probability rows. The gradient is the
    loss's analytic one; fp16/bf16 scores are computed in float32 (see
    :func:`losses.functional.loss` for the exact formulas).

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
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
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
    it takes are that loss class's parameters (its dataclass fields), listed in its docstring.
    """

    loss_name: str

    def __init_subclass__(cls, loss: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if loss is None:
            return
        cls.loss_name = loss
        params = ", ".join(f"``{name}={default!r}``" for name, default in parameters(loss).items())
        cls.__doc__ = (cls.__doc__ or "") + (
            f"\n    Parameters of ``{loss}``: {params or 'none'}; and the criterion's ``weight``, "
            "``ignore_index``, ``reduction``, ``label_smoothing``.\n"
        )

    def __init__(
        self, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, **params
    ) -> None:
        super().__init__(
            self.build(**params),
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


class CrossEntropyLoss(NamedCriterion, loss="ce"):
    """Cross-entropy −Σ_c t_c log softmax(o)_c, equal to ``torch.nn.CrossEntropyLoss``.

    Shape: as :class:`Criterion`.
    """


class FocalLoss(NamedCriterion, loss="focal"):
    """Softmax focal loss −(1 − p_y)^γ·log p_y (Lin et al. 2017); per-class α is ``weight``.

    Shape: as :class:`Criterion` (class-index targets only).
    """


class GCELoss(NamedCriterion, loss="gce"):
    """Generalized cross-entropy (1 − p_y^q)/q (Zhang & Sabuncu 2018), robust to label noise.

    Shape: as :class:`Criterion` (class-index targets only).
    """


class SCELoss(NamedCriterion, loss="sce"):
    """Symmetric cross-entropy −α·log p_y − β·A·(1 − p_y) (Wang et al. 2019).

    Shape: as :class:`Criterion` (class-index targets only).
    """


class NCELoss(NamedCriterion, loss="nce"):
    """Normalized cross-entropy CE(o, t) / Σ_k CE(o, e_k) (Ma et al. 2020).

    Shape: as :class:`Criterion`.
    """


class PolyLoss(NamedCriterion, loss="poly1"):
    """Poly-1 −log p_y + ε·(1 − p_y) (Leng et al. 2022).

    Shape: as :class:`Criterion` (class-index targets only).
    """


class TaylorLoss(NamedCriterion, loss="taylor"):
    """Taylor cross-entropy Σ_{k=1..t} (1 − p_y)^k / k (Feng et al. 2020).

    Shape: as :class:`Criterion` (class-index targets only).
    """


class BiTemperedLoss(NamedCriterion, loss="bi_tempered"):
    """Bi-tempered logistic loss with temperatures t1 < 1 < t2 (Amid et al. 2019).

    Shape: as :class:`Criterion`.
    """


class SparsemaxLoss(NamedCriterion, loss="sparsemax"):
    """Sparsemax loss, gradient sparsemax(o) − t (Martins & Astudillo 2016).

    Shape: as :class:`Criterion`.
    """


class MarginLoss(NamedCriterion, loss="margin"):
    """Multiclass hinge: Crammer–Singer max_{i≠y}[Δ + o_i − o_y]_+ or Weston–Watkins Σ_{i≠y}.

    Shape: as :class:`Criterion` (class-index targets only).
    """


class LogitAdjustedLoss(NamedCriterion, loss="logit_adjusted"):
    """Logit-adjusted cross-entropy: ce of o + τ·log π (Menon et al. 2021), π the training
    label prior, from ``prior=`` (C,) or ``counts=`` (C,) (π = counts / Σ counts). One of the
    two is required: without a prior the loss would be plain cross-entropy.

    Shape: as :class:`Criterion`.
    """

    def build(self, prior=None, counts=None, **params) -> Loss:
        if (prior is None) == (counts is None):
            raise ValueError(
                "LogitAdjustedLoss needs exactly one of prior= or counts= (the "
                "training labels' class frequencies); without one it is plain ce"
            )
        if counts is not None:
            counts = torch.as_tensor(counts, dtype=torch.float64)
            prior = counts / counts.sum()
        return super().build(**params).with_prior(prior)
