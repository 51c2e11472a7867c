"""Each loss's value + analytic gradient on a 65536×10 CPU float32 batch, against

- the matching torch built-in's forward + autograd backward, where one exists (BUILTINS);
- autograd through the loss's own reference formula (tests/losses/reference_formulas.py), for
  every registered loss with its default parameters.

Untimed in `make test` (--benchmark-disable); `make microbench` times them (pytest-benchmark).
The goal (not asserted: a timing is shown, not tested): ours no slower than either.
Crammer–Singer has no torch built-in: it is timed beside multi_margin_loss, the nearest one."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import losses

sys.path.insert(0, str(Path(__file__).parents[1] / "losses"))
import reference_formulas as ref  # noqa: E402

N, K = 65536, 10


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(N, K, generator=g)
    labels = torch.randint(0, K, (N,), generator=g)
    return scores, labels, F.one_hot(labels, K).float()


def on_probs(s):
    return torch.softmax(s, 1)


# spec -> the built-in's per-example loss as a function of (scores, labels, one_hot)
BUILTINS = {
    "ce": lambda s, y, t: F.cross_entropy(s, y, reduction="none"),
    "soft_label": lambda s, y, t: F.cross_entropy(s, y, reduction="none", label_smoothing=0.1),
    "margin:kind=crammer_singer": lambda s, y, t: K * F.multi_margin_loss(s, y, reduction="none"),
    "margin:kind=weston_watkins": lambda s, y, t: K * F.multi_margin_loss(s, y, reduction="none"),
    "l2": lambda s, y, t: 0.5 * F.mse_loss(on_probs(s), t, reduction="none").sum(1),
    "l1": lambda s, y, t: F.l1_loss(on_probs(s), t, reduction="none").sum(1),
    "huber": lambda s, y, t: F.huber_loss(on_probs(s), t, reduction="none", delta=0.1).sum(1),
    "l2:on=scores": lambda s, y, t: 0.5 * F.mse_loss(s, t, reduction="none").sum(1),
    "l1:on=scores": lambda s, y, t: F.l1_loss(s, t, reduction="none").sum(1),
    "huber:on=scores": lambda s, y, t: F.huber_loss(s, t, reduction="none").sum(1),
}
BUILTINS = {str(losses.parse(spec)): builtin for spec, builtin in BUILTINS.items()}
# every registered loss at its defaults, and the built-ins' variants: canonical spec strings
SPECS = list(dict.fromkeys([str(losses.get(name)) for name in losses.names()] + list(BUILTINS)))


def group(spec):
    return f"{spec}, {N}×{K}"


@pytest.mark.parametrize("spec", SPECS)
def test_lossbench_value_and_grad(benchmark, batch, spec):
    benchmark.group = group(spec)
    scores, labels, _ = batch
    loss = losses.parse(spec)
    value, grad = benchmark(loss.value_and_grad, scores, labels, check=False)
    assert value.shape == (N,) and grad.shape == (N, K)


def forward_backward(value_of, scores):
    s = scores.detach().requires_grad_()
    value = value_of(s)
    value.backward(torch.ones_like(value))
    return value.detach(), s.grad


@pytest.mark.parametrize("spec", BUILTINS)
def test_torch_builtin_forward_backward(benchmark, batch, spec):
    benchmark.group = group(spec)
    scores, labels, one_hot = batch
    builtin = BUILTINS[spec]
    value, grad = benchmark(forward_backward, lambda s: builtin(s, labels, one_hot), scores)
    assert value.shape == (N,) and grad.shape == (N, K)


@pytest.mark.parametrize("spec", SPECS)
def test_autograd_through_the_formula(benchmark, batch, spec):
    benchmark.group = group(spec)
    scores, labels, _ = batch
    loss = losses.parse(spec)
    value, grad = benchmark(forward_backward, lambda s: ref.value(loss, s, labels), scores)
    assert value.shape == (N,) and grad.shape == (N, K)
