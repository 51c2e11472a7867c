"""The report's templates and the filters that word their numbers."""

import math

import jinja2
import pytest

from bench.reporting import prose


def test_counts_and_plurals():
    assert (prose.count(1, "run"), prose.count(3, "run"), prose.count(1200, "run")) == (
        "1 run",
        "3 runs",
        "1,200 runs",
    )
    assert prose.count(2, "loss", "losses") == "2 losses"
    assert (prose.plural(1, "class", "classes"), prose.plural(0, "class", "classes")) == (
        "class",
        "classes",
    )


def test_lists_numbers_ratios_and_durations():
    assert [prose.join_and(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]
    assert (prose.number(1234.567, 2), prose.number(None), prose.number(math.nan)) == (
        "1,234.57",
        "—",
        "—",
    )
    assert prose.accuracy(0.84449) == "0.8445"
    assert (prose.times(9.96), prose.times(9.5), prose.times(46.4)) == ("10.0×", "9.5×", "46×")
    assert (prose.duration(45), prose.duration(192)) == ("45 s", "3.2 min")


def test_every_template_parses():
    names = sorted(p.name.removesuffix(".md.j2") for p in prose.TEMPLATES.glob("*.md.j2"))
    assert {"header", "accuracy", "tuning", "noise", "learning", "speed"} <= set(names)
    for name in names:
        prose.environment().get_template(f"{name}.md.j2")  # a syntax error raises here


def test_a_missing_template_or_fact_is_an_error_not_a_blank():
    with pytest.raises(ValueError, match="no report template 'nothing'"):
        prose.render("nothing")
    with pytest.raises(jinja2.UndefinedError):
        prose.render("provenance")  # version and commit not given
    assert (
        prose.render("provenance", version="0.1.0", commit="abc1234")
        == "lossbench 0.1.0 (commit abc1234)"
    )
