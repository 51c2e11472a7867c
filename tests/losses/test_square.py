"""Hui & Belkin's rescaled square loss: its minimum, its relation to l2 on raw scores, golden
values, labels only, and its parameter ranges."""

import math

import pytest
import torch

import losses


def scores_of(n=30, k=6, scale=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, k, generator=g, dtype=torch.float64) * scale).to(dtype)


@pytest.mark.parametrize("k, m", [(1.0, 1.0), (5.0, 2.0), (15.0, 30.0), (0.5, -1.0)])
def test_minimum_is_zero_at_m_times_the_one_hot(k, m):
    labels = torch.tensor([0, 3, 5, 1])
    loss = losses.get("hui_belkin", k=k, m=m)
    best = m * torch.nn.functional.one_hot(labels, 6).double()
    value, grad = loss.value_and_grad(best, labels)
    assert (value == 0).all() and (grad == 0).all()
    scores = scores_of()
    assert (loss(scores, labels.repeat(8)[:30]) > 0).all()


def test_defaults_are_l2_on_raw_scores_averaged_over_classes():
    scores, labels = scores_of(), torch.arange(30) % 6
    value, grad = losses.get("hui_belkin").value_and_grad(scores, labels)
    l2_value, l2_grad = losses.get("l2", on="scores").value_and_grad(scores, labels)
    torch.testing.assert_close(value, l2_value * 2 / 6, rtol=1e-15, atol=0)
    torch.testing.assert_close(grad, l2_grad * 2 / 6, rtol=1e-15, atol=0)


def test_golden_value_and_gradient():
    scores = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    loss = losses.get("hui_belkin", k=5, m=2)
    value, grad = loss.value_and_grad(scores, torch.tensor([0, 2]))
    # row 1: (5·0 + 1 + 0.25)/3; row 2: 5·(0 − 2)²/3
    torch.testing.assert_close(value, torch.tensor([1.25 / 3, 20 / 3], dtype=torch.float64))
    # row 2 at y: (2/3)·5·(0 − 2)
    torch.testing.assert_close(
        grad, torch.tensor([[0.0, -2 / 3, 1 / 3], [0.0, 0.0, -20 / 3]], dtype=torch.float64)
    )


def test_no_cancellation_when_the_true_score_is_large_and_near_m():
    """Σ_j o_j² − o_y² would lose the rivals' squares to round-off at o_y = 1e4 in float32."""
    scores = torch.tensor([[1e4, 0.5, -0.25]])
    value = losses.get("hui_belkin", m=1e4)(scores, torch.tensor([0]))
    assert value.item() == pytest.approx((0.25 + 0.0625) / 3, rel=1e-7)


def test_needs_labels_and_says_so():
    scores = scores_of()
    with pytest.raises(ValueError, match="hui_belkin needs integer class labels"):
        losses.get("hui_belkin")(scores, torch.softmax(scores, 1))


def test_declarations_and_spec():
    loss = losses.parse("hui_belkin:k=5:m=2")
    assert str(loss) == "hui_belkin:k=5:m=2" and losses.parse(str(loss)) == loss
    assert str(losses.get("hui_belkin")) == "hui_belkin:k=1:m=1"
    assert loss.family == "square" and loss.applied_to == "scores" and loss.convex_in_scores
    assert not loss.accepts_soft_targets


@pytest.mark.parametrize(
    "params, words",
    [
        ({"k": 0}, "hui_belkin k must be a positive finite number"),
        ({"k": -1}, "hui_belkin k"),
        ({"k": math.inf}, "hui_belkin k"),
        ({"k": math.nan}, "hui_belkin k"),
        ({"k": "5"}, "hui_belkin k"),
        ({"k": True}, "hui_belkin k"),
        ({"m": math.inf}, "hui_belkin m must be a finite number"),
        ({"m": math.nan}, "hui_belkin m"),
        ({"m": "1"}, "hui_belkin m"),
    ],
)
def test_bad_parameters_raise_a_one_line_value_error(params, words):
    with pytest.raises(ValueError, match=words) as error:
        losses.get("hui_belkin", **params)
    assert "\n" not in str(error.value)
