"""losses.functional.fused: the losses that are torch's own cross-entropy kernel, of the scores
or of a transform of them (``ce``, ``logit_adjusted``, ``balanced_softmax``, ``ldam``, ``vs``),
run as ``F.cross_entropy`` on float32 and float64 scores (up to a size), and give the value and
gradient of their analytic formula, whatever the options; anything torch refuses still gets
the library's error."""

import pytest
import torch

import losses
from losses import functional as LF
from losses import nn as LN

K = 5
PRIOR = torch.tensor([0.4, 0.25, 0.15, 0.12, 0.08], dtype=torch.float64)
SPECS = (
    "ce",
    "logit_adjusted:tau=1.5",
    "balanced_softmax",
    "ldam:max_margin=0.3:s=10",
    "vs:gamma=0.2:tau=1.25",
)
SOFT = [spec for spec in SPECS if losses.parse(spec).accepts_soft_targets]


def batch(n=7, spatial=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn((n, K, *spatial), generator=g, dtype=torch.float64) * 3
    return scores, torch.randint(0, K, (n, *spatial), generator=g)


def by_formula(loss, scores, labels, reduction, ignore_index=-100):
    """The reduction of the loss's analytic per-example value (value_and_grad), ignoring
    ``ignore_index`` labels as F.cross_entropy does: what the fused path must equal."""
    flat = labels.reshape(-1)
    keep = flat != ignore_index
    value, _ = loss.value_and_grad(scores.movedim(1, -1).reshape(-1, K), torch.where(keep, flat, 0))
    value = value * keep
    if reduction == "none":
        return value.reshape(labels.shape)
    return value.sum() if reduction == "sum" else value.sum() / keep.sum()


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("spatial", [(), (2, 3)])
def test_the_fused_path_gives_the_formula_s_value_and_gradient(spec, reduction, spatial):
    loss = losses.parse(spec).with_prior(PRIOR)
    scores, labels = batch(spatial=spatial)
    labels.view(-1)[2] = -100  # an ignored label
    leaf = scores.clone().requires_grad_()
    value = LF.loss(loss, leaf, labels, reduction=reduction)
    assert value.grad_fn is not None and value.grad_fn.name() != "AnalyticLossBackward"
    expected = by_formula(loss, scores, labels, reduction)
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-14)
    upstream = torch.rand_like(value)
    value.backward(upstream)
    # the analytic gradient, scaled as the reduction scales it
    rows = scores.movedim(1, -1).reshape(-1, K)
    flat = labels.reshape(-1)
    keep = flat != -100
    _, grad = loss.value_and_grad(rows, torch.where(keep, flat, 0))
    weight = upstream.reshape(-1) if reduction == "none" else upstream.expand(flat.shape[0])
    if reduction == "mean":
        weight = weight / keep.sum()
    grad = (grad * (weight * keep)[:, None]).reshape(*scores.shape[:1], *spatial, K).movedim(-1, 1)
    torch.testing.assert_close(leaf.grad, grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("spec", SOFT)
def test_probability_rows_and_double_backward_on_the_fused_path(spec):
    loss = losses.parse(spec).with_prior(PRIOR)
    scores, _ = batch()
    rows = torch.softmax(torch.randn(7, K, dtype=torch.float64), 1).requires_grad_()
    leaf = scores.clone().requires_grad_()
    value = LF.loss(loss, leaf, rows)
    expected = loss.value_and_grad(scores, rows.detach())[0].mean()
    torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-14)
    (grad,) = torch.autograd.grad(value, leaf, create_graph=True)
    assert torch.autograd.grad(grad.square().sum(), rows)[0].abs().sum() > 0  # ∂²ℓ/∂o∂t
    assert torch.autograd.gradgradcheck(lambda s: LF.loss(loss, s, rows.detach()), leaf)


@pytest.mark.parametrize("spec", SPECS)
def test_the_fused_path_is_taken_for_float32_and_float64_only(spec):
    loss = losses.parse(spec).with_prior(PRIOR)
    scores, labels = batch()
    for dtype, fused in ((torch.float64, True), (torch.float32, True), (torch.bfloat16, False)):
        value = LN.Criterion(loss)(scores.to(dtype).requires_grad_(), labels)
        assert (value.grad_fn.name() != "AnalyticLossBackward") is fused
        assert value.dtype == (dtype if fused else torch.float32)


@pytest.mark.parametrize("spec", SPECS)
def test_bad_labels_get_the_library_s_error_not_torch_s(spec):
    criterion = LN.Criterion(losses.parse(spec).with_prior(PRIOR))
    scores, labels = batch()
    labels[3] = K
    with pytest.raises(ValueError, match=rf"target label {K} is out of range \[0, {K}\)"):
        criterion(scores, labels)
    labels[3] = -3
    with pytest.raises(ValueError, match=r"target label -3 is out of range"):
        criterion(scores, labels)


def test_weights_with_a_loss_that_shifts_or_smooths_take_the_general_path():
    scores, labels = batch()
    weight = torch.rand(K, dtype=torch.float64) + 0.5
    for spec in SPECS[1:]:
        loss = losses.parse(spec).with_prior(PRIOR)
        value = LN.Criterion(loss, weight=weight)(scores.clone().requires_grad_(), labels)
        assert value.grad_fn.name() == "AnalyticLossBackward"
    value = LN.Criterion("ce", weight=weight)(scores.clone().requires_grad_(), labels)
    expected = torch.nn.functional.cross_entropy(scores, labels, weight)
    assert value.grad_fn.name() != "AnalyticLossBackward"
    torch.testing.assert_close(value, expected, rtol=0, atol=0)


def test_a_loss_registered_over_ce_s_name_is_not_taken_for_torch_s():
    loss = losses.parse("ce")

    class NotCe(type(loss)):  # a subclass, not the registered class: its formula may differ
        pass

    scores, labels = batch()
    value = LF.loss(NotCe(), scores.requires_grad_(), labels)
    assert value.grad_fn.name() == "AnalyticLossBackward"


@pytest.mark.parametrize("spec", SPECS)
def test_a_batch_above_the_fused_size_takes_the_analytic_path(spec):
    loss = losses.parse(spec).with_prior(PRIOR)
    rows = LF.FUSED[type(loss).name][0] // K + 1  # K < WIDE: the narrow limit
    scores, labels = batch(n=rows)
    value = LF.loss(loss, scores.requires_grad_(), labels)
    assert value.grad_fn.name() == "AnalyticLossBackward"
    small = LF.loss(loss, scores[:7], labels[:7])
    assert small.grad_fn.name() != "AnalyticLossBackward"


def test_the_wide_limit_applies_from_wide_classes_on():
    narrow, wide = torch.zeros(64, 10), torch.zeros(64, 1000)
    assert LF.fits_fused((4096, 65536), narrow) and LF.fits_fused((4096, 65536), wide)
    assert not LF.fits_fused((4096, 65536), torch.zeros(4096, 10))
    assert not LF.fits_fused((4096, 65536), torch.zeros(4096, 1000))
    assert LF.fits_fused((4096, None), torch.zeros(4096, 1000))
