"""The loss / likelihood / gradient figures come from the losses themselves."""

import math

import matplotlib
import pytest
import torch

import losses
from losses import plots

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DEFAULTS = [losses.get(name) for name in losses.names()] + [losses.parse("l2:on=scores")]


@pytest.mark.parametrize("loss", DEFAULTS, ids=str)
def test_curves_are_finite_and_read_from_the_loss_itself(loss):
    frame = plots.curves(loss, points=101)
    assert len(frame) == 101 and frame[["x", "loss", "likelihood", "grad"]].notna().all().all()
    assert (frame["likelihood"] - frame["loss"].map(lambda v: math.exp(-v))).abs().max() < 1e-12
    sweep = torch.tensor(frame["s"].values)
    scores = torch.stack([sweep, torch.zeros_like(sweep)], 1)
    value, grad = loss.value_and_grad(scores, torch.zeros(101, dtype=torch.int64))
    assert torch.equal(torch.tensor(frame["grad"].values), grad[:, 0])
    assert torch.equal(torch.tensor(frame["loss"].values), value)


def test_x_axis_follows_the_kind_of_loss():
    assert plots.curves(losses.get("ce"))["x"].agg(["min", "max"]).tolist() == [-4.0, 4.0]
    probs = plots.curves(losses.get("l2"))["x"]
    assert 0 < probs.min() < 0.001 and 0.999 < probs.max() < 1
    assert plots.curves(losses.parse("l2:on=scores"))["x"].agg(["min", "max"]).tolist() == [-2, 3]


def test_known_points():
    def at(loss, x):
        frame = plots.curves(loss, points=801)
        return frame.iloc[(frame["x"] - x).abs().idxmin()]

    assert at(losses.get("ce"), 0.0)["loss"] == pytest.approx(math.log(2))
    assert at(losses.get("margin", delta=1.5), 0.0)["loss"] == pytest.approx(1.5)
    assert at(losses.parse("l2:on=scores"), 1.0)["loss"] == pytest.approx(0.0, abs=1e-12)
    # L1 and L2 on probabilities stop teaching where the true class has p_y ≈ 0
    assert abs(at(losses.get("l1"), 0.0005)["grad"]) < 0.01


def test_plot_loss_draws_three_panels():
    fig = losses.get("huber").plot()
    assert len(fig.axes) == 3
    plt.close(fig)


def test_main_writes_the_grid_png(tmp_path):
    out = tmp_path / "sub" / "g.png"
    assert plots.main(["--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    plt.close("all")
