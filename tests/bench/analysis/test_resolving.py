"""What tuning could see: standard errors in clean-accuracy points, blind searches, and the
screen's rank correlation with full training."""

import math
import warnings

import pandas as pd
import pytest
import torch

from bench import schema
from bench.analysis import resolving
from bench.datasets import Dataset


def test_the_symmetric_slope_is_the_issues_numbers():
    assert resolving.sym_slope(0.4, 10) == pytest.approx(0.5556, abs=1e-4)
    assert resolving.sym_slope(0.8, 10) == pytest.approx(0.1111, abs=1e-4)


def overlapping(n=6000, classes=4, seed=0):
    """Four Gaussian classes in 5 dimensions that a linear classifier gets ~75% right."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, 5, generator=g) * 1.2
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, 5, generator=g)
    return Dataset(
        train_x=x,
        train_y=y,
        test_x=x[:10],
        test_y=y[:10],
        classes=tuple("abcd"[:classes]),
        pairs=((0, 1),),
        spec="overlapping",
    )


def test_the_empirical_slope_finds_the_closed_form_under_symmetric_noise():
    data = overlapping()
    # sym: 1 − 0.6·4/3 = 0.2; the estimate mixes a ridge classifier with a perfect one
    assert resolving.empirical_slope(data, "sym:0.6") == pytest.approx(0.2, abs=0.06)
    assert resolving.noise_slope(data, "sym:0.6") == (pytest.approx(0.2), "exact")
    assert resolving.noise_slope(data, "sym:0.6", "trusted:100") == (1.0, "exact")
    # pairs flips classes 0 and 1 only: their errors count half, so the slope lies in (0, 1)
    slope, source = resolving.noise_slope(data, "pairs:0.4")
    assert source == "empirical" and 0.5 < slope < 1


def trials(level, scores_screen, scores_final, entry="gce", validation="noisy"):
    """tuning.csv rows of one search: screen trials at 3 epochs, the first len(final) of them
    again at 30."""
    rows = []
    for i, score in enumerate(scores_screen):
        rows.append((3, i, score))
    for i, score in enumerate(scores_final):
        rows.append((30, i, score))
    return pd.DataFrame(
        [
            {
                "dataset": "d",
                "model": "linear",
                "validation": validation,
                "noise": level,
                "entry": entry,
                "loss": f"gce:q={i}",
                "lr": 0.1,
                "epochs": epochs,
                "status": "ok",
                "metric": "accuracy",
                "val_score": score,
            }
            for epochs, i, score in rows
        ]
    )


def test_each_search_gets_its_standard_error_in_clean_points_and_its_blind_flag():
    flat = [0.180, 0.179, 0.1788, 0.1785, 0.178, 0.15]  # five best within 0.002
    steep = [0.85, 0.84, 0.83, 0.82, 0.81, 0.70]
    tuning = pd.concat(
        [
            trials("sym:0.8", flat, [0.179, 0.180, 0.1788]),
            trials("none", steep, [0.85, 0.845, 0.83]),
        ]
    )
    slopes = {("d", "noisy", "sym:0.8"): (1 / 9, "exact"), ("d", "noisy", "none"): (1.0, "exact")}
    sizes = {("d", "noisy", "sym:0.8"): 10_000, ("d", "noisy", "none"): 10_000}
    frame = resolving.frame(tuning, slopes, sizes)
    assert list(frame.columns) == list(schema.RESOLVING)
    frame = frame.set_index("noise")
    noisy, clean = frame.loc["sym:0.8"], frame.loc["none"]
    se = math.sqrt(0.18 * 0.82 / 10_000)  # 0.00384
    assert noisy["loss"] == "gce:q=1" and noisy["val_score"] == 0.18
    assert noisy["se"] == pytest.approx(se)
    assert noisy["se_clean"] == pytest.approx(9 * se)  # 3.5 clean points per standard error
    assert noisy["resolvable"] == pytest.approx(1.96 * math.sqrt(2) * 9 * se)
    assert noisy["final_spread"] == pytest.approx(0.0012)
    assert noisy["top5_spread"] == pytest.approx(0.002)
    assert bool(noisy["blind"])  # 0.52 standard errors, each worth 3.5 points
    assert clean["top5_spread_se"] == pytest.approx(0.04 / math.sqrt(0.85 * 0.15 / 10_000))
    assert not bool(clean["blind"])
    levels = resolving.by_level(frame.reset_index()).set_index("noise")
    assert levels.loc["sym:0.8", "blind"] == 1 and levels.loc["none", "blind"] == 0


def test_a_flat_top_is_not_blind_where_a_standard_error_is_below_the_margin():
    flat = [0.850, 0.8499, 0.8498, 0.8497, 0.8496]  # five rates on a plateau, clean labels
    frame = resolving.frame(
        trials("none", flat, flat[:3]),
        {("d", "noisy", "none"): (1.0, "exact")},
        {("d", "noisy", "none"): 10_000},
    )
    assert frame["top5_spread_se"].iloc[0] < 1 and not frame["blind"].iloc[0]


def test_a_perfect_score_gets_half_an_examples_standard_error():
    frame = resolving.frame(
        trials("none", [1.0] * 5, [1.0] * 3),
        {("d", "noisy", "none"): (1.0, "exact")},
        {("d", "noisy", "none"): 50},
    )
    edge = 1 / 100
    assert frame["se"].iloc[0] == pytest.approx(math.sqrt(edge * (1 - edge) / 50))


def test_the_screen_rank_correlation_per_level():
    agree = pd.concat(
        [trials("none", [0.9, 0.8, 0.7, 0.1], [0.95, 0.85, 0.75], entry=e) for e in ("a", "b")]
    )
    disagree = pd.concat(
        [trials("sym:0.8", [0.9, 0.8, 0.7, 0.1], [0.75, 0.85, 0.95], entry=e) for e in ("a", "b")]
    )
    ranks = resolving.screen_ranks(pd.concat([agree, disagree]))
    assert list(ranks.columns) == list(schema.SCREENING)
    ranks = ranks.set_index("noise")
    assert ranks.loc["none", "rho_within"] == pytest.approx(1.0)
    assert ranks.loc["none", "screen_best_won"] == 1.0
    assert ranks.loc["sym:0.8", "rho_within"] == pytest.approx(-1.0)
    assert ranks.loc["sym:0.8", "screen_best_won"] == 0.0
    assert ranks.loc["none", "candidates"] == 6 and ranks.loc["none", "losses"] == 2
    assert (ranks["screen_epochs"] == 3).all() and (ranks["full_epochs"] == 30).all()


def test_a_search_without_a_screen_has_no_rank_correlation():
    tuning = trials("none", [], [0.9, 0.8, 0.7])
    assert resolving.screen_ranks(tuning).empty


def test_a_constant_screen_or_final_has_no_rank_correlation_and_no_warning():
    """Every finalist at chance on its noisy split (sym:0.8 on the MLP): no rank to correlate."""
    flat = trials("sym:0.8", [0.1, 0.1, 0.1, 0.1], [0.1, 0.1], entry="a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ranks = resolving.screen_ranks(flat)
    assert math.isnan(ranks["rho_pooled"].iloc[0]) and ranks["candidates"].iloc[0] == 2
