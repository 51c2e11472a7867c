"""Agreement with torch's built-in losses, golden values, and the binary (logistic) case."""

import pytest
import torch
import torch.nn.functional as F

import losses

K = 6


def case(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, K, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, K, (n,), generator=g)
    soft = torch.softmax(torch.randn(n, K, generator=g, dtype=torch.float64), 1)
    return scores, labels, soft


def builtin_value_and_grad(fn, scores):
    scores = scores.clone().requires_grad_()
    value = fn(scores)
    (grad,) = torch.autograd.grad(value.sum(), scores)
    return value.detach(), grad


def assert_same(loss, target, fn, scores):
    value, grad = loss.value_and_grad(scores, target)
    want_value, want_grad = builtin_value_and_grad(fn, scores)
    torch.testing.assert_close(value, want_value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=1e-12)


def test_ce_is_cross_entropy_with_labels_and_with_probabilities():
    scores, labels, soft = case()
    assert_same(
        losses.get("ce"), labels, lambda s: F.cross_entropy(s, labels, reduction="none"), scores
    )
    assert_same(
        losses.get("ce"), soft, lambda s: F.cross_entropy(s, soft, reduction="none"), scores
    )


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 1.0])
def test_soft_label_is_cross_entropy_with_label_smoothing(eps):
    scores, labels, soft = case(seed=1)
    loss = losses.get("soft_label", smoothing=eps)
    assert_same(
        loss,
        labels,
        lambda s: F.cross_entropy(s, labels, reduction="none", label_smoothing=eps),
        scores,
    )
    assert_same(
        loss,
        soft,
        lambda s: F.cross_entropy(s, soft, reduction="none", label_smoothing=eps),
        scores,
    )


@pytest.mark.parametrize("on", ["scores", "probs"])
def test_regression_losses_are_torch_losses_summed_over_classes(on):
    scores, labels, _ = case(seed=2)
    t = F.one_hot(labels, K).double()

    def link(s):
        return s if on == "scores" else torch.softmax(s, 1)

    # l2 is ½·squared error: torch's mse_loss has no ½
    assert_same(
        losses.get("l2", on=on),
        labels,
        lambda s: 0.5 * F.mse_loss(link(s), t, reduction="none").sum(1),
        scores,
    )
    assert_same(
        losses.get("l1", on=on),
        labels,
        lambda s: F.l1_loss(link(s), t, reduction="none").sum(1),
        scores,
    )
    for delta in (0.1, 0.7, 1.0):
        assert_same(
            losses.get("huber", on=on, delta=delta),
            labels,
            lambda s, d=delta: F.huber_loss(link(s), t, reduction="none", delta=d).sum(1),
            scores,
        )


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_weston_watkins_is_k_times_multi_margin_loss(delta):
    scores, labels, _ = case(seed=3)
    assert_same(
        losses.get("margin", kind="weston_watkins", delta=delta),
        labels,
        lambda s: K * F.multi_margin_loss(s, labels, margin=delta, reduction="none"),
        scores,
    )


def test_crammer_singer_is_the_worst_rival_hinge():
    scores, labels, _ = case(seed=4)
    rival = scores.masked_fill(F.one_hot(labels, K).bool(), float("-inf")).max(1).values
    want = (1 + rival - scores.gather(1, labels[:, None]).squeeze(1)).clamp_min(0)
    torch.testing.assert_close(losses.get("margin")(scores, labels), want, rtol=0, atol=1e-12)


# Golden values: fixed inputs and their values, checked by hand (see the comments), frozen so a
# silent change of any definition is caught.
GOLDEN_SCORES = torch.tensor(
    [[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 4.0, 1.0]], dtype=torch.float64
)
GOLDEN_LABELS = torch.tensor([0, 2, 0])
GOLDEN = {
    # row 2 is uniform: log 3
    "ce": [0.241311296657, 1.098612288668, 7.049455609696],
    # 0.9·(−log p_y) + 0.1/3·(−Σ log p)
    "soft_label": [0.391311296657, 1.098612288668, 6.682788943029],
    # row 3: 1 + 4 − (−3) = 8; Weston–Watkins adds 1 + 1 + 3 = 5
    "margin": [0.0, 1.0, 8.0],
    "margin:kind=weston_watkins": [0.0, 2.0, 13.0],
    # row 2: p = 1/3 each, r = (1/3, 1/3, −2/3): ½·6/9, Σ|r| = 4/3
    "l2": [0.039112573271, 0.333333333333, 0.953166712825],
    "l1": [0.428805930821, 1.333333333333, 1.99826423741],
    "huber": [0.029734232449, 0.118333333333, 0.186210607946],
    # row 1: r = (1, −1, 0.5): ½(1 + 1 + 0.25); row 3: r = (−4, 4, 1)
    "l2:on=scores": [1.125, 0.5, 16.5],
    "l1:on=scores": [2.5, 1.0, 9.0],
    "huber:on=scores": [1.125, 0.5, 7.5],
}


@pytest.mark.parametrize("spec", GOLDEN)
def test_golden_values(spec):
    value = losses.parse(spec)(GOLDEN_SCORES, GOLDEN_LABELS)
    torch.testing.assert_close(
        value, torch.tensor(GOLDEN[spec], dtype=torch.float64), rtol=0, atol=1e-11
    )


def test_binary_ce_is_the_logistic_loss():
    g = torch.Generator().manual_seed(5)
    scores = torch.randn(40, 2, generator=g, dtype=torch.float64) * 4
    labels = torch.randint(0, 2, (40,), generator=g)
    true = scores.gather(1, labels[:, None]).squeeze(1)
    other = scores.gather(1, (1 - labels)[:, None]).squeeze(1)
    value, grad = losses.get("ce").value_and_grad(scores, labels)
    torch.testing.assert_close(value, F.softplus(other - true), rtol=0, atol=1e-12)
    # the gradient on the true score is −σ(o_other − o_y), as in logistic regression
    torch.testing.assert_close(
        grad.gather(1, labels[:, None]).squeeze(1), -torch.sigmoid(other - true), rtol=0, atol=1e-12
    )
