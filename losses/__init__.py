"""lossbench's loss library: classification losses with analytic gradients w.r.t. the scores.

    import losses
    losses.names()                      # ['ce', 'focal', 'gce', 'huber', 'l1', 'l2', ...]
    loss = losses.get("huber", delta=0.1, on="probs")
    value, grad = loss.value_and_grad(scores, target)     # (N,), (N, K)
    losses.parse("margin:kind=weston_watkins:delta=0.5")  # a CLI spec; str(loss) gives it back
    losses.parse("1*nce+1*rce")                           # a weighted sum of registered losses

Every module of this package is imported here, so a loss is registered by adding its file and
nothing else; ``losses.plots`` (figures) is the one exception, imported on demand.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

from losses.base import REGISTRY, Loss

__all__ = ["Loss", "get", "names", "parse"]

ON_DEMAND = ("plots",)
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in ON_DEMAND:
        importlib.import_module(f"{__name__}.{_module}")


def names() -> list[str]:
    """The registered loss names, sorted."""
    return sorted(REGISTRY)


def get(name: str, **params) -> Loss:
    """The loss registered as ``name``, with ``params``; ValueError lists what is allowed."""
    cls = _lookup(name)
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name} has no parameter {', '.join(unknown)}; "
            f"its parameters are: {', '.join(allowed) or '(none)'}"
        )
    return cls(**params)


def parse(spec: str) -> Loss:
    """A loss from a spec string: ``name:key=value:...`` or a weighted sum ``W*SPEC+W*SPEC``.

    E.g. ``huber:delta=0.1:on=scores`` or ``1*nce+1*rce``. Values are read as int or float where
    they look like numbers, else kept as strings. ``str(loss)`` gives a spec that parses back to
    an equal loss.
    """
    from losses import sums

    if sums.is_sum(spec):
        return sums.parse_sum(spec)
    name, *items = spec.strip().split(":")
    params = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"bad loss spec {spec!r}: expected name:key=value:..., got {item!r}")
        params[key.strip()] = spec_value(text.strip())
    return get(name.strip(), **params)


def _lookup(name: str) -> type[Loss]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown loss {name!r}; registered losses: {', '.join(names())}"
        ) from None


def spec_value(text: str) -> object:
    """A spec string's value: int or float where it reads as one, else the text (also used for
    the specs of bench's datasets and models, so every spec reads its values alike)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
