"""The memorisation section from hand-written rows: its run table (two scores per run, the
shares at the end), the spans per level, the figure per level, and the noise table's column."""

import math

import pandas as pd
import pytest

from bench import schema
from bench.analysis import tables
from bench.reporting import memorisation, noise
from bench.reporting.markdown import labelled
from bench.reporting.workload import Workload

EPOCHS = 6
# per loss: test accuracy per epoch (it peaks at epoch 3 and falls for ce), the validation
# accuracy (peaking at epoch 3 for ce, at the end for gce), and the memorised share per epoch
CURVES = {
    "ce": {
        "test": [0.5, 0.7, 0.8, 0.75, 0.7, 0.6],
        "val": [0.4, 0.5, 0.6, 0.55, 0.5, 0.45],
        "memorised": [0.05, 0.1, 0.2, 0.3, 0.4, 0.5],
    },
    "gce:q=0.7": {
        "test": [0.5, 0.6, 0.7, 0.75, 0.78, 0.8],
        "val": [0.4, 0.45, 0.5, 0.55, 0.58, 0.6],
        "memorised": [0.05, 0.05, 0.05, 0.06, 0.06, 0.06],
    },
}


def rows(noise_level="sym:0.4", seeds=(0, 1, 2), early_stop=True):
    out = []
    for loss, curve in CURVES.items():
        for seed in seeds:
            for e in range(EPOCHS):
                out.append(
                    {
                        "trainer": "lossbench",
                        "dataset": "fashion_mnist",
                        "model": "mlp:hidden=256",
                        "loss": loss,
                        "entry": loss.split(":")[0],
                        "device": "cpu",
                        "seed": seed,
                        "noise": noise_level,
                        "epoch": e + 1,
                        "epochs": EPOCHS,
                        "status": "ok",
                        "test_acc": curve["test"][e] + 0.01 * seed,
                        "val_acc": curve["val"][e] if early_stop else math.nan,
                        "memorised": curve["memorised"][e],
                        "corrected": 0.9 - curve["memorised"][e],
                        "early_stop": early_stop,
                    }
                )
    return pd.DataFrame(out).reindex(columns=list(schema.RESULTS))


def workload(frame, tmp_path):
    frame = labelled(frame)
    final, unfinished = tables.finished_runs(frame)
    return Workload(
        out=tmp_path,
        meta={},
        dataset="fashion_mnist",
        model="mlp:hidden=256",
        rows=frame,
        final=final,
        unfinished=unfinished,
        caches={},
    )


def test_the_run_table_has_both_scores_and_the_shares_at_the_end(tmp_path):
    frame = pd.concat([rows(), rows("sym:0.8")], ignore_index=True)
    table = memorisation.facts(workload(frame, tmp_path))["table"].set_index(["level", "entry"])
    ce = table.loc[("sym:0.4", "ce")]
    assert ce["seeds"] == 3 and ce["loss"] == "ce"
    assert ce["last"] == pytest.approx(0.61)  # 0.6 + mean of 0, 0.01, 0.02
    assert ce["early_stopped"] == pytest.approx(0.81) and ce["stopped_epoch"] == 3
    assert ce["gain"] == pytest.approx(0.2)
    assert ce["memorised"] == pytest.approx(0.5) and ce["corrected"] == pytest.approx(0.4)
    gce = table.loc[("sym:0.8", "gce")]
    assert gce["loss"] == "gce:q=0.7" and gce["stopped_epoch"] == EPOCHS
    assert gce["gain"] == pytest.approx(0.0)


def test_gains_that_cancel_over_seeds_read_zero_not_float_noise(tmp_path):
    # the committed study's agce at sym:0.4: per seed (last, early-stopped at epoch 5) test
    # accuracy; the gains +0.0001, −0.0008 and +0.0007 cancel, and a mean of floats leaves −4e-17
    seeds = {0: (0.8304, 0.8305), 1: (0.8347, 0.8339), 2: (0.8312, 0.8319)}
    frame = rows(seeds=tuple(seeds))
    gce = frame["loss"] == "gce:q=0.7"
    for seed, (last, early) in seeds.items():
        mine = gce & (frame["seed"] == seed)
        frame.loc[mine & (frame["epoch"] == 5), ["test_acc", "val_acc"]] = [early, 0.7]
        frame.loc[mine & (frame["epoch"] == 6), "test_acc"] = last
    table = memorisation.facts(workload(frame, tmp_path))["table"].set_index("entry")
    gain = table.loc["gce", "gain"]
    assert table.loc["gce", "stopped_epoch"] == 5
    assert gain == 0.0 and math.copysign(1.0, gain) == 1.0


def test_spans_compare_the_losses_at_the_last_epoch_and_early_stopped(tmp_path):
    spans = memorisation.facts(workload(rows(), tmp_path))["spans"]
    assert len(spans) == 1
    span = spans[0]
    assert span["span_last"] == pytest.approx(0.2)  # gce 0.81 vs ce 0.61
    assert span["span_stopped"] == pytest.approx(0.0)  # both 0.81 early-stopped
    assert (span["best_last"], span["worst_last"]) == ("gce:q=0.7", "ce")
    assert (span["most_fitted"], span["least_fitted"]) == ("ce", "gce:q=0.7")


def test_without_a_validation_split_the_table_has_the_last_score_only(tmp_path):
    w = workload(rows(early_stop=False), tmp_path)
    found = memorisation.facts(w)
    assert not found["early_stop"] and found["table"]["early_stopped"].isna().all()
    assert list(memorisation.shown(found["table"]).columns)[4:] == [
        "test acc, last epoch",
        "memorised at the end",
        "corrected at the end",
    ]


def test_the_section_draws_a_figure_per_noise_level_and_is_empty_on_clean_runs(tmp_path):
    frame = pd.concat([rows(), rows("pairs:0.4")], ignore_index=True)
    text = memorisation.section(workload(frame, tmp_path))
    assert (tmp_path / "memorisation_sym_0.4.png").exists()
    assert (tmp_path / "memorisation_pairs_0.4.png").exists()
    assert "memorisation_sym_0.4.png" in text
    clean = rows().assign(noise="none", memorised=math.nan, corrected=math.nan)
    assert memorisation.section(workload(clean, tmp_path)) == ""


def test_the_noise_table_gets_the_corrected_share_after_the_memorised_one(tmp_path):
    frame = pd.concat([rows().assign(noise="none"), rows()], ignore_index=True)
    w = workload(frame, tmp_path)
    wide = noise.with_corrected(tables.noise_wide(tables.noise(w.final)), w.final)
    assert list(wide.columns) == [
        "loss",
        "none",
        "sym:0.4",
        "memorised sym:0.4",
        "corrected sym:0.4",
    ]
    ce = wide.set_index("loss").loc["ce"]
    assert ce["corrected sym:0.4"] == pytest.approx(0.4)


def test_each_validation_protocol_of_a_level_is_its_own_block_and_figure(tmp_path):
    noisy = rows("sym:0.8").assign(validation="noisy")
    trusted = rows("sym:0.8").assign(validation="trusted:1000")
    trusted["test_acc"] += 0.05  # a different run: the two protocols must not average together
    w = workload(pd.concat([noisy, trusted], ignore_index=True), tmp_path)
    table = memorisation.facts(w)["table"].set_index(["level", "entry"])
    assert table.loc[("sym:0.8", "ce"), "last"] == pytest.approx(0.61)
    assert table.loc[("sym:0.8 · trusted:1000", "ce"), "last"] == pytest.approx(0.66)
    assert table.loc[("sym:0.8 · trusted:1000", "ce"), "seeds"] == 3
    memorisation.section(w)
    assert (tmp_path / "memorisation_sym_0.8_trusted_1000.png").exists()
