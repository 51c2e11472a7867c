"""losses.nn: every suite loss as a criterion (gradcheck), every registered loss built by name
and by its named module (with the training prior where it reads one), the APL sums, and
value-only losses keeping their graph."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

import losses
from bench.suite import default_specs
from losses import functional as LF
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
    fused = type(loss).name in LF.FUSED  # torch's own kernel: the same function, other rounding
    assert (value.grad_fn.name() == "AnalyticLossBackward") is not fused
    tolerance = {"rtol": 1e-12, "atol": 1e-15} if fused else {"rtol": 1e-14, "atol": 0}
    torch.testing.assert_close(value.detach(), expected_value.sum(), **tolerance)
    torch.testing.assert_close(leaf.grad, expected_grad, **tolerance)


# every built-in loss's named module, by the name users search for (plug-ins register more)
NAMED = {
    "ael": "AELLoss",
    "agce": "AGCELoss",
    "aul": "AULLoss",
    "balanced_softmax": "BalancedSoftmaxLoss",
    "bce": "BinaryCrossEntropyLoss",
    "bi_tempered": "BiTemperedLoss",
    "ce": "CrossEntropyLoss",
    "dual_focal": "DualFocalLoss",
    "focal": "FocalLoss",
    "gce": "GCELoss",
    "huber": "HuberLoss",
    "hui_belkin": "HuiBelkinLoss",
    "js": "JensenShannonLoss",
    "l1": "L1Loss",
    "l2": "L2Loss",
    "ldam": "LDAMLoss",
    "logit_adjusted": "LogitAdjustedLoss",
    "logitnorm": "LogitNormLoss",
    "margin": "MarginLoss",
    "mbls": "MbLSLoss",
    "nce": "NCELoss",
    "nnce": "NNCELoss",
    "poly1": "PolyLoss",
    "rce": "RCELoss",
    "sce": "SCELoss",
    "soft_label": "LabelSmoothingLoss",
    "sparsemax": "SparsemaxLoss",
    "taylor": "TaylorLoss",
    "vs": "VSLoss",
}
READS_PRIOR = {"balanced_softmax", "ldam", "logit_adjusted", "vs"}
COUNTS = torch.tensor([50, 25, 15, 10])
BUILT_IN = sorted(n for n, c in losses.base.REGISTRY.items() if c.__module__.startswith("losses."))


def test_every_built_in_loss_has_its_named_module():
    assert sorted(NAMED) == BUILT_IN
    assert {name: module.__name__ for name, module in LN.NAMED.items() if name in NAMED} == NAMED


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_named_module_takes_its_loss_parameters_as_keywords(name):
    module = getattr(LN, NAMED[name])
    params = {
        f.name: f.default for f in dataclasses.fields(losses.base.REGISTRY[name]) if f.compare
    }
    for field in params:
        assert f"``{field}=" in module.__doc__
    prior = {"counts": COUNTS} if name in READS_PRIOR else {}
    criterion = module(**params, **prior, ignore_index=7, reduction="sum")
    assert criterion.loss == losses.get(name, **params)
    scores, labels = batch()
    labels[0] = 7
    expected = LN.Criterion(name, **prior, ignore_index=7, reduction="sum")(scores, labels)
    assert criterion(scores, labels) == expected
    with pytest.raises(ValueError, match=f"{module.__name__} has no parameter bogus"):
        module(bogus=1)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_loss_builds_as_a_criterion_with_counts_and_matches_the_bound_loss(name):
    scores, labels = batch()
    criterion = LN.Criterion(name, counts=COUNTS, reduction="none")
    bound = losses.parse(name).with_prior(COUNTS.double() / COUNTS.sum())
    torch.testing.assert_close(criterion(scores, labels), bound(scores, labels), rtol=0, atol=0)
    by_prior = LN.Criterion(name, prior=COUNTS.double() / COUNTS.sum(), reduction="none")
    torch.testing.assert_close(by_prior(scores, labels), bound(scores, labels), rtol=0, atol=0)


@pytest.mark.parametrize("name", BUILT_IN)
def test_without_a_prior_a_loss_that_reads_it_refuses_naming_its_own_constructor(name):
    if name not in READS_PRIOR:
        LN.Criterion(name)  # builds: the prior is not this loss's business
        return
    for build in (lambda: LN.Criterion(name), lambda: getattr(LN, NAMED[name])()):
        with pytest.raises(ValueError) as error:
            build()
        assert str(error.value).startswith(f"{name} needs the training label prior")
        assert f"losses.nn.{NAMED[name]}(counts=counts)" in str(error.value)


def test_a_sum_binds_the_prior_in_the_terms_that_read_it():
    scores, labels = batch()
    with pytest.raises(ValueError, match="vs needs the training label prior.*Criterion"):
        LN.Criterion("1*ce+1*vs")
    criterion = LN.Criterion("1*ce+0.5*vs", counts=COUNTS, reduction="none")
    prior = COUNTS.double() / COUNTS.sum()
    expected = losses.parse("ce")(scores, labels) + 0.5 * losses.parse("vs").with_prior(prior)(
        scores, labels
    )
    torch.testing.assert_close(criterion(scores, labels), expected, rtol=1e-14, atol=0)


def test_bad_counts_and_both_keywords_are_one_line_errors():
    with pytest.raises(ValueError, match="not both"):
        LN.LDAMLoss(counts=COUNTS, prior=PRIOR)
    with pytest.raises(ValueError, match="counts must be the training labels' class counts"):
        LN.LDAMLoss(counts=torch.tensor([[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match="counts must be"):
        LN.VSLoss(counts=[-1, 2, 3, 4])
    with pytest.raises(ValueError, match="every class > 0"):
        LN.LDAMLoss(counts=[0, 2, 3, 4])


def test_apl_sums_are_the_weighted_sums_their_docstrings_state():
    # APL's MeanAbsoluteError is 1 - p_y and its RCE's A is ln 1e-4 (its label clamped at 1e-4)
    scores, labels = batch()
    p_y = torch.softmax(scores, 1).gather(1, labels[:, None]).squeeze(1)
    log_probs = torch.log_softmax(scores, 1)
    nce = log_probs.gather(1, labels[:, None]).squeeze(1) / log_probs.sum(1)
    apl_mae = (nce + 1.0 * (1 - p_y)).mean()
    apl_rce = (nce + 1.0 * math.log(1e4) * (1 - p_y)).mean()
    torch.testing.assert_close(LN.NCEAndMAE(1.0, 0.5)(scores, labels), apl_mae, rtol=1e-13, atol=0)
    torch.testing.assert_close(
        LN.NCEAndRCE(1.0, 1.0, a=math.log(1e-4))(scores, labels), apl_rce, rtol=1e-13, atol=0
    )
    at_minus_4 = LN.Criterion(f"1*nce+{math.log(1e4) / 4}*rce:a=-4")(scores, labels)
    torch.testing.assert_close(at_minus_4, apl_rce, rtol=1e-13, atol=0)
    assert str(LN.NCEAndMAE().loss) == "1*nce+1*l1:on=probs"
    assert str(LN.ANLCELoss(5, 5).loss) == "5*nce+5*nnce:min_prob=1e-07"


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


def test_logit_adjusted_loss_takes_prior_or_counts_and_is_not_ce():
    counts = torch.tensor([50, 25, 15, 10])
    scores, labels = batch()
    from_counts = LN.LogitAdjustedLoss(counts=counts)(scores, labels)
    from_prior = LN.LogitAdjustedLoss(prior=PRIOR)(scores, labels)
    shifted = F.cross_entropy(scores + PRIOR.log(), labels)
    torch.testing.assert_close(from_counts, shifted, rtol=1e-14, atol=0)
    torch.testing.assert_close(from_prior, shifted, rtol=1e-14, atol=0)
    assert abs(from_prior - F.cross_entropy(scores, labels)) > 1e-3


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
