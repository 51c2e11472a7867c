"""agce, aul, ael (Zhou et al. 2021): special cases, parameter errors, saturation."""

import pytest
import reference_formulas as ref
import torch

import losses


def case(seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(11, 5, generator=g, dtype=torch.float64) * scale,
        torch.randint(0, 5, (11,), generator=g),
    )


@pytest.mark.parametrize(
    "spec", ["agce:a=0.6:q=1", "agce:a=4:q=1", "aul:a=5.5:q=1", "aul:a=1.5:q=1"]
)
def test_q_one_is_one_minus_p_y(spec):
    scores, labels = case()
    value, grad = losses.parse(spec).value_and_grad(scores, labels)
    p_y = torch.softmax(scores, 1).gather(1, labels[:, None]).squeeze(1)
    torch.testing.assert_close(value, 1 - p_y, rtol=0, atol=1e-15)
    gce_value, gce_grad = losses.parse("gce:q=1").value_and_grad(scores, labels)
    torch.testing.assert_close(value, gce_value, rtol=0, atol=1e-14)
    torch.testing.assert_close(grad, gce_grad, rtol=0, atol=1e-14)


@pytest.mark.parametrize("spec", ["agce", "aul", "ael", "agce:a=4:q=0.2", "aul:a=3:q=0.1"])
def test_values_and_gradients_match_the_formula(spec):
    scores, labels = case(1)
    loss = losses.parse(spec)
    value, grad = loss.value_and_grad(scores, labels)
    want_value, want_grad = ref.value_and_grad(loss, scores, labels)
    torch.testing.assert_close(value, want_value, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("spec", ["agce", "aul", "ael", "agce:q=0.2", "aul:q=0.1"])
def test_finite_and_fit_where_p_y_rounds_to_one(spec):
    scores = torch.tensor([[1e4, 0.0, -3e4], [-1e4, 2e4, 0.0]], dtype=torch.float32)
    labels = torch.tensor([0, 1])
    value, grad = losses.parse(spec).value_and_grad(scores, labels)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    assert grad.abs().max() == 0  # w(1)·(p − e_y) with p = e_y exactly
    if spec.startswith(("agce", "aul")):
        assert value.abs().max() <= 1e-6  # 0 up to float32 rounding of (a ± 1)^q


@pytest.mark.parametrize(
    "spec, words",
    [
        ("agce:q=0", "agce q must be a finite number > 0"),
        ("agce:a=-1", "agce a must be a finite number > 0"),
        ("aul:a=1", "aul a must be a finite number > 1"),
        ("aul:q=-2", "aul q must be a finite number > 0"),
        ("ael:a=0", "ael a must be a finite number > 0"),
    ],
)
def test_parameters_out_of_range_are_one_line_errors(spec, words):
    with pytest.raises(ValueError, match=words):
        losses.parse(spec)
