"""losses.nn: every suite loss as a criterion (gradcheck), the named modules, the analytic
Function's backward, and value-only losses keeping their graph."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import losses
from bench.suite import default_specs
from losses import nn as LN
from losses.base import Loss

K = 4
PRIOR = torch.tensor([0.5, 0.25, 0.15, 0.1], dtype=torch.float64)


def batch(n=6, k=K, seed=0, spatial=()):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn((n, k, *spatial), generator=g, dtype=torch.float64) * 2
    return scores, torch.randint(0, k, (n, *spatial), generator=g)


@pytest.mark.parametrize("spec", default_specs())
def test_gradcheck_of_every_suite_loss_through_the_criterion(spec):
    loss = losses.parse(spec).with_prior(PRIOR)  # a no-op for losses without a prior
    scores, labels = batch()
    labels[1] = 9
    mean = LN.Criterion(loss, weight=torch.rand(K, dtype=torch.float64) + 0.5, ignore_index=9)
    assert torch.autograd.gradcheck(lambda s: mean(s, labels), scores.requires_grad_())
    scores, labels = batch(n=2, spatial=(2, 3), seed=1)
    none = LN.Criterion(loss, reduction="none")
    assert torch.autograd.gradcheck(lambda s: none(s, labels), scores.requires_grad_())


@pytest.mark.parametrize("spec", default_specs())
def test_the_criterion_gradient_is_the_loss_analytic_gradient(spec):
    loss = losses.parse(spec).with_prior(PRIOR)
    scores, labels = batch()
    leaf = scores.clone().requires_grad_()
    value = LN.Criterion(loss, reduction="sum")(leaf, labels)
    value.backward()
    expected_value, expected_grad = loss.value_and_grad(scores, labels)
    assert value.grad_fn.name() == "AnalyticLossBackward"
    torch.testing.assert_close(value.detach(), expected_value.sum(), rtol=1e-14, atol=0)
    torch.testing.assert_close(leaf.grad, expected_grad, rtol=1e-14, atol=0)


NAMED = {
    LN.CrossEntropyLoss: "ce",
    LN.FocalLoss: "focal",
    LN.GCELoss: "gce",
    LN.SCELoss: "sce",
    LN.NCELoss: "nce",
    LN.PolyLoss: "poly1",
    LN.TaylorLoss: "taylor",
    LN.BiTemperedLoss: "bi_tempered",
    LN.SparsemaxLoss: "sparsemax",
    LN.MarginLoss: "margin",
}


@pytest.mark.parametrize("module, name", NAMED.items())
def test_each_named_module_takes_its_loss_parameters_as_keywords(module, name):
    params = {f.name: f.default for f in dataclasses.fields(losses.base.REGISTRY[name])}
    for field in params:
        assert f"``{field}=" in module.__doc__
    criterion = module(**params, ignore_index=7, reduction="sum")
    assert criterion.loss == losses.get(name, **params)
    scores, labels = batch()
    labels[0] = 7
    expected = LN.Criterion(name, ignore_index=7, reduction="sum")(scores, labels)
    assert criterion(scores, labels) == expected
    with pytest.raises(ValueError, match=f"{module.__name__} has no parameter bogus"):
        module(bogus=1)


def test_focal_loss_takes_gamma_and_per_class_weight():
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    criterion = LN.FocalLoss(gamma=0.5, weight=weight, ignore_index=255)
    assert str(criterion.loss) == "focal:gamma=0.5"
    assert torch.equal(criterion.state_dict()["weight"], weight)
    assert criterion.to(torch.float32).weight.dtype == torch.float32
    scores, labels = batch()
    assert criterion(scores, labels) == losses.functional.loss(
        "focal:gamma=0.5", scores, labels, weight=weight, ignore_index=255
    )


def test_cross_entropy_loss_equals_torch_module():
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    scores, labels = batch(spatial=(3,))
    labels[0, 1] = 255
    ours = LN.CrossEntropyLoss(weight=weight, ignore_index=255, label_smoothing=0.1)
    theirs = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=255, label_smoothing=0.1)
    torch.testing.assert_close(ours(scores, labels), theirs(scores, labels), rtol=1e-14, atol=0)


def test_logit_adjusted_loss_needs_a_prior_or_counts_and_is_not_ce():
    with pytest.raises(ValueError, match="needs exactly one of prior= or counts="):
        LN.LogitAdjustedLoss(tau=1.0)
    with pytest.raises(ValueError, match="needs the training label prior"):
        LN.Criterion("logit_adjusted")
    counts = torch.tensor([50, 25, 15, 10])
    scores, labels = batch()
    from_counts = LN.LogitAdjustedLoss(counts=counts)(scores, labels)
    from_prior = LN.LogitAdjustedLoss(prior=PRIOR)(scores, labels)
    shifted = F.cross_entropy(scores + PRIOR.log(), labels)
    torch.testing.assert_close(from_counts, shifted, rtol=1e-14, atol=0)
    torch.testing.assert_close(from_prior, shifted, rtol=1e-14, atol=0)
    assert abs(from_prior - F.cross_entropy(scores, labels)) > 1e-3


def test_double_backward_through_an_analytic_loss_raises():
    scores, labels = batch()
    leaf = scores.requires_grad_()
    with pytest.raises(RuntimeError, match="differentiated only once"):
        torch.autograd.grad(LN.GCELoss()(leaf, labels), leaf, create_graph=True)
    (grad,) = torch.autograd.grad(LN.GCELoss()(leaf, labels), leaf)  # first order: fine
    assert grad.abs().sum() > 0


@dataclasses.dataclass(frozen=True)
class SquaredLogLoss(Loss):
    """A user's value-only loss: (log p_y)², whose Hessian is not zero."""

    def value(self, scores, target):
        return torch.log_softmax(scores, 1).gather(1, target[:, None]).squeeze(1) ** 2


def test_a_value_only_loss_keeps_its_autograd_graph_for_second_derivatives():
    scores, labels = batch()
    leaf = scores.requires_grad_()
    criterion = LN.Criterion(SquaredLogLoss(), weight=torch.ones(K, dtype=torch.float64))
    (grad,) = torch.autograd.grad(criterion(leaf, labels), leaf, create_graph=True)
    (second,) = torch.autograd.grad(grad.square().sum(), leaf)

    def formula(s):
        return (torch.log_softmax(s, 1).gather(1, labels[:, None]) ** 2).mean()

    (expected,) = torch.autograd.grad(
        torch.autograd.grad(formula(leaf), leaf, create_graph=True)[0].square().sum(), leaf
    )
    torch.testing.assert_close(second, expected, rtol=1e-12, atol=1e-14)
    assert second.abs().sum() > 0
