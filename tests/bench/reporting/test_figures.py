"""The small multiples of figures.family_rows: a row per family, no axis over its lines."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bench.reporting import families, figures  # noqa: E402


def _noise_frame(losses):
    return pd.DataFrame(
        [
            {"loss": loss, "rate": rate, "test_acc": 0.8 - rate / (i + 2)}
            for i, loss in enumerate(losses)
            for rate in (0.0, 0.4, 0.8)
        ]
    )


def test_a_family_of_more_losses_than_lines_is_split_over_numbered_rows():
    robust = ["gce", "sce", "nce+rce", "agce", "aul", "ael", "js", "taylor", "rce", "nce"]
    frame = _noise_frame(["ce", *robust])
    fig, axes = figures.family_rows(
        frame, [("test_acc", {"title": "accuracy"})], x="rate", hue="loss", lines=4
    )
    try:
        labels = [ax.get_ylabel().split("\n")[0] for ax in axes[:, 0]]
        assert labels == [
            "textbook",
            "noise-robust (1/3)",
            "noise-robust (2/3)",
            "noise-robust (3/3)",
        ]
        drawn = [len(ax.get_lines()) for ax in axes[:, 0]]
        legends = [len(ax.get_legend().get_texts()) for ax in axes[:, 0]]
        assert legends == [1, 3, 4, 3]  # near-equal rows, none over 4 lines
        assert all(n >= k for n, k in zip(drawn, legends, strict=True))
    finally:
        plt.close(fig)


def test_chunks_keep_every_row_and_split_by_the_hue_not_the_loss():
    frame = pd.DataFrame(
        {
            "loss": ["gce"] * 3 + ["sce"] * 3,
            "run": ["gce a", "gce b", "gce c", "sce a", "sce b", "sce c"],
        }
    )
    chunked = families.chunks(frame, by="run", size=4)
    assert [name for name, _ in chunked] == ["noise-robust (1/2)", "noise-robust (2/2)"]
    assert [len(chunk) for _, chunk in chunked] == [3, 3]
    assert pd.concat([c for _, c in chunked]).sort_index().equals(frame)


def test_the_dots_interval_is_students_t_over_the_seeds():
    values = [0.80, 0.82, 0.84]
    low, high = figures.t_interval(values)
    half = 4.302652729911275 * 0.02 / 3**0.5  # t_{0.975, 2} · sd / √n, from a t table
    assert (low, high) == pytest.approx((0.82 - half, 0.82 + half))
    assert figures.t_interval([0.8]) == (0.8, 0.8)  # one seed: a dot without a line


def test_an_accuracy_s_interval_stays_within_0_and_1():
    values = [0.97, 0.99, 1.0]  # mean 0.9867, t half-width 0.038: past 1 uncut
    assert figures.t_interval(values)[1] > 1
    low, high = figures.t_interval(values, within=(0.0, 1.0))
    assert high == 1.0 and low == pytest.approx(figures.t_interval(values)[0])
