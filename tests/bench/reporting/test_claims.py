"""The reading's claims, the Holm-corrected paired comparisons, family order and the noise
figure's data, on small hand-made frames (no training)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench.analysis import tables
from bench.reporting import claims, families, noise, paired
from bench.reporting.markdown import labelled

SEEDS = (0, 1, 2, 3, 4)


def final_rows(spec: dict, noise_level="none"):
    """Final rows, one per (loss, seed): ``spec`` maps a loss to its per-seed test accuracies
    (or a dict of columns, each a per-seed list or one value)."""
    rows = []
    for loss, values in spec.items():
        columns = values if isinstance(values, dict) else {"test_acc": values}
        for i, seed in enumerate(SEEDS):
            row = {"trainer": "lossbench", "dataset": "fashion_mnist", "model": "linear",
                   "loss": loss, "device": "cpu", "seed": seed, "noise": noise_level,
                   "status": "ok", "epoch": 3, "lr": 0.3, "train_loss": 0.4, "train_acc": 0.9,
                   "memorised": np.nan, "active_frac": 0.9}  # fmt: skip
            for name, value in columns.items():
                row[name] = value[i] if isinstance(value, list | tuple) else value
            rows.append(row)
    return pd.DataFrame(rows)


def around(mean, spread=0.001):
    return [mean + spread * d for d in (-2, -1, 0, 1, 2)]


# -- paired comparisons -------------------------------------------------------------------------


def holm_case():
    """ce best; 'l2:on=probs' far below (tiny p); 'focal:gamma=2' a little below with raw
    p < 0.05 that Holm lifts over 0.05; 'gce:q=0.7' at ce's level."""
    ce = [0.80, 0.81, 0.82, 0.83, 0.84]
    return final_rows({
        "ce": ce,
        "l2:on=probs": [a - 0.05 + 0.0001 * i for i, a in enumerate(ce)],
        "focal:gamma=2": np.subtract(ce, (0.002, 0.010, 0.001, 0.006, 0.004)).tolist(),
        "gce:q=0.7": np.add(ce, (0.003, -0.004, 0.002, -0.002, 0.001)).tolist(),
    })  # fmt: skip


def test_paired_comparisons_are_decided_by_the_holm_adjusted_p():
    table = paired.compare(holm_case(), reference="ce").set_index("loss")
    assert {"p", "p_holm", "beyond"} <= set(table.columns)
    focal = table.loc["focal:gamma=2"]
    assert focal["p"] < 0.05 and focal["clear"]  # uncorrected, it would look beyond the spread
    assert focal["p_holm"] >= 0.05 and focal["beyond"] is False
    assert table.loc["l2:on=probs", "beyond"] is True
    assert table.loc["gce:q=0.7", "beyond"] is False
    assert focal["p_holm"] == pytest.approx(min(1, 2 * focal["p"]))  # second smallest of three


def test_paired_section_shows_holm_p_and_groups_by_family():
    final = holm_case()
    w = SimpleNamespace(final=final, accuracy=labelled(tables.accuracy(final)))
    text = paired.section(w)
    assert "Holm-adjusted p" in text and "| Holm p | beyond the seed spread |" in text
    rows = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows == ["textbook", "ce-variant", "noise-robust"]
    assert "| focal:gamma=2 | ce-variant | cpu |" in text


def test_family_order_then_accuracy_within_a_family():
    table = pd.DataFrame({"loss": ["sparsemax", "gce:q=0.7", "l1:on=probs", "ce", "sce", "mine"],
                          "test_acc": [0.9, 0.7, 0.5, 0.8, 0.75, 0.99]})  # fmt: skip
    ordered = families.ordered(table)
    assert ordered["loss"].tolist() == ["ce", "l1:on=probs", "sce", "gce:q=0.7", "sparsemax",
                                        "mine"]  # fmt: skip
    assert ordered.columns.tolist() == ["loss", "family", "test_acc"]
    assert ordered["family"].iloc[-1] == "user"  # not registered here


# -- the noise figure's data --------------------------------------------------------------------


def test_noise_figure_data_has_a_numeric_rate_and_pairs_apart():
    final = pd.concat([final_rows({"ce": around(0.8), "gce:q=0.7": around(0.79)}, level)
                       for level in ("none", "sym:0.2", "sym:0.8", "pairs:0.4")])  # fmt: skip
    table = tables.noise(final)
    sym = noise.rates(table, "sym")
    assert pd.api.types.is_float_dtype(sym["rate"])
    assert sorted(set(sym["rate"])) == [0.0, 0.2, 0.8]
    assert "pairs:0.4" not in set(sym["noise"])
    pairs = noise.rates(table, "pairs")
    assert sorted(set(pairs["rate"])) == [0.0, 0.4] and set(pairs["noise"]) == {"none",
                                                                                  "pairs:0.4"}


# -- the claims ---------------------------------------------------------------------------------


def noisy_study(robust_acc):
    """Clean and sym:0.8 runs of ce, gce, sce and nce+rce; at sym:0.8 ce scores 0.5 and each
    robust loss ``robust_acc``."""
    clean = final_rows({spec: around(0.84) for spec in
                        ("ce", "gce:q=0.7", "sce:alpha=0.1:beta=1:a=-4", "1*nce+100*rce:a=-4")})
    noisy = final_rows({"ce": {"test_acc": around(0.5), "memorised": 0.3},
                        **{spec: {"test_acc": around(robust_acc), "memorised": 0.1}
                           for spec in ("gce:q=0.7", "sce:alpha=0.1:beta=1:a=-4",
                                        "1*nce+100*rce:a=-4")}}, "sym:0.8")  # fmt: skip
    return pd.concat([clean, noisy], ignore_index=True)


def test_robustness_holds_when_the_robust_losses_beat_ce_at_strong_noise():
    line = claims.robustness(noisy_study(0.7))
    assert "**holds**: At sym:0.8, test accuracy (clean test labels) of ce 0.5000" in line
    assert "gce:q=0.7 0.7000 (+0.2000" in line and "1*nce+100*rce:a=-4 0.7000" in line
    assert "does not hold" not in line


def test_robustness_does_not_hold_and_gives_the_measured_reason():
    line = claims.robustness(noisy_study(0.45))
    assert "**does not hold**: At sym:0.8" in line
    assert "without noise it matches or beats ce (0.8400 against 0.8400)" in line
    assert "fits 10% of the flipped labels (ce: 30%)" in line


def test_robustness_is_read_at_every_strong_level_present():
    study = pd.concat([noisy_study(0.7),
                       noisy_study(0.45).replace({"noise": {"sym:0.8": "sym:0.6"}})
                       .query("noise == 'sym:0.6'")], ignore_index=True)  # fmt: skip
    line = claims.robustness(study)
    assert "**holds only in part**: At sym:0.6, test accuracy" in line
    assert ". At sym:0.8, test accuracy (clean test labels) of ce 0.5000" in line
    assert line.index("sym:0.6") < line.index("sym:0.8")
    assert "gce:q=0.7 0.4500 (-0.0500" in line and "gce:q=0.7 0.7000 (+0.2000" in line


def test_robustness_falls_back_to_the_strongest_level_and_says_so_or_not_measured():
    weak = noisy_study(0.7).replace({"noise": {"sym:0.8": "sym:0.4"}})
    assert "the strongest symmetric level here: none at 0.6 or above" in claims.robustness(weak)
    assert "not measured here" in claims.robustness(final_rows({"ce": around(0.8)}))


def test_mae_underfits_holds_and_does_not_hold():
    low = final_rows({"ce": {"test_acc": around(0.84), "train_acc": around(0.87)},
                      "l1:on=probs": {"test_acc": around(0.7), "train_acc": around(0.72),
                                      "active_frac": 0.05}})  # fmt: skip
    line = claims.underfitting(low, labelled(tables.accuracy(low)))
    assert "(MAE = `l1:on=probs`): **holds**" in line
    assert "training accuracy 0.7200 against ce's 0.8700 (-0.1500" in line
    assert "5% of training examples still send a gradient (ce: 90%)" in line
    same = final_rows({"ce": {"test_acc": around(0.84), "train_acc": around(0.87)},
                       "l1:on=probs": {"test_acc": around(0.84), "train_acc": around(0.87)}})
    assert "**does not hold**" in claims.underfitting(same, labelled(tables.accuracy(same)))


def calibration_metrics(focal_ece):
    rows = []
    for loss, ece in (("ce", 0.02), ("focal:gamma=2", focal_ece), ("poly1:epsilon=1", focal_ece)):
        for seed, jitter in zip(SEEDS, (-2, -1, 0, 1, 2), strict=True):
            for scaling, t in (("before", 1.0), ("after", 1.3)):
                rows.append({"loss": loss, "device": "cpu", "seed": seed, "scaling": scaling,
                             "ece": ece + 0.001 * jitter, "temperature": t})  # fmt: skip
    return pd.DataFrame(rows)


def test_focal_and_poly1_calibration_claim():
    line = claims.calibration_change(calibration_metrics(0.08))
    assert "**holds**" in line and "focal:gamma=2 ECE 0.0800 against ce's 0.0200" in line
    assert "holds (higher)" in line
    line = claims.calibration_change(calibration_metrics(0.02))
    assert "**does not hold**" in line
    assert "its fitted temperature is 1.30, ce's 1.30" in line
    assert "not measured here (the calibration section did not run" in (
        claims.calibration_change(None))


def test_label_smoothing_claim_with_the_paired_difference():
    hurt = final_rows({"ce": around(0.84), "soft_label:smoothing=0.1": around(0.83)})
    line = claims.smoothing(hurt)
    assert "(`soft_label:smoothing=0.1`): **holds**" in line
    assert "0.8300 against ce's 0.8400: -0.0100, paired 95% CI ±0.0000" in line
    same = final_rows({"ce": [0.84, 0.85, 0.83, 0.84, 0.84],
                       "soft_label:smoothing=0.1": [0.845, 0.84, 0.835, 0.845, 0.84]})
    line = claims.smoothing(same)
    assert "**does not hold**" in line and "Measured: its training accuracy is 0.9000" in line
    assert "not measured here" in claims.smoothing(final_rows({"ce": around(0.84)}))
