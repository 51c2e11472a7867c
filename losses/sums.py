"""Weighted sums of registered losses, ``W*SPEC+W*SPEC``: value and gradient the weighted sums.

The active–passive losses of Ma et al. 2020 are sums: α·NCE + β·RCE is ``α*nce+β*rce`` and
α·NCE + β·MAE is ``α*nce+β*l1``, with the paper's MAE = Σ_k |p_k − t_k| = 2(1 − p_y) (``l1`` on
probabilities). The official code (github.com/HanxunH/Active-Passive-Losses, ``loss.py``) differs
in both passive terms: its MAE is 1 − p_y, half the paper's, and its RCE's A is ln 1e-4 ≈ −9.21
(the one-hot label clamped at 1e-4), not −4. So its NCEandMAE(α, β) is ``α*nce+(β/2)*l1`` and its
NCEandRCE(α, β) is ``α*nce+β*rce:a=-9.21``, i.e. ``α*nce+2.30β*rce`` at the default A = −4 (its
CIFAR-10 setting α = β = 1: ``1*nce+0.5*l1`` and ``1*nce+2.30*rce``). Its GCE, RCE and SCE clamp
p at 1e-7; nothing is clamped here. ``losses.nn.NCEAndRCE`` and ``NCEAndMAE`` build these sums.

    losses.parse("1*nce+1*rce")      # WeightedSum; str() gives "1*nce+1*rce" back
    losses.parse("nce+0.5*l1")       # a term without W* has weight 1
"""

from __future__ import annotations

import dataclasses
import math
import re

from losses.base import APPLIED_WORDS, Loss, format_value

# A '+' that is not the sign of a float's exponent (1e+2): terms split there.
_PLUS = re.compile(r"(?<![0-9.][eE])\+")


def is_sum(spec: str) -> bool:
    """Whether ``spec`` is written as a weighted sum (has a '*' or a term-joining '+')."""
    return "*" in spec or _PLUS.search(spec) is not None


def parse_sum(spec: str) -> WeightedSum:
    """The weighted sum written ``W*SPEC+W*SPEC``; one-line ValueError naming what is wrong."""
    import losses

    def bad(problem: str) -> ValueError:
        return ValueError(f"bad loss sum {spec!r}: {problem} (expected W*SPEC+W*SPEC, W >= 0)")

    terms = []
    for text in _PLUS.split(spec):
        if not text.strip():
            raise bad("an empty term")
        weight_text, star, term = text.strip().partition("*")
        if not star:
            weight_text, term = "1", weight_text
        if not weight_text.strip():
            raise bad(f"no weight before '*{term.strip()}'")
        if not term.strip():
            raise bad(f"no loss after '{weight_text.strip()}*'")
        if "*" in term:
            raise bad(f"more than one '*' in {text.strip()!r}")
        try:
            weight = float(weight_text)
        except ValueError:
            raise bad(f"weight {weight_text.strip()!r} is not a number") from None
        try:
            loss = losses.parse(term)
        except ValueError as error:
            raise bad(f"term {term.strip()!r}: {error}") from None
        terms.append((weight, loss))
    try:
        return WeightedSum(tuple(terms))
    except ValueError as error:
        raise bad(str(error)) from None


@dataclasses.dataclass(frozen=True)
class WeightedSum(Loss):
    """Σ_i w_i·L_i of registered losses, with weights w_i >= 0;  gradient Σ_i w_i·∇L_i.

    Accepts soft targets only if every term does. Family: the terms' common family, else
    "noise-robust" if any term is, else the first term's.
    Shape: scores (N, K); target (N,) labels, or (N, K) probabilities where every term takes
    them -> (N,) and (N, K).
    """

    terms: tuple[tuple[float, Loss], ...]

    def validate_params(self) -> None:
        if not self.terms:
            raise ValueError("a loss sum needs at least one term")
        for weight, loss in self.terms:
            if not isinstance(loss, Loss):
                raise ValueError(f"a loss sum's terms must be losses, got {type(loss).__name__}")
            ok = isinstance(weight, int | float) and not isinstance(weight, bool)
            if not (ok and math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weight of {loss} must be a finite number >= 0, got {weight!r}")
        object.__setattr__(self, "terms", tuple((float(w), loss) for w, loss in self.terms))

    # -- declarations, read from the terms ------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self)

    @property
    def accepts_soft_targets(self) -> bool:  # type: ignore[override]
        return all(loss.accepts_soft_targets for _, loss in self.terms)

    @property
    def convex_in_scores(self) -> bool:  # type: ignore[override]
        return all(loss.convex_in_scores for _, loss in self.terms)

    @property
    def family(self) -> str | None:  # type: ignore[override]
        families = [loss.family for _, loss in self.terms]
        if len(set(families)) == 1:
            return families[0]
        return "noise-robust" if "noise-robust" in families else families[0]

    @property
    def applied_to(self) -> str | None:  # type: ignore[override]
        """The terms' common declaration; None where they differ (``describe`` lists them)."""
        applied = {loss.applied_to for _, loss in self.terms}
        return applied.pop() if len(applied) == 1 else None

    @property
    def target_encoding(self) -> str | None:  # type: ignore[override]
        encodings = {loss.target_encoding for _, loss in self.terms}
        return encodings.pop() if len(encodings) == 1 else None

    @property
    def grad_source(self) -> str:
        """ "autograd" where any term takes its gradient from autograd, else "analytic"."""
        sources = {loss.grad_source for _, loss in self.terms}
        return "autograd" if "autograd" in sources else "analytic"

    def describe(self) -> dict[str, str]:
        def listed(words):
            return " + ".join(dict.fromkeys(words))

        return {
            **super().describe(),
            "applied to": listed(
                APPLIED_WORDS.get(loss.applied_to, "not declared") for _, loss in self.terms
            ),
            "target": listed(loss.target_encoding or "not declared" for _, loss in self.terms)
            if self.accepts_soft_targets
            else "class label",
            "reduction": "weighted sum of per-example losses; mean over the batch",
        }

    def __str__(self) -> str:
        return "+".join(f"{format_value(weight)}*{loss}" for weight, loss in self.terms)

    def with_prior(self, prior) -> WeightedSum:
        """The sum with each term's ``with_prior``: terms that read the prior bind it."""
        return dataclasses.replace(
            self, terms=tuple((weight, loss.with_prior(prior)) for weight, loss in self.terms)
        )

    # -- value and gradient ---------------------------------------------------------------------
    def check_against(self, scores):
        for _, loss in self.terms:
            loss.check_against(scores)

    def compute(self, scores, target):
        (weight, first), *rest = self.terms
        value, grad = first.compute(scores, target)
        value, grad = value * weight, grad * weight  # new tensors: a term's own may alias
        for weight, loss in rest:
            term_value, term_grad = loss.compute(scores, target)
            value.add_(term_value, alpha=weight)
            grad.add_(term_grad, alpha=weight)
        return value, grad
