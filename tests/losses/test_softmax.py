"""The softmax link: equal to torch's in float64, finite at extreme float32 scores."""

import torch

from losses import softmax


def test_equals_torch_in_float64():
    scores = torch.randn(100, 10, dtype=torch.float64) * 20
    log_probs, probs = softmax.log_softmax(scores)
    torch.testing.assert_close(log_probs, torch.log_softmax(scores, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(probs, torch.softmax(scores, 1), rtol=0, atol=1e-15)
    torch.testing.assert_close(probs.sum(1), torch.ones(100, dtype=torch.float64))


def test_finite_at_1e4_in_float32():
    scores = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=torch.float32)
    log_probs, probs = softmax.log_softmax(scores)
    assert torch.isfinite(log_probs).all() and torch.isfinite(probs).all()
    assert log_probs[0, 1] == -2e4  # no log of an underflowed probability
    torch.testing.assert_close(probs.sum(1), torch.ones(2))


def test_inputs_are_not_modified():
    scores = torch.randn(4, 3)
    copy = scores.clone()
    softmax.log_softmax(scores)
    assert torch.equal(scores, copy)
