"""Property tests (hypothesis) of the 2019–2023 losses at non-default parameters and with a
bound prior, like test_properties.py's for the rest of the zoo."""

import reference_formulas as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losses

SPECS = [
    "js",
    "js:pi1=0.1",
    "js:pi1=0.9",
    "nnce",
    "1*nce+1*nnce",
    "agce",
    "agce:a=4:q=0.2",
    "aul",
    "aul:a=3:q=0.1",
    "ael",
    "ael:a=3.5",
    "ldam",
    "ldam:max_margin=0.3:s=1",
    "vs",
    "vs:gamma=0.1:tau=1.25",
    "bce",
    "bce:smoothing=0.1",
    "mbls",
    "mbls:margin=1:lam=0.5",
    "logitnorm",
    "logitnorm:t=1",
    "dual_focal",
    "dual_focal:gamma=2",
    "balanced_softmax",
]


@st.composite
def cases(draw):
    n, k = draw(st.integers(1, 20)), draw(st.integers(2, 12))
    scale, seed = draw(st.floats(1e-3, 1e2)), draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    loss = losses.parse(draw(st.sampled_from(SPECS)))
    if draw(st.booleans()):
        loss = loss.with_prior(torch.rand(k, generator=g, dtype=torch.float64) + 0.01)
    scores = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    labels = torch.randint(0, k, (n,), generator=g)
    if draw(st.booleans()) and loss.accepts_soft_targets:
        return loss, scores, torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64), 1)
    return loss, scores, labels


@settings(max_examples=80, deadline=None)
@given(cases())
def test_grad_equals_autograd_of_the_formula(case):
    loss, scores, target = case
    value, grad = loss.value_and_grad(scores, target)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    want_value, want_grad = ref.value_and_grad(loss, scores, target)
    tolerance = 1e-9 * (1 + scores.abs().max().item() * getattr(loss, "s", 1.0))
    torch.testing.assert_close(value, want_value, rtol=1e-9, atol=tolerance)
    torch.testing.assert_close(grad, want_grad, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(cases(), st.floats(1e2, 1e4))
def test_float32_values_stay_finite_at_any_scale(case, scale):
    loss, scores, target = case
    scores32 = (scores / scores.abs().max().clamp_min(1e-12) * scale).float()
    target32 = target.float() if target.is_floating_point() else target
    value, grad = loss.value_and_grad(scores32, target32)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
