"""What a loss is: its declarations, validation, the call protocol and the spec string.

A loss maps scores ``o`` (N, K) and a target (N,) labels or (N, K) probability rows to the
per-example loss (N,) and its gradient with respect to the scores (N, K). A loss class writes
**either** :meth:`Loss.compute` (value and analytic gradient, side by side) **or** only
:meth:`Loss.value` (the gradient then comes from autograd, ``grad_source == "autograd"``);
validation, dtype and shape checks live here, once. Nothing here imports the figures
(``losses.plots``) or the criteria (``losses.functional``, which imports this): the protocol
reaches autograd through ``losses.analytic`` alone.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from losses import analytic, targets

REGISTRY: dict[str, type[Loss]] = {}

# Where a loss is applied, and the words the report uses for it.
APPLIED_TO = ("scores", "probs", "log_probs")
APPLIED_WORDS = {
    "scores": "raw scores",
    "probs": "softmax probabilities",
    "log_probs": "log-softmax of the scores",
}
# The families the report groups losses by; None (a user's loss) reads as "user".
FAMILIES = (
    "textbook",
    "noise-robust",
    "ce-variant",
    "long-tail",
    "calibration",
    "margin-sparse",
    "square",
    "user",
)
GRAD_SOURCES = ("analytic", "autograd")


@dataclasses.dataclass(frozen=True)
class Loss:
    """Base class of every loss: a frozen dataclass whose fields are the loss's parameters.

    Declarations a class makes (the report, the plots and calibration read them, never guess):
        ``applied_to``: one of ``APPLIED_TO``, or None (not declared).
        ``family``: one of ``FAMILIES``, or None (a user's loss).
        ``target_encoding``: the target in short words ("one-hot", "class label"), or None.
        ``accepts_soft_targets``: whether (N, K) probability rows are defined; False unless
            declared, so a user's loss that reads labels is never fed probability rows.
        ``convex_in_scores``: whether each example's loss is convex in its scores.
        ``sweep``: the values of its own hyperparameters that its paper swept, by parameter name
            (e.g. ``{"q": (0.3, 0.5, 0.7, 0.9)}``); the study tunes over their product jointly
            with the rate. Empty: nothing to tune but the rate.

    Shape:
        scores: (N, K) floating point.
        target: (N,) int64 labels in [0, K), or (N, K) probability rows (non-negative, each
            summing to 1) for losses with ``accepts_soft_targets``.
        Output: ``loss(...)`` (N,); ``loss.grad(...)`` (N, K); both in the dtype and on the
            device of ``scores``. No reduction: the caller averages.
    """

    name: ClassVar[str]
    applied_to: ClassVar[str | None] = None
    family: ClassVar[str | None] = None
    target_encoding: ClassVar[str | None] = None
    accepts_soft_targets: ClassVar[bool] = False
    convex_in_scores: ClassVar[bool] = False
    sweep: ClassVar[dict[str, tuple]] = {}

    def __init_subclass__(cls, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        for declaration, allowed in (("family", FAMILIES), ("applied_to", APPLIED_TO)):
            declared = vars(cls).get(declaration)
            if isinstance(declared, str) and declared not in allowed:
                raise ValueError(
                    f"{cls.__name__}.{declaration} must be one of "
                    f"{', '.join(allowed)} (or None), got {declared!r}"
                )
        if name is None:
            if "name" not in vars(cls):  # unregistered: messages and str() use the class name
                cls.name = cls.__name__
            return
        old = REGISTRY.get(name)
        if old is not None and _where(old) != _where(cls):
            raise ValueError(f"loss name {name!r} is already registered by {_where(old)}")
        cls.name = name
        REGISTRY[name] = cls

    def __post_init__(self) -> None:
        if type(self).compute is Loss.compute and type(self).value is Loss.value:
            raise ValueError(
                f"loss {self.name!r} writes neither value(scores, target) -> (N,) nor "
                "compute(scores, target) -> (value, grad): write one of them"
            )
        self.validate_params()

    def validate_params(self) -> None:
        """Raise ValueError for parameters out of range; subclasses extend it."""

    # -- the one method a loss writes: compute (analytic) or value (autograd) ---------------------
    def compute(
        self, scores: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (value (N,), grad (N, K)) for validated inputs; ``target`` is as given.

        This default serves a loss that writes only :meth:`value`: the gradient comes from
        autograd through it, also under the trainer's ``torch.no_grad()``; both come back
        detached, in the dtype and on the device of ``scores``.
        """
        with torch.enable_grad():
            leaf = scores.detach().requires_grad_()
            value = self.value(leaf, target)
            if not isinstance(value, torch.Tensor) or value.shape != scores.shape[:1]:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
                raise ValueError(
                    f"loss {self} value() must return shape (N,) = ({scores.shape[0]},), "
                    f"got {shape}"
                )
            if not value.requires_grad:
                raise ValueError(
                    f"loss {self} value() returned a tensor without an autograd graph: "
                    "compute it from scores with torch operations, or write compute()"
                )
            (grad,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
        if grad is None:  # the value does not depend on the scores
            grad = torch.zeros_like(scores)
        return value.detach().to(scores.dtype), grad.to(scores.dtype)

    def value(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-example loss (N,) of validated inputs; a value-only loss writes this alone.

        For a loss that writes :meth:`compute`, it is the value that compute returns.
        """
        return self.compute(scores, target)[0]

    def with_prior(self, prior: torch.Tensor) -> Loss:
        """This loss for training data whose label prior is ``prior`` (K,): a loss that needs it
        (``logit_adjusted``) returns a copy holding it; every other loss returns itself. The
        trainer calls it with the training labels' prior, never the test set's."""
        return self

    @property
    def grad_source(self) -> str:
        """ "analytic" where the class (or a base) writes compute, "autograd" where only value."""
        return "autograd" if type(self).compute is Loss.compute else "analytic"

    # -- the public protocol ------------------------------------------------------------------
    def __call__(
        self, scores: torch.Tensor, target: torch.Tensor, *, check: bool = True
    ) -> torch.Tensor:
        """Per-example loss, shape (N,), differentiable where ``scores`` require grad.

        There, ``loss(scores, target).mean().backward()`` gives the analytic gradient through
        ``losses.analytic.AnalyticLoss`` (a value-only loss keeps its own autograd graph); under
        no_grad, or for scores that need none, it is ``value_and_grad``'s value, as the trainer's.
        """
        if isinstance(scores, torch.Tensor) and scores.requires_grad and torch.is_grad_enabled():
            return per_example(self, scores, target, check=check)
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
        self.check_inputs(scores, target, check=check)
        return self.compute(scores, target)

    def check_inputs(
        self, scores: torch.Tensor, target: torch.Tensor, *, check: bool = True
    ) -> None:
        """The checks of :meth:`value_and_grad` (``check`` as there): ValueError for bad input."""
        targets.check_scores(scores)
        soft = isinstance(target, torch.Tensor) and target.is_floating_point()
        if soft and not self.accepts_soft_targets:
            raise ValueError(
                f"{self.name} needs integer class labels of shape (N,), "
                f"not probability rows of shape {tuple(target.shape)}"
            )
        targets.check_target(scores, target, check_values=check)
        self.check_against(scores)

    def check_against(self, scores: torch.Tensor) -> None:
        """Raise ValueError where a parameter does not fit these scores (e.g. a K×K matrix)."""

    # -- spec strings and descriptions ----------------------------------------------------------
    def params(self) -> dict[str, object]:
        """The loss's parameters, by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __str__(self) -> str:
        parts = [self.name] + [f"{k}={format_value(v)}" for k, v in self.params().items()]
        return ":".join(parts)

    def describe(self) -> dict[str, str]:
        """What makes this loss comparable to others, in words, from its declarations only.

        Keys: family, applied to, target, margin, reduction, gradient. What a loss does not
        declare reads "user loss" / "not declared": never a guess.
        """
        return {
            "family": self.family or "user loss",
            "applied to": APPLIED_WORDS.get(self.applied_to, "not declared"),
            "target": self.target_encoding or "not declared",
            "margin": "—",
            "reduction": "per example; mean over the batch",
            "gradient": self.grad_source,
        }


def per_example(
    the_loss: Loss,
    scores: torch.Tensor,
    target: torch.Tensor,
    factor: torch.Tensor | None = None,
    denominator: torch.Tensor | float | None = None,
    reduction: str = "none",
    *,
    check: bool = True,
) -> torch.Tensor:
    """factor ⊙ L(scores, target), reduced: Σ/denominator (mean), Σ (sum), or as is (none).

    What ``Loss.__call__`` runs on scores that require grad (no factor, no reduction) and what
    ``losses.functional.loss`` runs: the loss's analytic gradient through
    ``losses.analytic.AnalyticLoss``, or, for a loss that writes only ``value()``, autograd
    through its formula. ``check`` is ``value_and_grad``'s.
    Shape: scores (N, K); target (N,) or (N, K); factor (N,) or None -> (N,) for ``none``,
    else a scalar.
    """
    if type(the_loss).compute is Loss.compute:
        return analytic.by_autograd(the_loss, scores, target, factor, denominator, reduction, check)
    return analytic.AnalyticLoss.apply(
        scores, target, factor, denominator, the_loss, reduction, check
    )


def format_value(value: object) -> str:
    """A parameter as the spec string writes it: floats in their shortest exact form."""
    if isinstance(value, torch.Tensor):
        return "matrix" + "x".join(map(str, value.shape))
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
