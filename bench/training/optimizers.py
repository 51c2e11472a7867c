"""Optimisers as parts: how a step turns the parameter gradients into an update (``--optimizer``).

A spec string names one (``sgd``, ``momentum:beta=0.9:wd=0.0005``, ``adamw:wd=0.01``);
``optimizers.parse(spec).bind(model)`` gives the bound optimiser a run steps with:
``bound.step(x, grad, lr)`` takes the score gradient g (N, K) of the batch's summed loss and the
rate of this step, and updates the model's parameters from the gradient of the batch's MEAN loss
(g / N backpropagated through the model). The definitions are PyTorch's, so that a model trained
here follows what ``torch.optim`` would do (the tests hold them to it), with g_t that gradient
and θ every parameter, biases included:

- ``sgd`` (the default): θ ← θ − lr·g_t. Stateless: the model's own fused in-place update
  (``model.update``), exactly the step the bench has always taken.
- ``momentum:beta=B:wd=W`` (``torch.optim.SGD(momentum=B, weight_decay=W)``): d = g_t + W·θ;
  b ← B·b + d (b₀ = 0); θ ← θ − lr·b.
- ``adamw:beta1=B1:beta2=B2:eps=E:wd=W`` (``torch.optim.AdamW``, Loshchilov & Hutter 2019):
  θ ← θ·(1 − lr·W); m ← B1·m + (1 − B1)·g_t; v ← B2·v + (1 − B2)·g_t²;
  θ ← θ − (lr / (1 − B1^t))·m / (√v / √(1 − B2^t) + E).

The stateful ones read the gradients from ``model.gradients(x, grad, scale)`` (a list of
(parameter, gradient) pairs) and keep their state beside the parameters. Their step counter
lives on the host, so the device step and its CUDA graph (bench.training.graphs) and the stacked
linear trainers (bench.training.stacked) carry plain SGD only.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from bench.parts import Part

DEFAULT = "sgd"


class Optimizer(Part):
    """A registered optimiser with its hyper-parameters; ``bind(model)`` -> its bound state."""

    kind: ClassVar[str] = "optimizer"
    registry: ClassVar[dict[str, type[Optimizer]]] = {}
    # whether the step is the model's own in-place update (what graphs and stacks can carry)
    plain: ClassVar[bool] = False

    def bind(self, model) -> Bound:
        raise NotImplementedError

    def describe(self) -> str:
        return str(self)

    def _check(self, name: str, value, low: float, high: float, *, closed_high: bool) -> float:
        """A float in [low, high] (or [low, high)); ValueError naming the parameter."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"optimizer {self.name}: {name} must be a number, got {value!r}")
        inside = low <= value <= high if closed_high else low <= value < high
        if not inside:
            bracket = "]" if closed_high else ")"
            raise ValueError(
                f"optimizer {self.name}: {name} must lie in [{low:g}, {high:g}{bracket}, "
                f"got {value:g}"
            )
        object.__setattr__(self, name, float(value))  # one spec for wd=0 and wd=0.0
        return float(value)


class Bound:
    """An optimiser bound to one model: ``step(x, grad, lr)`` (the module docstring)."""

    def __init__(self, optimizer: Optimizer, model):
        self.optimizer, self.model = optimizer, model

    def step(self, x: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        raise NotImplementedError

    def _mean_gradients(self, x, grad) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        pairs = self.model.gradients(x, grad, 1.0 / x.shape[0])
        return [p for p, _ in pairs], [g for _, g in pairs]


@dataclasses.dataclass(frozen=True)
class SGD(Optimizer, name="sgd"):
    """Plain minibatch SGD, θ ← θ − lr·g: the model's own fused in-place update."""

    plain = True

    def bind(self, model) -> Bound:
        return _PlainSGD(self, model)

    def describe(self) -> str:
        return "plain SGD (no momentum, no weight decay)"


class _PlainSGD(Bound):
    def step(self, x, grad, lr):
        self.model.update(x, grad, lr / x.shape[0])  # the 1/N of the mean folded into the rate


@dataclasses.dataclass(frozen=True)
class Momentum(Optimizer, name="momentum"):
    """SGD with heavy-ball momentum ``beta`` and L2 weight decay ``wd`` added to the gradient,
    as ``torch.optim.SGD(momentum=beta, weight_decay=wd)`` (no dampening, not Nesterov)."""

    beta: float = 0.9
    wd: float = 0.0

    def validate_params(self) -> None:
        self._check("beta", self.beta, 0, 1, closed_high=False)
        self._check("wd", self.wd, 0, math.inf, closed_high=True)

    def bind(self, model) -> Bound:
        return _Momentum(self, model)

    def describe(self) -> str:
        return f"SGD with momentum {self.beta:g} and weight decay {self.wd:g}"


class _Momentum(Bound):
    buffers: list[torch.Tensor] | None = None

    @torch.no_grad()
    def step(self, x, grad, lr):
        params, grads = self._mean_gradients(x, grad)
        if self.optimizer.wd:
            torch._foreach_add_(grads, params, alpha=self.optimizer.wd)
        if self.buffers is None:
            self.buffers = [torch.zeros_like(p) for p in params]
        torch._foreach_mul_(self.buffers, self.optimizer.beta)
        torch._foreach_add_(self.buffers, grads)
        torch._foreach_add_(params, self.buffers, alpha=-lr)


@dataclasses.dataclass(frozen=True)
class AdamW(Optimizer, name="adamw"):
    """Adam with decoupled weight decay ``wd`` (Loshchilov & Hutter 2019), as
    ``torch.optim.AdamW(betas=(beta1, beta2), eps=eps, weight_decay=wd)``; PyTorch's defaults."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    wd: float = 0.01

    def validate_params(self) -> None:
        self._check("beta1", self.beta1, 0, 1, closed_high=False)
        self._check("beta2", self.beta2, 0, 1, closed_high=False)
        self._check("eps", self.eps, 0, math.inf, closed_high=True)
        self._check("wd", self.wd, 0, math.inf, closed_high=True)

    def bind(self, model) -> Bound:
        return _AdamW(self, model)

    def describe(self) -> str:
        return (
            f"AdamW (betas {self.beta1:g}, {self.beta2:g}; eps {self.eps:g}; decoupled weight "
            f"decay {self.wd:g})"
        )


class _AdamW(Bound):
    """torch.optim.AdamW itself, fused where the parameters' device and dtype allow (one
    kernel per step: measured 1 thread, AMD EPYC, on the 784-256-256-10 MLP's parameters, 0.29
    ms a step against 0.60 for the same update as seven foreach calls), else foreach. The
    gradients are handed over as ``.grad`` and dropped after the step."""

    torch_optimizer: torch.optim.AdamW | None = None

    @torch.no_grad()
    def step(self, x, grad, lr):
        params, grads = self._mean_gradients(x, grad)
        if self.torch_optimizer is None:
            self.torch_optimizer = self._build(params)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        self.torch_optimizer.param_groups[0]["lr"] = lr
        self.torch_optimizer.step()
        for p in params:
            p.grad = None

    def _build(self, params) -> torch.optim.AdamW:
        opt = self.optimizer
        settings = dict(lr=0.0, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=opt.wd)
        try:
            return torch.optim.AdamW(params, fused=True, **settings)
        except RuntimeError:  # a device or dtype the fused kernel does not take
            return torch.optim.AdamW(params, foreach=True, **settings)


def names() -> list[str]:
    return Optimizer.names()


def parse(spec: str) -> Optimizer:
    """The optimiser of ``spec``; ValueError (one line) for an unknown name or parameter."""
    return Optimizer.parse(spec)


def canonical(spec: str) -> str:
    """The spec as results.csv writes it: every parameter, in order (``momentum:beta=0.9:wd=0``)."""
    return str(parse(spec))


def is_plain(spec: str) -> bool:
    """Whether ``spec`` is plain SGD, the step that graphs and stacks carry."""
    return parse(spec).plain
