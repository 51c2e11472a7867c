"""js (Englesson & Azizpour 2021): its limits, parameter errors, saturation."""

import pytest
import torch

import losses


def case(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(13, 6, generator=g, dtype=torch.float64) * 2,
        torch.randint(0, 6, (13,), generator=g),
    )


def test_small_pi1_approaches_ce_and_large_pi1_approaches_one_minus_p_y():
    scores, labels = case()
    p_y = torch.softmax(scores, 1).gather(1, labels[:, None]).squeeze(1)
    near_ce = losses.parse("js:pi1=1e-6")(scores, labels)
    torch.testing.assert_close(near_ce, -p_y.log(), rtol=1e-4, atol=1e-4)
    # the approach to MAE/2 is slow, about 1/ln(1/(1 − π1))
    gaps = [
        (losses.parse(f"js:pi1={1 - b}")(scores, labels) - (1 - p_y)).abs().max()
        for b in (1e-3, 1e-6, 1e-12)
    ]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.04


def test_zero_when_fit_and_finite_in_float32_at_extremes():
    scores = torch.tensor([[1e4, 0.0, -3e4], [-1e4, 2e4, 0.0]], dtype=torch.float32)
    value, grad = losses.parse("js").value_and_grad(scores, torch.tensor([0, 0]))
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    assert value[0] == 0 and grad[0].abs().max() == 0
    assert grad[1].abs().max() == 0  # p_y = 0: w(0) = 0, the bounded loss gives up


@pytest.mark.parametrize("pi1", [0, 1, -0.5, 1.5])
def test_pi1_outside_the_open_unit_interval_is_an_error(pi1):
    with pytest.raises(ValueError, match=r"js pi1 must be in \(0, 1\)"):
        losses.parse(f"js:pi1={pi1}")
