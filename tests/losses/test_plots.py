"""The figures: curves of every loss equal independent formulas; axes follow the declarations."""

import math

import matplotlib
import pytest
import reference_formulas as ref
import torch

import losses
from losses import plots

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SPECS = plots.default_specs()


def test_default_specs_cover_every_registered_loss_and_the_apl_sums():
    names = {str(losses.parse(spec)).split(":")[0] for spec in SPECS}
    assert set(losses.names()) <= names
    assert {"l2:on=scores", "1*nce+1*rce:a=-4", "1*nce+1*l1:on=probs"} <= set(SPECS)


@pytest.mark.parametrize("spec", SPECS)
def test_curves_equal_the_reference_formula_and_its_autograd(spec):
    loss = losses.parse(spec)
    frame = plots.curves(loss, points=101)
    assert len(frame) == 101 and frame[["x", "loss", "likelihood", "grad"]].notna().all().all()
    # the sweep rebuilt independently of the plot: o = [s, 0], true class 0
    s = torch.tensor(frame["s"].values, dtype=torch.float64)
    want_value, want_grad = ref.value_and_grad(
        loss, torch.stack([s, torch.zeros_like(s)], 1), torch.zeros(101, dtype=torch.int64)
    )
    torch.testing.assert_close(torch.tensor(frame["loss"].values), want_value, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        torch.tensor(frame["grad"].values), want_grad[:, 0], rtol=0, atol=1e-10
    )
    assert (frame["likelihood"] - frame["loss"].map(lambda v: math.exp(-v))).abs().max() < 1e-12


@pytest.mark.parametrize(
    "spec, low, high",
    [
        ("ce", -4.0, 4.0),
        ("margin", -4.0, 4.0),
        ("nce", -4.0, 4.0),
        ("focal", -4.0, 4.0),
        ("1*nce+1*rce", -4.0, 4.0),
        ("l2:on=scores", -2.0, 3.0),
        ("huber:on=scores", -2.0, 3.0),
    ],
)
def test_x_axis_is_the_sweep_for_margins_and_raw_scores(spec, low, high):
    x = plots.curves(losses.parse(spec))["x"]
    assert x.agg(["min", "max"]).tolist() == [low, high]


@pytest.mark.parametrize("spec", ["l2", "l1", "huber", "gce", "rce", "taylor"])
def test_x_axis_is_p_y_for_losses_applied_to_probabilities(spec):
    frame = plots.curves(losses.parse(spec))
    sigmoid = 1 / (1 + (-frame["s"]).map(math.exp))  # p_y for o = [s, 0]
    assert (frame["x"] - sigmoid).abs().max() < 1e-15
    assert 0 < frame["x"].min() < 0.001 and 0.999 < frame["x"].max() < 1


def test_known_points():
    def at(loss, x):
        frame = plots.curves(loss, points=801)
        return frame.iloc[(frame["x"] - x).abs().idxmin()]

    assert at(losses.get("ce"), 0.0)["loss"] == pytest.approx(math.log(2))
    assert at(losses.get("margin", delta=1.5), 0.0)["loss"] == pytest.approx(1.5)
    assert at(losses.parse("l2:on=scores"), 1.0)["loss"] == pytest.approx(0.0, abs=1e-12)
    # nce at o = [0, 0]: log ½ / (2 log ½) = ½
    assert at(losses.get("nce"), 0.0)["loss"] == pytest.approx(0.5)
    # L1 and L2 on probabilities stop teaching where the true class has p_y ≈ 0
    assert abs(at(losses.get("l1"), 0.0005)["grad"]) < 0.01


@pytest.mark.parametrize(
    "spec, closed_form",
    [
        ("ce", lambda p: 1.0 + 0 * p),
        ("l1", lambda p: 2 * p),
        ("focal:gamma=2", lambda p: (1 - p) ** 2 - 2 * p * (1 - p) * math.log(p)),
        ("gce:q=0.7", lambda p: p**0.7),
        ("rce:a=-4", lambda p: 4 * p),
        ("poly1:epsilon=1", lambda p: 1 + p),
        ("taylor:t=2", lambda p: 1 - (1 - p) ** 2),
        ("sce", lambda p: 0.1 + 4 * p),
    ],
)
def test_weights_read_from_the_gradient_equal_the_closed_forms(spec, closed_form):
    frame = plots.weights(losses.parse(spec))
    want = frame["p_y"].map(closed_form)
    assert (frame["w"] - want).abs().max() < 1e-9


def test_weight_specs_are_the_true_class_family_and_references():
    specs = plots.weight_specs()
    assert {
        "focal:gamma=2",
        "gce:q=0.7",
        "rce:a=-4",
        "sce:alpha=0.1:beta=1:a=-4",
        "poly1:epsilon=1",
        "taylor:t=2",
        "ce",
        "l1:on=probs",
    } <= set(specs)
    assert "nce" not in specs  # not a loss of p_y alone


def test_plot_loss_draws_three_panels_and_the_protocol_has_no_plot_method():
    fig = plots.plot_loss(losses.get("huber"))
    assert len(fig.axes) == 3
    plt.close(fig)
    assert not hasattr(losses.get("huber"), "plot")


def test_plot_weights_draws_a_line_per_loss():
    fig = plots.plot_weights()
    assert len(fig.axes[0].lines) == len(plots.weight_specs())
    plt.close(fig)


def test_main_writes_the_grid_and_weights_pngs(tmp_path):
    out, weights = tmp_path / "sub" / "g.png", tmp_path / "w.png"
    assert plots.main(["--out", str(out), "--weights-out", str(weights)]) == 0
    assert out.stat().st_size > 10_000 and weights.stat().st_size > 10_000
    plt.close("all")


def test_plot_textbook_draws_the_six_textbook_losses_one_row_per_axis():
    fig = plots.plot_textbook()
    rows = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert [ax.get_title() for ax in rows] == list(plots.ROW_TITLES.values())
    labels = [text.get_text().split(" ")[0] for ax in rows for text in ax.get_legend().texts]
    assert labels == [str(losses.parse(spec)) for spec in plots.TEXTBOOK_SPECS]
    names = {losses.parse(spec).name for spec in plots.TEXTBOOK_SPECS}
    assert {"ce", "l2", "l1", "huber", "soft_label", "margin"} <= names
    plt.close(fig)


def test_coinciding_curves_are_dashed_and_said_so():
    """At K = 2 Weston–Watkins has one rival, as Crammer–Singer does: the same curve."""
    fig = plots.plot_textbook(["margin:kind=crammer_singer", "margin:kind=weston_watkins"])
    first, second = fig.axes[0].lines[0], fig.axes[0].lines[2]  # each line then its y = 0
    assert first.get_linestyle() == "-" and second.get_linestyle() == "--"
    assert "the line above" in fig.axes[0].get_legend().texts[1].get_text()
    plt.close(fig)
