"""The ``module:`` model part: a user's torch.nn.Module under the bench's protocol — its one-line
errors, its seeded init, the image shape it receives, its SGD step against autograd + torch SGD,
its state, and a run through the CLI into the report."""

import csv
import dataclasses
import functools

import pytest
import torch

import losses
from bench import models
from bench.__main__ import main
from bench.models.module import EVAL_ROWS, ModuleModel
from bench.training import floors, graphs
from bench.training.config import RunConfig
from bench.training.loop import sgd_step, train

K = 10
NETS = '''
import torch
from torch import nn


class Net(nn.Module):
    """A conv net for (N, 1, 8, 8) images, or a dense one for flat (N, D) rows."""

    def __init__(self, width=4, classes=10, flat=0, dropout=0.0):
        super().__init__()
        self.body = (nn.Sequential(nn.Linear(64, width), nn.ReLU()) if flat else
                     nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                                   nn.MaxPool2d(2), nn.Flatten()))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.LazyLinear(classes))
        self.seen = []  # (input shape, training mode) of every forward

    def forward(self, x):
        self.seen.append((tuple(x.shape), self.training))
        return self.head(self.body(x))


class Constant(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return self.bias.expand(x.shape[0], 10)


class Pair(Net):
    def forward(self, x):
        return super().forward(x), x


NotAModule = dict
'''


@pytest.fixture
def nets(tmp_path):
    """The path of a file of nets (above), as a string for specs."""
    path = tmp_path / "nets.py"
    path.write_text(NETS)
    return str(path)


@pytest.fixture
def images(make_data):
    """A small dataset of 8×8 one-channel images, 10 classes."""
    return dataclasses.replace(make_data(n_train=96, n_test=40, features=64), image_shape=(8, 8))


def one_line_error(call) -> str:
    with pytest.raises(ValueError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    "spec, words",
    [
        ("module:path={tmp}/absent.py:name=Net", ["no file", "absent.py"]),
        ("module:path={nets}:name=Nett", ["has no class 'Nett'", "Constant, Net, Pair"]),
        ("module:path={nets}:name=NotAModule", ["NotAModule", "not a subclass of torch.nn"]),
        ("module:path={nets}", ["needs name="]),
        ("module:name=Net", ["needs path="]),
        ("module:path={nets}:name=Net:depth=3", ["Net() does not take", "depth"]),
        ("module:path={tmp}/broken.py:name=Net", ["cannot import", "SyntaxError"]),
    ],
)
def test_a_bad_file_class_or_argument_is_a_one_line_error_at_parse(nets, tmp_path, spec, words):
    (tmp_path / "broken.py").write_text("class Net(\n")
    message = one_line_error(lambda: models.parse(spec.format(nets=nets, tmp=tmp_path)))
    assert all(word in message for word in words), message


@pytest.mark.parametrize(
    "params, words",
    [
        (":classes=3", ["returns shape (4, 3)", "(N, K) = (4, 10)"]),
        (":flat=1", ["raises on a batch of 4 inputs of shape (1, 8, 8)", "RuntimeError"]),
    ],
)
def test_a_wrong_output_is_a_one_line_error_at_init(nets, images, params, words):
    part = models.parse(f"module:path={nets}:name=Net{params}")
    message = one_line_error(lambda: part.init_for(0, images))
    assert all(word in message for word in words), message


def test_an_output_that_ignores_the_input_or_is_not_a_tensor_is_an_error(nets, images):
    constant = models.parse(f"module:path={nets}:name=Constant")
    assert "does not depend on its input" in one_line_error(lambda: constant.init_for(0, images))
    pair = models.parse(f"module:path={nets}:name=Pair")
    assert "returns a tuple" in one_line_error(lambda: pair.init_for(0, images))


def test_the_spec_is_canonical_with_constructor_arguments_sorted(nets):
    spec = f"module:path={nets}:width=8:name=Net:dropout=0.5"
    assert models.canonical(spec) == f"module:path={nets}:name=Net:dropout=0.5:width=8"
    assert models.parse(spec) == models.parse(models.canonical(spec))
    assert models.parse(spec).linear is False and "module" in models.names()


def test_the_same_seed_gives_the_same_weights_and_leaves_the_global_rng_alone(nets, images):
    part = models.parse(f"module:path={nets}:name=Net")
    torch.manual_seed(123)
    first = part.init_for(7, images).state_dict()
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after)  # init drew from a forked generator
    again, other = part.init_for(7, images).state_dict(), part.init_for(8, images).state_dict()
    weights = [key for key in first if not key.startswith("@")]
    assert len(weights) == 4  # conv and dense layers, weight and bias each
    assert all(torch.equal(first[key], again[key]) for key in weights)
    assert not any(torch.equal(first[key], other[key]) for key in weights)


def test_images_reach_the_module_as_n_c_h_w_and_flat_rows_as_n_d(nets, images):
    model = models.parse(f"module:path={nets}:name=Net").init_for(0, images)
    model.scores(images.test_x)
    assert model.module.seen[-1] == ((40, 1, 8, 8), False)
    flat = dataclasses.replace(images, image_shape=None)
    model = models.parse(f"module:path={nets}:name=Net:flat=1").init_for(0, flat)
    model.scores(flat.test_x)
    assert model.module.seen[-1] == ((40, 64), False)


def test_training_batches_run_in_training_mode_and_scores_in_eval_mode(nets, images):
    model = models.parse(f"module:path={nets}:name=Net:dropout=0.5").init_for(0, images)
    x, y = images.train_x[:16], images.train_y[:16]
    seen = len(model.module.seen)
    sgd_step(model, losses.parse("ce"), x, y, 0.1)
    assert model.module.seen[seen:] == [((16, 1, 8, 8), True)]  # one forward, kept for update
    torch.testing.assert_close(model.scores(x), model.scores(x), rtol=0, atol=0)  # no dropout
    assert model.module.seen[-1] == ((16, 1, 8, 8), False)


def test_large_inputs_are_scored_in_chunks(nets, make_data):
    data = dataclasses.replace(
        make_data(n_train=10, n_test=EVAL_ROWS + 5, features=64), image_shape=(8, 8)
    )
    model = models.parse(f"module:path={nets}:name=Net").init_for(0, data)
    scores = model.scores(data.test_x)
    assert scores.shape == (EVAL_ROWS + 5, K)
    assert [shape[0] for shape, _ in model.module.seen[-2:]] == [EVAL_ROWS, 5]


@pytest.mark.parametrize("spec", ["ce", "gce:q=0.7", "margin"])
def test_sgd_steps_equal_autograd_through_the_loss_and_torch_sgd(nets, images, spec):
    loss = losses.parse(spec)
    part = models.parse(f"module:path={nets}:name=Net")
    ours, reference = part.init_for(3, images), part.init_for(3, images)
    optimizer = torch.optim.SGD(reference.module.parameters(), lr=0.5)
    x, y = images.train_x[:32], images.train_y[:32]
    for _ in range(3):
        value = sgd_step(ours, loss, x, y, lr=0.5)
        with torch.enable_grad():
            scores = reference.module(x.view(32, 1, 8, 8)).double()
            leaf = scores.detach().requires_grad_()
            expected = loss(leaf, y)  # the loss's value; its gradient from autograd below
            (grad,) = torch.autograd.grad(_autograd_value(spec, leaf, y).mean(), leaf)
            optimizer.zero_grad()
            scores.backward(grad)
        optimizer.step()
        torch.testing.assert_close(value.double(), expected.detach(), rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.module.parameters(), reference.module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _autograd_value(spec, scores, labels):
    """Each loss's value as an independent differentiable formula of the scores (N, K)."""
    p_y = torch.softmax(scores, 1).gather(1, labels[:, None]).squeeze(1)
    if spec == "ce":
        return torch.nn.functional.cross_entropy(scores, labels, reduction="none")
    if spec == "gce:q=0.7":
        return (1 - p_y**0.7) / 0.7
    true = scores.gather(1, labels[:, None])
    others = scores.scatter(1, labels[:, None], float("-inf"))
    return (1 + others - true).amax(1).clamp_min(0)  # Crammer-Singer, margin 1


def test_an_update_without_the_batchs_training_scores_computes_them(nets, images):
    part = models.parse(f"module:path={nets}:name=Net")
    kept, fresh = part.init_for(1, images), part.init_for(1, images)
    x, other = images.train_x[:8], images.train_x[8:16]
    grad = torch.randn(8, K, generator=torch.Generator().manual_seed(0))
    models.training_scores(kept, x)
    kept.update(x, grad, 0.1)
    models.training_scores(fresh, other)  # another batch's scores: update must not use them
    fresh.update(x, grad, 0.1)
    for a, b in zip(kept.module.parameters(), fresh.module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_training_through_the_loop_lowers_the_loss_and_the_device_step_agrees(nets, images):
    config = RunConfig(
        loss="ce",
        lr=0.5,
        epochs=4,
        batch_size=16,
        dataset="synthetic",
        model=f"module:path={nets}:name=Net:width=8",
    )
    eager, device = [], []
    model = train(config, images, on_epoch=eager.append, step_mode="eager")
    train(config, images, on_epoch=device.append, step_mode="device")
    assert isinstance(model, ModuleModel) and eager[-1]["status"] == "ok"
    assert eager[-1]["train_loss"] < 0.7 * eager[0]["train_loss"]  # 2.27 -> 1.33
    assert eager[-1]["grad_norm"] > 0
    for a, b in zip(eager, device, strict=True):  # the CUDA graph's step, run eagerly
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_from_state_round_trips(nets, images):
    part = models.parse(f"module:path={nets}:name=Net:width=6")
    model = part.init_for(2, images)
    sgd_step(model, losses.parse("ce"), images.train_x[:16], images.train_y[:16], 0.5)
    state = model.state_dict()
    assert state["@input_shape"].tolist() == [1, 8, 8] and int(state["@num_classes"]) == K
    loaded = part.from_state(state)
    assert torch.equal(loaded.scores(images.test_x), model.scores(images.test_x))
    assert all(torch.equal(state[key], again) for key, again in loaded.state_dict().items())
    other = models.parse(f"module:path={nets}:name=Net:width=5")
    assert "does not fit" in one_line_error(lambda: other.from_state(state))


def test_the_floor_and_the_anatomy_time_the_module(nets, images):
    spec = f"module:path={nets}:name=Net"
    assert floors.gemm_floor(images, 16, repeats=1, model=spec) > 0
    parts = floors.step_anatomy(
        losses.parse("ce"), images, 16, steps=3, warmup=1, rounds=1, model=spec
    )
    assert all(parts[name] > 0 for name in floors.ANATOMY_PARTS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_a_cuda_graph_of_the_step_reproduces_the_eager_step(nets, images):
    data = images.to("cuda")
    model = models.parse(f"module:path={nets}:name=Net").init_for(0, data, "cuda")
    step = graphs.DeviceStep(model, losses.parse("ce"), data, [0.01] * 24, 16)
    graphs.capture(step, [16])  # raises CaptureError unless a replay equals an eager step


def test_the_cli_trains_reports_and_saves_a_module(nets, make_data, tmp_path, monkeypatch):
    anatomy = functools.partial(floors.step_anatomy, steps=3, warmup=1, rounds=1)
    monkeypatch.setattr(floors, "step_anatomy", anatomy)
    out, spec = tmp_path / "out", f"module:path={nets}:name=Net:width=8"
    argv = [
        "--model",
        spec,
        "--dataset",
        "digits",
        "--losses",
        "ce,gce",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--devices",
        "cpu",
        "--lr",
        "0.5",
        "--batch-size",
        "64",
        "--no-textbook",
        "--reference-iters",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    with open(out / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["epoch"] == "2"]
    assert sorted(r["loss"] for r in rows) == ["ce", "gce:q=0.7"]
    assert {r["model"] for r in rows} == {spec} and {r["grad"] for r in rows} == {"analytic"}
    assert all(0 <= float(r["test_acc"]) <= 1 and r["status"] == "ok" for r in rows)
    ce = next(r for r in rows if r["loss"] == "ce")
    assert float(ce["test_acc"]) > 0.5  # digits, 2 epochs of a small conv net; chance is 0.1
    assert f"torch.nn.Module Net(width=8) of {nets}" in (out / "README.md").read_text()
    saved = next((out / "weights").glob("digits__module_*.pt"))
    state = next(iter(torch.load(saved, weights_only=True).values()))
    assert models.parse(spec).from_state(state).scores(torch.zeros(2, 64)).shape == (2, K)
