"""Markdown cells and tables: formatting in one place."""

import pandas as pd

from bench.reporting import markdown


def test_markdown_table_escapes_and_formats():
    frame = pd.DataFrame({"a": ["x|y"], "b": [0.123456], "c": [float("nan")]})
    assert markdown.markdown_table(frame).splitlines()[2] == "| x\\|y | 0.1235 | — |"
    assert markdown.markdown_table(pd.DataFrame()) == "_(no rows)_"


def test_numbers_accuracies_and_labels():
    assert markdown.number(1161154.2) == "1,161,154" and markdown.number(float("nan")) == "—"
    assert markdown.number(None) == "—" and markdown.number(0.123, 2) == "0.12"
    assert markdown.accuracy(0.84449, 0.00031) == "0.8445 ± 0.0003"
    assert markdown.accuracy(0.8267) == "0.8267" and markdown.accuracy(float("nan")) == "—"
    assert markdown.label({"trainer": "d2l-textbook", "loss": "ce"}) == "d2l-textbook (ce)"
    assert markdown.label({"trainer": "lossbench", "loss": "ce"}) == "ce"
    assert markdown.skipped("Peers", "linear only") == "Peers: skipped: linear only."
