"""Figures of any loss: the loss, its likelihood exp(−l) and its gradient; and w(p_y) of the
losses of p_y alone.

Every curve comes from the loss object itself (``value_and_grad``), never from a second copy of
a formula. One construction serves every loss: K = 2 scores o = [s, 0] with class 0 as the true
class y, sweeping s. The x-axis follows what the loss declares, never its name:

- family "square" (regression on raw scores): the prediction o_y = s (its target is 1);
- applied to "probs" (losses of softmax probabilities): p_y = σ(s);
- otherwise (log-softmax, margins, users' losses): the score margin o_y − o_i = s.

The gradient panel shows ∂l/∂o_y, the gradient the trainer sees: it makes visible where a loss
stops teaching (L1 and L2 on probabilities where p_y ≈ 0, Huber's clip, the hinge's flat side).
Nothing in the loss protocol imports this module.

    python -m losses.plots --out reports/gradients.png [--weights-out reports/weights.png]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd
import torch

import losses
from losses.base import FAMILIES, REGISTRY, Loss
from losses.true_class import TrueClassLoss

EXTRA_SPECS = ("margin:kind=weston_watkins", "1*nce+1*rce", "1*nce+1*l1")  # APL sums
# The textbook's six classification losses (Dive into Deep Learning, chapters 3-4): L2, L1 and
# Huber (on probabilities, and on raw scores as regression), cross-entropy, soft labels, and the
# two multiclass margins. ``plot_textbook`` draws them first, one row per x-axis.
TEXTBOOK_SPECS = (
    "l2:on=scores",
    "l1:on=scores",
    "huber:on=scores",
    "l2:on=probs",
    "l1:on=probs",
    "huber:on=probs",
    "ce",
    "soft_label",
    "margin:kind=crammer_singer",
    "margin:kind=weston_watkins",
)
WEIGHT_REFERENCES = ("ce", "l1")  # w = 1 and MAE's w = 2·p_y, beside the family
COLUMNS = ("loss", "likelihood exp(−l)", "gradient ∂l/∂o_y")
AXES = {
    "prediction": ("prediction o_y (target 1)", -2.0, 3.0),
    "probability": ("p_y (softmax probability of the true class)", -8.0, 8.0),
    "margin": ("score margin o_y − o_i", -4.0, 4.0),
}


def default_specs() -> list[str]:
    """Every registered loss with its default parameters, its ``on=scores`` variant where it
    has an ``on`` field, Weston–Watkins beside Crammer–Singer, and the APL sums."""
    specs = []
    for name in losses.names():
        specs.append(str(losses.get(name)))
        if "on" in {field.name for field in dataclasses.fields(REGISTRY[name])}:
            specs.append(str(losses.get(name, on="scores")))
    return specs + [str(losses.parse(spec)) for spec in EXTRA_SPECS]


def axis_kind(loss: Loss) -> str:
    """ "prediction", "probability" or "margin": the sweep's x-axis, from the declarations."""
    if loss.family == "square":
        return "prediction"
    if loss.applied_to == "probs":
        return "probability"
    return "margin"


def axis(loss: Loss) -> tuple[str, float, float]:
    """(x-axis label, low, high) of the sweep of s for this loss."""
    return AXES[axis_kind(loss)]


def curves(loss: Loss, points: int = 401) -> pd.DataFrame:
    """Tidy curves of one loss: columns s (the sweep), x, loss, likelihood, grad.

    Shape: ``points`` rows; ``frame.attrs["xlabel"]`` names the x-axis.
    """
    xlabel, low, high = axis(loss)
    sweep = torch.linspace(low, high, points, dtype=torch.float64)
    scores = torch.stack([sweep, torch.zeros_like(sweep)], dim=1)
    labels = torch.zeros(points, dtype=torch.int64)
    value, grad = loss.value_and_grad(scores, labels)
    x = torch.softmax(scores, dim=1)[:, 0] if axis_kind(loss) == "probability" else sweep
    frame = pd.DataFrame(
        {
            "s": sweep.numpy(),
            "x": x.numpy(),
            "loss": value.numpy(),
            "likelihood": torch.exp(-value).numpy(),
            "grad": grad[:, 0].numpy(),
        }
    )
    frame.attrs["xlabel"] = xlabel
    return frame


def plot_loss(loss: Loss, axes=None):
    """Three panels in a row for one loss: loss, likelihood exp(−l), gradient ∂l/∂o_y.

    ``axes``: three matplotlib axes to draw into; new ones when None. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    else:
        fig = axes[0].figure
    _draw(loss, axes, label=None)
    axes[0].set_title(f"{loss}: loss", fontsize=9, fontweight="bold")
    return fig


def plot_grid(specs=None):
    """One figure of every loss (``default_specs()`` when None): a row per family and x-axis,
    a line per loss, columns loss / likelihood / gradient."""
    parsed = [losses.parse(spec) for spec in (default_specs() if specs is None else specs)]
    order = {family: i for i, family in enumerate(FAMILIES)}
    groups: dict[tuple[str, str], list[Loss]] = {}
    for loss in sorted(parsed, key=lambda item: order.get(item.family or "user", len(order))):
        groups.setdefault((loss.family or "user", axis_kind(loss)), []).append(loss)
    return _rows(
        {f"{family}: loss": members for (family, _), members in groups.items()},
        "Each loss, its likelihood exp(−l) and the gradient the trainer sees "
        "(K = 2, true class y = 0), by family",
    )


ROW_TITLES = {
    "prediction": "regression on the raw scores: loss",
    "probability": "on softmax probabilities: loss",
    "margin": "on the score margin: loss",
}


def plot_textbook(specs=TEXTBOOK_SPECS):
    """The textbook's losses (``TEXTBOOK_SPECS``) as the textbook draws them: loss, likelihood
    exp(−l) and gradient side by side, one row per x-axis (raw-score regression, probabilities,
    the score margin)."""
    groups: dict[str, list[Loss]] = {kind: [] for kind in ROW_TITLES}
    for spec in specs:
        loss = losses.parse(spec)
        groups[axis_kind(loss)].append(loss)
    return _rows(
        {ROW_TITLES[kind]: members for kind, members in groups.items() if members},
        "The textbook's losses, their likelihoods exp(−l) and the gradient the trainer sees "
        "(K = 2, true class y = 0)",
    )


def _rows(groups: dict[str, list[Loss]], title: str):
    """A figure of one row per group (title -> losses), columns loss / likelihood / gradient."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(groups), 3, figsize=(13, 2.6 * len(groups)), squeeze=False)
    for row, (name, members) in zip(axes, groups.items(), strict=True):
        drawn: list[tuple[str, pd.DataFrame]] = []
        for loss in members:
            frame = curves(loss)
            twin = next((spec for spec, other in drawn if _same(frame, other)), None)
            # at K = 2 some losses coincide (Weston–Watkins is Crammer–Singer): dashed, and said
            label = str(loss) if twin is None else f"{loss} (= the line above at K = 2)"
            _draw(loss, row, label=label, frame=frame, style="-" if twin is None else "--")
            drawn.append((str(loss), frame))
        _robust_ylim(row[2])
        row[0].set_title(name, fontsize=9, fontweight="bold")
        row[0].legend(fontsize=6.5, loc="best", framealpha=0.8)
    fig.suptitle(title, y=1.0)
    fig.tight_layout()
    return fig


def weights(loss: Loss, points: int = 199) -> pd.DataFrame:
    """w(p_y) of a loss of p_y alone, read from its gradient: ∂l/∂o_y = −w·(1 − p_y).

    Shape: ``points`` rows, columns p_y and w, p_y from σ(−6) to σ(6).
    """
    sweep = torch.linspace(-6.0, 6.0, points, dtype=torch.float64)
    scores = torch.stack([sweep, torch.zeros_like(sweep)], dim=1)
    grad = loss.grad(scores, torch.zeros(points, dtype=torch.int64))
    p_y = torch.softmax(scores, dim=1)[:, 0]
    return pd.DataFrame({"p_y": p_y.numpy(), "w": (-grad[:, 0] / (1 - p_y)).numpy()})


def weight_specs() -> list[str]:
    """The registered losses of p_y alone (``TrueClassLoss``), then ce and l1 for reference."""
    family = [name for name in losses.names() if issubclass(REGISTRY[name], TrueClassLoss)]
    return [str(losses.get(name)) for name in family + list(WEIGHT_REFERENCES)]


def plot_weights(specs=None):
    """w(p_y) of every loss of p_y alone (``weight_specs()`` when None): each is cross-entropy's
    gradient p − e_y scaled by w, so this one curve tells how each loss treats easy (p_y → 1)
    and hard or mislabelled (p_y → 0) examples."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for spec in weight_specs() if specs is None else specs:
        frame = weights(losses.parse(spec))
        style = "--" if spec.split(":")[0] in WEIGHT_REFERENCES else "-"
        ax.plot(frame["p_y"], frame["w"], style, lw=1.6, label=spec)
    ax.set_xlabel("p_y (softmax probability of the true class)")
    ax.set_ylabel("w(p_y):  ∇ₒl = w·(p − e_y)")
    ax.set_title("Losses of p_y alone are cross-entropy reweighted per example", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _robust_ylim(ax, share: float = 0.01) -> None:
    """Limit an axis to its lines' central 98% (padded): a gradient that spikes at one point
    (``logitnorm`` at o = 0, where its normalised scores are undefined) would flatten the rest."""
    import numpy as np

    values = np.concatenate(
        [
            np.asarray(line.get_ydata(), dtype=float)
            for line in ax.lines
            if len(line.get_ydata()) > 2
        ]
    )
    values = values[np.isfinite(values)]
    if values.size:
        low, high = np.quantile(values, [share, 1 - share])
        pad = 0.08 * (high - low or 1.0)
        ax.set_ylim(min(low, 0) - pad, max(high, 0) + pad)


def _same(frame: pd.DataFrame, other: pd.DataFrame) -> bool:
    """Whether two losses' curves coincide (same x-axis, loss and gradient)."""
    import numpy as np

    return all(
        np.allclose(frame[column], other[column], equal_nan=True)
        for column in ("x", "loss", "grad")
    )


def _draw(loss: Loss, axes, label, frame: pd.DataFrame | None = None, style: str = "-") -> None:
    frame = curves(loss) if frame is None else frame
    for ax, column, title in zip(axes, ("loss", "likelihood", "grad"), COLUMNS, strict=True):
        ax.plot(frame["x"], frame[column], style, lw=1.6, label=label)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel(frame.attrs["xlabel"], fontsize=8)
        ax.set_title(title, fontsize=9)


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(
        prog="python -m losses.plots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("reports/gradients.png"))
    parser.add_argument(
        "--weights-out", type=Path, default=None, help="also write the w(p_y) figure there"
    )
    args = parser.parse_args(argv)
    for path, make in ((args.out, plot_grid), (args.weights_out, plot_weights)):
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        make().savefig(path, dpi=110, bbox_inches="tight")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
