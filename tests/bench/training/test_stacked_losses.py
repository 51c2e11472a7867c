"""A stack of losses: each run of the stack writes the rows its single run writes (up to the
last bits of a sum), a diverging or failing loss leaves the stack and the others go on."""

import dataclasses
import math

import pytest
import torch

import losses
from bench.training import stacked
from bench.training.config import RunConfig
from bench.training.loop import Interrupted, train

# one loss per kind of gradient: a soft max, a margin, raw scores, a sparse map, a weighted ce,
# a sum, and the label prior
SPECS = [
    "ce",
    "margin:kind=weston_watkins",
    "hui_belkin",
    "sparsemax",
    "focal",
    "1*nce+1*rce",
    "logit_adjusted",
]
# rates where the dense synthetic images train smoothly: at 10x these, sparsemax's and focal's
# trajectories amplify a sum's last bits into visible drift (chaos, in single runs alike)
RATES = [0.05, 0.005, 0.01, 0.03, 0.1, 2.0, 0.05]
TIMES = {"epoch_s", "step_ms", "step_ms_p90", "samples_per_s", "peak_mem_mb", "step_mode"}


def single(config, data):
    rows = []
    model = train(config, data, on_epoch=rows.append)
    return rows, model.state_dict()


def assert_same_run(stacked_run, rows, state):
    assert len(stacked_run["rows"]) == len(rows)
    for got, want in zip(stacked_run["rows"], rows, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if key in TIMES:
                continue
            if isinstance(value, float):  # float32 sums in another order: the last bits differ
                # (grad_norm sums the whole training set's gradient: its drift is the largest)
                rel = 1e-3 if key == "grad_norm" else 1e-4
                assert got[key] == pytest.approx(value, rel=rel, abs=2e-3, nan_ok=True), key
            else:
                assert got[key] == value, key
    if state is None:
        assert stacked_run["state"] is None
    else:
        for key, tensor in state.items():
            torch.testing.assert_close(stacked_run["state"][key], tensor, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("noise", ["none", "sym:0.4"])
def test_each_run_of_a_stack_writes_the_rows_of_its_single_run(make_data, noise):
    data = make_data(n_train=640, n_test=300, seed=1)
    configs = [
        RunConfig(spec, epochs=4, batch_size=64, seed=3, lr=lr, noise=noise)
        for spec, lr in zip(SPECS, RATES, strict=True)
    ]
    runs = stacked.train_losses(configs, data)
    assert [r["config"] for r in runs] == configs
    for run, config in zip(runs, configs, strict=True):
        assert_same_run(run, *single(config, data))
        assert {row["step_mode"] for row in run["rows"]} == {stacked.STACKED}
    # the training-set metrics are measured at the epochs the single loop measures them
    train_acc = [row["train_acc"] for row in runs[0]["rows"]]
    assert [not math.isnan(v) for v in train_acc] == [True] * 4
    if noise != "none":
        assert all(0 <= row["memorised"] <= 1 for row in runs[0]["rows"])
    # each run records its share of the stack's epoch
    shares = {row["epoch_s"] for run in runs for row in run["rows"] if row["epoch"] == 1}
    assert len(shares) == 1 and shares.pop() > 0


def test_a_diverging_run_leaves_the_stack_at_its_epoch_and_the_others_go_on(make_data):
    data = make_data(n_train=320, n_test=200)
    configs = [
        RunConfig("l2:on=scores", epochs=3, batch_size=32, seed=2, lr=1e4),
        RunConfig("ce", epochs=3, batch_size=32, seed=2, lr=0.3),
        RunConfig("l2:on=scores", epochs=3, batch_size=32, seed=2, lr=1e-3),
    ]
    runs = stacked.train_losses(configs, data)
    diverged_rows, _ = single(configs[0], data)
    assert (
        [r["status"] for r in runs[0]["rows"]]
        == [r["status"] for r in diverged_rows]
        == ["diverged"]
    )
    assert runs[0]["state"] is None
    for run, config in zip(runs[1:], configs[1:], strict=True):
        assert_same_run(run, *single(config, data))


def test_a_loss_that_raises_fails_its_run_alone(make_data):
    calls = []

    class Flaky(losses.Loss, name="flaky_for_stack_test"):  # noqa: F841 — registered by name
        """ce that raises on its 5th call."""

        def compute(self, scores, target):
            calls.append(1)
            if len(calls) == 5:
                raise RuntimeError("broke at call 5\nsecond line")
            return losses.parse("ce").compute(scores, target)

    data = make_data(n_train=320, n_test=200)
    configs = [
        RunConfig("ce", epochs=2, batch_size=32, lr=0.3),
        RunConfig("flaky_for_stack_test", epochs=2, batch_size=32, lr=0.3),
        RunConfig("focal", epochs=2, batch_size=32, lr=0.3),
    ]
    runs = stacked.train_losses(configs, data)
    assert runs[1] == {"config": configs[1], "error": "RuntimeError: broke at call 5"}
    for i in (0, 2):
        assert_same_run(runs[i], *single(configs[i], data))


def test_runs_that_differ_in_more_than_loss_and_rate_do_not_stack(make_data):
    data = make_data()
    with pytest.raises(ValueError, match="differ only in their loss and rate"):
        stacked.train_losses([RunConfig("ce", seed=0), RunConfig("ce", seed=1)], data)
    with pytest.raises(ValueError, match="linear model"):
        stacked.train_losses([RunConfig("ce", model="mlp")], data)


def test_stop_interrupts_a_stack(make_data):
    with pytest.raises(Interrupted, match="stack of 2 losses"):
        stacked.train_losses(
            [RunConfig("ce"), RunConfig("focal")], make_data(), should_stop=lambda: True
        )


def test_stacks_group_by_everything_but_loss_and_rate_and_cut_evenly():
    base = RunConfig("ce")
    configs = [
        dataclasses.replace(base, loss=f"l{i}", lr=0.1 * (i + 1), seed=seed, noise=noise)
        for seed in (0, 1)
        for noise in ("none", "sym:0.4")
        for i in range(5)
    ]
    groups = stacked.stacks(configs, most=24)
    assert len(groups) == 4 and all(len(g) == 5 for g in groups)
    assert all(len({stacked.stack_key(c) for c in g}) == 1 for g in groups)
    assert [c for g in groups for c in g] == configs  # every run once, in order
    assert [len(g) for g in stacked.stacks(configs[:5], most=2)] == [2, 2, 1]
    assert [len(g) for g in stacked.stacks(configs[:5], most=4)] == [3, 2]
    assert stacked.stackable(base) and not stacked.stackable(RunConfig("ce", model="mlp"))
    assert not stacked.stackable(RunConfig("ce", trainer="d2l-textbook"))
    assert not stacked.stackable(RunConfig("ce", model="no_such_model"))


@pytest.mark.parametrize("protocol", ["noisy", "trusted:60"])
def test_a_stack_that_holds_out_a_validation_split_writes_its_single_runs_rows(make_data, protocol):
    data = make_data(n_train=640, n_test=300, seed=1)
    configs = [
        RunConfig(
            spec,
            epochs=3,
            batch_size=64,
            seed=3,
            lr=lr,
            noise="sym:0.4",
            validation=protocol,
            early_stop=True,
        )
        for spec, lr in zip(SPECS[:3], RATES[:3], strict=True)
    ]
    runs = stacked.train_losses(configs, data)
    for run, config in zip(runs, configs, strict=True):
        assert_same_run(run, *single(config, data))
        assert all(0 <= row["val_acc"] <= 1 for row in run["rows"])
        assert all(0 <= row["corrected"] <= 1 for row in run["rows"])
