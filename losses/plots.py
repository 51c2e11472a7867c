"""The D2L-lecture figure of each loss: the loss, its likelihood exp(−l) and its gradient.

Every curve comes from the loss object itself (``value_and_grad``), never from a second copy of
a formula. One construction serves every loss: K = 2 scores o = [s, 0] with class 0 as the true
class y, sweeping s. What the x-axis shows depends on the loss:

- classification losses (ce, soft_label, margin): the score margin o_y − o_i = s;
- regression losses on probabilities: the predicted probability of the true class, p_y = σ(s);
- regression losses on raw scores: the prediction o_y = s (its target is 1).

The gradient panel shows ∂l/∂o_y, the gradient the trainer sees: it makes visible where a loss
stops teaching (L1 and L2 on probabilities where p_y ≈ 0, Huber's clip, the hinge's flat side).

    python -m losses.plots --out reports/gradients.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

import losses
from losses.base import Loss
from losses.regression import ResidualLoss

DEFAULT_LOSSES = ("ce", "soft_label", "margin", "margin:kind=weston_watkins", "l2", "l1",
                  "huber", "l2:on=scores")  # fmt: skip
COLUMNS = ("loss", "likelihood exp(−l)", "gradient ∂l/∂o_y")


def axis(loss: Loss) -> tuple[str, float, float]:
    """(x-axis label, low, high) of the sweep for this kind of loss."""
    if isinstance(loss, ResidualLoss):
        if loss.on == "probs":
            return "p_y (softmax probability of the true class)", -8.0, 8.0
        return "prediction o_y (target 1)", -2.0, 3.0
    return "score margin o_y − o_i", -4.0, 4.0


def curves(loss: Loss, points: int = 401) -> pd.DataFrame:
    """Tidy curves of one loss: columns x, loss, likelihood, grad (and the sweep's score s).

    Shape: ``points`` rows; ``frame.attrs["xlabel"]`` names the x-axis.
    """
    xlabel, low, high = axis(loss)
    sweep = torch.linspace(low, high, points, dtype=torch.float64)
    scores = torch.stack([sweep, torch.zeros_like(sweep)], dim=1)
    labels = torch.zeros(points, dtype=torch.int64)
    value, grad = loss.value_and_grad(scores, labels)
    if isinstance(loss, ResidualLoss) and loss.on == "probs":
        x = torch.softmax(scores, dim=1)[:, 0]
    else:
        x = sweep
    frame = pd.DataFrame({"s": sweep.numpy(), "x": x.numpy(), "loss": value.numpy(),
                          "likelihood": torch.exp(-value).numpy(), "grad": grad[:, 0].numpy()})
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
    frame = curves(loss)
    for ax, column, title in zip(axes, ("loss", "likelihood", "grad"), COLUMNS, strict=True):
        ax.plot(frame["x"], frame[column], lw=1.8)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel(frame.attrs["xlabel"], fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0].set_title(f"{loss}: loss", fontsize=9, fontweight="bold")
    return fig


def plot_grid(specs=DEFAULT_LOSSES):
    """One figure, a row per loss (its spec string), columns loss / likelihood / gradient."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(specs), 3, figsize=(12, 2.3 * len(specs)), squeeze=False)
    for row, spec in zip(axes, specs, strict=True):
        plot_loss(losses.parse(spec), axes=row)
    fig.suptitle("Each loss, its likelihood exp(−l) and the gradient the trainer sees "
                 "(K = 2, true class y = 0)", y=1.0)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(prog="python -m losses.plots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/gradients.png"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig = plot_grid()
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
