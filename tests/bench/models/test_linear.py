"""Softmax regression: o = xW + b whatever the layout it is computed in; the model protocol."""

import torch

from bench import models
from bench.models.linear import SoftmaxRegression


def test_scores_are_x_w_plus_b_in_float64():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(784, 10, generator=g, dtype=torch.float64)
    b = torch.randn(10, generator=g, dtype=torch.float64)
    x = torch.rand(37, 784, generator=g, dtype=torch.float64)
    model = SoftmaxRegression.from_weights(W, b)
    torch.testing.assert_close(model.scores(x), x @ W + b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.predict(x), (x @ W + b).argmax(1))
    assert model.scores(x).shape == (37, 10)


def test_update_is_sgd_on_w_and_b():
    g = torch.Generator().manual_seed(1)
    W = torch.randn(784, 10, generator=g, dtype=torch.float64)
    b = torch.randn(10, generator=g, dtype=torch.float64)
    x = torch.rand(5, 784, generator=g, dtype=torch.float64)
    grad = torch.randn(5, 10, generator=g, dtype=torch.float64)
    model = SoftmaxRegression.from_weights(W, b)
    model.update(x, grad, 0.5)
    torch.testing.assert_close(model.W, W - 0.5 * x.T @ grad)
    torch.testing.assert_close(model.b, b - 0.5 * grad.sum(0))


def test_grad_norm_is_the_norm_of_the_mean_weight_gradient():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(6, 4, generator=g, dtype=torch.float64)
    grad = torch.randn(6, 3, generator=g, dtype=torch.float64)
    model = models.parse("linear").init(0, 4, 3)
    W = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    ((x @ W) * grad).sum().div(6).backward()  # d(mean of g·o)/dW, by autograd
    assert abs(model.grad_norm(x, grad) - W.grad.norm().item()) < 1e-12


def test_part_builds_models_of_any_shape_from_the_same_seed():
    part = models.parse("linear")
    assert part.linear and str(part) == "linear"
    a, b = part.init(3, 20, 4), part.init(3, 20, 4)
    assert a.scores(torch.rand(5, 20)).shape == (5, 4)
    assert torch.equal(a.W, b.W) and not torch.equal(a.W, part.init(4, 20, 4).W)
    assert (a.b == 0).all() and abs(a.W.std().item() - 0.01) < 0.003  # D2L's init
    restored = part.from_state(a.state_dict())
    assert torch.equal(restored.W, a.W) and torch.equal(restored.b, a.b)
    assert [p.shape for p in a.parameters()] == [(4, 20), (4,)]
