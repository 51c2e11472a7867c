"""What a loss is: validation, the call protocol and the spec string, shared by every loss.

A loss maps scores ``o`` (N, K) and a target (N,) labels or (N, K) probability rows to the
per-example loss (N,) and its analytic gradient with respect to the scores (N, K). Subclasses
write one method, :meth:`Loss.compute`, with the value and the gradient side by side; validation,
dtype and shape checks live here, once.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from losses import targets

REGISTRY: dict[str, type[Loss]] = {}


@dataclasses.dataclass(frozen=True)
class Loss:
    """Base class of every loss: a frozen dataclass whose fields are the loss's parameters.

    Shape:
        scores: (N, K) floating point.
        target: (N,) int64 labels in [0, K), or (N, K) probability rows (non-negative, each
            summing to 1) for losses with ``accepts_soft_targets``.
        Output: ``loss(...)`` (N,); ``loss.grad(...)`` (N, K); both in the dtype and on the
            device of ``scores``. No reduction: the caller averages.
    """

    name: ClassVar[str]
    accepts_soft_targets: ClassVar[bool] = True
    convex_in_scores: ClassVar[bool] = False

    def __init_subclass__(cls, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name = name
            REGISTRY[name] = cls

    def __post_init__(self) -> None:
        self.validate_params()

    def validate_params(self) -> None:
        """Raise ValueError for parameters out of range; subclasses extend it."""

    # -- the one method a loss writes ---------------------------------------------------------
    def compute(
        self, scores: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (value (N,), grad (N, K)) for validated inputs; ``target`` is as given."""
        raise NotImplementedError

    # -- the public protocol ------------------------------------------------------------------
    def __call__(
        self, scores: torch.Tensor, target: torch.Tensor, *, check: bool = True
    ) -> torch.Tensor:
        """Per-example loss, shape (N,)."""
        return self.value_and_grad(scores, target, check=check)[0]

    def grad(
        self, scores: torch.Tensor, target: torch.Tensor, *, check: bool = True
    ) -> torch.Tensor:
        """Gradient of each example's loss with respect to its scores, shape (N, K)."""
        return self.value_and_grad(scores, target, check=check)[1]

    def value_and_grad(
        self, scores: torch.Tensor, target: torch.Tensor, *, check: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example loss (N,) and its gradient (N, K), sharing the work; what the trainer calls.

        ``check=False`` skips the checks on target *values* (label range, normalisation), which
        read the data back to the host; the trainer validates its labels once, up front. Shape
        checks are always made: they cost nothing.
        """
        targets.check_scores(scores)
        soft = isinstance(target, torch.Tensor) and target.is_floating_point()
        if soft and not self.accepts_soft_targets:
            raise ValueError(
                f"{self.name} needs integer class labels of shape (N,), "
                f"not probability rows of shape {tuple(target.shape)}"
            )
        targets.check_target(scores, target, check_values=check)
        self.check_against(scores)
        return self.compute(scores, target)

    def check_against(self, scores: torch.Tensor) -> None:
        """Raise ValueError where a parameter does not fit these scores (e.g. a K×K matrix)."""

    # -- spec strings -------------------------------------------------------------------------
    def params(self) -> dict[str, object]:
        """The loss's parameters, by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __str__(self) -> str:
        parts = [self.name] + [f"{k}={_format(v)}" for k, v in self.params().items()]
        return ":".join(parts)

    def describe(self) -> dict[str, str]:
        """What makes this loss comparable to others, in words: where it is applied, the
        target encoding, the margin; every loss here is summed over classes per example and
        averaged over the batch by the caller."""
        return {
            "applied to": "raw scores",
            "target": "one-hot",
            "margin": "—",
            "reduction": "sum over classes; mean over the batch",
        }

    def plot(self, axes=None):
        """Draw this loss's loss, likelihood exp(-l) and gradient curves (see losses.plots)."""
        from losses import plots

        return plots.plot_loss(self, axes=axes)


def _format(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return "matrix" + "x".join(map(str, value.shape))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
