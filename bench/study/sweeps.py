"""The hyperparameter settings a study tunes for each loss of its suite, jointly with the rate.

A loss is run as written: a parameter the user wrote is kept, a parameter left out is tuned.
``gce:q=0.7`` tunes only its rate; ``gce`` tunes q over the values its paper swept
(``Loss.sweep``, by parameter name) jointly with the rate; ``margin:kind=crammer_singer`` keeps
its kind and tunes δ. A weighted sum's weights are no class parameter: a sum written without
weights (``nce+rce``) tunes its papers' weight pairs (``SUM_WEIGHTS``, by the bare terms); a sum
written with them (``1*nce+1*rce``) keeps them. Every setting is a spec string that names all
its hyperparameters (``gce:q=0.9``, ``1*nce+1*rce:a=-4``); a suite *entry* is the spec as
written, in canonical spelling (:func:`entry_form`), so ``gce`` and ``gce:q=0.7`` are two
entries.
"""

from __future__ import annotations

import dataclasses
import itertools

import losses
from losses import sums
from losses.base import format_value

# The papers' (α, β) pairs of the active–passive sums, by bare entry; the first pair is the
# one an untuned run trains (``--no-tune``, ``--lr``). Ma et al. 2020 ("Normalized Loss
# Functions for Deep Learning with Noisy Labels"): α, β = 1, 100 on MNIST; 1, 1 on CIFAR-10;
# 10, 0.1 on CIFAR-100. Their MAE is 1 − p_y, half of l1 on probabilities, so l1's β is half of
# MAE's. Ye et al. 2023 (ANL-CE): 1, 1 on MNIST; 5, 5 on CIFAR-10.
SUM_WEIGHTS: dict[str, tuple[tuple[float, float], ...]] = {
    "nce+rce": ((1, 100), (1, 1), (10, 0.1)),
    "nce+l1": ((1, 50), (1, 0.5), (10, 0.05)),
    "nce+nnce": ((1, 1), (5, 5)),
}


def _written_keys(term: str) -> set[str]:
    """The parameter names written in one (non-sum) spec: ``gce:q=0.7`` -> {"q"}."""
    return {item.partition("=")[0].strip() for item in term.strip().split(":")[1:]}


def _term_form(term: str) -> str:
    """One (non-sum) spec as written, in canonical spelling: the name and the written parameters,
    in the canonical order and formatting (``huber:delta=.10`` -> ``huber:delta=0.1``)."""
    keys = _written_keys(term)
    name, *items = str(losses.parse(term)).split(":")
    return ":".join([name, *(item for item in items if item.partition("=")[0] in keys)])


def _terms(spec: str) -> list[tuple[str | None, str]]:
    """A sum's terms as written: (weight text or None when unwritten, term spec)."""
    out = []
    for text in sums._PLUS.split(spec):
        weight, star, term = text.strip().partition("*")
        out.append((weight.strip(), term) if star else (None, weight))
    return out


def entry_form(spec: str) -> str:
    """The suite entry of ``spec``: as written, in canonical spelling; ValueError for a spec
    that does not parse. ``gce`` -> ``gce``; ``gce:q=.70`` -> ``gce:q=0.7``; ``nce + rce`` ->
    ``nce+rce``; ``1*nce+1*rce`` -> ``1*nce+1*rce``; ``nce+0.5*l1`` -> ``1*nce+0.5*l1``."""
    loss = losses.parse(spec)
    if not sums.is_sum(spec):
        return _term_form(spec)
    written = _terms(spec)
    if all(weight is None for weight, _ in written):
        return "+".join(_term_form(term) for _, term in written)
    # a weight written on any term fixes them all (a term without one weighs 1)
    return "+".join(
        f"{format_value(weight)}*{_term_form(term)}"
        for (weight, _), (_, term) in zip(loss.terms, written, strict=True)
    )


def is_bare(entry: str) -> bool:
    """Whether ``entry`` leaves anything to tune besides the rate: a sum without weights, or a
    loss with a swept parameter it does not write."""
    return len(settings(entry)) > 1


def settings(entry: str) -> list[str]:
    """The spec strings a study tunes for the suite entry ``entry``: the product of its class's
    ``sweep`` over the parameters the entry does not write (the written ones kept), a bare sum's
    weight pairs from SUM_WEIGHTS, or ``[canonical]`` when nothing is left to tune.

    >>> settings("gce")
    ['gce:q=0.3', 'gce:q=0.5', 'gce:q=0.7', 'gce:q=0.9']
    >>> settings("gce:q=0.7")
    ['gce:q=0.7']
    """
    loss = losses.parse(entry)
    canonical = str(loss)
    if sums.is_sum(entry):
        written = _terms(entry)
        bare = all(weight is None for weight, _ in written)
        pairs = SUM_WEIGHTS.get(entry_form(entry)) if bare else None
        if not pairs:
            return [canonical]
        terms = [str(term) for _, term in loss.terms]
        if len(terms) != 2:
            raise ValueError(
                f"SUM_WEIGHTS[{entry_form(entry)!r}] has pairs but the sum has "
                f"{len(terms)} terms: give one weight per term"
            )
        return list(
            dict.fromkeys(
                str(losses.parse("+".join(f"{w:g}*{t}" for w, t in zip(pair, terms, strict=True))))
                for pair in pairs
            )
        )
    sweep = getattr(type(loss), "sweep", {}) or {}
    names = [name for name in sweep if name not in _written_keys(entry)]
    if not names:
        return [canonical]
    specs = []
    for values in itertools.product(*(sweep[name] for name in names)):
        try:
            specs.append(str(dataclasses.replace(loss, **dict(zip(names, values, strict=True)))))
        except ValueError:  # a value this variant refuses (e.g. a δ on another link): skipped
            continue
    return list(dict.fromkeys(specs)) or [canonical]


def default_setting(entry: str) -> str:
    """The setting an untuned run of ``entry`` trains (``--no-tune``, ``--lr``): a bare sum's
    first SUM_WEIGHTS pair, else the entry with its class's defaults (canonical)."""
    if sums.is_sum(entry) and all(weight is None for weight, _ in _terms(entry)):
        return settings(entry)[0]
    return str(losses.parse(entry))
