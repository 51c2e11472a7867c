"""Models as parts: a registry of model specs (``--model linear``), each one module.

from bench import models
part = models.parse("linear")
model = part.init(seed=0, num_inputs=784, num_classes=10)
"""

from __future__ import annotations

from bench.models import lenet, linear, mlp, module  # noqa: F401  (fill the registry)
from bench.models.base import ModelPart, training_scores

__all__ = ["ModelPart", "canonical", "names", "parse", "training_scores"]
DEFAULT = "linear"


def names() -> list[str]:
    return ModelPart.names()


def parse(spec: str) -> ModelPart:
    """The model part of ``spec``; ValueError (one line) for an unknown name or parameter."""
    return ModelPart.parse(spec)


def canonical(spec: str) -> str:
    """The spec as results.csv writes it."""
    return str(parse(spec))
