"""Tuning: each loss's settings × rates on an equal budget, per noise level, on a validation split
as noisy as training, selected by the verdicts' metric, and cached."""

import dataclasses
import math

import pandas as pd
import pytest
import torch

from bench import suite
from bench.study import sweeps, tune


def test_every_suite_loss_gets_the_same_budget_within_one_trial_per_setting():
    for entry in suite.default_specs():
        settings = sweeps.settings(entry)
        trials = tune.candidates(entry, 40)
        assert len(set(trials)) == len(trials)
        assert 40 - len(settings) < len(trials) <= 40, entry
        # every setting at the same rates
        per_setting = {s: sorted(t.lr for t in trials if t.spec == s) for s in settings}
        assert len({tuple(v) for v in per_setting.values()}) == 1, entry
    # a loss with nothing of its own to tune spends the budget on a finer rate grid
    assert [t.spec for t in tune.candidates("ce", 40)] == ["ce"] * 40
    # a bare name tunes its own hyperparameter; a written one is kept and only the rate tuned
    assert {t.spec for t in tune.candidates("gce", 40)} == {
        "gce:q=0.3",
        "gce:q=0.5",
        "gce:q=0.7",
        "gce:q=0.9",
    }
    assert [t.spec for t in tune.candidates("gce:q=0.7", 40)] == ["gce:q=0.7"] * 40


def test_written_parameters_are_kept_and_the_others_tuned():
    assert sweeps.settings("focal:gamma=2") == ["focal:gamma=2"]
    # kind written, δ tuned (Crammer–Singer's sweep over delta)
    assert sweeps.settings("margin:kind=crammer_singer") == [
        f"margin:kind=crammer_singer:delta={d}" for d in ("0.5", "1", "2", "4")
    ]
    assert sweeps.settings("margin:kind=crammer_singer:delta=2") == [
        "margin:kind=crammer_singer:delta=2"
    ]
    # bi_tempered writes t1 only: its t2 is still tuned
    assert sweeps.settings("bi_tempered:t1=0.8") == [
        "bi_tempered:t1=0.8:t2=1.2",
        "bi_tempered:t1=0.8:t2=2",
    ]


@pytest.mark.parametrize(
    ("written", "entry"),
    [
        ("gce", "gce"),
        ("gce:q=.70", "gce:q=0.7"),
        ("nce + rce", "nce+rce"),
        ("1*nce+1*rce", "1*nce+1*rce"),
        ("nce+0.5*l1", "1*nce+0.5*l1"),
        ("huber:delta=0.10", "huber:delta=0.1"),
    ],
)
def test_an_entry_is_the_spec_as_written_in_canonical_spelling(written, entry):
    assert sweeps.entry_form(written) == entry


def test_the_default_suite_is_bare_and_every_entry_reaches_its_rate():
    specs = suite.default_specs()
    for bare in ("gce", "sce", "nce+rce", "nce+l1", "nce+nnce"):
        assert bare in specs
    assert not [s for s in specs if "*" in s]  # no sum with its weights written
    assert suite.built_in_rate("nce+rce") == 0.003  # the rate of its first pair, 1 + 100
    assert sweeps.default_setting("nce+rce") == "1*nce+100*rce:a=-4"
    assert suite.built_in_rate("1*nce+100*rce") == 0.003
    assert suite.built_in_rate("gce:q=0.9") == suite.built_in_rate("gce") == 1.0


def test_the_rate_grid_and_a_budget_too_small():
    assert tune.rate_grid(10) == (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0, 32.0)
    assert len(tune.rate_grid(40)) == 40 and tune.rate_grid(40)[0] == 0.001
    with pytest.raises(ValueError, match="--tune-budget 8 or more"):
        tune.candidates("sce", 7)


def test_sum_weights_come_from_the_table_for_bare_sums_only():
    assert sweeps.settings("nce+rce") == [
        "1*nce+100*rce:a=-4",
        "1*nce+1*rce:a=-4",
        "10*nce+0.1*rce:a=-4",
    ]
    assert sweeps.settings("nce+l1") == [
        "1*nce+50*l1:on=probs",
        "1*nce+0.5*l1:on=probs",
        "10*nce+0.05*l1:on=probs",
    ]
    assert sweeps.settings("nce+nnce") == [
        "1*nce+1*nnce:min_prob=1e-07",
        "5*nce+5*nnce:min_prob=1e-07",
    ]
    # weights written: kept
    assert sweeps.settings("1*nce+100*rce") == ["1*nce+100*rce:a=-4"]
    assert sweeps.settings("1*nce+1*rce") == ["1*nce+1*rce:a=-4"]


def test_long_tailed_priors_select_by_balanced_accuracy():
    assert tune.metric_for(torch.tensor([0.5, 0.449, 0.051])) == "accuracy"  # 9.8x
    assert tune.metric_for(torch.tensor([0.5, 0.45, 0.05])) == "balanced_acc"  # 10x
    assert tune.metric_for(torch.tensor([0.3, 0.3, 0.4])) == "accuracy"


def fake_trials(config, trials, data):
    """A stand-in for stacked.train_trials whose scores depend on the validation labels' noise:
    the synthetic data's first feature is the clean label ÷ 10, so the noise is measurable.
    q=0.3 scores 1 − 2·noise, q=0.9 scores 0.8 flat; the rate 0.32 beats the others."""
    clean = (data.test_x[:, 0] * 10).round().long()
    noise = (clean != data.test_y).float().mean().item()
    rows = []
    for spec, lr in trials:
        score = (1 - 2 * noise if spec == "gce:q=0.3" else 0.8) - abs(math.log10(lr / 0.32)) / 100
        rows.append(
            {
                "loss": spec,
                "lr": lr,
                "status": "ok",
                "val_acc": score,
                "val_balanced_acc": score - 0.5,
                "train_loss": 1.0,
            }
        )
    return rows


@pytest.fixture
def labelled(make_data):
    data = make_data(n_train=600, features=8)
    mark = lambda x, y: torch.cat([y.unsqueeze(1) / 10, x[:, 1:]], 1)  # noqa: E731
    return dataclasses.replace(
        data, train_x=mark(data.train_x, data.train_y), test_x=mark(data.test_x, data.test_y)
    )


def test_each_noise_level_chooses_its_own_setting_on_noisy_validation_labels(
    tmp_path, labelled, monkeypatch
):
    monkeypatch.setattr(tune.stacked, "train_trials", fake_trials)
    monkeypatch.setattr(tune.sweeps, "settings", lambda e: ["gce:q=0.3", "gce:q=0.9"])
    path = tmp_path / "tuning.csv"
    tuner = tune.Tuner(
        path, epochs=2, batch_size=64, schedule="cosine", budget=10, screen_epochs=1, keep=3
    )
    rows = []
    chosen = tuner.run(["gce"], ["none", "sym:0.5"], labelled, "cpu", on_trial=rows.append)
    assert tune.rate_grid(5) == (0.001, 0.013, 0.18, 2.4, 32.0)  # 0.18 is nearest 0.32
    assert chosen == {
        ("none", "gce"): tune.Trial("gce:q=0.3", 0.18),
        ("sym:0.5", "gce"): tune.Trial("gce:q=0.9", 0.18),
    }
    # the equal budget: 2 settings × 5 rates screened, the 3 best in full, per noise level
    counts = {(r["noise"], r["epochs"]): 0 for r in rows}
    for r in rows:
        counts[(r["noise"], r["epochs"])] += 1
    assert counts == {("none", 1): 10, ("none", 2): 3, ("sym:0.5", 1): 10, ("sym:0.5", 2): 3}
    assert {r["metric"] for r in rows} == {"accuracy"}
    assert all(r["val_score"] == r["val_acc"] for r in rows)
    # cached: nothing trains again, and the choice is the same
    again = tune.Tuner(
        path, epochs=2, batch_size=64, schedule="cosine", budget=10, screen_epochs=1, keep=3
    )
    assert again.todo(["gce"], ["none", "sym:0.5"], "cpu") == []
    assert again.chosen(["gce"], ["none", "sym:0.5"], "cpu") == chosen
    # the balanced metric scores by val_balanced_acc, and is not served from accuracy's trials
    balanced = tune.Tuner(
        path,
        epochs=2,
        batch_size=64,
        schedule="cosine",
        budget=10,
        screen_epochs=1,
        keep=3,
        metric="balanced_acc",
    )
    assert len(balanced.todo(["gce"], ["none"], "cpu")) == 1
    # --retune forgets this workload's trials
    fresh = tune.Tuner(
        path,
        epochs=2,
        batch_size=64,
        schedule="cosine",
        budget=10,
        screen_epochs=1,
        keep=3,
        retune=True,
    )
    assert [len(j.trials) for j in fresh.todo(["gce"], ["none"], "cpu")] == [10]


def test_the_validation_split_carries_the_noise_of_training(labelled):
    tuner = tune.Tuner(None, epochs=1, batch_size=64, schedule="cosine")
    clean = tuner.split(labelled, "none")
    noisy = tuner.split(labelled, "sym:0.5")
    truth = lambda x: (x[:, 0] * 10).round().long()  # noqa: E731
    assert torch.equal(truth(clean.test_x), clean.test_y)
    flipped = (truth(noisy.test_x) != noisy.test_y).float().mean().item()
    assert 0.35 < flipped < 0.65
    assert 0.35 < (truth(noisy.train_x) != noisy.train_y).float().mean().item() < 0.65


def test_trusted_validation_scores_on_true_labels_held_out_of_training(tmp_path, labelled):
    tuner = tune.Tuner(
        tmp_path / "t.csv", epochs=1, batch_size=64, schedule="cosine", validation="trusted:60"
    )
    part = tuner.split(labelled, "sym:0.5")
    truth = lambda x: (x[:, 0] * 10).round().long()  # noqa: E731
    assert part.test_y.shape == (60,)
    assert torch.equal(truth(part.test_x), part.test_y)  # the true labels
    assert part.train_y.shape == (540,)  # the 60 are not trained on
    assert 0.35 < (truth(part.train_x) != part.train_y).float().mean().item() < 0.65


def test_trials_of_the_two_protocols_are_kept_apart(tmp_path, labelled, monkeypatch):
    monkeypatch.setattr(tune.stacked, "train_trials", fake_trials)
    monkeypatch.setattr(tune.sweeps, "settings", lambda e: ["gce:q=0.3", "gce:q=0.9"])
    path = tmp_path / "tuning.csv"
    common = {"epochs": 1, "batch_size": 64, "schedule": "cosine", "budget": 4}
    noisy = tune.Tuner(path, **common).run(["gce"], ["sym:0.5"], labelled, "cpu")
    trusted = tune.Tuner(path, validation="trusted:100", **common)
    assert [len(j.trials) for j in trusted.todo(["gce"], ["sym:0.5"], "cpu")] == [4]
    chosen = trusted.run(["gce"], ["sym:0.5"], labelled, "cpu")
    # the noisy split cannot see that q=0.3 is better; the true labels can (fake_trials)
    assert noisy[("sym:0.5", "gce")].spec == "gce:q=0.9"
    assert chosen[("sym:0.5", "gce")].spec == "gce:q=0.3"
    rows = tune.schema.read_rows(path, tune.schema.TUNING)
    assert sorted({r["validation"] for r in rows}) == ["noisy", "trusted:100"]
    assert len(rows) == 8
    # --retune of one protocol keeps the other's trials
    tune.Tuner(path, validation="trusted:100", retune=True, **common)
    assert {r["validation"] for r in tune.schema.read_rows(path, tune.schema.TUNING)} == {"noisy"}


def test_stacked_trials_of_several_settings_match_and_diverge_alone(tmp_path, make_data):
    data = make_data(n_train=600).validation_split()
    config = tune.RunConfig(loss="ce", epochs=1, batch_size=64)
    both = tune.stacked.train_trials(
        config, [("gce:q=0.3", 0.3), ("focal:gamma=2", 0.3), ("l2:on=scores", 1e5)], data
    )
    alone = tune.stacked.train_trials(config, [("focal:gamma=2", 0.3)], data)
    assert [r["loss"] for r in both] == ["gce:q=0.3", "focal:gamma=2", "l2:on=scores"]
    assert both[1]["val_acc"] == pytest.approx(alone[0]["val_acc"], abs=0.011)
    assert both[1]["train_loss"] == pytest.approx(alone[0]["train_loss"], rel=1e-4)
    assert [r["status"] for r in both] == ["ok", "ok", "diverged"]


def test_every_trial_diverging_is_a_clear_error(tmp_path, make_data, monkeypatch):
    monkeypatch.setattr(tune, "rate_grid", lambda count, decades=tune.RATES: (1e4,) * 1)
    tuner = tune.Tuner(tmp_path / "t.csv", epochs=1, batch_size=32, schedule="constant", budget=1)
    with pytest.raises(ValueError, match="every trial diverged"):
        tuner.run(["l2:on=scores"], ["none"], make_data(n_train=3000), "cpu")


def screened_gce(tmp_path, monkeypatch, keep):
    """A Tuner of gce's two settings (q = 0.3, 0.9) on 10 trials, screened 1 epoch, the ``keep``
    best trained 2, its trials faked (fake_trials), cached in tmp_path / "t.csv"."""
    monkeypatch.setattr(tune.stacked, "train_trials", fake_trials)
    monkeypatch.setattr(tune.sweeps, "settings", lambda e: ["gce:q=0.3", "gce:q=0.9"])
    return tune.Tuner(
        tmp_path / "t.csv",
        epochs=2,
        batch_size=64,
        schedule="cosine",
        budget=10,
        screen_epochs=1,
        keep=keep,
    )


def test_what_the_searches_could_see_is_one_row_per_search_and_level(
    tmp_path, labelled, monkeypatch
):
    tuner = screened_gce(tmp_path, monkeypatch, keep=3)
    tuner.run(["gce"], ["none", "sym:0.5"], labelled, "cpu")
    searches, screens = tuner.resolving(["gce"], ["none", "sym:0.5"], labelled, "cpu")
    searches = searches.set_index("noise")
    # a sixth of each class of 600, as Dataset.validation_split holds out
    assert searches.loc["none", "n_val"] == len(labelled.validation_split().test_y) == 101
    assert searches.loc["none", "slope"] == 1.0
    assert searches.loc["sym:0.5", "slope"] == pytest.approx(1 - 0.5 * 10 / 9)
    assert searches.loc["none", "final_count"] == 3
    assert list(screens["noise"]) == ["none", "sym:0.5"]
    assert (screens["candidates"] == 3).all()


def test_a_rate_range_narrows_the_grid_and_keeps_the_budget():
    decades = tune.rate_decades(0.003, 0.3)
    assert tune.rate_grid(3, decades) == (0.003, 0.03, 0.3)
    assert tune.rate_grid(1, decades) == (0.03,)  # one rate: the range's geometric middle
    trials = tune.candidates("gce", 8, decades)
    assert len(trials) == 8 and {t.lr for t in trials} == {0.003, 0.3}
    assert tune.candidates("gce", 8) != trials  # the default range is the wide one
    for low, high in ((0.3, 0.003), (0.0, 0.1), (-1.0, 1.0)):
        with pytest.raises(ValueError, match="--tune-rates"):
            tune.rate_decades(low, high)


def test_the_cli_refuses_a_bad_rate_range_in_one_line(capsys):
    from bench.__main__ import main

    for bad in ("0.3,0.003", "0.1"):
        assert main(["--tune-rates", bad, "--losses", "ce"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "--tune-rates" in line


@pytest.mark.parametrize("keep", [1, 2])
def test_tune_keep_sets_how_many_screened_trials_run_in_full(tmp_path, labelled, monkeypatch, keep):
    tuner = screened_gce(tmp_path, monkeypatch, keep=keep)
    tuner.run(["gce"], ["none"], labelled, "cpu")
    trials = pd.read_csv(tmp_path / "t.csv")
    assert (trials["epochs"] == 1).sum() == 10 and (trials["epochs"] == 2).sum() == keep
    with pytest.raises(ValueError, match="--tune-keep"):
        tune.Tuner(None, epochs=2, batch_size=64, schedule="cosine", keep=0)


def test_the_cli_refuses_a_tune_keep_below_one_in_one_line(capsys):
    from bench.__main__ import main

    assert main(["--tune-keep", "0", "--losses", "ce", "--tune-screen-epochs", "1"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--tune-keep" in line


def peaking_train(config, data, *, on_epoch, **kwargs):
    """A fake loop.train: a trial's validation accuracy peaks at epoch 2 and falls after it,
    as ce's does when it fits noisy labels: rate 0.3 peaks higher and falls further."""
    curve = {0.1: (0.3, 0.7, 0.65), 0.3: (0.3, 0.9, 0.5)}[config.lr]
    for epoch, acc in enumerate(curve, start=1):
        on_epoch(
            {
                "epoch": epoch,
                "status": "ok",
                "test_acc": acc,
                "balanced_acc": acc - 0.1,
                "train_loss": 1.0 / epoch,
            }
        )


def test_early_stopped_runs_are_tuned_at_their_best_epoch_and_kept_apart(
    tmp_path, labelled, monkeypatch
):
    monkeypatch.setattr(tune.loop, "train", peaking_train)
    monkeypatch.setattr(tune, "rate_grid", lambda count, decades=tune.RATES: (0.1, 0.3))
    path = tmp_path / "tuning.csv"
    common = {"epochs": 3, "batch_size": 64, "schedule": "cosine", "budget": 2}
    common["optimizer"] = "momentum:beta=0.9:wd=0"  # not stacked: trained one at a time
    last = tune.Tuner(path, **common).run(["ce"], ["sym:0.5"], labelled, "cpu")
    stopped = tune.Tuner(path, selection="early_stopped", **common)
    assert [len(j.trials) for j in stopped.todo(["ce"], ["sym:0.5"], "cpu")] == [2]
    chosen = stopped.run(["ce"], ["sym:0.5"], labelled, "cpu")
    # the last epoch favours the rate that falls least, the best epoch the one that peaks
    assert last[("sym:0.5", "ce")].lr == 0.1
    assert chosen[("sym:0.5", "ce")].lr == 0.3
    rows = tune.schema.read_rows(path, tune.schema.TUNING)
    scores = {(r["selection"], float(r["lr"])): float(r["val_score"]) for r in rows}
    assert scores == pytest.approx(
        {
            ("last", 0.1): 0.65,
            ("last", 0.3): 0.5,
            ("early_stopped", 0.1): 0.7,
            ("early_stopped", 0.3): 0.9,
        }
    )
    with pytest.raises(ValueError, match="selection must be one of last, early_stopped"):
        tune.Tuner(None, selection="best", **common)
