"""scikit-learn's peers: rows the report can set beside ours."""

import pytest

from bench import schema
from bench.peers import sklearn as peers


def test_sklearn_peers_fit_every_matching_loss(make_data):
    pytest.importorskip("sklearn")
    rows = peers.run(make_data(n_train=400), epochs=2)
    assert [r["loss"] for r in rows[:-1]] == list(peers.SGD_LOSSES)
    assert rows[-1]["peer"] == "LogisticRegression"
    logistic = rows[-1]
    assert logistic["test_acc"] > 0.9 and logistic["fit_s"] > 0
    assert set(schema.PEERS) <= set(logistic) and logistic["dataset"] == "synthetic"


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
