"""The squared hinge (power=2) of both margin kinds, and power=1 left as it was."""

import math

import pytest
import reference_formulas as ref
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import losses

K = 6


def case(n=50, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, K, generator=g, dtype=torch.float64) * scale
    return scores, torch.randint(0, K, (n,), generator=g)


def autograd(fn, scores):
    scores = scores.clone().requires_grad_()
    value = fn(scores)
    (grad,) = torch.autograd.grad(value.sum(), scores)
    return value.detach(), grad


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_squared_weston_watkins_is_k_times_multi_margin_loss_p2(delta):
    scores, labels = case(seed=1)
    loss = losses.get("margin", kind="weston_watkins", delta=delta, power=2)
    value, grad = loss.value_and_grad(scores, labels)
    want_value, want_grad = autograd(
        lambda s: K * F.multi_margin_loss(s, labels, p=2, margin=delta, reduction="none"), scores
    )
    torch.testing.assert_close(value, want_value, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(grad, want_grad, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("delta", [0.5, 1.0])
def test_squared_crammer_singer_is_the_worst_rivals_squared_hinge(delta):
    scores, labels = case(seed=2)
    value, grad = losses.get("margin", delta=delta, power=2).value_and_grad(scores, labels)
    rival = scores.masked_fill(F.one_hot(labels, K).bool(), -math.inf).max(1)
    hinge = (delta + rival.values - scores.gather(1, labels[:, None]).squeeze(1)).clamp_min(0)
    torch.testing.assert_close(value, hinge**2, rtol=0, atol=1e-13)
    want = torch.zeros_like(scores)
    want[torch.arange(50), rival.indices] += 2 * hinge
    want[torch.arange(50), labels] -= 2 * hinge
    torch.testing.assert_close(grad, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", ["crammer_singer", "weston_watkins"])
def test_squared_hinge_with_a_delta_matrix(kind):
    g = torch.Generator().manual_seed(3)
    delta = torch.rand(K, K, generator=g, dtype=torch.float64) * 2
    delta.fill_diagonal_(0)
    scores, labels = case(seed=4)
    loss = losses.get("margin", kind=kind, delta=delta, power=2)
    for row in range(5):  # row by row, with the row's scalar margins
        y = labels[row].item()
        violation = delta[y] + scores[row] - scores[row, y]
        violation[y] = 0.0
        hinge = violation.clamp_min(0)
        want = hinge.max() ** 2 if kind == "crammer_singer" else (hinge**2).sum()
        torch.testing.assert_close(loss(scores[row : row + 1], labels[row : row + 1])[0], want)


@pytest.mark.parametrize("kind", ["crammer_singer", "weston_watkins"])
def test_power_1_is_unchanged(kind):
    scores, labels = case(seed=5)
    hinge = losses.get("margin", kind=kind)
    assert hinge == losses.get("margin", kind=kind, power=1) and hinge.power == 1
    assert str(hinge) == f"margin:kind={kind}:delta=1"  # the specs of committed results
    value, grad = hinge.value_and_grad(scores, labels)
    if kind == "weston_watkins":
        want = K * F.multi_margin_loss(scores, labels, reduction="none")
        torch.testing.assert_close(value, want, rtol=1e-14, atol=1e-14)
    assert set(grad.unique().tolist()) <= set(range(-K, 2))  # hinge slopes are integers


def test_squared_hinge_gradient_closes_with_the_violation():
    """One rival with violation v = 1 + o_1 − o_0: the squared hinge pushes with 2v, the hinge
    with 1 until the kink."""
    v = torch.tensor([1.99, 1.5, 0.99, 0.01], dtype=torch.float64)
    scores = torch.stack([0 * v, v - 1, 0 * v - 10], 1)
    labels = torch.zeros(4, dtype=torch.int64)
    for kind in ("crammer_singer", "weston_watkins"):
        _, squared = losses.get("margin", kind=kind, power=2).value_and_grad(scores, labels)
        _, hinge = losses.get("margin", kind=kind).value_and_grad(scores, labels)
        torch.testing.assert_close(squared[:, 1], 2 * v, rtol=0, atol=1e-15)
        assert (hinge[:, 1] == 1).all()


@pytest.mark.parametrize(
    "spec, canonical",
    [
        ("margin:power=2", "margin:kind=crammer_singer:delta=1:power=2"),
        (
            "margin:power=2:delta=0.5:kind=weston_watkins",
            "margin:kind=weston_watkins:delta=0.5:power=2",
        ),
        ("margin:power=1", "margin:kind=crammer_singer:delta=1"),
        ("margin:kind=crammer_singer:delta=1", "margin:kind=crammer_singer:delta=1"),
    ],
)
def test_spec_strings_round_trip_and_leave_out_power_1(spec, canonical):
    loss = losses.parse(spec)
    assert str(loss) == canonical and losses.parse(canonical) == loss
    assert loss.describe()["margin"].endswith("squared hinge") == (loss.power == 2)


@pytest.mark.parametrize("power", [0, 3, 1.5, -1, "2", True, math.nan, math.inf])
def test_bad_power_raises_a_one_line_value_error(power):
    with pytest.raises(ValueError, match="margin power must be 1 .hinge. or 2") as error:
        losses.get("margin", power=power)
    assert "\n" not in str(error.value)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["crammer_singer", "weston_watkins"]),
    delta=st.floats(0.05, 5.0),
    k=st.integers(2, 12),
    scale=st.floats(1e-2, 1e3),
    seed=st.integers(0, 2**31 - 1),
)
def test_squared_hinge_matches_the_reference_anywhere(kind, delta, k, scale, seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(9, k, generator=g, dtype=torch.float64) * scale
    labels = torch.randint(0, k, (9,), generator=g)
    loss = losses.get("margin", kind=kind, delta=delta, power=2)
    value, grad = loss.value_and_grad(scores, labels)
    want_value, want_grad = ref.value_and_grad(loss, scores, labels)
    torch.testing.assert_close(value, want_value, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(grad, want_grad, rtol=1e-13, atol=1e-13)
