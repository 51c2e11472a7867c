"""The convex reference: L-BFGS on the analytic gradients reaches the full-batch optimum."""

import pytest

from bench.analysis import reference
from bench.training.config import RunConfig
from bench.training.loop import train


def test_lbfgs_beats_sgd_on_the_training_objective(make_data):
    data = make_data(n_train=500)
    result = reference.optimum("ce", data, max_iter=100)
    rows = []
    train(RunConfig("ce", epochs=2, lr=0.5, batch_size=50), data, on_epoch=rows.append)
    assert result["train_loss"] < rows[-1]["train_loss"]
    assert result["train_acc"] == 1.0 and result["test_acc"] > 0.9


def test_nonconvex_losses_have_no_reference(make_data):
    with pytest.raises(ValueError, match="not convex"):
        reference.optimum("l1", make_data())
