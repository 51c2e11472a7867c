"""Peers: the D2L textbook loop and scikit-learn, producing rows the report can set beside ours."""

import pytest

from bench import peers, runs, textbook
from bench.runs import COLUMNS


def test_sklearn_peers_fit_every_matching_loss(make_data):
    pytest.importorskip("sklearn")
    rows = peers.run(make_data(n_train=400), epochs=2)
    assert [r["loss"] for r in rows[:-1]] == list(peers.SGD_LOSSES)
    assert rows[-1]["peer"] == "LogisticRegression"
    logistic = rows[-1]
    assert logistic["test_acc"] > 0.9 and logistic["fit_s"] > 0
    assert set(peers.COLUMNS) <= set(logistic)


def test_peers_unavailable_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    assert peers.available() is False
    with pytest.raises(peers.PeersUnavailable, match=r"pip install '\.\[peers\]'"):
        peers.run(None, epochs=1)


def test_textbook_run_is_ce_on_cpu_at_the_books_rate():
    config = runs.textbook_run(epochs=30, batch_size=256)
    assert (config.loss, config.device, config.lr, config.schedule, config.trainer) == (
        "ce",
        "cpu",
        0.1,
        "constant",
        textbook.NAME,
    )


@pytest.mark.realdata
def test_textbook_loop_trains_like_the_book(fashion_mnist, tmp_path):
    from bench.__main__ import ROOT

    rows = []
    textbook.train(runs.textbook_run(epochs=1, batch_size=256), ROOT / "data", on_epoch=rows.append)
    (row,) = rows
    assert set(COLUMNS) - {"floor_s"} <= set(row)
    # D2L's chapter 3.7 reaches ~0.78 after one epoch at lr 0.1
    assert 0.70 < row["test_acc"] < 0.84
    assert row["epoch_s"] > 0 and row["trainer"] == textbook.NAME
