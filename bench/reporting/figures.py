"""Saving the report's figures: one theme, one resolution, names unique per workload."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bench.analysis import stats  # noqa: E402
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


def family_rows(
    frame,
    panels,
    *,
    x: str = "epoch",
    hue: str = "run",
    style: str | None = None,
    width: float = 5.5,
    height: float = 2.5,
    lines: int = 8,
    **line,
):
    """Small multiples: one row of axes per loss family (bench.suite.FAMILY_ORDER), a family of
    more than ``lines`` ``hue`` values over several numbered rows so that no axis holds more
    lines, and one column per panel, a legend per row outside the right panel. Each column's
    title is on its top row, each row's family on its left axis.

    ``frame`` is tidy, with ``loss``, ``hue`` and ``x`` columns; ``panels`` is a list of (y column,
    axes settings for ``ax.set``); a setting ``share=True`` gives that column one y range over
    every row (panels that compare), ``share="data"`` the same range fitted to the data with a
    margin and 0 at the bottom. Columns without a value are dropped. Returns (fig, axes) with
    axes of shape (families, panels).
    """
    panels = [(y, settings) for y, settings in panels if frame[y].notna().any()]
    rows = families.chunks(frame, by=hue, size=lines)
    palette = families.palette(frame[hue])
    fig, axes = plt.subplots(
        max(len(rows), 1),
        max(len(panels), 1),
        squeeze=False,
        figsize=(width * len(panels), height * max(len(rows), 1)),
    )
    for r, (row, (name, group)) in enumerate(zip(axes, rows, strict=False)):
        for i, (ax, (y, settings)) in enumerate(zip(row, panels, strict=True)):
            last = i == len(panels) - 1
            # columns measured at some epochs only (loop.TRAIN_METRICS) join their points
            drawn = group.dropna(subset=[y])
            if drawn.empty:  # a family without this measure: nothing to draw here
                ax.set_visible(False)
                continue
            sns.lineplot(
                drawn,
                x=x,
                y=y,
                hue=hue,
                palette=palette,
                style=style,
                ax=ax,
                legend=last,
                **line,
            )
            settings = {k: v for k, v in settings.items() if k not in ("title", "share")}
            if settings.get("yscale") == "log" and not (group[y] > 0).any():
                settings.pop("yscale")  # a family whose values are all 0 (margins met)
            if i == 0:
                settings["ylabel"] = f"{name}\n{settings.get('ylabel', y)}"
            ax.set(**settings)
            ax.set_title(dict(panels[i][1]).get("title", "") if r == 0 else "", fontsize=9)
            ax.tick_params(which="both", labelsize=7)
            ax.xaxis.label.set_size(8)
            ax.yaxis.label.set_size(8)
            if last and ax.get_legend() is not None:
                ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7, frameon=False)
    for i, (y, settings) in enumerate(panels):
        share = settings.get("share")
        if share == "data":
            top = frame[y].max()
            for ax in axes[:, i]:
                ax.set_ylim(0, top * 1.1 if top > 0 else 1)
        elif share:
            low = min(ax.get_ylim()[0] for ax in axes[:, i])
            high = max(ax.get_ylim()[1] for ax in axes[:, i])
            for ax in axes[:, i]:
                positive = [a.get_ylim()[0] for a in axes[:, i] if a.get_ylim()[0] > 0]
                log = ax.get_yscale() == "log"
                ax.set_ylim(min(positive, default=high / 1e3) if log else low, high)
    fig.tight_layout()
    return fig, axes


def _by_family_and_device(frame, y: str, order):
    """``frame`` with each loss's family, and with ``y`` and ``order`` naming each run's device
    too where several devices ran (one mark per run and device)."""
    frame = frame.assign(family=frame["loss"].map(families.family))
    if frame["device"].nunique() > 1:
        frame = frame.assign(**{y: frame[y] + " · " + frame["device"]})
        present = set(frame[y])
        order = [
            f"{run} · {device}"
            for run in order
            for device in sorted(set(frame["device"]))
            if f"{run} · {device}" in present
        ]
    return frame, order


def t_interval(values, within: tuple[float, float] | None = None) -> tuple[float, float]:
    """The two-sided 95% Student-t interval of the mean of ``values`` (seaborn's ``errorbar``
    callable): deterministic, unlike seaborn's bootstrap ``("ci", 95)``; no line with one.
    ``within`` (low, high) cuts it to the range the mean can take (an accuracy's [0, 1]: with
    3 seeds a t interval around 0.99 reaches past 1)."""
    mean, _, half = stats.mean_ci(values)
    half = 0.0 if half != half else half
    low, high = mean - half, mean + half
    if within is not None:
        low, high = max(low, within[0]), min(high, within[1])
    return low, high


def dots(frame, *, y: str, x: str, order, xlabel: str = "", title: str = "", within=None):
    """A dot per run of ``order`` (already grouped by family) at its mean over seeds, with its
    95% confidence interval (Student's t over the seeds, cut to ``within``) as a line, coloured
    by family: for accuracies, whose differences a bar from 0 would hide and a bar from
    elsewhere would exaggerate."""
    frame, order = _by_family_and_device(frame, y, order)
    _, ax = plt.subplots(figsize=(9, 1.0 + 0.28 * max(len(order), 1)))
    sns.pointplot(
        frame,
        y=y,
        x=x,
        order=order,
        errorbar=lambda values: t_interval(values, within),
        linestyle="none",
        markersize=4,
        err_kws={"linewidth": 1.5},
        ax=ax,
        **_family_hue(frame),
    )
    ax.grid(axis="y", visible=False)
    return _by_family_axes(ax, xlabel, title)


def bars(frame, *, y: str, x: str, order, ax=None, xlabel: str = "", title: str = "", **bar):
    """Horizontal bars, one per run of ``order`` (already grouped by family), coloured by
    family, the legend outside the axes; the height grows with the number of runs."""
    frame, order = _by_family_and_device(frame, y, order)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.0 + 0.28 * max(len(order), 1)))
    sns.barplot(
        frame,
        y=y,
        x=x,
        order=order,
        dodge=False,
        ax=ax,
        **_family_hue(frame),
        **bar,
    )
    return _by_family_axes(ax, xlabel, title)


def _family_hue(frame) -> dict:
    """seaborn's colour keywords for a frame of :func:`_by_family_and_device`: by family, in
    FAMILY_ORDER, each family its colour."""
    return {
        "hue": "family",
        "hue_order": sorted(set(frame["family"]), key=families.rank),
        "palette": families.family_palette(frame["family"]),
    }


def _by_family_axes(ax, xlabel: str, title: str):
    """The labels, the small run names and the family legend outside the axes of :func:`dots`
    and :func:`bars`; returns the figure."""
    ax.set(xlabel=xlabel, ylabel="", title=title)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=7,
        title="family",
        title_fontsize=8,
        frameon=False,
    )
    return ax.figure
