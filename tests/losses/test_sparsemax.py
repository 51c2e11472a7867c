"""Sparsemax and its loss against the entmax package (an independent implementation), its
sparsity, its zero at a margin of 1, and the binary case (a smoothed hinge)."""

import pytest
import reference_formulas as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import losses
from losses.sparsemax import sparsemax

entmax = pytest.importorskip("entmax")


def scores_of(n=60, k=7, scale=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, k, generator=g, dtype=torch.float64) * scale).to(dtype)


@pytest.mark.parametrize("k, scale", [(2, 1.0), (5, 0.01), (10, 3.0), (10, 100.0), (50, 1.0)])
def test_sparsemax_equals_entmax_and_is_sparse(k, scale):
    scores = scores_of(k=k, scale=scale, seed=k)
    probs, _, _ = sparsemax(scores)
    torch.testing.assert_close(probs, entmax.sparsemax(scores, dim=1), rtol=0, atol=1e-12)
    torch.testing.assert_close(probs.sum(1), torch.ones(60, dtype=torch.float64))
    assert (probs >= 0).all()
    if scale >= 3:
        assert (probs == 0).float().mean() > 0.5  # exact zeros, not underflow


def test_ties_and_float32_extremes():
    scores = torch.tensor([[1e4, 1e4, -1e4, 0.0], [2.0, 2.0, 2.0, 2.0], [1e4, 1e4 - 0.5, 0, 0]])
    probs, _, _ = sparsemax(scores)
    want = torch.tensor([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.75, 0.25, 0, 0]])
    torch.testing.assert_close(probs, want, rtol=0, atol=0)


@pytest.mark.parametrize("k", [3, 10])
def test_loss_equals_entmax_sparsemax_loss(k):
    scores = scores_of(k=k, scale=4.0, seed=3)
    labels = torch.randint(0, k, (60,), generator=torch.Generator().manual_seed(4))
    value, grad = losses.get("sparsemax").value_and_grad(scores, labels)
    want = entmax.SparsemaxLoss(reduction="none")(scores, labels)
    torch.testing.assert_close(value, want, rtol=0, atol=1e-12)
    probs = entmax.sparsemax(scores, dim=1)
    torch.testing.assert_close(
        grad, probs - torch.nn.functional.one_hot(labels, k), rtol=0, atol=1e-12
    )


def test_loss_is_zero_from_a_margin_of_1_and_positive_below():
    loss = losses.get("sparsemax")
    labels = torch.tensor([0, 0, 2])
    at_margin = torch.tensor(
        [[1.0, 0.0, 0.0], [5.0, -3.0, 4.0], [0.0, -7.0, 1.0]], dtype=torch.float64
    )
    value, grad = loss.value_and_grad(at_margin, labels)
    assert (value == 0).all() and (grad == 0).all()
    value = loss(at_margin - 0.01 * torch.nn.functional.one_hot(labels, 3), labels)
    assert (value > 0).all()
    assert (loss(scores_of(), torch.zeros(60, dtype=torch.int64)) >= 0).all()


def test_binary_loss_is_the_modified_huber_hinge():
    """K = 2, o = [s, 0], true class 0: 0 for s >= 1, (1 − s)²/4 for |s| <= 1, −s below."""
    s = torch.linspace(-3, 3, 61, dtype=torch.float64)
    value, grad = losses.get("sparsemax").value_and_grad(
        torch.stack([s, 0 * s], 1), torch.zeros(61, dtype=torch.int64)
    )
    want = torch.where(s >= 1, 0 * s, torch.where(s >= -1, (1 - s) ** 2 / 4, -s))
    torch.testing.assert_close(value, want, rtol=0, atol=1e-15)
    want_grad = torch.where(s >= 1, 0 * s, torch.where(s >= -1, -(1 - s) / 2, -1 + 0 * s))
    torch.testing.assert_close(grad[:, 0], want_grad, rtol=0, atol=1e-15)


def test_soft_target_gradient_is_sparsemax_minus_the_target():
    scores = scores_of(scale=2.0, seed=5)
    soft = torch.softmax(scores_of(seed=6), 1)
    value, grad = losses.get("sparsemax").value_and_grad(scores, soft)
    probs = entmax.sparsemax(scores, dim=1)
    torch.testing.assert_close(grad, probs - soft, rtol=0, atol=1e-12)
    # the Fenchel–Young form: ⟨o, p⟩ − ½‖p‖² + ½‖t‖² − ⟨o, t⟩
    fenchel_young = (
        (scores * probs).sum(1)
        - 0.5 * (probs**2).sum(1)
        + 0.5 * (soft**2).sum(1)
        - (scores * soft).sum(1)
    )
    torch.testing.assert_close(value, fenchel_young, rtol=0, atol=1e-12)


def test_float32_scores_of_1e4_give_the_exact_value():
    scores = torch.tensor([[1e4, -1e4, 0.0, 3.0]])
    # τ = 1e4 − 1, p = e_0: [τ − o_1]_+ = 2e4 − 1, plus ½‖e_0 − e_1‖² = 1
    assert losses.get("sparsemax")(scores, torch.tensor([1])).item() == 2e4


def test_declarations_and_spec():
    loss = losses.get("sparsemax")
    assert str(loss) == "sparsemax" and losses.parse("sparsemax") == loss
    assert loss.family == "margin-sparse" and loss.applied_to == "scores"
    assert loss.convex_in_scores and loss.accepts_soft_targets
    with pytest.raises(ValueError, match="sparsemax has no parameter k"):
        losses.get("sparsemax", k=2)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 16),
    scale=st.floats(1e-3, 100.0),
    seed=st.integers(0, 2**31 - 1),
    soft=st.booleans(),
)
def test_any_scores_match_the_reference(k, scale, seed, soft):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(11, k, generator=g, dtype=torch.float64) * scale
    target = ref.random_target(11, k, g, soft)
    loss = losses.get("sparsemax")
    value, grad = loss.value_and_grad(scores, target)
    want_value, want_grad = ref.value_and_grad(loss, scores, target)
    assert (value >= 0).all()
    torch.testing.assert_close(value, want_value, rtol=1e-12, atol=1e-12 * (1 + scale**2))
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "k, scale",
    [(200, 30.0), (1000, 1.0), (1000, 0.01), (5000, 0.001)],  # supports of 2 to ~1,500 classes
)
def test_michelot_s_iteration_finds_the_sorted_support_at_many_classes(k, scale):
    scores = scores_of(n=16, k=k, scale=scale, seed=k)
    probs, _, _ = sparsemax(scores)
    torch.testing.assert_close(probs, entmax.sparsemax(scores, dim=1), rtol=0, atol=1e-12)
    labels = torch.randint(0, k, (16,), generator=torch.Generator().manual_seed(k))
    value, grad = losses.get("sparsemax").value_and_grad(scores, labels)
    want = entmax.SparsemaxLoss(reduction="none")(scores, labels)
    torch.testing.assert_close(value, want, rtol=0, atol=1e-12)
    assert (probs > 0).sum(1).max() > (100 if scale < 0.1 else 0)  # supports of many classes


def test_ties_and_float32_extremes_at_many_classes():
    scores = torch.zeros(3, 200)
    scores[0, :2], scores[0, 2:] = 1e4, -1e4
    scores[1] = 2.0
    scores[2, :2] = torch.tensor([1e4, 1e4 - 0.5])
    want = torch.zeros(3, 200)
    want[0, :2], want[1], want[2, :2] = 0.5, 1 / 200, torch.tensor([0.75, 0.25])
    probs, _, _ = sparsemax(scores)
    torch.testing.assert_close(probs, want, rtol=0, atol=1e-7)


def test_many_classes_take_an_empty_batch_and_a_row_of_nan():
    assert sparsemax(torch.zeros(0, 200))[0].shape == (0, 200)
    scores = scores_of(n=3, k=200, scale=1.0, seed=1)
    scores[1] = float("nan")
    probs, _, _ = sparsemax(scores)
    assert probs[1].isnan().all() and torch.isfinite(probs[[0, 2]]).all()
    torch.testing.assert_close(probs[[0, 2]], entmax.sparsemax(scores[[0, 2]], dim=1))
