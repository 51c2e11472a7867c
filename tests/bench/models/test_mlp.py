"""The MLP of D2L chapter 4: its scores, its hand-written step against autograd + torch SGD, its
init, state and registration; and a short training run through the trainer."""

import pytest
import torch

import losses
from bench import models
from bench.models.mlp import MLP, MultilayerPerceptron
from bench.training.config import RunConfig
from bench.training.loop import sgd_step, train

D, H, K = 12, 7, 4


def weights(seed=0, dtype=torch.float64):
    """W1 (D, H), b1 (H,), W2 (H, K), b2 (K,): random, biases too, so no term hides at zero."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype) for shape in ((D, H), (H,), (H, K), (K,))]


def reference_scores(x, W1, b1, W2, b2):
    return torch.relu(x @ W1 + b1) @ W2 + b2


# each loss's value as an independent differentiable function of the scores
REFERENCE_LOSSES = {
    "ce": lambda o, y: torch.nn.functional.cross_entropy(o, y, reduction="none"),
    "soft_label": lambda o, y: torch.nn.functional.cross_entropy(
        o, y, reduction="none", label_smoothing=0.1
    ),
    "l2": lambda o, y: 0.5 * (torch.softmax(o, 1) - _one_hot(o, y)).square().sum(1),
    "margin": lambda o, y: (
        (1 + o - o.gather(1, y[:, None]))
        .masked_fill(_one_hot(o, y).bool(), float("-inf"))
        .amax(1)
        .clamp_min(0)
    ),
}


def _one_hot(scores, labels):
    return torch.nn.functional.one_hot(labels, scores.shape[1]).to(scores.dtype)


def test_scores_are_relu_x_w1_plus_b1_w2_plus_b2_in_float64():
    W1, b1, W2, b2 = weights()
    x = torch.rand(9, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 0.5
    model = MultilayerPerceptron.from_weights(W1, b1, W2, b2)
    expected = reference_scores(x, W1, b1, W2, b2)
    torch.testing.assert_close(model.scores(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.predict(x), expected.argmax(1))
    assert model.scores(x).shape == (9, K)


@pytest.mark.parametrize("spec", list(REFERENCE_LOSSES))
def test_sgd_step_equals_autograd_and_torch_sgd(spec):
    loss = losses.parse(spec)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, D, generator=g, dtype=torch.float64) - 0.5
    y = torch.randint(0, K, (16,), generator=g)
    params = weights(3)
    ours = MultilayerPerceptron.from_weights(*params)
    reference = [p.clone().requires_grad_() for p in params]
    optimizer = torch.optim.SGD(reference, lr=0.5)

    for _ in range(3):  # three steps: each one's cached hidden layer must be its own
        value = sgd_step(ours, loss, x, y, lr=0.5)
        expected = REFERENCE_LOSSES[spec](reference_scores(x, *reference), y)
        optimizer.zero_grad()
        expected.mean().backward()
        optimizer.step()
        torch.testing.assert_close(value, expected.detach(), rtol=0, atol=1e-12)

    state = ours.state_dict()
    for key, tensor in zip(("W1", "b1", "W2", "b2"), reference, strict=True):
        torch.testing.assert_close(state[key], tensor.detach(), rtol=0, atol=1e-12)


def test_update_without_the_batchs_scores_recomputes_the_hidden_layer():
    g = torch.Generator().manual_seed(4)
    x, other = (torch.rand(8, D, generator=g, dtype=torch.float64) for _ in range(2))
    grad = torch.randn(8, K, generator=g, dtype=torch.float64)
    cached, fresh = (MultilayerPerceptron.from_weights(*weights(5)) for _ in range(2))
    cached.scores(x)
    cached.update(x, grad, 0.1)
    fresh.scores(other)  # evaluation on other data in between: the update must not use it
    fresh.scores(x[:3])
    fresh.update(x, grad, 0.1)
    for a, b in zip(cached.parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


def test_update_changes_the_listed_parameters_in_place():
    model = MultilayerPerceptron.from_weights(*weights(6))
    before = [(p.data_ptr(), p.clone()) for p in model.parameters()]
    x = torch.rand(5, D, dtype=torch.float64)
    model.scores(x)
    model.update(x, torch.randn(5, K, dtype=torch.float64), 0.1)
    for p, (address, old) in zip(model.parameters(), before, strict=True):
        assert p.data_ptr() == address and not torch.equal(p, old)


def test_grad_norm_is_the_norm_of_the_mean_weight_gradients():
    g = torch.Generator().manual_seed(7)
    x = torch.rand(6, D, generator=g, dtype=torch.float64) - 0.5
    grad = torch.randn(6, K, generator=g, dtype=torch.float64)
    params = weights(8)
    model = MultilayerPerceptron.from_weights(*params)
    W1, b1, W2, b2 = (p.clone().requires_grad_() for p in params)
    (reference_scores(x, W1, b1, W2, b2) * grad).sum().div(6).backward()  # d(mean g·o), autograd
    expected = torch.cat([W1.grad.flatten(), W2.grad.flatten()]).norm().item()
    assert model.grad_norm(x, grad) == pytest.approx(expected, rel=1e-12)
    model.scores(x[:2])  # a cached hidden layer of other rows is not used
    assert model.grad_norm(x, grad) == pytest.approx(expected, rel=1e-12)


def test_init_is_the_books_and_the_same_from_the_same_seed():
    part = models.parse("mlp")
    assert str(part) == "mlp:hidden=256" and part.hidden == 256 and not part.linear
    a, b = part.init(3, 784, 10), part.init(3, 784, 10)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q) and p.dtype == torch.float32
    assert not torch.equal(a.W1, part.init(4, 784, 10).W1)
    assert (a.b1 == 0).all() and (a.b2 == 0).all()
    for weight in (a.W1, a.W2):  # D2L: N(0, 0.01²)
        assert abs(weight.mean().item()) < 1e-3 and abs(weight.std().item() - 0.01) < 1e-3
    assert [tuple(p.shape) for p in a.parameters()] == [(256, 784), (256,), (10, 256), (10,)]
    assert a.scores(torch.rand(5, 784)).shape == (5, 10)


def test_state_round_trip():
    part = models.parse("mlp:hidden=5")
    model = part.init(0, D, K)
    model.update(torch.rand(3, D), torch.randn(3, K), 0.5)  # biases no longer zero
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "W1": (D, 5),
        "b1": (5,),
        "W2": (5, K),
        "b2": (K,),
    }
    restored = part.from_state(state)
    for p, q in zip(model.parameters(), restored.parameters(), strict=True):
        assert torch.equal(p, q)
    x = torch.rand(4, D)
    torch.testing.assert_close(restored.scores(x), model.scores(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="5 hidden units, not 6"):
        models.parse("mlp:hidden=6").from_state(state)


@pytest.mark.parametrize(
    "spec",
    ["mlp:hidden=0", "mlp:hidden=-3", "mlp:hidden=2.5", "mlp:hidden=wide", "mlp:hidden=True"],
)
def test_hidden_must_be_a_positive_integer(spec):
    with pytest.raises(ValueError, match="hidden must be an integer") as error:
        models.parse(spec)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="hidden must be an integer"):
        MLP(hidden=0)


def test_registered_and_described():
    assert "mlp" in models.names() and models.canonical("mlp:hidden=64") == "mlp:hidden=64"
    assert "256" in models.parse("mlp").describe()


def test_float32_scores_stay_finite_on_large_inputs():
    model = models.parse("mlp:hidden=8").init(0, D, K)
    x = torch.full((4, D), 1e15)
    assert torch.isfinite(model.scores(x)).all() and model.is_finite()
    model.W1[0, 0] = float("nan")
    assert not model.is_finite()


def test_trainer_learns_with_the_mlp_and_device_steps_match_eager(make_data):
    data = make_data(n_train=300)  # 300 = 4 × 64 + 44: a short last batch every epoch
    config = RunConfig("ce", epochs=5, lr=0.3, batch_size=64, seed=1, model="mlp:hidden=32")
    eager_rows, device_rows = [], []
    eager = train(config, data, on_epoch=eager_rows.append, step_mode="eager")
    device = train(config, data, on_epoch=device_rows.append, step_mode="device")
    assert [r["status"] for r in eager_rows] == ["ok"] * 5
    # the book's small init starts slowly; chance is 0.1
    assert eager_rows[-1]["train_loss"] < eager_rows[0]["train_loss"] - 0.5
    assert eager_rows[-1]["test_acc"] > 0.5 and eager_rows[-1]["model"] == "mlp:hidden=32"
    for a, b in zip(eager.parameters(), device.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=5e-5)
    for e, d in zip(eager_rows, device_rows, strict=True):
        assert d["train_loss"] == pytest.approx(e["train_loss"], rel=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_steps_train_like_the_eager_loop(make_data):
    data = make_data(n_train=300).to("cuda")
    config = RunConfig("ce", device="cuda", epochs=2, lr=0.1, batch_size=64, model="mlp:hidden=32")
    eager_rows, graph_rows = [], []
    eager = train(config, data, on_epoch=eager_rows.append, step_mode="eager")
    graph = train(config, data, on_epoch=graph_rows.append, step_mode="cuda-graph")
    assert [r["step_mode"] for r in graph_rows] == ["cuda-graph"] * 2
    for a, b in zip(eager.parameters(), graph.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=5e-5)


def test_layers_default_to_one_and_the_spec_omits_it():
    assert str(models.parse("mlp:hidden=64:layers=1")) == "mlp:hidden=64"
    assert models.canonical("mlp:layers=2") == "mlp:hidden=256:layers=2"
    assert "2 hidden ReLU layers of 256 units" in models.parse("mlp:layers=2").describe()
    for spec in ("mlp:layers=0", "mlp:layers=1.5"):
        with pytest.raises(ValueError, match="layers .* must be an integer") as error:
            models.parse(spec)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("spec", ["ce", "l2"])
def test_two_hidden_layers_step_equals_autograd_and_torch_sgd(spec):
    loss = losses.parse(spec)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, D, generator=g, dtype=torch.float64) - 0.5
    y = torch.randint(0, K, (16,), generator=g)
    shapes = ((D, H), (H,), (H, 5), (5,), (5, K), (K,))
    params = [torch.randn(*shape, generator=g, dtype=torch.float64) for shape in shapes]
    ours = MultilayerPerceptron.from_weights(*params)
    reference = [p.clone().requires_grad_() for p in params]
    optimizer = torch.optim.SGD(reference, lr=0.5)

    def forward(x, W1, b1, W2, b2, W3, b3):
        return torch.relu(torch.relu(x @ W1 + b1) @ W2 + b2) @ W3 + b3

    for _ in range(3):
        torch.testing.assert_close(
            ours.scores(x), forward(x, *reference).detach(), atol=1e-12, rtol=0
        )
        value = sgd_step(ours, loss, x, y, lr=0.5)
        expected = REFERENCE_LOSSES[spec](forward(x, *reference), y)
        optimizer.zero_grad()
        expected.mean().backward()
        optimizer.step()
        torch.testing.assert_close(value, expected.detach(), rtol=0, atol=1e-12)
    state = ours.state_dict()
    assert list(state) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for key, tensor in zip(state, reference, strict=True):
        torch.testing.assert_close(state[key], tensor.detach(), rtol=0, atol=1e-12)


def test_two_hidden_layers_state_round_trip_and_init():
    part = models.parse("mlp:hidden=5:layers=2")
    model = part.init(0, D, K)
    assert [tuple(p.shape) for p in model.parameters()] == [
        (5, D),
        (5,),
        (5, 5),
        (5,),
        (K, 5),
        (K,),
    ]
    # the first layers draw what one hidden layer draws: the same W1 from the same seed
    assert torch.equal(model.W1, models.parse("mlp:hidden=5").init(0, D, K).W1)
    model.update(torch.rand(3, D), torch.randn(3, K), 0.5)
    restored = part.from_state(model.state_dict())
    x = torch.rand(4, D)
    torch.testing.assert_close(restored.scores(x), model.scores(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="2 hidden layers, not 1"):
        models.parse("mlp:hidden=5").from_state(model.state_dict())
