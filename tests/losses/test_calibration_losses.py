"""mbls, logitnorm, dual_focal: ce at their special cases, parameter errors, saturation."""

import pytest
import torch

import losses


def case(seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(9, 5, generator=g, dtype=torch.float64) * scale
    return scores, torch.randint(0, 5, (9,), generator=g), torch.softmax(scores.flip(0), 1)


@pytest.mark.parametrize("spec", ["mbls:lam=0", "mbls:lam=0:margin=0", "dual_focal:gamma=0"])
def test_special_cases_are_ce_exactly(spec):
    scores, labels, soft = case()
    targets = (labels, soft) if losses.parse(spec).accepts_soft_targets else (labels,)
    for target in targets:
        got = losses.parse(spec).value_and_grad(scores, target)
        for a, b in zip(got, losses.parse("ce").value_and_grad(scores, target), strict=True):
            assert torch.equal(a, b)


def test_mbls_penalises_only_scores_beyond_the_margin():
    scores = torch.tensor([[12.0, 0.0, 11.0, 1.5]], dtype=torch.float64)
    value, grad = losses.parse("mbls:margin=10:lam=0.4").value_and_grad(scores, torch.tensor([2]))
    ce_value, ce_grad = losses.parse("ce").value_and_grad(scores, torch.tensor([2]))
    torch.testing.assert_close(
        value - ce_value, torch.tensor([0.1 * (2.0 + 0.5)], dtype=torch.float64)
    )
    torch.testing.assert_close(
        grad - ce_grad, torch.tensor([[0.2, -0.1, 0.0, -0.1]], dtype=torch.float64)
    )


def test_logitnorm_is_invariant_to_the_scale_of_the_scores():
    scores, labels, _ = case(1)
    loss = losses.parse("logitnorm:t=0.1")
    torch.testing.assert_close(
        loss(scores, labels), loss(scores * 100, labels), rtol=1e-6, atol=1e-6
    )
    value, grad = loss.value_and_grad(torch.zeros(2, 5), torch.tensor([0, 3]))
    assert torch.isfinite(grad).all() and torch.allclose(value, torch.tensor(5.0).log().expand(2))


def test_dual_focal_reads_the_largest_probability_below_p_y():
    scores = torch.tensor([[2.0, 3.0, 1.0, 0.0]], dtype=torch.float64)
    p = torch.softmax(scores, 1)[0]
    value = losses.parse("dual_focal:gamma=2")(scores, torch.tensor([0]))
    torch.testing.assert_close(value, -((1 - p[0] + p[2]) ** 2) * p[0].log().reshape(1))


@pytest.mark.parametrize("spec", ["mbls", "logitnorm", "dual_focal", "dual_focal:gamma=0.5"])
def test_finite_in_float32_and_dual_focal_flat_where_p_y_rounds_to_one(spec):
    scores = torch.tensor([[1e4, 0.0, -3e4], [-1e4, 2e4, 0.0]], dtype=torch.float32)
    value, grad = losses.parse(spec).value_and_grad(scores, torch.tensor([0, 0]))
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    if spec.startswith("dual_focal"):
        assert value[0] == 0 and grad[0].abs().max() == 0


@pytest.mark.parametrize(
    "spec, words",
    [
        ("mbls:margin=-1", "mbls margin must be a finite number >= 0"),
        ("mbls:lam=-0.1", "mbls lam must be a finite number >= 0"),
        ("logitnorm:t=0", "logitnorm t must be a finite number > 0"),
        ("dual_focal:gamma=-1", "dual_focal gamma must be a finite number >= 0"),
    ],
)
def test_parameters_out_of_range_are_one_line_errors(spec, words):
    with pytest.raises(ValueError, match=words):
        losses.parse(spec)
