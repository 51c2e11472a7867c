"""The losses themselves: each loss, its likelihood and its gradient, drawn by the code that
trains."""

from __future__ import annotations

from bench.reporting import figures


def section(target) -> str:
    """The figure, saved where ``target`` (a workload, or anything with ``out`` and ``prefix``)
    says; a figure that cannot be drawn is named missing, with the reason."""
    try:
        from losses import plots

        textbook, everything = plots.plot_textbook(), plots.plot_grid()
    except Exception as error:  # noqa: BLE001 — the figure is optional; say why it is missing
        return f"## The losses\n\nThe loss / likelihood / gradient figure is missing: {error}."
    return (
        "## The losses, their likelihoods and gradients\n\n"
        "The textbook's losses first, as the textbook draws them: L2, L1 and Huber on the raw "
        "scores and on the softmax probabilities, cross-entropy, soft labels and the two "
        "multiclass margins. Each loss as a function of the prediction (regression), of p_y "
        "(losses of probabilities) or of the score margin o_y − o_i, its likelihood exp(−l) and "
        "the gradient the trainer sees, computed by the same code that trains.\n\n"
        + figures.image("textbook gradients", textbook, target, "gradients_textbook.png")
        + "\n\nEvery loss of the zoo, by family:\n\n"
        + figures.image("gradients", everything, target, "gradients.png")
    )
