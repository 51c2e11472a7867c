"""bench.api.compare: its arguments become the Study the CLI would build."""

import pandas as pd
import pytest

from bench import api
from bench.analysis import tables


@pytest.mark.parametrize(
    "given, expected",
    [
        ("ce,gce", ("ce", "gce")),
        ("ce, 1*nce+1*rce ,", ("ce", " 1*nce+1*rce ")),
        ("focal", ("focal",)),
        (["ce", "gce"], ("ce", "gce")),
    ],
)
def test_compare_takes_losses_as_a_list_or_a_comma_string_like_the_cli(
    given, expected, monkeypatch, tmp_path
):
    studies = []
    monkeypatch.setattr(api, "run", lambda study: studies.append(study) or 0)
    monkeypatch.setattr(tables, "load", lambda path: pd.DataFrame())
    api.compare(given, out=tmp_path)
    assert studies[0].losses == expected
