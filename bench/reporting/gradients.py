"""The losses themselves: each loss, its likelihood and its gradient, drawn by the code that
trains."""

from __future__ import annotations

from bench.reporting import figures


def section(target) -> str:
    """The figure, saved where ``target`` (a workload, or anything with ``out`` and ``prefix``)
    says; a figure that cannot be drawn is named missing, with the reason."""
    try:
        from losses import plots

        fig = plots.plot_grid()
    except Exception as error:  # noqa: BLE001 — the figure is optional; say why it is missing
        return f"## The losses\n\nThe loss / likelihood / gradient figure is missing: {error}."
    return (
        "## The losses, their likelihoods and gradients\n\n"
        "Each loss as a function of the score margin o_y − o_i (classification losses) or of "
        "the prediction (regression losses), its likelihood exp(−l) and the gradient the "
        "trainer sees, computed by the same code that trains.\n\n"
        + figures.image("gradients", fig, target, "gradients.png")
    )
