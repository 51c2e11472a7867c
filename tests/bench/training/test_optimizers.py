"""Optimisers: specs, and steps that follow torch.optim's on every model kind."""

from pathlib import Path

import pytest
import torch

import losses
from bench import models
from bench.training import optimizers
from bench.training.config import RunConfig
from bench.training.loop import sgd_step, train

D, K = 12, 4
NET = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, width=6):
        super().__init__()
        layers = [nn.Flatten(), nn.Linear(12, width), nn.Tanh(), nn.Linear(width, 4)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)
"""


def test_specs_are_canonical_and_default_to_plain_sgd():
    assert RunConfig("ce").optimizer == "sgd" and optimizers.is_plain("sgd")
    assert optimizers.canonical("momentum") == "momentum:beta=0.9:wd=0"
    assert optimizers.canonical("momentum:wd=5e-4") == "momentum:beta=0.9:wd=0.0005"
    assert optimizers.canonical("adamw") == "adamw:beta1=0.9:beta2=0.999:eps=1e-08:wd=0.01"
    assert RunConfig("ce", optimizer="adamw:wd=0").optimizer.endswith(":wd=0")
    assert not optimizers.is_plain("momentum") and sorted(optimizers.names()) == [
        "adamw",
        "momentum",
        "sgd",
    ]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("rmsprop", "unknown optimizer 'rmsprop'"),
        ("momentum:beta=1", r"beta must lie in \[0, 1\)"),
        ("momentum:wd=-1", "wd must lie in"),
        ("adamw:eps=x", "eps must be a number"),
        ("sgd:lr=0.1", "optimizer sgd has no parameter lr"),
    ],
)
def test_bad_specs_are_one_line_value_errors(spec, words):
    with pytest.raises(ValueError, match=words) as info:
        optimizers.parse(spec)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=words):
        RunConfig("ce", optimizer=spec)


def reference_optimizer(spec: str, params):
    """The torch.optim optimiser that ``spec`` names (lr set per step)."""
    opt = optimizers.parse(spec)
    if spec.startswith("momentum"):
        return torch.optim.SGD(params, lr=1.0, momentum=opt.beta, weight_decay=opt.wd)
    if spec.startswith("adamw"):
        return torch.optim.AdamW(
            params, lr=1.0, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=opt.wd
        )
    return torch.optim.SGD(params, lr=1.0)


@pytest.fixture
def net_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("net.py").write_text(NET)
    return "module:path=net.py:name=Net"


def reference_module(model_spec, model):
    """An autograd copy of ``model``: a function of x and its parameter tensors."""
    if model_spec == "linear":
        params = [model.W.clone(), model.b.clone()]
        return params, lambda x, W, b: x @ W + b
    if model_spec.startswith("mlp"):
        params = [t.clone() for t in model.state_dict().values()]

        def forward(x, *p):
            h = x
            for i in range(0, len(p) - 2, 2):
                h = torch.relu(h @ p[i] + p[i + 1])
            return h @ p[-2] + p[-1]

        return params, forward
    module = model.module
    params = [p.detach().clone() for p in module.parameters()]
    names = [name for name, _ in module.named_parameters()]

    def forward(x, *p):
        return torch.func.functional_call(module, dict(zip(names, p, strict=True)), (x,))

    return params, forward


@pytest.mark.parametrize(
    "spec", ["sgd", "momentum:beta=0.9:wd=0.01", "adamw:wd=0.1", "adamw:beta1=0.5:eps=1e-3"]
)
@pytest.mark.parametrize("model_spec", ["linear", "mlp:hidden=5:layers=2", "module"])
def test_steps_follow_torch_optim_on_every_model_kind(spec, model_spec, net_spec):
    model_spec = net_spec if model_spec == "module" else model_spec
    torch.manual_seed(0)
    model = models.parse(model_spec).init(1, D, K)
    if model_spec == "linear":  # D2L's init is small: make the weights matter
        model.weight.normal_()
    bound = optimizers.parse(spec).bind(model)
    params, forward = reference_module(model_spec, model)
    params = [p.requires_grad_() for p in params]
    reference = reference_optimizer(spec, params)
    loss = losses.parse("ce")
    g = torch.Generator().manual_seed(2)
    for step, rows in enumerate([16, 16, 9, 16]):  # a short batch: the mean is over its rows
        x = torch.rand(rows, D, generator=g) - 0.5
        y = torch.randint(0, K, (rows,), generator=g)
        lr = 0.3 / (step + 1)  # a schedule: the rate is the step's
        sgd_step(model, loss, x, y, lr, bound)
        with torch.enable_grad():
            reference.zero_grad()
            torch.nn.functional.cross_entropy(forward(x, *params), y).backward()
        for group in reference.param_groups:
            group["lr"] = lr
        reference.step()
    x = torch.rand(7, D, generator=g)
    torch.testing.assert_close(model.scores(x), forward(x, *params).detach(), rtol=1e-4, atol=1e-5)


def test_plain_sgd_is_the_models_own_update_bit_for_bit(make_data):
    data = make_data(n_train=200)
    config = RunConfig("ce", epochs=2, lr=0.5, batch_size=64, model="mlp:hidden=16")
    a = train(config, data)
    b = models.parse(config.model).init(0, 784, 10)
    order = torch.Generator().manual_seed(0)
    for epoch in range(2):
        perm = torch.randperm(200, generator=order)
        for step, rows in enumerate(perm.split(64)):
            from bench.training.config import learning_rate

            lr = learning_rate(config, epoch * 4 + step, 8)
            sgd_step(b, losses.parse("ce"), data.train_x[rows], data.train_y[rows], lr)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_momentum_trains_and_device_steps_refuse_it(make_data):
    data = make_data(n_train=300)
    config = RunConfig(
        "ce", epochs=4, lr=0.05, batch_size=32, model="mlp:hidden=32", optimizer="momentum"
    )
    rows = []
    train(config, data, on_epoch=rows.append)
    assert rows[-1]["optimizer"] == "momentum:beta=0.9:wd=0" and rows[-1]["step_mode"] == "eager"
    assert rows[-1]["test_acc"] > 0.8
    with pytest.raises(ValueError, match="carries plain SGD only") as info:
        train(config, data, step_mode="device")
    assert "\n" not in str(info.value)


def test_stacks_carry_plain_sgd_only():
    from bench.training import stacked

    assert stacked.stackable(RunConfig("ce"))
    assert not stacked.stackable(RunConfig("ce", optimizer="adamw"))
