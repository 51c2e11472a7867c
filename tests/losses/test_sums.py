"""Weighted sums W*SPEC+W*SPEC: grammar, round trip, declarations, value and gradient."""

import dataclasses

import pytest
import torch

import losses
from losses import sums
from losses.base import Loss


def case(n=12, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, k, generator=g, dtype=torch.float64) * 2
    labels = torch.randint(0, k, (n,), generator=g)
    return scores, labels, torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64), 1)


@pytest.mark.parametrize(
    "spec, canonical",
    [
        ("1*nce+1*rce", "1*nce+1*rce:a=-4"),
        ("nce+rce", "1*nce+1*rce:a=-4"),  # no W* means weight 1
        (" 1*nce + 1*l1 ", "1*nce+1*l1:on=probs"),
        ("1e+2*nce+2.5e-1*rce:a=-2", "100*nce+0.25*rce:a=-2"),  # exponents are not term joins
        ("1*huber:delta=1e+2", "1*huber:on=probs:delta=100"),
        ("0*ce+3*margin:kind=weston_watkins", "0*ce+3*margin:kind=weston_watkins:delta=1"),
        ("0.1*ce", "0.1*ce"),
    ],
)
def test_parse_and_str_round_trip(spec, canonical):
    loss = losses.parse(spec)
    assert isinstance(loss, sums.WeightedSum) and str(loss) == canonical
    assert losses.parse(str(loss)) == loss


def test_a_spec_with_an_exponent_but_no_sum_is_a_plain_loss():
    assert losses.parse("huber:delta=1e+2") == losses.get("huber", delta=100.0)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("1*nce+", "an empty term"),
        ("nce++rce", "an empty term"),
        ("+nce", "an empty term"),
        ("*rce", "no weight before"),
        ("1*", "no loss after '1\\*'"),
        ("1*nce+1*", "no loss after"),
        ("x*nce", "weight 'x' is not a number"),
        ("-1*nce", "must be a finite number >= 0"),
        ("inf*nce", "must be a finite number >= 0"),
        ("nan*nce", "must be a finite number >= 0"),
        ("2*3*nce", "more than one '\\*'"),
        ("1*nce+1*hinge", "term 'hinge': unknown loss 'hinge'"),
        ("1*nce+1*huber:delta=0", "huber delta must be a positive"),
    ],
)
def test_malformed_sums_get_one_line_naming_the_problem(spec, words):
    with pytest.raises(ValueError, match=words) as error:
        losses.parse(spec)
    assert "\n" not in str(error.value) and "bad loss sum" in str(error.value)


def test_get_stays_name_based():
    with pytest.raises(ValueError, match="unknown loss '1\\*nce'"):
        losses.get("1*nce")


def test_value_and_gradient_are_the_weighted_sums_of_the_terms():
    scores, labels, soft = case()
    loss = losses.parse("0.5*nce+2*l1+0*ce")
    nce, l1, ce = losses.get("nce"), losses.get("l1"), losses.get("ce")
    for target in (labels, soft):
        value, grad = loss.value_and_grad(scores, target)
        want = [
            0.5 * a + 2 * b + 0 * c
            for a, b, c in zip(
                nce.value_and_grad(scores, target),
                l1.value_and_grad(scores, target),
                ce.value_and_grad(scores, target),
                strict=True,
            )
        ]
        torch.testing.assert_close(value, want[0], rtol=0, atol=1e-14)
        torch.testing.assert_close(grad, want[1], rtol=0, atol=1e-14)


def test_soft_targets_only_if_every_term_takes_them():
    scores, _, soft = case()
    assert losses.parse("1*nce+1*l1").accepts_soft_targets
    loss = losses.parse("1*nce+1*rce")
    assert not loss.accepts_soft_targets
    with pytest.raises(ValueError, match="^1\\*nce\\+1\\*rce:a=-4 needs integer class labels"):
        loss(scores, soft)


@pytest.mark.parametrize(
    "spec, family",
    [
        ("1*nce+1*rce", "noise-robust"),
        ("1*focal+1*poly1", "ce-variant"),
        ("1*ce+1*nce", "noise-robust"),
        ("1*ce+1*margin", "textbook"),
        ("1*margin+1*ce", "margin-sparse"),
        ("1*l2:on=scores+1*huber:on=scores", "square"),
    ],
)
def test_family_is_common_else_noise_robust_else_the_first_terms(spec, family):
    assert losses.parse(spec).family == family


def test_describe_lists_where_the_terms_are_applied():
    description = losses.parse("1*nce+1*l1").describe()
    assert description["applied to"] == "log-softmax of the scores + softmax probabilities"
    assert description["family"] == "noise-robust" and description["gradient"] == "analytic"
    assert losses.parse("1*gce+1*rce").applied_to == "probs"
    assert losses.parse("1*nce+1*rce").describe()["target"] == "class label"


def test_convex_only_if_every_term_is():
    assert losses.parse("1*ce+2*margin").convex_in_scores
    assert not losses.parse("1*ce+1*gce").convex_in_scores


def test_a_term_checks_the_scores_it_gets():
    with pytest.raises(ValueError, match="nce needs at least 2 classes"):
        losses.parse("1*ce+1*nce")(torch.zeros(2, 1), torch.zeros(2, dtype=torch.int64))


def test_a_sum_with_a_value_only_term_says_autograd_and_works(clean_registry):
    @dataclasses.dataclass(frozen=True)
    class Squared(Loss, name="test_squared_scores"):
        def value(self, scores, target):
            return 0.5 * (scores**2).sum(1)

    scores, labels, _ = case()
    loss = losses.parse("1*ce+3*test_squared_scores")
    assert loss.grad_source == "autograd" and loss.describe()["gradient"] == "autograd"
    value, grad = loss.value_and_grad(scores, labels)
    ce_value, ce_grad = losses.get("ce").value_and_grad(scores, labels)
    torch.testing.assert_close(value, ce_value + 1.5 * (scores**2).sum(1))
    torch.testing.assert_close(grad, ce_grad + 3 * scores)
    assert loss.family == "textbook"  # the first term's: the user's declares none


def test_weights_of_a_sum_built_in_python_are_checked():
    with pytest.raises(ValueError, match="weight of ce must be a finite number >= 0"):
        sums.WeightedSum(((-1.0, losses.get("ce")),))
    with pytest.raises(ValueError, match="at least one term"):
        sums.WeightedSum(())
