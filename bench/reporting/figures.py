"""Saving the report's figures: one theme, one resolution, names unique per workload."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

DPI = 110


def theme() -> None:
    """The look of every figure of a report."""
    sns.set_theme(style="whitegrid", context="notebook")


def save(fig, workload, name: str) -> str:
    """Save ``fig`` as ``name`` in the workload's folder (prefixed by its slug when a folder
    holds several workloads) and close it; return the file name to link."""
    name = workload.prefix + name
    fig.savefig(workload.out / name, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return name


def image(alt: str, fig, workload, name: str) -> str:
    """Markdown that embeds ``fig``, saved by :func:`save`."""
    return f"![{alt}]({save(fig, workload, name)})"


def epoch_axes(fig, axes) -> None:
    """Whole epochs on the x axes, and room between panels for the right one's y label."""
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.subplots_adjust(wspace=0.3)
