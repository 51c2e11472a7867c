"""The training label prior π, for the losses that read it: bound from ``prior`` or ``counts``.

One rule for every loss that reads it (``logit_adjusted``, ``balanced_softmax``, ``ldam``,
``vs``, and a sum with one of them): the criteria (``losses.nn``) take ``prior=`` (K,) or
``counts=`` (K,), π = counts / Σ counts, and without either refuse with :func:`needs_prior`'s
error, which names the constructor that takes it. A bare loss object is the trainer's: the trainer
binds the prior of its training labels (``Loss.with_prior``), and unbound the loss computes with
a uniform prior. Every other loss ignores the prior (its ``with_prior`` returns itself).
"""

from __future__ import annotations

import dataclasses

import torch

from losses.base import REGISTRY, Loss
from losses.sums import WeightedSum

# Each loss's named criterion in losses.nn (``"ldam": "LDAMLoss"``), filled by losses.nn as it
# defines them, so the error below names the right constructor without importing the criteria.
CONSTRUCTORS: dict[str, str] = {}


def with_training_prior(loss: Loss, prior=None, counts=None) -> Loss:
    """``loss`` with the training label prior bound, from ``prior`` (K,) or ``counts`` (K,).

    A loss that does not read the prior comes back as it is; one that reads it and gets
    neither raises :func:`needs_prior`'s ValueError. Shape: prior, counts (K,).
    """
    if prior is not None and counts is not None:
        raise ValueError("pass prior= or counts=, not both (counts give π = counts / Σ counts)")
    if counts is not None:
        counts = torch.as_tensor(counts, dtype=torch.float64)
        ok = counts.dim() == 1 and bool(counts.isfinite().all()) and bool((counts >= 0).all())
        if not (ok and counts.sum() > 0):
            raise ValueError(
                "counts must be the training labels' class counts: shape (C,), finite, "
                f">= 0 and not all 0, got shape {tuple(counts.shape)}"
            )
        prior = counts / counts.sum()
    if prior is not None:
        loss = loss.with_prior(prior)
    missing = unbound(loss)
    if missing:
        raise needs_prior(loss, missing[0])
    return loss


def unbound(loss: Loss) -> list[Loss]:
    """The losses in ``loss`` (itself, or a sum's terms) that read the prior and hold none: a
    loss that reads it overrides ``with_prior`` and keeps it in ``compare=False`` fields."""
    if isinstance(loss, WeightedSum):
        return [part for _, term in loss.terms for part in unbound(term)]
    if type(loss).with_prior is Loss.with_prior:
        return []
    data = [f.name for f in dataclasses.fields(loss) if not f.compare]
    return [loss] if data and all(getattr(loss, name) is None for name in data) else []


def needs_prior(loss: Loss, part: Loss | None = None) -> ValueError:
    """The one error for a loss (or the term ``part`` of a sum) that reads the training prior
    and was given none; it names the constructor that takes it."""
    part = loss if part is None else part
    named = None if isinstance(loss, WeightedSum) else CONSTRUCTORS.get(loss.name)
    example = (
        f"losses.nn.{named}(counts=counts)"
        if named is not None
        else f"losses.nn.Criterion({str(loss)!r}, counts=counts)"
    )
    return ValueError(
        f"{part.name} needs the training label prior: pass counts= (the training labels' "
        f"class counts) or prior=, as in {example}"
    )


def reads_prior(name: str) -> bool:
    """Whether the registered loss ``name`` reads the training label prior."""
    return REGISTRY[name].with_prior is not Loss.with_prior
