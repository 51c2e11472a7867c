"""The reliability figure's titles: long spec strings broken so neighbouring panels never meet."""

import pytest

from bench.reporting import calibration


@pytest.mark.parametrize(
    "spec",
    ["ce", "margin:kind=weston_watkins:delta=1:power=2", "1*nce+100*rce:a=-4", "sce:alpha=6:a=-4"],
)
def test_titles_break_long_specs_at_their_separators(spec):
    lines = calibration.wrapped(spec, width=20).split("\n")
    assert "".join(lines) == spec
    assert all(len(line) <= 20 for line in lines)
    assert all(line[0] in ":+" for line in lines[1:])


def test_a_part_longer_than_a_line_keeps_its_own_line():
    assert calibration.wrapped("logit_adjusted:tau=1", width=8) == "logit_adjusted\n:tau=1"
