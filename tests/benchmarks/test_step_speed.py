"""Micro-benchmarks of one training step per loss (batch 256, the real input width).

Untimed in `make test` (--benchmark-disable); `make microbench` times them. A step is the
trainer's own: scores, value and gradient, parameter update (bench.training.loop.sgd_step).
"""

import pytest
import torch

import losses
from bench import suite
from bench.models.linear import SoftmaxRegression
from bench.training.loop import sgd_step

SPECS = suite.default_specs()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(256, 784, generator=g), torch.randint(0, 10, (256,), generator=g)


@pytest.mark.parametrize("spec", SPECS)
def test_training_step(benchmark, batch, spec):
    benchmark.group = "training step, batch 256"
    x, labels = batch
    model = SoftmaxRegression.init(seed=0)
    loss = losses.parse(spec)
    # a tiny rate keeps the weights finite however many rounds the timer runs
    value = benchmark(sgd_step, model, loss, x, labels, 1e-6)
    assert value.shape == (256,) and torch.isfinite(value).all()
    assert model.is_finite()
