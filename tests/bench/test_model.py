"""The model: o = xW + b whatever the layout it is computed in, and the GEMM floor."""

import pytest
import torch

from bench import timing
from bench.model import SoftmaxRegression


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


def test_gemm_floor_is_a_positive_time_and_leaves_the_data_alone():
    x = torch.rand(1000, 784)
    before = x.clone()
    seconds = timing.gemm_floor(x, 256, repeats=2)
    assert 0 < seconds < 10
    assert torch.equal(x, before)


def test_gather_floor_copies_each_batch_by_a_permutation(monkeypatch):
    x = torch.rand(1000, 784)
    before = x.clone()
    seen = []
    index_select = torch.index_select

    def spy(source, dim, index, *, out):
        seen.append((source.data_ptr(), index.clone(), out.data_ptr()))
        return index_select(source, dim, index, out=out)

    monkeypatch.setattr(torch, "index_select", spy)
    seconds = timing.gemm_floor(x, 256, repeats=1, gather=True)
    assert 0 < seconds < 10
    assert torch.equal(x, before)
    assert [len(index) for _, index, _ in seen] == [256, 256, 256, 232]
    assert {source for source, _, _ in seen} == {x.data_ptr()}
    assert len({out for _, _, out in seen}) == 1  # one reused buffer, as in the trainer
    rows = torch.cat([index for _, index, _ in seen])
    assert torch.equal(rows.sort().values, torch.arange(1000))  # every row once...
    assert not torch.equal(rows, torch.arange(1000))  # ...in shuffled order
    seen.clear()
    timing.gemm_floor(x, 256, repeats=1)
    assert seen == []  # the plain floor reads the rows where they lie


def test_step_anatomy_times_every_part_of_a_step(make_data):
    import losses

    parts = timing.step_anatomy(losses.get("ce"), make_data(), batch_size=32, steps=20)
    assert tuple(parts) == timing.ANATOMY_PARTS + timing.ANATOMY_EPOCHS
    assert all(0 < seconds < 1 for seconds in parts.values())
    # the whole step does at least the work of its slowest part
    assert parts["step"] > 0.5 * max(parts[p] for p in ("gather", "scores", "loss", "update"))


def test_step_anatomy_is_cpu_only(make_data):
    import losses

    data = make_data()
    data.train_x = torch.empty(300, 784, device="meta")
    with pytest.raises(ValueError, match="CPU"):
        timing.step_anatomy(losses.get("ce"), data, batch_size=32)
