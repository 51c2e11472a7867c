"""The answer's figures: no axis of the profile figure holds more than PROFILE_LINES lines."""

import pandas as pd

from bench.reporting import answer_figures


def test_profile_columns_split_a_large_family_into_near_equal_columns():
    gaps = pd.DataFrame({"loss": ["ce", "l2", *[f"gce:q=0.{i}" for i in range(1, 10)]]})
    columns = answer_figures.profile_columns(gaps, size=4)
    assert [(name, len(chunk)) for name, chunk in columns] == [
        ("textbook", 2),
        ("noise-robust (1/3)", 3),
        ("noise-robust (2/3)", 3),
        ("noise-robust (3/3)", 3),
    ]
    assert [e for _, chunk in columns for e in chunk] == gaps["loss"].tolist()
    assert max(len(c) for _, c in answer_figures.profile_columns(gaps)) <= 8
