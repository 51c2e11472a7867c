"""Property-based tests: any N, K, scale and soft target; the gradient is the formula's."""

import reference_formulas as ref
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import losses

SPECS = [
    "ce",
    "soft_label",
    "soft_label:smoothing=0.4",
    "l2",
    "l1",
    "huber",
    "l2:on=scores",
    "l1:on=scores",
    "huber:on=scores:delta=0.5",
    "margin",
    "margin:kind=weston_watkins",
    # focal with gamma >= 1 only: below 1, (1 - p_y)^gamma has no derivative at p_y = 1,
    # where large scales put it, so the reference's autograd is nan there (ours is not)
    "focal",
    "focal:gamma=1",
    "gce",
    "gce:q=0.3",
    "gce:q=1",
    "rce",
    "sce",
    "sce:alpha=6:beta=0.1",
    "poly1",
    "poly1:epsilon=-1",
    "taylor",
    "taylor:t=5",
    "nce",
    "1*nce+1*rce",
    "1*nce+1*l1",
    "0.3*ce+2*margin",
]


@st.composite
def cases(draw):
    n = draw(st.integers(1, 20))
    k = draw(st.integers(2, 12))
    scale = draw(st.floats(1e-3, 1e3))
    seed = draw(st.integers(0, 2**31 - 1))
    spec = draw(st.sampled_from(SPECS))
    soft = draw(st.booleans())
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    labels = torch.randint(0, k, (n,), generator=g)
    loss = losses.parse(spec)
    if soft and loss.accepts_soft_targets:
        target = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) * 3, 1)
    else:
        target = labels
    return loss, scores, target


def near_kink(loss, scores, target):
    """True where a hinge or |r| sits within 1e-7 of its kink: there any subgradient is right."""
    if hasattr(loss, "terms"):
        return any(near_kink(term, scores, target) for _, term in loss.terms)
    if loss.name == "margin":
        violation = loss.delta + scores - scores.gather(1, target[:, None])
        return bool((violation.abs() < 1e-7).any())
    if loss.name in ("l1", "huber"):
        p = torch.softmax(scores, 1) if loss.on == "probs" else scores
        r = p - ref.probs_target(target, scores.shape[1], scores.dtype)
        kink = 0.0 if loss.name == "l1" else loss.delta
        return bool(((r.abs() - kink).abs() < 1e-7).any())
    return False


@settings(max_examples=60, deadline=None)
@given(cases())
def test_grad_equals_autograd_of_the_formula(case):
    loss, scores, target = case
    value, grad = loss.value_and_grad(scores, target)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    assert (value >= -1e-9 * (1 + scores.abs().max())).all()
    assume(not near_kink(loss, scores, target))
    want_value, want_grad = ref.value_and_grad(loss, scores, target)
    tolerance = 1e-9 * (1 + scores.abs().max().item())
    torch.testing.assert_close(value, want_value, rtol=1e-10, atol=tolerance)
    torch.testing.assert_close(grad, want_grad, rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(cases(), st.floats(1e2, 1e4))
def test_float32_values_stay_finite_at_any_scale(case, scale):
    loss, scores, target = case
    scores32 = (scores / scores.abs().max().clamp_min(1e-12) * scale).float()
    target32 = target.float() if target.is_floating_point() else target
    value, grad = loss.value_and_grad(scores32, target32)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
