"""The report's tables, computed from tidy rows: finished runs, CIs, speed, learning speed."""

import math

import pandas as pd
import pytest

from bench import schema
from bench.analysis import tables


def frame(records):
    base = dict.fromkeys(schema.RESULTS, 0.0)
    base.update(
        trainer="lossbench",
        dataset="fashion_mnist",
        model="linear",
        grad="analytic",
        device="cpu",
        noise="none",
        entry="",  # untuned runs: the loss is its own entry
        status="ok",
        step_mode="eager",
        epochs=3,
        batch_size=256,
        lr=1.0,
        samples_per_s=60000.0,
        epoch_s=1.0,
        floor_s=0.5,
    )
    return pd.DataFrame([{**base, **r} for r in records])


def curve(loss, seed, accs, **extra):
    return [
        {
            "loss": loss,
            "seed": seed,
            "epoch": e + 1,
            "test_acc": a,
            "step_ms": 0.2 + 0.1 * e,
            **extra,
        }
        for e, a in enumerate(accs)
    ]


ROWS = frame(
    curve("ce", 0, [0.79, 0.82, 0.84])
    + curve("ce", 1, [0.80, 0.83, 0.85])
    + curve("l1:on=probs", 0, [0.70, 0.75, 0.78])
    + curve("l1:on=probs", 1, [0.71, 0.74, 0.77])
    + curve("l2:on=scores", 0, [math.nan], status="diverged")
    + curve("huber:on=probs:delta=0.1", 0, [0.80, 0.81])  # unfinished: 2 of 3 epochs
    + curve("ce", 0, [0.70, 0.74, 0.76], noise="sym:0.4", memorised=0.1)
)


def test_finished_runs_keep_last_rows_and_count_unfinished():
    final, unfinished = tables.finished_runs(ROWS)
    assert unfinished == 1
    assert len(final) == 6
    assert set(final.loc[final.loss == "ce", "epoch"]) == {3}


def test_accuracy_mean_std_ci_and_divergence():
    final, _ = tables.finished_runs(ROWS)
    table = tables.accuracy(final).set_index("loss")
    assert table.loc["ce", "test_acc"] == pytest.approx(0.845)
    assert table.loc["ce", "test_acc_std"] == pytest.approx(pd.Series([0.84, 0.85]).std())
    # two seeds: Student's t with 1 degree of freedom, whose 97.5% quantile is tan(0.475π)
    t_quantile = math.tan(math.pi * (0.975 - 0.5))
    assert t_quantile == pytest.approx(12.7062, abs=1e-4)
    half = t_quantile * pd.Series([0.84, 0.85]).std() / math.sqrt(2)
    assert table.loc["ce", "test_acc_ci95"] == pytest.approx(half, rel=1e-4)  # T95 has 3 decimals
    assert table.loc["l2:on=scores", "diverged"] == 1
    assert math.isnan(table.loc["l2:on=scores", "test_acc"])
    assert list(table.index[:2]) == ["ce", "l1:on=probs"]  # best first, diverged last
    assert "huber:on=probs:delta=0.1" not in table.index  # unfinished


def test_speed_uses_median_step_and_floor_ratio():
    final, _ = tables.finished_runs(ROWS)
    table = tables.speed(ROWS, final).set_index("loss")
    assert table.loc["ce", "step_us"] == pytest.approx(300.0)
    assert table.loc["ce", "x_floor"] == pytest.approx(2.0)
    assert table.loc["ce", "step_mode"] == "eager"


def test_speed_leaves_out_times_taken_while_the_machine_was_shared():
    rows = ROWS.assign(concurrent=False)
    rows.loc[(rows.loss == "ce") & (rows.seed == 1), ["concurrent", "step_ms"]] = [True, 9.0]
    final, _ = tables.finished_runs(rows)
    table = tables.speed(rows, final).set_index("loss")
    assert table.loc["ce", "step_us"] == pytest.approx(300.0)  # seed 0's alone
    rows.loc[rows.loss == "ce", "concurrent"] = True
    assert "ce" not in set(tables.speed(rows, final)["loss"])


def test_speed_names_every_step_mode_a_loss_ran_in():
    rows = frame(
        curve("ce", 0, [0.8, 0.9, 0.9], step_mode="cuda-graph")
        + curve("ce", 1, [0.8, 0.9, 0.9], step_mode="eager")
    )
    final, _ = tables.finished_runs(rows)
    assert tables.speed(rows, final)["step_mode"].tolist() == ["cuda-graph/eager"]


def test_learning_speed_thresholds_and_area():
    final, _ = tables.finished_runs(ROWS)
    table = tables.learning_speed(ROWS, final).set_index("loss")
    # seed 0 reaches 0.80 at epoch 2, seed 1 at epoch 1: mean 1.5
    assert table.loc["ce", "epochs_to_80"] == pytest.approx(1.5)
    assert table.loc["ce", "auc"] == pytest.approx((0.79 + 0.82 + 0.84 + 0.80 + 0.83 + 0.85) / 6)
    assert math.isnan(table.loc["l1:on=probs", "epochs_to_80"])


def test_noise_table_and_targets():
    final, _ = tables.finished_runs(ROWS)
    noisy = tables.noise(final).set_index(["loss", "noise"])
    assert noisy.loc[("ce", "sym:0.4"), "memorised"] == pytest.approx(0.1)
    targets = tables.targets(tables.accuracy(final)).set_index("loss")
    assert bool(targets.loc["ce", "met"]) is True  # 0.845 >= 0.845
    assert bool(targets.loc["l1:on=probs", "met"]) is False
    assert "l2:on=scores" not in targets.index  # no target for least squares on scores


def test_noise_table_follows_a_tuned_loss_by_its_entry_across_levels():
    rows = frame(
        curve("gce:q=0.7", 0, [0.80, 0.84], entry="gce")
        + curve("gce:q=0.9", 0, [0.70, 0.78], entry="gce", noise="sym:0.4", epochs=2)
    )
    final, _ = tables.finished_runs(rows.assign(epochs=2))
    noisy = tables.noise(final).set_index(["loss", "noise"])["test_acc"]
    assert noisy.to_dict() == {("gce", "none"): 0.84, ("gce", "sym:0.4"): 0.78}


def test_noise_table_keeps_the_noisy_protocol_where_a_level_ran_under_two():
    # sym:0.4 ran under noisy and trusted:100 (a trusted split trains on fewer examples);
    # idn:0.4 under trusted:100 only: that level keeps its trusted runs
    rows = frame(
        curve("ce", 0, [0.70, 0.74, 0.76], noise="sym:0.4", validation="noisy")
        + curve("ce", 0, [0.70, 0.74, 0.60], noise="sym:0.4", validation="trusted:100")
        + curve("ce", 0, [0.70, 0.74, 0.50], noise="idn:0.4", validation="trusted:100")
    )
    final, _ = tables.finished_runs(rows)
    noisy = tables.noise(final).set_index(["loss", "noise"])
    assert noisy["test_acc"].to_dict() == {("ce", "sym:0.4"): 0.76, ("ce", "idn:0.4"): 0.50}
    assert noisy["seeds"].tolist() == [1, 1]


def test_clean_runs_and_accuracy_keep_the_noisy_protocol_where_there_are_two():
    rows = frame(
        curve("ce", 0, [0.70, 0.74, 0.80], validation="noisy")
        + curve("ce", 1, [0.70, 0.74, 0.82], validation="noisy")
        + curve("ce", 0, [0.70, 0.74, 0.60], validation="trusted:100")
        + curve("ce", 1, [0.70, 0.74, 0.62], validation="trusted:100")
    )
    final, _ = tables.finished_runs(rows)
    assert len(final) == 4  # two protocols: four runs
    assert tables.clean_runs(final)["validation"].tolist() == ["noisy", "noisy"]
    best = tables.best_runs(final)  # names the protocol: the weights to load are that run's
    assert best[["seed", "validation"]].values.tolist() == [[1, "noisy"]]
    accuracy = tables.accuracy(final).set_index("loss")
    assert accuracy.loc["ce", "seeds"] == 2
    assert accuracy.loc["ce", "test_acc"] == pytest.approx(0.81)
    learning = tables.learning_speed(rows, final).set_index("loss")
    assert learning.loc["ce", "auc"] == pytest.approx((0.70 + 0.74 + 0.80 + 0.70 + 0.74 + 0.82) / 6)


def test_runs_of_two_workloads_are_never_merged():
    # the same loss, device and seeds on another dataset: another run, another row
    rows = pd.concat([ROWS, ROWS.assign(dataset="digits", test_acc=ROWS["test_acc"] - 0.1)])
    final, unfinished = tables.finished_runs(rows)
    assert unfinished == 2 and len(final) == 12
    table = tables.accuracy(final).set_index(["dataset", "loss"])
    assert table.loc[("fashion_mnist", "ce"), "test_acc"] == pytest.approx(0.845)
    assert table.loc[("digits", "ce"), "test_acc"] == pytest.approx(0.745)
    assert table.loc[("digits", "ce"), "seeds"] == 2
    assert tables.workloads(rows) == [("fashion_mnist", "linear"), ("digits", "linear")]
    digits = tables.of_workload(final, "digits", "linear")
    assert set(digits["dataset"]) == {"digits"} and len(digits) == 6
    speed = tables.speed(rows, final).set_index(["dataset", "loss"])
    assert speed.loc[("digits", "ce"), "step_us"] == pytest.approx(300.0)


def test_targets_apply_to_the_default_workload_alone():
    final, _ = tables.finished_runs(ROWS.assign(dataset="digits"))
    assert tables.targets(tables.accuracy(final)).empty


def test_results_from_before_datasets_and_models_were_parts_are_read(tmp_path):
    old = ROWS.drop(columns=["dataset", "model", "grad"])
    old.to_csv(tmp_path / "results.csv", index=False)
    rows = tables.load(tmp_path / "results.csv")
    assert set(rows["dataset"]) == {schema.UPGRADE["dataset"]}
    assert set(rows["model"]) == {schema.UPGRADE["model"]}
    assert set(rows["grad"]) == {schema.UPGRADE["grad"]}
    assert rows["test_acc"].dtype == float
    final, unfinished = tables.finished_runs(rows)
    assert unfinished == 1 and len(final) == 6


def test_an_old_side_cache_is_read_with_its_workload_filled(tmp_path):
    pd.DataFrame(
        [
            {
                "loss": "ce",
                "max_iter": 5,
                "train_loss": 0.1,
                "train_acc": 1.0,
                "test_acc": 0.97,
                "iterations": 5,
                "seconds": 0.1,
            }
        ]
    ).to_csv(tmp_path / "reference.csv", index=False)
    cache = tables.read_cache(tmp_path / "reference.csv", schema.REFERENCE)
    assert len(tables.of_workload(cache, "fashion_mnist", "linear")) == 1
    assert tables.of_workload(cache, "digits", "linear").empty
    assert tables.read_cache(tmp_path / "absent.csv", schema.REFERENCE).empty
    # peers are keyed by dataset alone: any model of that dataset sees them
    peers = pd.DataFrame([{"dataset": "digits", "peer": "SGDClassifier", "loss": "hinge"}])
    assert len(tables.of_workload(peers, "digits", "mlp:hidden=8")) == 1


def test_converged_reference_and_the_views_of_the_side_caches():
    accuracy = pd.DataFrame(
        [
            {"trainer": "lossbench", "loss": "ce", "train_loss": 0.39},
            {"trainer": "lossbench", "loss": "l2", "train_loss": 0.10},
        ]
    )
    reference = pd.DataFrame(
        [{"loss": "ce", "train_loss": 0.37}, {"loss": "l2", "train_loss": 0.2}]
    )
    assert tables.converged(accuracy, reference).to_dict() == {"ce": True, "l2": False}
    # an old cache (no noise, entry, metric or val_score): one clean search per loss by val_acc
    tuning = pd.DataFrame(
        [
            {"loss": "ce", "lr": lr, "status": status, "val_acc": acc, "epochs": epochs}
            for lr, status, acc, epochs in (
                (0.1, "ok", 0.8, 30),
                (0.3, "ok", 0.9, 30),
                (3.0, "diverged", "nan", 30),
                (1.0, "ok", 0.95, 10),
            )
        ]
    )
    best = tables.tuning(tuning).set_index("loss")
    # chosen among the full-epoch trials: a screening trial (10 epochs) never wins
    assert best.loc["ce", "lr"] == 0.3 and best.loc["ce", "trials"] == 4
    assert best.loc["ce", "diverged"] == 1
    assert best.loc["ce", ["noise", "entry", "metric", "val_score"]].tolist() == [
        "none",
        "ce",
        "accuracy",
        0.9,
    ]


def _trial(noise, loss, lr, score, epochs=30, status="ok"):
    return {
        "dataset": "digits",
        "model": "linear",
        "noise": noise,
        "entry": loss.split(":")[0] if loss.startswith("gce") else loss,
        "loss": loss,
        "device": "cpu",
        "epochs": epochs,
        "batch_size": 256,
        "schedule": "cosine",
        "lr": lr,
        "status": status,
        "val_acc": 0.5,  # the plain accuracy: never read where the metric's score is there
        "metric": "balanced_acc",
        "val_score": score,
        "validation": "noisy",
        "optimizer": "sgd",
        "selection": "last",
    }


def test_tuning_chooses_each_losss_setting_per_noise_level(tmp_path):
    trials = [
        # clean: q=0.3 wins; at sym:0.8, q=0.9 (the robust end of GCE's grid)
        _trial("none", "gce:q=0.3", 0.1, 0.90),
        _trial("none", "gce:q=0.9", 0.1, 0.85),
        _trial("none", "gce:q=0.9", 1.0, "nan", status="diverged"),
        _trial("sym:0.8", "gce:q=0.3", 0.1, 0.40),
        _trial("sym:0.8", "gce:q=0.9", 0.1, 0.70),
        _trial("sym:0.8", "gce:q=0.9", 0.3, 0.70),  # a tie: the smaller rate wins
        _trial("sym:0.8", "gce:q=0.3", 1.0, 0.99, epochs=3),  # a screening trial never wins
        _trial("none", "ce", 0.3, 0.88),
        _trial("sym:0.8", "ce", 1.0, 0.60),
        _trial("sym:0.8", "ce", 0.1, 0.55),
    ]
    schema.write_rows(tmp_path / "tuning.csv", schema.TUNING, trials)
    chosen = tables.tuning(tables.read_cache(tmp_path / "tuning.csv", schema.TUNING))
    expected = pd.DataFrame(
        {
            "dataset": "digits",
            "model": "linear",
            "noise": ["none", "sym:0.8", "none", "sym:0.8"],
            "entry": ["gce", "gce", "ce", "ce"],
            "device": "cpu",
            "validation": "noisy",
            "selection": "last",
            "loss": ["gce:q=0.3", "gce:q=0.9", "ce", "ce"],
            "lr": [0.1, 0.1, 0.3, 1.0],
            "val_score": [0.90, 0.70, 0.88, 0.60],
            "metric": "balanced_acc",
            "epochs": 30,
            "trials": [3, 4, 1, 2],
            "diverged": [1, 0, 0, 0],
        }
    )
    pd.testing.assert_frame_equal(chosen, expected, check_dtype=False)


def test_tuning_refuses_a_frame_that_is_not_tuning_csv():
    with pytest.raises(ValueError, match="lacks column"):
        tables.tuning(pd.DataFrame({"loss": ["ce"], "lr": [0.1]}))


def test_step_drift_is_the_largest_spread_between_seeds():
    final, _ = tables.finished_runs(ROWS)
    rows = ROWS.copy()
    rows.loc[(rows.loss == "ce") & (rows.seed == 1), "step_ms"] *= 2
    spread, where = tables.step_drift(rows, final)
    assert spread == pytest.approx(2.0) and where == ("fashion_mnist", "linear", "ce", "cpu")


def test_stacked_runs_take_their_losss_times_alone_from_the_timing_phase():
    rows = frame(
        [
            {
                "loss": "ce",
                "seed": 0,
                "epoch": 1,
                "step_mode": "stacked",
                "epoch_s": 0.2,
                "step_ms": 0.9,
                "samples_per_s": 300000.0,
                "concurrent": True,
            },
            {"loss": "focal", "seed": 0, "epoch": 1, "step_mode": "stacked", "epoch_s": 0.2},
            {"loss": "sparsemax", "seed": 0, "epoch": 1, "step_mode": "stacked", "epoch_s": 0.2},
            {"loss": "ce", "seed": 1, "epoch": 1, "step_mode": "eager", "epoch_s": 0.5},
        ]
    )
    timing = frame(
        [
            {
                "loss": "ce",
                "seed": 0,
                "epoch": e,
                "epoch_s": s,
                "step_ms": s * 4,
                "samples_per_s": 60000 / s,
            }
            for e, s in ((1, 0.07), (2, 0.09))
        ]
        + [
            {"loss": "focal", "seed": 0, "epoch": 1, "epoch_s": 0.11},
            {"loss": "focal", "device": "cuda", "seed": 0, "epoch": 1, "epoch_s": 0.01},
            {"loss": "focal", "batch_size": 64, "seed": 0, "epoch": 1, "epoch_s": 0.3},
            {"loss": "sparsemax", "seed": 0, "epoch": 1, "epoch_s": 9.0, "status": "diverged"},
        ]
    )
    timed = tables.alone_times(rows, timing)
    assert timed["epoch_s"].tolist() == pytest.approx([0.08, 0.11, 0.2, 0.5])
    assert timed.loc[0, "step_ms"] == pytest.approx(0.32)
    assert timed.loc[0, "samples_per_s"] == pytest.approx((60000 / 0.07 + 60000 / 0.09) / 2)
    assert rows["epoch_s"].tolist() == [0.2, 0.2, 0.2, 0.5]  # the rows given are unchanged
    assert tables.alone_times(rows, pd.DataFrame()) is rows
