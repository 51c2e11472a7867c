"""The bi-tempered loss: its normaliser, its limits (ce, boundedness, support) and its ranges.

Value and gradient against the reference formula's autograd are tested for every parameter set
in test_losses.py; here, what is special: the tempered softmax sums to 1, t1 = t2 = 1 is ce,
random parameters, extreme scores.
"""

import math

import pytest
import reference_formulas as ref
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import losses
from losses.tempered import tempered_softmax


def exp_t(x, t):
    """Written here again, from the definition: [1 + (1 − t)·x]_+^(1/(1−t))."""
    if t == 1:
        return torch.exp(x)
    return (1 + (1 - t) * x).clamp_min(0) ** (1 / (1 - t))


def scores_of(n=40, k=7, scale=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, k, generator=g, dtype=torch.float64) * scale).to(dtype)


@pytest.mark.parametrize("t2", [0.05, 0.3, 0.7, 0.99, 1.0, 1.001, 1.2, 2.0, 4.0, 10.0])
@pytest.mark.parametrize("k, scale", [(2, 1.0), (10, 0.01), (10, 3.0), (10, 50.0), (100, 5.0)])
def test_normaliser_makes_the_tempered_softmax_sum_to_one(t2, k, scale):
    scores = scores_of(k=k, scale=scale, seed=k)
    probs, log_probs, escort, lam = tempered_softmax(scores, t2)
    ones = torch.ones(scores.shape[0], dtype=torch.float64)
    torch.testing.assert_close(probs.sum(1), ones, rtol=0, atol=2e-14)
    # the definition's exp_t raises a rounded base to 1/(1 − t2): near t2 = 1 that amplifies
    # its own round-off, whence the wider tolerance there
    atol = 1e-14 + (4e-16 / abs(1 - t2) if t2 != 1 else 0.0)
    torch.testing.assert_close(exp_t(scores - lam, t2).sum(1), ones, rtol=0, atol=atol)
    torch.testing.assert_close(probs, exp_t(scores - lam, t2), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(escort, probs**t2, rtol=1e-12, atol=1e-15)
    inside = probs > 0
    torch.testing.assert_close(log_probs[inside], probs[inside].log(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("t2", [0.3, 0.7, 1.2, 4.0])
def test_normaliser_is_found_at_float32_extremes(t2):
    scores = torch.tensor(
        [[1e4, -1e4, 0.0, 3.0], [1e4, 1e4, 1e4, 1e4], [-1e4, 0.0, 1e-3, 2.0], [0.0, 0.0, 0.0, 0.0]]
    )
    probs, _, _, lam = tempered_softmax(scores, t2)
    assert torch.isfinite(probs).all() and torch.isfinite(lam).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(4), rtol=0, atol=1e-5)
    torch.testing.assert_close(probs[1], torch.full((4,), 0.25))


def test_support_is_finite_below_t2_1_and_the_tail_heavy_above():
    scores = torch.tensor([[0.0, -1.0, -5.0, -50.0]], dtype=torch.float64)
    light, _, _, _ = tempered_softmax(scores, 0.5)  # support: o − λ > −1/(1 − t2) = −2
    assert light[0, 2] == 0 and light[0, 3] == 0 and (light[0, :2] > 0).all()
    heavy, _, _, _ = tempered_softmax(scores, 2.0)
    assert heavy[0, 3] > 0.01  # a polynomial tail: softmax would give e^-50
    softmax = torch.softmax(scores, 1)
    assert heavy[0, 3] > 1e18 * softmax[0, 3]


def test_t1_t2_1_is_cross_entropy():
    scores = scores_of(scale=5.0)
    labels = torch.randint(0, 7, (40,), generator=torch.Generator().manual_seed(1))
    soft = torch.softmax(scores_of(seed=2), 1)
    loss = losses.get("bi_tempered", t1=1, t2=1)
    value, grad = loss.value_and_grad(scores, labels)
    torch.testing.assert_close(
        value, F.cross_entropy(scores, labels, reduction="none"), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(
        grad, torch.softmax(scores, 1) - F.one_hot(labels, 7), rtol=0, atol=1e-14
    )
    # probability rows: the Bregman divergence is KL(t ‖ p) = ce − H(t): the same gradient
    value, grad = loss.value_and_grad(scores, soft)
    entropy = -(soft * soft.log()).sum(1)
    torch.testing.assert_close(
        value, F.cross_entropy(scores, soft, reduction="none") - entropy, rtol=0, atol=1e-12
    )
    torch.testing.assert_close(grad, torch.softmax(scores, 1) - soft, rtol=0, atol=1e-14)


@pytest.mark.parametrize("t1, t2", [(0.8, 1.2), (0.5, 2.0), (0.2, 0.7)])
def test_t1_below_1_bounds_the_loss_and_a_far_outlier_stops_pulling(t1, t2):
    """A true class d below two tied rivals: as d grows, p → (0, ½, ½) and the loss saturates
    at −log_t1(0) − (1 − 2·½^(2−t1))/(2 − t1), below the bound −log_t1(0) = 1/(1 − t1)."""
    far = torch.tensor([[-d, 0.0, 0.0] for d in (1e2, 1e3, 1e6)], dtype=torch.float64)
    loss = losses.get("bi_tempered", t1=t1, t2=t2)
    value, grad = loss.value_and_grad(far, torch.zeros(3, dtype=torch.int64))
    limit = 1 / (1 - t1) - (1 - 2 * 0.5 ** (2 - t1)) / (2 - t1)
    assert (value <= 1 / (1 - t1)).all() and (value <= limit + 1e-12).all()
    assert abs(value[-1] - limit) < 1e-2 and grad[-1].abs().max() < 1e-2
    ce = losses.get("ce").value_and_grad(far, torch.zeros(3, dtype=torch.int64))
    assert (ce[0] > 99).all() and (ce[1][:, 0] < -0.99).all()  # ce keeps pulling


def test_soft_target_zeros_and_probabilities_outside_the_support_are_finite():
    scores = torch.tensor([[9.0, 0.0, -9.0], [0.0, 0.1, 0.2]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=torch.float64)
    for t1, t2 in ((0.5, 0.5), (0.8, 0.3), (0.3, 0.8), (1.0, 1.2)):
        value, grad = losses.get("bi_tempered", t1=t1, t2=t2).value_and_grad(scores, target)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all()
        want_value, want_grad = ref.value_and_grad(
            losses.get("bi_tempered", t1=t1, t2=t2), scores, target
        )
        torch.testing.assert_close(value, want_value, rtol=0, atol=1e-12)
        torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "t1, t2", [(0.8, 1.001), (0.8, 0.999), (0.0, 10.0), (0.99, 0.01), (1.0, 1.001), (0.5, 0.5)]
)
def test_float32_extremes_are_finite_at_edge_parameters(t1, t2):
    scores = torch.tensor(
        [
            [1e4, -1e4, 0.0, 3.0, -2.0],
            [-1e4, 1e4, 1e4, 0.0, 0.0],
            [1e4, 1e4, 1e4, 1e4, 1e4],
            [1e-30, 0.0, -1e-30, 0.0, 0.0],
        ]
    )
    loss = losses.get("bi_tempered", t1=t1, t2=t2)
    for target in (torch.tensor([1, 0, 4, 2]), torch.full((4, 5), 0.2)):
        value, grad = loss.value_and_grad(scores, target)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all()
        assert (value >= 0).all()


@settings(max_examples=40, deadline=None)
@given(
    t1=st.floats(0.0, 1.0),
    t2=st.floats(0.05, 6.0),
    k=st.integers(2, 12),
    scale=st.floats(1e-2, 30.0),
    seed=st.integers(0, 2**31 - 1),
    soft=st.booleans(),
)
def test_any_temperatures_match_the_reference(t1, t2, k, scale, seed, soft):
    if t2 < 1 and t1 > 0.999:
        t1 = 0.999  # t2 < 1 needs t1 < 1
    loss = losses.get("bi_tempered", t1=t1, t2=t2)
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(9, k, generator=g, dtype=torch.float64) * scale
    target = ref.random_target(9, k, g, soft, sharpness=2.0)
    if t2 < 1 and t2 < t1:
        # the gradient has a p^(t2 − t1) singularity at the edge of the support: keep away
        probs = tempered_softmax(scores, t2)[0]
        assume(not ((probs > 0) & (probs < 1e-4)).any())
    value, grad = loss.value_and_grad(scores, target)
    want_value, want_grad = ref.value_and_grad(loss, scores, target)
    tolerance = 1e-10 * max(1.0, 0.01 / abs(1 - t2)) if t2 != 1 else 1e-10
    torch.testing.assert_close(value, want_value, rtol=0, atol=tolerance)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=tolerance)


def test_defaults_and_spec_string():
    loss = losses.get("bi_tempered")
    assert (loss.t1, loss.t2) == (0.8, 1.2)
    assert str(loss) == "bi_tempered:t1=0.8:t2=1.2"
    assert losses.parse("bi_tempered:t1=1:t2=1") == losses.get("bi_tempered", t1=1.0, t2=1.0)
    assert loss.family == "ce-variant" and loss.applied_to == "probs"
    assert loss.accepts_soft_targets and not loss.convex_in_scores


@pytest.mark.parametrize(
    "params, words",
    [
        ({"t1": -0.1}, r"bi_tempered t1 must be a number in \[0, 1\]"),
        ({"t1": 1.5}, "bi_tempered t1"),
        ({"t1": math.nan}, "bi_tempered t1"),
        ({"t1": "0.8"}, "bi_tempered t1"),
        ({"t1": True}, "bi_tempered t1"),
        ({"t2": 0}, r"bi_tempered t2 must be a number in \(0, 10\]"),
        ({"t2": -1}, "bi_tempered t2"),
        ({"t2": 11}, "bi_tempered t2"),
        ({"t2": math.inf}, "bi_tempered t2"),
        ({"t2": math.nan}, "bi_tempered t2"),
        ({"t1": 1, "t2": 0.7}, "t2 < 1 needs t1 < 1"),
    ],
)
def test_bad_parameters_raise_a_one_line_value_error(params, words):
    with pytest.raises(ValueError, match=words) as error:
        losses.get("bi_tempered", **params)
    assert "\n" not in str(error.value)


def test_the_vectorised_log1p_is_within_two_ulp_of_float64_and_keeps_its_ends():
    from losses.tempered import _log1p

    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.rand(4000, generator=g) * 50 - 1, torch.rand(1000, generator=g) * 1e-6])
    want = torch.log1p(x.double())
    got = _log1p(x).double()
    ulp = torch.finfo(torch.float32).eps * want.abs().clamp_min(torch.finfo(torch.float32).tiny)
    assert ((got - want).abs() <= 2 * ulp).all()
    ends = _log1p(torch.tensor([-1.0, 0.0, float("inf"), float("nan")]))
    assert ends[0] == -float("inf") and ends[1] == 0 and ends[2] == float("inf") and ends[3].isnan()
    x64 = x.double()
    assert torch.equal(_log1p(x64), torch.log1p(x64))  # float64: torch's own
