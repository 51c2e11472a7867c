"""The floors under an epoch and the anatomy of a step, through the model protocol alone."""

import dataclasses

import pytest
import torch

from bench.datasets import Dataset
from bench.models.linear import SoftmaxRegression
from bench.training import floors


def dataset(x):
    labels = torch.arange(x.shape[0]) % 10
    return Dataset(
        train_x=x, train_y=labels, test_x=x[:10], test_y=labels[:10], classes=tuple("abcdefghij")
    )


def test_gemm_floor_is_the_models_forward_and_update_per_batch_and_nothing_else(monkeypatch):
    x = torch.rand(1000, 784)
    before = x.clone()
    calls = []
    for name in ("scores", "update"):
        original = getattr(SoftmaxRegression, name)
        monkeypatch.setattr(
            SoftmaxRegression,
            name,
            lambda self, x, *rest, _n=name, _f=original: (
                calls.append((_n, x.shape[0])) or _f(self, x, *rest)
            ),
        )
    floors.gemm_floor(dataset(x), 256, repeats=2)
    per_pass = [(part, rows) for rows in (256, 256, 256, 232) for part in ("scores", "update")]
    assert calls == per_pass * 2
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
    floors.gemm_floor(dataset(x), 256, repeats=1, gather=True)
    assert torch.equal(x, before)
    assert [len(index) for _, index, _ in seen] == [256, 256, 256, 232]
    assert {source for source, _, _ in seen} == {x.data_ptr()}
    assert len({out for _, _, out in seen}) == 1  # one reused buffer, as in the trainer
    rows = torch.cat([index for _, index, _ in seen])
    assert torch.equal(rows.sort().values, torch.arange(1000))  # every row once...
    assert not torch.equal(rows, torch.arange(1000))  # ...in shuffled order
    seen.clear()
    floors.gemm_floor(dataset(x), 256, repeats=1)
    assert seen == []  # the plain floor reads the rows where they lie


def test_step_anatomy_times_every_part_of_a_step(make_data):
    import losses

    parts = floors.step_anatomy(losses.get("ce"), make_data(), batch_size=32, steps=20)
    assert tuple(parts) == floors.ANATOMY_PARTS + floors.ANATOMY_EPOCHS
    # the whole step does at least the work of its slowest part
    assert parts["step"] > 0.5 * max(parts[p] for p in ("gather", "scores", "loss", "update"))


def test_step_anatomy_is_cpu_only(make_data):
    import losses

    data = dataclasses.replace(make_data(), train_x=torch.empty(300, 784, device="meta"))
    with pytest.raises(ValueError, match="CPU"):
        floors.step_anatomy(losses.get("ce"), data, batch_size=32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_floor_is_a_captured_pass(monkeypatch):
    from bench.training import graphs

    counter = torch.zeros((), device="cuda")
    replay = graphs.replay_of(lambda: counter.add_(1))
    assert counter.item() == 1  # the warm-up ran once; the capture itself ran nothing
    for _ in range(3):
        replay()
    assert counter.item() == 4
    captured = []
    monkeypatch.setattr(
        graphs, "replay_of", lambda work, _f=graphs.replay_of: captured.append(work) or _f(work)
    )
    x = torch.rand(1000, 784, device="cuda")
    assert floors.gemm_floor(dataset(x), 256, repeats=2) > 0
    assert floors.gemm_floor(dataset(x), 256, repeats=2, gather=True) > 0
    assert len(captured) == 2
