"""nnce (Ye et al. 2023) and ANL-CE = nce + nnce: the clamp, range, parameter errors."""

import pytest
import torch

import losses


def test_range_and_the_clamp_at_min_prob():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(50, 4, generator=g, dtype=torch.float64) * 30
    labels = torch.randint(0, 4, (50,), generator=g)
    value, grad = losses.parse("nnce").value_and_grad(scores, labels)
    assert ((value >= 0) & (value <= 1)).all()
    # a class below min_prob is clamped: raising it further changes nothing
    scores = torch.tensor([[0.0, 0.0, -40.0, -50.0]], dtype=torch.float64)
    value, grad = losses.parse("nnce").value_and_grad(scores, torch.tensor([0]))
    assert grad[0, 2] == 0 and grad[0, 3] == 0
    u = torch.log(torch.tensor(0.5, dtype=torch.float64)) - torch.log(torch.tensor(1e-7))
    torch.testing.assert_close(value, 1 - u / (2 * u).reshape(1), rtol=0, atol=1e-15)


def test_a_true_class_below_min_prob_is_the_worst_case_one():
    scores = torch.tensor([[-40.0, 0.0, 0.0]], dtype=torch.float32)
    value, grad = losses.parse("nnce").value_and_grad(scores, torch.tensor([0]))
    assert value.item() == 1.0 and torch.isfinite(grad).all()


def test_anl_ce_is_the_sum_of_nce_and_nnce():
    loss = losses.parse("5*nce+5*nnce")
    assert [str(term) for _, term in loss.terms] == ["nce", "nnce:min_prob=1e-07"]
    assert loss.family == "noise-robust"


@pytest.mark.parametrize(
    "spec, words",
    [("nnce:min_prob=0", "min_prob must lie in"), ("nnce:min_prob=1", "min_prob must lie in")],
)
def test_parameters_out_of_range_are_one_line_errors(spec, words):
    with pytest.raises(ValueError, match=words):
        losses.parse(spec)


def test_too_many_classes_for_min_prob():
    with pytest.raises(ValueError, match="nnce needs K < 1/min_prob = 10 classes, got K = 10"):
        losses.parse("nnce:min_prob=0.1")(torch.zeros(2, 10), torch.tensor([0, 1]))
