"""The device-driven step that CUDA graphs replay: its logic runs and is checked on the CPU."""

import functools
import math

import pytest
import torch

import losses
from bench.models.linear import SoftmaxRegression
from bench.suite import DEFAULT_LRS
from bench.training import graphs
from bench.training import loop as train_module
from bench.training.config import RunConfig, learning_rate
from bench.training.loop import train

SPECS = list(DEFAULT_LRS)  # the default suite

# Small rates: at large ones SGD is chaotic, and the eager loop (rate as a GEMM's alpha) and the
# device step (rate multiplied into g) round differently, so trajectories part after ~50 steps.
SMALL_LR = {
    "huber": 1.0,
    "l1": 0.1,
    "l2": 0.3,
    "l2:on=scores": 0.001,
    "huber:on=scores": 0.003,
    # squared hinges: at 0.05 one weight of 7,840 parts by 2e-3 relative on some CPUs
    "margin:kind=crammer_singer:power=2": 0.01,
    "margin:kind=weston_watkins:power=2": 0.003,
}


@pytest.mark.parametrize("spec", SPECS)
def test_device_steps_train_like_the_eager_loop(spec, make_data):
    data = make_data(n_train=300)  # 300 = 4 × 64 + 44: a short last batch every epoch
    config = RunConfig(spec, epochs=3, lr=SMALL_LR.get(spec, 0.05), batch_size=64, seed=3)
    eager_rows, device_rows = [], []
    eager = train(config, data, on_epoch=eager_rows.append, step_mode="eager")
    device = train(config, data, on_epoch=device_rows.append, step_mode="device")
    torch.testing.assert_close(device.weight, eager.weight, rtol=1e-3, atol=5e-5)
    torch.testing.assert_close(device.b, eager.b, rtol=1e-3, atol=5e-5)
    for e, d in zip(eager_rows, device_rows, strict=True):
        assert d["train_loss"] == pytest.approx(e["train_loss"], rel=1e-4)
        assert d["test_acc"] == e["test_acc"]
    assert {r["step_mode"] for r in eager_rows} == {"eager"}
    assert {r["step_mode"] for r in device_rows} == {"device"}


def test_device_step_walks_the_permutation_and_the_rate_table(make_data):
    data = make_data(n_train=10)
    model = SoftmaxRegression.init(0)
    ce = losses.get("ce")
    sizes = [0.1, 0.0, 0.2]  # per step; a zero rate must leave the weights alone
    step = graphs.DeviceStep(model, ce, data, sizes, batch_size=4)
    step.order.copy_(torch.tensor([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]))
    first = [9, 8, 7, 6]
    first_loss = ce(model.scores(data.train_x[first]), data.train_y[first]).sum().item()
    step(4)
    assert torch.equal(step.y[:4], data.train_y[first])
    assert step.loss_sum.item() == pytest.approx(first_loss)
    after_first = model.weight.clone()
    step(4)
    assert torch.equal(step.y[:4], data.train_y[[5, 4, 3, 2]])
    assert torch.equal(model.weight, after_first)
    step(2)
    assert torch.equal(step.y[:2], data.train_y[[1, 0]])
    assert step.counter.item() == 3


def test_state_and_restore_undo_a_step(make_data):
    step = graphs.DeviceStep(
        SoftmaxRegression.init(0), losses.get("l2"), make_data(), [1.0], batch_size=32
    )
    saved = step.state()
    step(32)
    assert not torch.equal(step.model.weight, saved[0])
    step.restore(saved)
    assert all(torch.equal(a, b) for a, b in zip(step.state(), saved, strict=True))


def test_verify_accepts_a_faithful_replay_and_rejects_a_wrong_one(make_data):
    step = graphs.DeviceStep(
        SoftmaxRegression.init(0), losses.get("ce"), make_data(), [0.5], batch_size=32
    )
    saved = step.state()
    graphs.verify(step, {32: functools.partial(step, 32)})
    assert all(torch.equal(a, b) for a, b in zip(step.state(), saved, strict=True))
    with pytest.raises(graphs.CaptureError, match="32-row step"):
        graphs.verify(step, {32: lambda: step.counter.add_(1)})  # forgets the update


def test_capture_needs_cuda(make_data):
    step = graphs.DeviceStep(
        SoftmaxRegression.init(0), losses.get("ce"), make_data(), [0.5], batch_size=32
    )
    with pytest.raises(graphs.CaptureError, match="CUDA device"):
        graphs.capture(step, [32])
    with pytest.raises(graphs.CaptureError, match="cuda-graph.*--step-mode auto or eager"):
        train(RunConfig("ce", epochs=1, batch_size=32), make_data(), step_mode="cuda-graph")


def test_auto_falls_back_to_eager_steps_with_a_warning_when_capture_fails(make_data, monkeypatch):
    monkeypatch.setattr(graphs, "available", lambda device: True)  # as if on a GPU
    monkeypatch.setattr(
        graphs,
        "capture",
        lambda step, lengths: (_ for _ in ()).throw(
            graphs.CaptureError("capture failed: operation not permitted when stream is capturing")
        ),
    )
    rows = []
    with pytest.warns(UserWarning, match="not permitted.*running eager steps"):
        train(RunConfig("ce", epochs=1, batch_size=32), make_data(), on_epoch=rows.append)
    assert rows[0]["step_mode"] == "eager" and rows[0]["status"] == "ok"


def test_auto_replays_captured_steps(make_data, monkeypatch):
    """The run loop drives whatever capture returns, one call per step, per batch length."""
    calls = []

    def fake_capture(step, lengths):
        def replay(rows):
            calls.append(rows)
            step(rows)

        return {rows: functools.partial(replay, rows) for rows in lengths}

    monkeypatch.setattr(graphs, "available", lambda device: True)
    monkeypatch.setattr(graphs, "capture", fake_capture)
    rows = []
    train(RunConfig("ce", epochs=2, batch_size=64), make_data(n_train=300), on_epoch=rows.append)
    assert calls == [64, 64, 64, 64, 44] * 2
    assert [r["step_mode"] for r in rows] == ["cuda-graph"] * 2
    assert rows[-1]["test_acc"] > 0.9


def test_unknown_step_mode_is_refused(make_data):
    with pytest.raises(ValueError, match="step mode must be one of"):
        train(RunConfig("ce", epochs=1), make_data(), step_mode="fast")


def test_step_sizes_follow_the_schedule_over_batch_length():
    config = RunConfig("ce", epochs=2, lr=1.0, batch_size=64)
    data = type("D", (), {"train_x": torch.zeros(100, 784), "train_y": torch.zeros(100)})
    _, step, _ = train_module._device_steps(
        config, "device", SoftmaxRegression.init(0), losses.get("ce"), data
    )
    total = 4  # 2 epochs × 2 steps (64 + 36)
    expected = [learning_rate(config, s, total) / (64 if s % 2 == 0 else 36) for s in range(total)]
    torch.testing.assert_close(step.step_sizes, torch.tensor(expected))
    assert math.isclose(step.step_sizes[0].item(), 1 / 64, rel_tol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("spec", ["ce", "margin", "huber"])
def test_real_cuda_graph_capture_trains_like_the_eager_loop(spec, make_data):
    """On a GPU: the step is really captured (no fallback) and replays train as eager steps do."""
    data = make_data(n_train=300).to("cuda")
    config = RunConfig(spec, device="cuda", epochs=2, lr=SMALL_LR.get(spec, 0.05), batch_size=64)
    eager_rows, graph_rows = [], []
    eager = train(config, data, on_epoch=eager_rows.append, step_mode="eager")
    graph = train(config, data, on_epoch=graph_rows.append, step_mode="cuda-graph")
    assert [r["step_mode"] for r in graph_rows] == ["cuda-graph"] * 2
    torch.testing.assert_close(graph.weight, eager.weight, rtol=1e-3, atol=5e-5)
    for e, g in zip(eager_rows, graph_rows, strict=True):
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=1e-4)
