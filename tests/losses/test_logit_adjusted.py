"""logit_adjusted: cross-entropy on o + τ·log π, π the training prior bound by the trainer."""

import pytest
import reference_formulas as ref
import torch
import torch.nn.functional as F

import losses

PRIOR = torch.tensor([0.6, 0.25, 0.1, 0.05], dtype=torch.float64)


def case(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(9, 4, generator=g, dtype=torch.float64) * 3, torch.randint(
        0, 4, (9,), generator=g
    )


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_it_is_cross_entropy_on_scores_shifted_by_tau_log_prior(tau):
    scores, labels = case()
    loss = losses.parse(f"logit_adjusted:tau={tau}").with_prior(PRIOR)
    shifted = scores + tau * PRIOR.log()
    torch.testing.assert_close(
        loss(scores, labels), F.cross_entropy(shifted, labels, reduction="none")
    )
    value, grad = loss.value_and_grad(scores, labels)
    want_value, want_grad = ref.value_and_grad(loss, scores, labels)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(value, want_value, rtol=0, atol=1e-12)


def test_on_a_balanced_prior_or_without_one_it_equals_ce():
    scores, labels = case(1)
    ce = losses.parse("ce").value_and_grad(scores, labels)
    for loss in (
        losses.parse("logit_adjusted"),
        losses.parse("logit_adjusted").with_prior(torch.full((4,), 0.25)),
    ):
        for a, b in zip(loss.value_and_grad(scores, labels), ce, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_rare_classes_get_a_larger_margin():
    # the same scores: a rare true class is penalised more than under ce, a frequent one less
    scores = torch.zeros(2, 4, dtype=torch.float64)
    labels = torch.tensor([3, 0])
    adjusted = losses.parse("logit_adjusted").with_prior(PRIOR)(scores, labels)
    plain = losses.parse("ce")(scores, labels)
    assert adjusted[0] > plain[0] and adjusted[1] < plain[1]


def test_the_prior_is_not_part_of_the_spec():
    loss = losses.parse("logit_adjusted:tau=1.5")
    assert str(loss) == str(loss.with_prior(PRIOR)) == "logit_adjusted:tau=1.5"
    assert loss == loss.with_prior(PRIOR)


@pytest.mark.parametrize(
    "prior, words",
    [
        (torch.tensor([0.5, 0.5, 0.0, 0.0]), "every class > 0"),
        (torch.ones(2, 2), "shape \\(K,\\)"),
    ],
)
def test_a_bad_prior_is_a_one_line_error(prior, words):
    with pytest.raises(ValueError, match=words):
        losses.parse("logit_adjusted").with_prior(prior)


def test_a_prior_of_another_k_is_refused():
    scores, labels = case()
    with pytest.raises(ValueError, match="prior has 3 classes but scores have K = 4"):
        losses.parse("logit_adjusted").with_prior(torch.full((3,), 1 / 3))(scores, labels)


def test_tau_must_be_finite():
    with pytest.raises(ValueError, match="tau must be a finite number"):
        losses.parse("logit_adjusted:tau=inf")
