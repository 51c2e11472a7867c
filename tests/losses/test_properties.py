"""Property-based tests: any N, K, scale and soft target; the gradient is the formula's. And
the zoo's properties of every loss (losses.properties: symmetric, bounded, Lipschitz, the
gradient at saturation), measured, against what each formula says."""

import pytest
import reference_formulas as ref
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import losses
from losses import properties

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


# -- the zoo's properties (losses.properties), each against the formula's ------------------------

# (symmetric, bounded, Lipschitz in the scores, gradient on a confidently wrong row from
# s = 30 to 300) of every built-in loss at its defaults, from its formula: one line per loss.
KNOWN = {
    "ael": (False, True, True, "vanishes"),
    "agce": (False, True, True, "vanishes"),
    "aul": (False, True, True, "vanishes"),
    "balanced_softmax": (False, False, True, "stays"),
    "bce": (False, False, True, "stays"),  # σ(o) − t
    "bi_tempered": (False, True, True, "vanishes"),  # polynomially, t2 > 1
    "ce": (False, False, True, "stays"),  # ‖p − e_y‖ → √2
    "dual_focal": (False, False, True, "stays"),
    "focal": (False, False, True, "stays"),  # w → 1 as p_y → 0
    "gce": (False, True, True, "vanishes"),  # w = p_y^q
    "huber": (False, True, True, "vanishes"),  # on probabilities by default
    "hui_belkin": (False, False, False, "grows"),  # a square loss on raw scores
    "js": (False, True, True, "vanishes"),
    "l1": (True, True, True, "vanishes"),  # MAE: Σ_k 2(1 − p_k) = 2(K − 1)
    "l2": (False, True, True, "vanishes"),
    "ldam": (False, False, True, "stays"),  # s·(softmax − e_y), s = 30
    "logit_adjusted": (False, False, True, "stays"),
    "logitnorm": (False, True, False, "vanishes"),  # ∇ ∝ 1/(t‖o‖): unbounded near o = 0
    "margin": (False, False, True, "stays"),  # the hinge's slope
    "mbls": (False, False, True, "stays"),
    "nce": (True, True, True, "vanishes"),  # Σ_k NCE(o, e_k) = 1
    "nnce": (True, True, True, "vanishes"),  # Σ_k NNCE(o, e_k) = K − 1
    "poly1": (False, False, True, "stays"),
    "rce": (True, True, True, "vanishes"),  # −A·Σ_k (1 − p_k) = −A·(K − 1)
    "sce": (False, False, True, "stays"),  # α·CE keeps α·√2
    "soft_label": (False, False, True, "stays"),
    "sparsemax": (False, False, True, "stays"),
    "taylor": (False, True, True, "vanishes"),
    "vs": (False, False, True, "stays"),
}
BUILT_IN = sorted(n for n, c in losses.base.REGISTRY.items() if c.__module__.startswith("losses."))


def test_every_built_in_loss_has_its_known_properties_listed():
    assert sorted(KNOWN) == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_measured_properties_match_the_formulas(name):
    found = properties.measure(losses.parse(name))
    measured = (found.symmetric, found.bounded, found.lipschitz, found.wrong_trend)
    assert measured == KNOWN[name]
    if found.symmetric:
        assert found.symmetric_spread < 1e-12  # constant to round-off, not nearly constant
    else:
        assert found.symmetric_spread > 1e-4


def test_the_measured_bounds_are_the_formulas_suprema():
    # sup of MAE = 2, of RCE = −A = 4, of NCE and NNCE = 1; CE's gradient norm sup is √2
    assert properties.measure(losses.parse("l1")).largest_value == pytest.approx(2, rel=1e-9)
    assert properties.measure(losses.parse("rce")).largest_value == pytest.approx(4, rel=1e-9)
    assert properties.measure(losses.parse("nnce")).largest_value == pytest.approx(1, rel=1e-9)
    assert properties.measure(losses.parse("ce")).largest_grad == pytest.approx(2**0.5, rel=1e-9)
    ldam = properties.measure(losses.parse("ldam"))
    assert ldam.grad_wrong == pytest.approx(30 * 2**0.5, rel=1e-6)  # s·√2


def test_a_loss_with_a_growing_gradient_reads_not_lipschitz():
    assert not properties.measure(losses.parse("l2:on=scores")).lipschitz
    assert properties.measure(losses.parse("l2:on=scores")).right_trend == "grows"
    assert properties.measure(losses.parse("gce:q=1")).symmetric  # q = 1 is MAE/2
