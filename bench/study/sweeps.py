"""The hyperparameter settings a study tunes for each loss of its suite, jointly with the rate.

A loss class declares the values its paper swept (``Loss.sweep``, by parameter name); the study
tunes over their product. A weighted sum's weights are no class parameter: its papers' weight
pairs are in ``SUM_WEIGHTS``, keyed by the suite spec. Every setting is a spec string that names
its hyperparameters (``gce:q=0.9``, ``1*nce+1*rce:a=-4``).
"""

from __future__ import annotations

import dataclasses
import itertools

import losses
from losses import sums

# The papers' (α, β) pairs of the active–passive sums, by suite spec (canonical). Ma et al. 2020
# ("Normalized Loss Functions for Deep Learning with Noisy Labels"): α, β = 1, 100 on MNIST;
# 1, 1 on CIFAR-10; 10, 0.1 on CIFAR-100. Their MAE is 1 − p_y, half of l1 on probabilities,
# so l1's β is half of MAE's. Ye et al. 2023 (ANL-CE): 1, 1 on MNIST; 5, 5 on CIFAR-10.
SUM_WEIGHTS: dict[str, tuple[tuple[float, float], ...]] = {
    "1*nce+100*rce:a=-4": ((1, 100), (1, 1), (10, 0.1)),
    "1*nce+50*l1:on=probs": ((1, 50), (1, 0.5), (10, 0.05)),
    "1*nce+1*nnce:min_prob=1e-07": ((1, 1), (5, 5)),
}


def settings(entry: str) -> list[str]:
    """The spec strings a study tunes for the suite spec ``entry``: the product of its class's
    ``sweep`` (the entry's own values first kept where they are in it), a sum's weight pairs
    from SUM_WEIGHTS, or ``[entry]`` when it has nothing to tune but the rate.

    >>> settings("gce:q=0.7")
    ['gce:q=0.3', 'gce:q=0.5', 'gce:q=0.7', 'gce:q=0.9']
    """
    loss = losses.parse(entry)
    canonical = str(loss)
    if sums.is_sum(canonical):
        pairs = SUM_WEIGHTS.get(canonical)
        if not pairs:
            return [canonical]
        terms = [term for _, term in loss.terms]
        if len(terms) != 2:
            raise ValueError(
                f"SUM_WEIGHTS[{canonical!r}] has pairs but the sum has "
                f"{len(terms)} terms: give one weight per term"
            )
        return list(
            dict.fromkeys(
                str(losses.parse("+".join(f"{w:g}*{t}" for w, t in zip(pair, terms, strict=True))))
                for pair in pairs
            )
        )
    sweep = getattr(type(loss), "sweep", {}) or {}
    if not sweep:
        return [canonical]
    names = list(sweep)
    specs = []
    for values in itertools.product(*(sweep[name] for name in names)):
        try:
            specs.append(str(dataclasses.replace(loss, **dict(zip(names, values, strict=True)))))
        except ValueError:  # a value this variant refuses (e.g. a δ on another link): skipped
            continue
    return list(dict.fromkeys(specs)) or [canonical]
