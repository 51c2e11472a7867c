"""Targets: one-hot, smoothing, residuals, and every bad input named in its error."""

import pytest
import torch

import losses
from losses import targets


def test_one_hot_and_as_probs():
    rows = targets.one_hot(torch.tensor([2, 0]), 3, torch.float32)
    assert torch.equal(rows, torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
    soft = torch.tensor([[0.2, 0.8]])
    assert targets.as_probs(soft, 2, torch.float64).dtype == torch.float64


def test_smooth_follows_torch_convention():
    smoothed = targets.smooth(targets.one_hot(torch.tensor([1]), 4, torch.float64), 0.2)
    assert torch.allclose(smoothed, torch.tensor([[0.05, 0.85, 0.05, 0.05]], dtype=torch.float64))
    assert smoothed.sum() == pytest.approx(1.0)


def test_residual_from_labels_equals_residual_from_one_hot():
    probs = torch.softmax(torch.randn(6, 4, dtype=torch.float64), 1)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    assert torch.equal(
        targets.residual(probs, labels), probs - targets.one_hot(labels, 4, torch.float64)
    )


SCORES = torch.zeros(3, 4)


@pytest.mark.parametrize(
    "scores, target, words",
    [
        (torch.zeros(3), torch.tensor([0, 1, 2]), r"scores must have shape \(N, K\)"),
        (torch.zeros(3, 4, dtype=torch.int64), torch.tensor([0, 1, 2]), "floating point"),
        ([[0.0]], torch.tensor([0]), "torch.Tensor"),
        (SCORES, torch.tensor([0, 1]), "N = 3 rows but target has 2"),
        (SCORES, torch.tensor([[0, 1, 2]]), r"labels must have shape \(N,\)"),
        (SCORES, torch.tensor([0, 1, 4]), r"label 4 is out of range \[0, 4\)"),
        (SCORES, torch.tensor([0, -1, 2]), "label -1 is out of range"),
        (SCORES, torch.tensor([0, 1, 2], dtype=torch.int32), "int64"),
        (SCORES, torch.full((3, 3), 1 / 3), "soft target must have the shape of scores"),
        (SCORES, torch.tensor([[1.5, -0.5, 0, 0]] * 3), "negative entries"),
        (SCORES, torch.full((3, 4), 0.3), "rows must sum to 1"),
        (SCORES, [0, 1, 2], "target must be a torch.Tensor"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_problem(scores, target, words):
    with pytest.raises(ValueError, match=words):
        losses.get("ce")(scores, target)


def test_check_false_skips_only_the_value_checks():
    loss = losses.get("l2")
    loss(SCORES, torch.full((3, 4), 0.3), check=False)  # not normalised, not checked
    with pytest.raises(ValueError, match="N = 3 rows"):
        loss(SCORES, torch.tensor([0, 1]), check=False)  # shapes always are


def test_empty_batch_is_fine():
    empty = torch.zeros(0, dtype=torch.int64)
    value, grad = losses.get("ce").value_and_grad(torch.zeros(0, 4), empty)
    assert value.shape == (0,) and grad.shape == (0, 4)
