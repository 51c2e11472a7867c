"""ldam and vs: parents at their special cases, the bound prior, parameter errors."""

import pytest
import reference_formulas as ref
import torch

import losses

PRIOR = torch.tensor([0.6, 0.25, 0.1, 0.05], dtype=torch.float64)


def case(seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(9, 4, generator=g, dtype=torch.float64) * scale,
        torch.randint(0, 4, (9,), generator=g),
    )


def assert_equal(a, b):
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_vs_with_gamma_zero_is_logit_adjusted_exactly(tau):
    scores, labels = case()
    soft = torch.softmax(scores.flip(0), 1)
    vs = losses.parse(f"vs:gamma=0:tau={tau}").with_prior(PRIOR)
    adjusted = losses.parse(f"logit_adjusted:tau={tau}").with_prior(PRIOR)
    for target in (labels, soft):
        assert_equal(vs.value_and_grad(scores, target), adjusted.value_and_grad(scores, target))


def test_ldam_without_margin_at_unit_scale_is_ce_exactly():
    scores, labels = case(1)
    ce = losses.parse("ce").value_and_grad(scores, labels)
    ldam = losses.parse("ldam:max_margin=0:s=1")
    assert_equal(ldam.value_and_grad(scores, labels), ce)
    assert_equal(ldam.with_prior(PRIOR).value_and_grad(scores, labels), ce)


def test_balanced_softmax_is_logit_adjusted_at_tau_one():
    scores, labels = case(2)
    balanced = losses.parse("balanced_softmax").with_prior(PRIOR)
    assert str(balanced) == "balanced_softmax"
    assert_equal(
        balanced.value_and_grad(scores, labels),
        losses.parse("logit_adjusted:tau=1").with_prior(PRIOR).value_and_grad(scores, labels),
    )
    with pytest.raises(ValueError, match="balanced_softmax is logit_adjusted with tau=1"):
        losses.get("balanced_softmax", tau=2)


def test_ldam_margins_follow_counts_to_the_minus_quarter():
    margins = losses.parse("ldam:max_margin=0.5").with_prior(PRIOR).adjust[0]
    torch.testing.assert_close(margins, 0.5 * (PRIOR / 0.05) ** -0.25, rtol=0, atol=1e-15)
    assert margins[3] == 0.5  # the rarest class gets max_margin


@pytest.mark.parametrize(
    "spec", ["ldam", "vs", "ldam:max_margin=0.3:s=10", "vs:gamma=0.1:tau=1.25"]
)
def test_with_a_prior_it_matches_the_reference(spec):
    scores, labels = case(3, scale=0.3)
    loss = losses.parse(spec).with_prior(PRIOR)
    value, grad = loss.value_and_grad(scores, labels)
    want_value, want_grad = ref.value_and_grad(loss, scores, labels)
    torch.testing.assert_close(value, want_value, rtol=0, atol=1e-11)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-11)


def test_the_prior_is_not_part_of_the_spec():
    for spec in ("ldam:max_margin=0.5:s=30", "vs:gamma=0.3:tau=1"):
        loss = losses.parse(spec)
        assert str(loss.with_prior(PRIOR)) == spec and loss.with_prior(PRIOR) == loss


@pytest.mark.parametrize("name", ["ldam", "vs"])
def test_a_bad_prior_is_a_one_line_error(name):
    with pytest.raises(ValueError, match="every class > 0"):
        losses.parse(name).with_prior(torch.tensor([0.5, 0.5, 0.0]))
    with pytest.raises(ValueError, match="prior has 3 classes but scores have K = 4"):
        losses.parse(name).with_prior(torch.full((3,), 1 / 3))(*case())


@pytest.mark.parametrize(
    "spec, words",
    [
        ("ldam:max_margin=-0.1", "max_margin must be a finite number >= 0"),
        ("ldam:s=0", "ldam s must be a finite number > 0"),
        ("vs:gamma=-1", "vs gamma must be a finite number >= 0"),
        ("vs:tau=inf", "vs tau must be a finite number"),
    ],
)
def test_parameters_out_of_range_are_one_line_errors(spec, words):
    with pytest.raises(ValueError, match=words):
        losses.parse(spec)


@pytest.mark.parametrize("spec", ["ldam", "vs"])
def test_finite_in_float32_at_extreme_scores(spec):
    scores = torch.tensor([[1e4, 0.0, -3e4, 5.0], [-1e4, 2e4, 0.0, 1.0]], dtype=torch.float32)
    loss = losses.parse(spec).with_prior(PRIOR)
    value, grad = loss.value_and_grad(scores, torch.tensor([0, 3]))
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
