"""losses.analytic: double backward and the target's gradient, for every registered loss.

gradcheck and gradgradcheck compare the criteria's first and second derivatives with finite
differences of their own values and first derivatives; the Hessian-vector products are also
checked against autograd twice through the independent reference formulas, and a gradient
penalty ‖∇_x L‖² trains a model.
"""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import losses
from losses import functional as LF

sys.path.insert(0, str(Path(__file__).parent))
import reference_formulas as ref  # noqa: E402

N, K = 4, 5
PRIOR = torch.tensor([0.4, 0.25, 0.15, 0.12, 0.08], dtype=torch.float64)
WEIGHT = torch.tensor([0.3, 2.0, 1.0, 0.7, 1.5], dtype=torch.float64)
NAMES = losses.names()
SOFT = [name for name in NAMES if losses.get(name).accepts_soft_targets]
# kinks of piecewise losses: finite differences straddle them only at points drawn on one
SCALE = 1.5


def built(name):
    """The registered loss (or a sum's spec) at its defaults, the training prior bound where
    it reads one."""
    return losses.parse(name).with_prior(PRIOR)


def inputs(seed=0, soft=False):
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(N, K, generator=g, dtype=torch.float64) * SCALE).requires_grad_()
    target = ref.random_target(N, K, g, soft)
    return scores, target.requires_grad_() if soft else target


@pytest.mark.parametrize("name", [*NAMES, "1*nce+1*rce"])
def test_gradgradcheck_passes_for_every_registered_loss(name):
    the_loss = built(name)
    scores, labels = inputs()

    def mean_loss(s):
        return LF.loss(the_loss, s, labels, weight=WEIGHT)

    assert torch.autograd.gradcheck(mean_loss, (scores,))
    assert torch.autograd.gradgradcheck(mean_loss, (scores,))


@pytest.mark.parametrize("name", SOFT)
def test_probability_rows_get_their_gradient_first_and_second_order(name):
    the_loss = built(name)
    scores, rows = inputs(seed=1, soft=True)

    def summed(s, t):
        return LF.loss(the_loss, s, t, reduction="sum")

    assert torch.autograd.gradcheck(summed, (scores, rows))
    assert torch.autograd.gradgradcheck(summed, (scores, rows))


# bi_tempered's reference solves λ(o) by bisection and one Newton step: exact first derivatives
# only (gradgradcheck covers its second ones)
@pytest.mark.parametrize("name", [name for name in NAMES if name != "bi_tempered"])
def test_hessian_vector_products_equal_autograd_twice_through_the_reference(name):
    the_loss = built(name)
    scores, labels = inputs(seed=2)
    direction = torch.randn(N, K, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def hvp(value_of):
        (grad,) = torch.autograd.grad(value_of(scores), scores, create_graph=True)
        if not grad.requires_grad:  # piecewise-linear loss: its Hessian is 0
            return torch.zeros_like(scores)
        (second,) = torch.autograd.grad((grad * direction).sum(), scores, allow_unused=True)
        return torch.zeros_like(scores) if second is None else second

    ours = hvp(lambda s: LF.loss(the_loss, s, labels, reduction="sum"))
    theirs = hvp(lambda s: ref.value(the_loss, s, labels).sum())
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weight", [None, WEIGHT, torch.tensor([-1.0, 2.0, -0.5, 0.25, 0.0])])
def test_ce_target_gradient_equals_torch_for_any_weights(weight, smoothing):
    scores, rows = inputs(seed=4, soft=True)
    rows = (rows.detach() * 1.3 - 0.05).requires_grad_()  # not a distribution: torch's formula

    def both(fn):
        value = fn(scores, rows, weight=weight, label_smoothing=smoothing)
        return (value, *torch.autograd.grad(value, (scores, rows)))

    ours = both(lambda s, t, **kw: LF.loss("ce", s, t, **kw))
    torch_ = both(F.cross_entropy)
    assert all(torch.isfinite(x).all() for x in ours)
    torch.testing.assert_close(ours, torch_, rtol=1e-12, atol=1e-12)


def test_negative_weights_with_a_row_of_zero_weighted_mass_match_torch():
    scores = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([[0.5, 0.5], [0.2, 0.8], [1.0, 0.0]], dtype=torch.float64)
    weight = torch.tensor([1.0, -1.0], dtype=torch.float64)  # row 0: Σ w t = 0
    ours = LF.loss("ce", scores, rows, weight=weight, reduction="none")
    torch_ = F.cross_entropy(scores, rows, weight=weight, reduction="none")
    torch.testing.assert_close(ours, torch_, rtol=1e-12, atol=1e-12)
    grads = [torch.autograd.grad(v.sum(), scores)[0] for v in (ours, torch_)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", ["ce", "focal:gamma=2", "gce"])
def test_a_gradient_penalty_trains(spec):
    """min_θ L(f_θ(x), y) + λ‖∇_x L‖²: the penalty's gradient needs double backward. Each
    step's parameter gradient equals that of autograd through the reference formula."""
    torch.manual_seed(0)
    the_loss = losses.parse(spec)
    model = torch.nn.Linear(6, K).double()
    features = torch.randn(32, 6, dtype=torch.float64)
    labels = torch.randint(0, K, (32,))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.2)

    def objective(value_of):
        x = features.clone().requires_grad_()
        value = value_of(model(x))
        (grad_x,) = torch.autograd.grad(value, x, create_graph=True)
        total = value + 0.5 * grad_x.square().sum()
        return total, torch.autograd.grad(total, list(model.parameters()))

    first = None
    for _ in range(30):
        total, grads = objective(lambda s: LF.loss(the_loss, s, labels))
        _, expected = objective(lambda s: ref.value(the_loss, s, labels).mean())
        torch.testing.assert_close(grads, expected, rtol=1e-10, atol=1e-12)
        first = total.item() if first is None else first
        optimiser.zero_grad()
        for parameter, grad in zip(model.parameters(), grads, strict=True):
            parameter.grad = grad
        optimiser.step()
    assert total.item() < 0.95 * first


def test_the_fast_path_builds_no_graph_through_the_formula():
    scores, labels = inputs()
    value = LF.loss("focal", scores, labels)
    assert value.grad_fn.name() == "AnalyticLossBackward"
    assert not value.grad_fn.next_functions[1:] or all(
        fn is None for fn, _ in value.grad_fn.next_functions[1:]
    )


@pytest.mark.parametrize("name", ["ce", "soft_label", "focal", "gce", "dual_focal", "sce"])
def test_hessian_vector_products_with_many_classes(name):
    """K = 130: the fused-softmax split of the true class (both branches of its log p_y)."""
    the_loss = built(name)
    g = torch.Generator().manual_seed(5)
    scores = (torch.randn(4, 130, generator=g, dtype=torch.float64) * 3).requires_grad_()
    labels = torch.randint(0, 130, (4,), generator=g)
    with torch.no_grad():
        scores[0, labels[0]] = 12.0  # the most probable class: the log1p branch
    direction = torch.randn(4, 130, generator=g, dtype=torch.float64)

    def hvp(value_of):
        (grad,) = torch.autograd.grad(value_of(scores), scores, create_graph=True)
        return torch.autograd.grad((grad * direction).sum(), scores)[0]

    ours = hvp(lambda s: LF.loss(the_loss, s, labels, reduction="sum"))
    theirs = hvp(lambda s: ref.value(the_loss, s, labels).sum())
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-11)
