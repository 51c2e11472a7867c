"""Parts chosen by a spec string: datasets and models register themselves by name, as losses do.

A part is a frozen dataclass whose fields are its parameters. ``Kind.parse("mlp:hidden=128")``
builds one; ``str(part)`` gives its canonical spec back (``name:key=value:...``, every parameter
in declaration order, so the same part always has the same spec, in results.csv too).
Subclassing with ``name="..."`` registers the class in its kind's registry; the runner never
names a part, it reads the registry.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from losses import spec_value


class Part:
    """Base of a kind of part; each kind (``DatasetPart``, ``ModelPart``) has its own registry."""

    name: ClassVar[str]
    kind: ClassVar[str] = "part"
    registry: ClassVar[dict[str, type[Part]]]

    def __init_subclass__(cls, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if "registry" in cls.__dict__:  # a new kind: it owns a registry of its own
            return
        if name is not None:
            cls.name = name
            cls.registry[name] = cls

    def __post_init__(self) -> None:
        self.validate_params()

    def validate_params(self) -> None:
        """Raise ValueError for parameters out of range; subclasses extend it."""

    def params(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __str__(self) -> str:
        return ":".join([self.name] + [f"{k}={_format(v)}" for k, v in self.params().items()])

    @classmethod
    def names(cls) -> list[str]:
        """The registered names of this kind, sorted."""
        return sorted(cls.registry)

    @classmethod
    def get(cls, name: str, **params) -> Part:
        """The part registered as ``name`` with ``params``; ValueError lists what is allowed."""
        if name not in cls.registry:
            raise ValueError(
                f"unknown {cls.kind} {name!r}; registered {cls.kind}s: {', '.join(cls.names())}"
            )
        part = cls.registry[name]
        allowed = [f.name for f in dataclasses.fields(part)]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(
                f"{cls.kind} {name} has no parameter {', '.join(unknown)}; "
                f"its parameters are: {', '.join(allowed) or '(none)'}"
            )
        try:
            return part(**params)
        except TypeError as error:  # a value of the wrong kind for a field
            raise ValueError(f"{cls.kind} {name}: {error}") from None

    @classmethod
    def parse(cls, spec: str) -> Part:
        """A part from ``name:key=value:...``; numbers are read as int or float."""
        name, params = split_spec(spec, cls.kind)
        return cls.get(name, **params)


def split_spec(spec: str, kind: str = "part") -> tuple[str, dict[str, object]]:
    """``"mlp:hidden=128"`` -> ("mlp", {"hidden": 128}); ValueError for a malformed spec."""
    name, *items = str(spec).strip().split(":")
    params: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad {kind} spec {spec!r}: expected name:key=value:..., got {item!r}")
        params[key.strip()] = spec_value(text.strip())
    if not name.strip():
        raise ValueError(f"bad {kind} spec {spec!r}: it has no name")
    return name.strip(), params


def _format(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
