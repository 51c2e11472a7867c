"""Forward + backward of each loss as a criterion (losses.nn.Criterion, mean reduction) on a
65536×10 CPU float32 batch, against

- ``F.cross_entropy`` for ``ce`` (the goal: within 1.5× of it);
- autograd through the loss's own reference formula (tests/losses/reference_formulas.py),
  averaged, for every registered loss at its defaults (the goal: no slower).

Untimed in `make test` (--benchmark-disable); `make microbench` times them (pytest-benchmark).
The goals are shown, not asserted: a timing is a measurement, not a test.
"""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import losses
from losses import nn as LN

sys.path.insert(0, str(Path(__file__).parents[1] / "losses"))
import reference_formulas as ref  # noqa: E402

N, K = 65536, 10
UNIFORM = torch.full((K,), 1.0 / K)
# every registered loss at its defaults, a prior bound where it reads one
SPECS = [str(losses.get(name)) for name in losses.names()]


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, K, generator=g), torch.randint(0, K, (N,), generator=g)


def forward_backward(mean_loss, scores):
    leaf = scores.detach().requires_grad_()
    value = mean_loss(leaf)
    value.backward()
    return value.detach(), leaf.grad


def check(value, grad):
    assert value.shape == () and grad.shape == (N, K) and torch.isfinite(grad).all()


def test_f_cross_entropy_forward_backward(benchmark, batch):
    benchmark.group = f"criterion ce, {N}×{K}"
    scores, labels = batch
    check(*benchmark(forward_backward, lambda s: F.cross_entropy(s, labels), scores))


@pytest.mark.parametrize("spec", SPECS)
def test_criterion_forward_backward(benchmark, batch, spec):
    benchmark.group = f"criterion {spec}, {N}×{K}"
    scores, labels = batch
    criterion = LN.Criterion(losses.parse(spec).with_prior(UNIFORM))
    check(*benchmark(forward_backward, lambda s: criterion(s, labels), scores))


@pytest.mark.parametrize("spec", SPECS)
def test_autograd_through_the_formula_forward_backward(benchmark, batch, spec):
    benchmark.group = f"criterion {spec}, {N}×{K}"
    scores, labels = batch
    loss = losses.parse(spec).with_prior(UNIFORM)
    check(*benchmark(forward_backward, lambda s: ref.value(loss, s, labels).mean(), scores))
