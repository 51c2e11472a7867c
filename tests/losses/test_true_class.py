"""The p_y family: what is special about it (the generic body in test_losses covers the rest)."""

import math

import pytest
import reference_formulas as ref
import torch

import losses
from losses.base import REGISTRY
from losses.true_class import TrueClassLoss

FAMILY = [losses.get(name) for name in losses.names() if issubclass(REGISTRY[name], TrueClassLoss)]
VARIANTS = FAMILY + [
    losses.get("focal", gamma=0.5),
    losses.get("gce", q=0.2),
    losses.get("taylor", t=7),
    losses.get("poly1", epsilon=-1.0),
]


def case(n=40, k=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * 3, torch.randint(
        0, k, (n,), generator=g
    )


def assert_same_loss(a, b, scale=1.0):
    scores, labels = case()
    value_a, grad_a = a.value_and_grad(scores, labels)
    value_b, grad_b = b.value_and_grad(scores, labels)
    torch.testing.assert_close(value_a, scale * value_b, rtol=0, atol=1e-13)
    torch.testing.assert_close(grad_a, scale * grad_b, rtol=0, atol=1e-13)


def test_the_family_holds_the_zoo_losses_of_p_y_alone():
    assert {str(loss).split(":")[0] for loss in FAMILY} >= {
        "focal",
        "gce",
        "rce",
        "sce",
        "poly1",
        "taylor",
    }


@pytest.mark.parametrize("spec", ["focal:gamma=0", "poly1:epsilon=0"])
def test_special_cases_equal_cross_entropy(spec):
    assert_same_loss(losses.parse(spec), losses.get("ce"))


@pytest.mark.parametrize("spec", ["gce:q=1", "taylor:t=1", "rce:a=-1", "sce:alpha=0:a=-1"])
def test_special_cases_equal_half_of_l1_on_probabilities(spec):
    assert_same_loss(losses.parse(spec), losses.get("l1", on="probs"), scale=0.5)


def test_sce_is_alpha_ce_plus_beta_rce():
    scores, labels = case(seed=1)
    sce = losses.get("sce", alpha=0.7, beta=3.0, a=-2.0)
    ce, rce = losses.get("ce"), losses.get("rce", a=-2.0)
    for got, a, b in zip(
        sce.value_and_grad(scores, labels),
        ce.value_and_grad(scores, labels),
        rce.value_and_grad(scores, labels),
        strict=True,
    ):
        torch.testing.assert_close(got, 0.7 * a + 3.0 * b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_weight_is_minus_p_times_the_derivative_of_f(loss):
    """w(p) = −p·f′(p), f′ by autograd through the reference formula at o = [logit p, 0]."""
    p = torch.linspace(0.01, 0.99, 99, dtype=torch.float64).requires_grad_()
    scores = torch.stack([torch.log(p / (1 - p)), torch.zeros_like(p)], 1)
    f = ref.value(loss, scores, torch.zeros(99, dtype=torch.int64))
    (f_prime,) = torch.autograd.grad(f.sum(), p)
    torch.testing.assert_close(
        loss.weight(p.detach()), -p.detach() * f_prime, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("loss", VARIANTS, ids=str)
def test_one_minus_p_y_keeps_its_digits_where_p_y_rounds_to_one(loss):
    """At o = [40, 0], 1 − p_y = 4.2e-18 is below float64's resolution near 1; the value's
    and the gradient's dependence on it must still be exact, not 0 or noise."""
    scores = torch.tensor([[40.0, 0.0]], dtype=torch.float64)
    rest = math.exp(-40) / (1 + math.exp(-40))
    value, grad = loss.value_and_grad(scores, torch.tensor([0]))
    # grad = w·(p − e_y): the rival's entry is w·rest, the true class's −w·rest
    weight = loss.weight(torch.tensor([1 - rest], dtype=torch.float64)).item()
    assert grad[0, 1].item() == pytest.approx(weight * rest, rel=1e-12)
    assert grad[0, 0].item() == pytest.approx(-weight * rest, rel=1e-12)
    if str(loss) == "rce:a=-4":  # f = 4·(1 − p_y)
        assert value.item() == pytest.approx(4 * rest, rel=1e-12)
    if str(loss) == "taylor:t=7":  # f = Σ_k rest^k / k ≈ rest
        assert value.item() == pytest.approx(rest, rel=1e-12)


@pytest.mark.parametrize(
    "spec, want",
    [
        # o = [0, 0], K = 2: p_y = 1/2, log p_y = −log 2
        ("focal", 0.25 * math.log(2)),
        ("gce", (1 - 0.5**0.7) / 0.7),
        ("rce", 2.0),
        ("sce", 0.1 * math.log(2) + 2.0),
        ("poly1", math.log(2) + 0.5),
        ("taylor", 0.5 + 0.125),
        ("taylor:t=3", 0.5 + 0.125 + 0.125 / 3),
    ],
)
def test_golden_values_at_an_even_split(spec, want):
    value = losses.parse(spec)(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0]))
    assert value.item() == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("loss", FAMILY, ids=str)
def test_soft_targets_get_a_one_line_error_naming_the_loss(loss):
    scores, _ = case()
    with pytest.raises(ValueError, match=f"^{loss.name} needs integer class labels") as error:
        loss(scores, torch.softmax(scores, 1))
    assert "\n" not in str(error.value)


def test_taylor_accepts_an_integral_float_and_stores_an_int():
    loss = losses.get("taylor", t=3.0)
    assert loss.t == 3 and isinstance(loss.t, int) and str(loss) == "taylor:t=3"
