"""Saving the report's figures: one theme, one resolution, names unique per workload."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bench.reporting import families  # noqa: E402

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


def family_rows(frame, panels, *, x: str = "epoch", hue: str = "run", style: str | None = None,
                width: float = 5.5, height: float = 2.5, **line):
    """Line plots with one row of axes per loss family (bench.suite.FAMILY_ORDER) and one column
    per panel, a legend per row outside the right panel.

    ``frame`` is tidy, with ``loss``, ``hue`` and ``x`` columns; ``panels`` is a list of (y column,
    axes settings for ``ax.set``). Returns (fig, axes) with axes of shape (families, panels).
    """
    rows = families.groups(frame)
    palette = families.palette(frame[hue])
    fig, axes = plt.subplots(max(len(rows), 1), len(panels), squeeze=False,
                             figsize=(width * len(panels), height * max(len(rows), 1)))
    for row, (name, group) in zip(axes, rows, strict=False):
        for i, (ax, (y, settings)) in enumerate(zip(row, panels, strict=True)):
            last = i == len(panels) - 1
            # columns measured at some epochs only (loop.TRAIN_METRICS) join their points
            sns.lineplot(group.dropna(subset=[y]), x=x, y=y, hue=hue, palette=palette,
                         style=style, ax=ax, legend=last, **line)  # fmt: skip
            settings = dict(settings)
            title = settings.pop("title", "")
            if settings.get("yscale") == "log" and not (group[y] > 0).any():
                settings.pop("yscale")  # a family whose values are all 0 (margins met)
            ax.set(**settings)
            ax.set_title(f"{name} · {title}" if title else name, fontsize=9)
            ax.tick_params(which="both", labelsize=7)
            ax.xaxis.label.set_size(8)
            ax.yaxis.label.set_size(8)
            if last and ax.get_legend() is not None:
                ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig, axes


def bars(frame, *, y: str, x: str, order, ax=None, xlabel: str = "", title: str = "", **bar):
    """Horizontal bars, one per run of ``order`` (already grouped by family), coloured by
    family, the legend outside the axes; the height grows with the number of runs."""
    frame = frame.assign(family=frame["loss"].map(families.family))
    if frame["device"].nunique() > 1:  # one bar per run and device
        frame = frame.assign(**{y: frame[y] + " · " + frame["device"]})
        present = set(frame[y])
        order = [f"{run} · {device}" for run in order for device in sorted(set(frame["device"]))
                 if f"{run} · {device}" in present]  # fmt: skip
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.0 + 0.28 * max(len(order), 1)))
    sns.barplot(frame, y=y, x=x, hue="family", order=order, dodge=False, ax=ax,
                hue_order=sorted(set(frame["family"]), key=families.rank),
                palette=families.family_palette(frame["family"]), **bar)  # fmt: skip
    ax.set(xlabel=xlabel, ylabel="", title=title)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, title="family",
              title_fontsize=8, frameon=False)  # fmt: skip
    return ax.figure
