"""One body of tests for every registered loss and parameter set (sklearn's test_loss style).

A loss registered in the library is tested here the moment it appears in LOSSES: values and
gradients against an independent reference through autograd, shapes, dtypes, devices,
extreme scores and soft targets. Loss-specific files add only what is special.
"""

import pytest
import reference_formulas as ref
import torch

import losses

K = 5
DELTA_MATRIX = torch.tensor(
    [[0.0 if i == j else 0.5 + 0.25 * ((i + 2 * j) % 3) for j in range(K)] for i in range(K)],
    dtype=torch.float64,
)
LOSSES = (
    [losses.get(name) for name in losses.names()]
    + [losses.get(name, on="scores") for name in ("l2", "l1", "huber")]
    + [losses.get("huber", delta=d) for d in (0.05, 0.5, 2.0)]
    + [losses.get("huber", on="scores", delta=0.3)]
    + [losses.get("soft_label", smoothing=e) for e in (0.0, 0.5, 1.0)]
    + [
        losses.get("margin", kind="weston_watkins"),
        losses.get("margin", delta=0.5),
        losses.get("margin", kind="weston_watkins", delta=2.0),
        losses.get("margin", delta=DELTA_MATRIX),
        losses.get("margin", kind="weston_watkins", delta=DELTA_MATRIX),
    ]
    + [
        losses.get("margin", kind=kind, delta=d, power=2)
        for kind in ("crammer_singer", "weston_watkins")
        for d in (1.0, 0.5, DELTA_MATRIX)
    ]
    + [
        losses.get("bi_tempered", t1=a, t2=b)
        for a, b in ((0.5, 2.0), (0.8, 0.7), (1.0, 1.0), (0.2, 4.0), (0.0, 0.3), (1.0, 1.5))
    ]
    + [losses.get("hui_belkin", k=5.0, m=2.0), losses.get("hui_belkin", k=0.5, m=-1.0)]
    + [losses.get("focal", gamma=g) for g in (0.0, 0.5, 5.0)]
    + [losses.get("gce", q=q) for q in (0.3, 1.0)]
    + [losses.get("taylor", t=t) for t in (1, 2, 6)]
    + [losses.get("poly1", epsilon=e) for e in (-1.0, 0.0, 2.0)]
    + [losses.get("rce", a=-1.0), losses.get("sce", alpha=6.0, beta=0.1, a=-2.0)]
    + [
        losses.parse(spec)
        for spec in (
            "1*nce+1*rce",
            "1*nce+1*l1",
            "0.5*ce+2*huber:delta=0.3",
            "1e+1*nce+0.1*rce",
            "1*margin+1*l2:on=scores",
        )
    ]
)
SOFT = [loss for loss in LOSSES if loss.accepts_soft_targets]


def ids(loss):
    return str(loss).replace("matrix5x5", "Kx5")


def random_case(n=7, k=K, seed=0, scale=3.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(n, k, generator=g, dtype=torch.float64) * scale).to(dtype)
    labels = torch.randint(0, k, (n,), generator=g)
    soft = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) * 2, 1).to(dtype)
    return scores, labels, soft


def away_from_kinks(loss, scores, labels):
    """Nudge scores so no hinge violation or L1 residual sits within 1e-3 of its kink."""
    if loss.name == "margin":
        delta = loss.delta[labels] if isinstance(loss.delta, torch.Tensor) else loss.delta
        violation = delta + scores - scores.gather(1, labels[:, None])
        near = (violation.abs() < 1e-3) & ~torch.nn.functional.one_hot(labels, K).bool()
        return scores + 1e-2 * near
    return scores


def assert_matches_reference(loss, scores, target):
    """Value and analytic gradient equal the reference formula and its autograd (float64)."""
    value, grad = loss.value_and_grad(scores, target)
    want_value, want_grad = ref.value_and_grad(loss, scores, target)
    torch.testing.assert_close(value, want_value, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=ids)
@pytest.mark.parametrize("seed", range(3))
def test_value_and_grad_match_autograd_of_the_reference_on_labels(loss, seed):
    scores, labels, _ = random_case(seed=seed)
    assert_matches_reference(loss, away_from_kinks(loss, scores, labels), labels)


@pytest.mark.parametrize("loss", SOFT, ids=ids)
def test_grad_matches_autograd_on_soft_targets(loss):
    scores, _, soft = random_case(seed=11)
    assert_matches_reference(loss, scores, soft)


@pytest.mark.parametrize("loss", SOFT, ids=ids)
def test_one_hot_rows_give_the_same_result_as_labels(loss):
    scores, labels, _ = random_case(seed=4)
    one_hot = torch.nn.functional.one_hot(labels, K).double()
    for a, b in zip(
        loss.value_and_grad(scores, labels), loss.value_and_grad(scores, one_hot), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=ids)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_dtype_and_device_are_kept(loss, dtype):
    scores, labels, _ = random_case(n=9, dtype=dtype)
    value, grad = loss.value_and_grad(scores, labels)
    assert value.shape == (9,) and grad.shape == (9, K)
    assert value.dtype == grad.dtype == dtype
    assert value.device == grad.device == scores.device
    meta = loss.value_and_grad(scores.to("meta"), labels.to("meta"), check=False)
    assert all(t.device.type == "meta" for t in meta)


@pytest.mark.parametrize("loss", LOSSES, ids=ids)
def test_call_grad_and_value_and_grad_agree(loss):
    scores, labels, _ = random_case(seed=2)
    value, grad = loss.value_and_grad(scores, labels)
    assert torch.equal(loss(scores, labels), value)
    assert torch.equal(loss.grad(scores, labels), grad)


@pytest.mark.parametrize("loss", LOSSES, ids=ids)
def test_float32_scores_of_1e4_give_finite_values_and_gradients(loss):
    scores = torch.tensor(
        [[1e4, -1e4, 0.0, 3.0, -2.0], [-1e4, 1e4, 1e4, 0.0, 0.0], [1e4, 1e4, 1e4, 1e4, 1e4]],
        dtype=torch.float32,
    )
    labels = torch.tensor([1, 0, 4])
    value, grad = loss.value_and_grad(scores, labels)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    assert (value >= 0).all()
    if loss.accepts_soft_targets:
        soft = torch.full((3, K), 1.0 / K)
        assert all(torch.isfinite(t).all() for t in loss.value_and_grad(scores, soft))


@pytest.mark.parametrize("loss", LOSSES, ids=ids)
def test_loss_is_non_negative_and_minimal_towards_its_target(loss):
    """Some point a·e_y on the ray towards the target beats random scores, whatever the loss.

    Where the minimum lies differs (a → ∞ for cross-entropy, a = 1 for squares on raw scores,
    a = log((1 − ε + ε/K)/(ε/K)) for label smoothing, any a >= Δ for margins): a fine search
    over a in [0, 40] finds it for each, with no case per loss.
    """
    scores, labels, _ = random_case(n=20, seed=5)
    assert (loss(scores, labels) >= -1e-12).all()
    one_hot = torch.nn.functional.one_hot(labels, K).double()
    scales = torch.linspace(0, 40, 4001, dtype=torch.float64)
    # also a·(2e_y − 1): one-vs-all bce wants the rivals' scores low, not at 0
    rays = torch.cat([scales[:, None, None] * one_hot, scales[:, None, None] * (2 * one_hot - 1)])
    best = loss(rays.reshape(-1, K), labels.repeat(len(rays))).reshape(len(rays), -1).min(0).values
    assert (best <= loss(scores, labels) + 1e-9).all()


@pytest.mark.parametrize("loss", LOSSES, ids=ids)
def test_str_parses_back_to_an_equal_loss(loss):
    if "matrix" in str(loss):
        pytest.skip("a K×K margin matrix has no spec string")
    assert losses.parse(str(loss)) == loss


def test_margin_needs_labels_and_says_so():
    scores, _, soft = random_case()
    with pytest.raises(ValueError, match="margin needs integer class labels"):
        losses.get("margin")(scores, soft)


@pytest.mark.parametrize(
    "name, params, words",
    [
        ("huber", {"delta": 0}, "delta"),
        ("huber", {"delta": -3}, "delta"),
        ("huber", {"delta": float("inf")}, "delta"),
        ("huber", {"on": "logits"}, "on must be"),
        ("l2", {"on": "probabilities"}, "on must be"),
        ("soft_label", {"smoothing": -0.1}, r"\[0, 1\]"),
        ("soft_label", {"smoothing": 1.5}, r"\[0, 1\]"),
        ("margin", {"kind": "svm"}, "kind"),
        ("margin", {"delta": 0}, "delta"),
        ("margin", {"delta": torch.ones(3, 4)}, "K×K"),
        ("margin", {"delta": -torch.ones(3, 3)}, "non-negative"),
        ("margin", {"delta": torch.full((3, 3), float("nan"))}, "finite"),
        ("focal", {"gamma": -0.5}, "focal gamma must be a finite number >= 0"),
        ("focal", {"gamma": float("inf")}, "focal gamma"),
        ("focal", {"gamma": "2"}, "focal gamma"),
        ("gce", {"q": 0}, r"gce q must be in \(0, 1\]"),
        ("gce", {"q": 1.5}, "gce q"),
        ("gce", {"q": True}, "gce q"),
        ("rce", {"a": 0}, "rce a must be a finite number < 0"),
        ("rce", {"a": 4}, "rce a"),
        ("rce", {"a": float("-inf")}, "rce a"),
        ("sce", {"alpha": -1}, "sce alpha must be a finite number >= 0"),
        ("sce", {"beta": -0.1}, "sce beta"),
        ("sce", {"a": 1}, "sce a"),
        ("poly1", {"epsilon": -1.5}, "poly1 epsilon must be a finite number >= -1"),
        ("poly1", {"epsilon": float("nan")}, "poly1 epsilon"),
        ("taylor", {"t": 0}, "taylor t must be an integer >= 1"),
        ("taylor", {"t": 2.5}, "taylor t"),
        ("taylor", {"t": -3}, "taylor t"),
    ],
)
def test_parameters_out_of_range_raise_a_one_line_value_error(name, params, words):
    with pytest.raises(ValueError, match=words) as error:
        losses.get(name, **params)
    assert "\n" not in str(error.value)


def test_delta_matrix_must_fit_the_scores():
    loss = losses.get("margin", delta=torch.ones(3, 3))
    scores, labels, _ = random_case()
    with pytest.raises(ValueError, match="3×3 but scores have K = 5"):
        loss(scores, labels)


def test_huber_default_delta_is_not_plain_l2_on_probabilities():
    huber = losses.get("huber")
    assert huber.delta < 1  # residuals of probabilities lie in [-1, 1]
    assert losses.get("huber", on="scores").delta == 1.0
    scores, labels, _ = random_case(scale=5)
    assert not torch.allclose(huber(scores, labels), losses.get("l2")(scores, labels))
    assert torch.allclose(
        losses.get("huber", delta=1.0)(scores, labels),
        losses.get("l2")(scores, labels),
        rtol=0,
        atol=1e-12,
    )
