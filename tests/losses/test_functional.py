"""losses.functional.loss: F.cross_entropy's semantics, independent formulas for focal and gce,
half precision, saturated scores, torch.compile, and the errors."""

import itertools
import shutil
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import losses
from bench.suite import default_specs
from losses import functional as LF
from losses import nn as LN

sys.path.insert(0, str(Path(__file__).parent))
import reference_formulas as ref  # noqa: E402

C = 5
REDUCTIONS = ("none", "mean", "sum")


def batch(shape, dtype=torch.float64, seed=0, ignored=True, ignore_index=-100):
    """Scores of ``shape`` (N, C, ...) and labels with two of them set to ``ignore_index``."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(shape, generator=g, dtype=torch.float64).mul_(2).to(dtype)
    labels = torch.randint(0, shape[1], shape[:1] + shape[2:], generator=g)
    if ignored:
        labels.view(-1)[[1, 4]] = ignore_index
    return scores, labels


def value_and_grad(fn, scores, *args, **kwargs):
    """fn's value and the gradient at ``scores`` of <value, a fixed random cotangent>."""
    leaf = scores.detach().requires_grad_()
    value = fn(leaf, *args, **kwargs)
    cotangent = torch.randn(
        value.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    ).to(value.dtype)
    (grad,) = torch.autograd.grad(value, leaf, cotangent)
    return value.detach(), grad


WEIGHT = torch.tensor([0.3, 2.0, 1.0, 0.7, 1.5], dtype=torch.float64)


@pytest.mark.parametrize(
    "weighted, ignored, reduction, smoothing, shape, label_dtype",
    list(
        itertools.product(
            (False, True),
            (False, True),
            REDUCTIONS,
            (0.0, 0.2),
            ((7, C), (3, C, 2, 4)),
            (torch.int32, torch.int64),
        )
    ),
)
def test_ce_equals_f_cross_entropy(weighted, ignored, reduction, smoothing, shape, label_dtype):
    scores, labels = batch(shape, ignored=ignored)
    options = dict(
        weight=WEIGHT if weighted else None, reduction=reduction, label_smoothing=smoothing
    )
    ours = value_and_grad(lambda s: LF.loss("ce", s, labels.to(label_dtype), **options), scores)
    torch_ = value_and_grad(lambda s: F.cross_entropy(s, labels, **options), scores)
    assert ours[0].shape == torch_[0].shape
    torch.testing.assert_close(ours, torch_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "weighted, reduction, smoothing, shape",
    list(itertools.product((False, True), REDUCTIONS, (0.0, 0.2), ((7, C), (3, C, 2, 4)))),
)
def test_ce_equals_f_cross_entropy_on_probability_rows(weighted, reduction, smoothing, shape):
    scores, _ = batch(shape, ignored=False)
    rows = torch.softmax(
        torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3, 1
    )
    rows[0] *= 0.6  # a row that does not sum to 1: torch's formula is linear in it
    options = dict(
        weight=WEIGHT if weighted else None, reduction=reduction, label_smoothing=smoothing
    )
    ours = value_and_grad(lambda s: LF.loss("ce", s, rows, **options), scores)
    torch_ = value_and_grad(lambda s: F.cross_entropy(s, rows, **options), scores)
    torch.testing.assert_close(ours, torch_, rtol=1e-12, atol=1e-12)


def focal_formula(scores, labels, gamma):
    log_p = torch.log_softmax(scores, 1).gather(1, labels[:, None]).squeeze(1)
    return -((1 - log_p.exp()) ** gamma) * log_p


def gce_formula(scores, labels, q):
    p = torch.softmax(scores, 1).gather(1, labels[:, None]).squeeze(1)
    return (1 - p**q) / q


def reduced_formula(formula, scores, labels, weight, ignore_index, reduction):
    """Plain torch: per-class weights, ignored labels 0, mean over the kept labels' weights."""
    keep = labels != ignore_index
    safe = torch.where(keep, labels, 0)
    weights = torch.ones(scores.shape[1], dtype=scores.dtype) if weight is None else weight
    per_label = weights[safe] * keep
    value = formula(scores, safe) * per_label
    if reduction == "none":
        return value
    return value.sum() if reduction == "sum" else value.sum() / per_label.sum()


@pytest.mark.parametrize(
    "spec, formula",
    [
        ("focal:gamma=2", lambda s, y: focal_formula(s, y, 2)),
        ("focal:gamma=0.5", lambda s, y: focal_formula(s, y, 0.5)),
        ("gce:q=0.7", lambda s, y: gce_formula(s, y, 0.7)),
    ],
)
@pytest.mark.parametrize("weighted, reduction", list(itertools.product((False, True), REDUCTIONS)))
def test_focal_and_gce_against_their_formulas(spec, formula, weighted, reduction):
    scores, labels = batch((9, C), ignore_index=255)
    weight = WEIGHT if weighted else None
    ours = value_and_grad(
        lambda s: LF.loss(spec, s, labels, weight=weight, ignore_index=255, reduction=reduction),
        scores,
    )
    expected = value_and_grad(
        lambda s: reduced_formula(formula, s, labels, weight, 255, reduction), scores
    )
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)


def test_an_ignored_example_gets_no_gradient_and_the_rest_are_unchanged():
    scores, labels = batch((6, C), ignored=False)
    ignored = labels.clone()
    ignored[2] = -100
    _, grad = value_and_grad(lambda s: LF.loss("gce", s, ignored, reduction="sum"), scores)
    _, full = value_and_grad(lambda s: LF.loss("gce", s, labels, reduction="none"), scores)
    assert torch.equal(grad[2], torch.zeros(C, dtype=torch.float64))
    assert grad[0].abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("spec", ["ce", "focal:gamma=2", "gce"])
def test_half_scores_under_autocast_compute_in_float32(dtype, spec):
    torch.manual_seed(0)
    model = torch.nn.Linear(8, C)
    features, labels = torch.randn(32, 8), torch.randint(0, C, (32,))
    with torch.autocast("cpu", dtype=dtype):
        scores = model(features)
        leaf = scores.detach().requires_grad_()
        value = LF.loss(spec, leaf, labels)
    value.backward()
    exact = leaf.detach().double().requires_grad_()
    LF.loss(spec, exact, labels).backward()
    assert scores.dtype == dtype and value.dtype == torch.float32
    assert leaf.grad.dtype == dtype
    # float32 work on the half scores: as exact as float32, not as the half type
    torch.testing.assert_close(
        value.double(), LF.loss(spec, exact.detach(), labels), rtol=1e-6, atol=1e-7
    )
    torch.testing.assert_close(leaf.grad.double(), exact.grad.to(dtype).double(), rtol=0, atol=0)
    if spec == "ce":
        with torch.autocast("cpu", dtype=dtype):
            builtin = F.cross_entropy(scores.detach(), labels)
        assert builtin.dtype == torch.float32
        torch.testing.assert_close(value.detach(), builtin, rtol=1e-6, atol=1e-6)


def saturated(dtype):
    """±1e4 scores (the true class on top, at the bottom, or tied with others) and labels."""
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(48, 10, generator=g).sign_().mul_(1e4)
    labels = torch.randint(0, 10, (48,), generator=g)
    scores[:8] = 0.0
    scores[8:16] = -1e4
    scores[8:16, 3] = 1e4
    labels[8:16] = 3
    return scores.to(dtype), labels


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("spec", default_specs() + ["focal:gamma=0.2", "focal:gamma=0.5"])
def test_saturated_scores_give_finite_values_and_gradients(spec, dtype):
    loss = losses.parse(spec).with_prior(torch.full((10,), 0.1))
    scores, labels = saturated(dtype)
    # the mean, as training takes it: a squared hinge's per-example gradient at ±1e4 (4·10⁴)
    # is finite in float32 but would overflow float16 times a cotangent of 2
    value, grad = value_and_grad(lambda s: LF.loss(loss, s, labels), scores)
    _, exact = value_and_grad(lambda s: LF.loss(loss, s, labels), scores.float())
    assert torch.isfinite(value).all() and torch.isfinite(exact).all()
    assert grad.dtype == dtype
    # in half precision, finite wherever the float32 gradient fits the type (logitnorm's is
    # 1/(t·1e-7) at o = 0, beyond float16's 65504)
    representable = exact.abs() < torch.finfo(dtype).max
    assert torch.isfinite(grad[representable]).all()


def model_and_batch():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, C))
    features, labels = torch.randn(20, 6), torch.randint(0, C, (20,))
    labels[[2, 7]] = -1
    return model, features, labels


@pytest.mark.parametrize(
    "spec, options",
    [
        ("ce", dict(weight=WEIGHT.float(), ignore_index=-1, label_smoothing=0.1)),
        ("focal:gamma=0.5", dict(weight=WEIGHT.float(), ignore_index=-1)),
        ("gce", dict(ignore_index=-1, reduction="sum")),
    ],
)
def test_torch_compile_aot_eager_gives_the_eager_values(spec, options):
    model, features, labels = model_and_batch()
    loss = losses.parse(spec)  # a spec string is parsed in Python: outside the compiled region

    def forward(x, y):
        return LF.loss(loss, model(x), y, **options)

    def value_and_grads(fn):
        model.zero_grad()
        value = fn(features, labels)
        value.backward()
        return value.detach(), [p.grad.clone() for p in model.parameters()]

    eager = value_and_grads(forward)
    # fullgraph: a host sync (.item(), .tolist()) would break the graph and fail here
    compiled = value_and_grads(torch.compile(forward, backend="aot_eager", fullgraph=True))
    # a FUSED loss is F.cross_entropy, which aot_eager decomposes: float32 rounding apart
    exact = type(loss).name not in LF.FUSED
    torch.testing.assert_close(
        compiled, eager, rtol=0 if exact else 2e-6, atol=0 if exact else 1e-7
    )


@pytest.mark.skipif(shutil.which("cc") is None, reason="inductor needs a C compiler")
def test_torch_compile_inductor_gives_the_eager_values():
    model, features, labels = model_and_batch()

    criterion = LN.FocalLoss(ignore_index=-1)

    def forward(x, y):
        return criterion(model(x), y)

    eager = forward(features, labels)
    compiled = torch.compile(forward, backend="inductor", fullgraph=True)(features, labels)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


def test_an_out_of_range_label_is_a_clear_error_unless_ignored():
    scores, labels = batch((6, C), ignored=False)
    for bad in (C, -1):
        labels[3] = bad
        with pytest.raises(ValueError, match=f"label {bad} is out of range"):
            LF.loss("ce", scores, labels)
    assert torch.isfinite(LF.loss("ce", scores, labels, ignore_index=-1))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda s, y: LF.loss("ce", s, y, reduction="average"), "reduction must be one of"),
        (lambda s, y: LF.loss("focal", s, y, label_smoothing=0.1), "takes no label_smoothing"),
        (lambda s, y: LF.loss("ce", s, y, label_smoothing=1.5), r"label_smoothing must lie"),
        (lambda s, y: LF.loss("ce", s, y, weight=torch.ones(3)), r"weight must have shape"),
        (lambda s, y: LF.loss("ce", s, y[:3]), "class-index target must be"),
        (lambda s, y: LF.loss("focal", s, torch.softmax(s, 1)), "needs integer class labels"),
        (lambda s, y: LF.loss("ce", s[0], y[0]), "add the batch dimension"),
        (lambda s, y: LF.loss("logit_adjusted", s, y), "needs the training label prior"),
        (lambda s, y: LF.loss(3, s, y), "expected a loss spec string"),
        (
            lambda s, y: LF.loss("ce", s, y, weight=torch.ones(C, requires_grad=True)),
            "weight requires grad",
        ),
        (
            lambda s, y: LF.loss("nce", s, torch.softmax(s, 1), weight=torch.arange(C) - 1.0),
            "needs non-negative class weights",
        ),
    ],
)
def test_bad_input_is_a_one_line_value_error(call, words):
    scores, labels = batch((6, C), ignored=False)
    with pytest.raises(ValueError, match=words) as error:
        call(scores, labels)
    assert "\n" not in str(error.value)


def test_all_labels_ignored_gives_nan_mean_as_torch():
    scores, labels = batch((4, C), ignored=False)
    labels[:] = -100
    assert torch.isnan(LF.loss("ce", scores, labels)) and torch.isnan(
        F.cross_entropy(scores, labels)
    )
    assert LF.loss("ce", scores, labels, reduction="sum") == 0


def test_a_spec_string_is_parsed_once():
    first = LF.resolve("gce:q=0.5")
    assert LF.resolve("gce:q=0.5") is first and first == losses.parse("gce:q=0.5")
    assert LF.resolve("gce:q=0.6").q == 0.6


MANY_CLASSES = [
    "ce",
    "soft_label",
    "focal",
    "gce",
    "poly1",
    "taylor",
    "rce",
    "sce",
    "agce",
    "aul",
    "ael",
    "dual_focal",
    "nce",
]


@pytest.mark.parametrize("spec", MANY_CLASSES)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_many_classes_take_the_fused_path_and_still_equal_their_formulas(spec, dtype, tolerance):
    """K = 300 (torch's fused softmax), with a row where p_y underflows to 0 and one where it
    rounds to 1, against autograd through the independent reference formula in float64."""
    scores, labels = batch((6, 300), dtype=torch.float64, ignored=False)
    scores[0, labels[0]] = -2e3  # p_y = exp(−2000) = 0: log p_y must stay finite
    scores[1, labels[1]] = 60.0  # p_y = 1 − 300·e^−60 rounds to 1
    the_loss = losses.parse(spec)
    ours = value_and_grad(
        lambda s: LF.loss(the_loss, s, labels, reduction="none"), scores.to(dtype)
    )
    expected = value_and_grad(lambda s: ref.value(the_loss, s, labels), scores)
    assert torch.isfinite(ours[0]).all() and torch.isfinite(ours[1]).all()
    torch.testing.assert_close(
        [x.double() for x in ours], expected, rtol=tolerance, atol=tolerance * 1e-2
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_ce_on_probability_rows_with_many_classes_equals_torch(weighted):
    """K = 300: the fused-softmax form s·lse − Σ t·o of −Σ t log p, rows of any sum."""
    scores, _ = batch((5, 300), ignored=False)
    g = torch.Generator().manual_seed(3)
    rows = torch.softmax(torch.randn(5, 300, generator=g, dtype=torch.float64) * 3, 1) * 1.7
    weight = torch.randn(300, generator=g, dtype=torch.float64) if weighted else None
    ours = value_and_grad(lambda s: LF.loss("ce", s, rows, weight=weight), scores)
    torch_ = value_and_grad(lambda s: F.cross_entropy(s, rows, weight=weight), scores)
    torch.testing.assert_close(ours, torch_, rtol=1e-10, atol=1e-12)
