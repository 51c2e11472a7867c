"""bce: torch's BCE-with-logits summed over classes, and timm's smoothing identity."""

import pytest
import torch
import torch.nn.functional as F

import losses


def case(seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(9, 5, generator=g, dtype=torch.float64) * 4
    return scores, torch.randint(0, 5, (9,), generator=g), torch.softmax(scores.flip(0), 1)


@pytest.mark.parametrize("eps", [0.1, 0.3, 1.0])
def test_smoothing_identity_bce_eps_plus_ce_is_bce_zero_plus_soft_label_eps(eps):
    scores, labels, soft = case()

    def both(spec, target):
        return losses.parse(spec).value_and_grad(scores, target)

    for target in (labels, soft):
        left = [
            a + b
            for a, b in zip(both(f"bce:smoothing={eps}", target), both("ce", target), strict=True)
        ]
        right = [
            a + b
            for a, b in zip(
                both("bce", target), both(f"soft_label:smoothing={eps}", target), strict=True
            )
        ]
        for a, b in zip(left, right, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


def test_it_is_torch_bce_with_logits_on_timm_targets():
    scores, labels, _ = case(1)
    t = F.one_hot(labels, 5).double() * 0.9 + 0.1 / 5
    want = F.binary_cross_entropy_with_logits(scores, t, reduction="none").sum(1)
    torch.testing.assert_close(
        losses.parse("bce:smoothing=0.1")(scores, labels), want, rtol=0, atol=1e-13
    )


def test_finite_in_float32_at_extreme_scores():
    scores = torch.tensor([[1e4, 0.0, -3e4], [-1e4, 2e4, 0.0]], dtype=torch.float32)
    value, grad = losses.parse("bce").value_and_grad(scores, torch.tensor([0, 0]))
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_smoothing_outside_the_unit_interval_is_an_error(eps):
    with pytest.raises(ValueError, match=r"bce smoothing must lie in \[0, 1\]"):
        losses.get("bce", smoothing=eps)
