"""The accuracy section of a folder without clean runs (only noisy levels) draws nothing."""

from types import SimpleNamespace

import pandas as pd

from bench.analysis import tables
from bench.reporting import accuracy


def test_a_folder_of_noisy_levels_only_gets_no_table_and_no_figure(tmp_path):
    final = pd.DataFrame(
        {
            "trainer": "lossbench",
            "dataset": "digits",
            "model": "linear",
            "loss": ["ce", "gce:q=0.7"],
            "device": "cpu",
            "seed": 0,
            "noise": "sym:0.4",
            "status": "ok",
            "epoch": 2,
            "lr": 0.3,
            "test_acc": [0.8, 0.82],
            "train_acc": 0.6,
            "train_loss": 1.0,
        }
    )
    w = SimpleNamespace(final=final, rows=final, accuracy=tables.accuracy(final), out=tmp_path)
    text = accuracy.section(w)
    assert w.accuracy.empty  # tables.accuracy keeps clean runs only
    assert text.startswith("## Accuracy") and "noise section" in text
    assert "|" not in text and ".png" not in text and not list(tmp_path.iterdir())
