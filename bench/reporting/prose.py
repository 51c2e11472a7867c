"""The report's words: Jinja2 templates (``templates/<name>.md.j2``) rendered from facts.

A section's code computes its facts (numbers, names, frames) and passes them to :func:`render`;
the template words them. Numbers are formatted by the filters below, in one place, so no module
hand-rolls a plural or a number format:

    {{ runs | count("run") }}           -> "1 run", "3 runs"
    {{ n | plural("class", "classes") }} -> "class" or "classes" (the word alone)
    {{ names | join_and }}              -> "a, b and c"
    {{ x | number(2) }}                 -> "1,234.57" ("—" for None or NaN)
    {{ acc | accuracy }}                -> "0.8445"
    {{ r | times }}                     -> "9.5×", "47×"
    {{ s | duration }}                  -> "45 s", "3.2 min"
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def plural(count: float, singular: str, many: str | None = None) -> str:
    """``singular`` when ``count`` is 1, else ``many`` (``singular + "s"`` by default)."""
    return singular if count == 1 else (many or singular + "s")


def count(value: float, singular: str, many: str | None = None) -> str:
    """The count and its noun: "1 run", "24 losses" (thousands separated)."""
    shown = f"{int(value):,}" if float(value).is_integer() else f"{value:,}"
    return f"{shown} {plural(value, singular, many)}"


def join_and(items) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = [str(item) for item in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def number(value: float | None, digits: int = 0) -> str:
    """A count or a time with thousands separators; None or NaN as "—"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def accuracy(value: float) -> str:
    """An accuracy to four decimals: "0.8445"."""
    return number(value, 4)


def times(ratio: float) -> str:
    """A ratio of times: one decimal below 20× ("9.5×", so "10×" never rounds up from 9.5),
    whole above ("47×")."""
    return f"{ratio:.1f}×" if ratio < 20 else f"{ratio:.0f}×"


def duration(seconds: float) -> str:
    """Seconds below 90 s, else minutes: "45 s", "3.2 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,  # a fact the code forgot is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML
    )
    env.filters.update(
        plural=plural,
        count=count,
        join_and=join_and,
        number=number,
        accuracy=accuracy,
        times=times,
        duration=duration,
    )
    return env


def render(name: str, **facts) -> str:
    """``templates/<name>.md.j2`` rendered from ``facts``, without surrounding blank lines.

    Raises ValueError when no such template exists.
    """
    try:
        template = environment().get_template(f"{name}.md.j2")
    except jinja2.TemplateNotFound:
        raise ValueError(f"no report template {name!r}: add {TEMPLATES / name}.md.j2") from None
    return template.render(**facts).strip()
