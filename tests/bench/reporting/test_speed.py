"""The speed section of a folder without a timed clean run (only noisy levels) draws nothing."""

from types import SimpleNamespace

import pandas as pd

from bench.reporting import speed
from bench.reporting.markdown import labelled


def test_a_folder_without_timed_clean_runs_gets_no_table_and_no_figure(tmp_path):
    empty = labelled(
        pd.DataFrame(columns=["trainer", "dataset", "model", "loss", "device", "step_us"])
    )
    w = SimpleNamespace(speed=empty, caches={"speed": pd.DataFrame()}, out=tmp_path)
    text = speed.section(w, title="Speed: digits")
    assert text.startswith("## Speed: digits") and "none" in text
    assert "|" not in text and ".png" not in text and not list(tmp_path.iterdir())
