"""Learning-rate tuning: a stratified validation split, the best rate, and the cache."""

import pytest

from bench.study import tune


def test_tuner_picks_the_best_validation_rate_and_caches_it(tmp_path, make_data):
    data = make_data(n_train=3000)
    path = tmp_path / "tuning.csv"
    tuner = tune.Tuner(path, epochs=1, batch_size=64, schedule="cosine", grid=(1e-4, 0.3))
    trials = []
    rates = tuner.run(["ce"], data, "cpu", on_trial=trials.append)
    assert rates == {"ce": 0.3}  # 1e-4 barely moves the weights in one epoch
    assert len(trials) == 2 and path.exists()
    # cached: a new tuner with the same protocol trains nothing
    again = tune.Tuner(path, epochs=1, batch_size=64, schedule="cosine", grid=(1e-4, 0.3))
    assert again.missing(["ce"], "cpu") == []
    assert again.run(["ce"], data, "cpu", on_trial=pytest.fail) == {"ce": 0.3}
    # another protocol is not served from the cache; --retune forgets it
    other = tune.Tuner(path, epochs=2, batch_size=64, schedule="cosine", grid=(1e-4, 0.3))
    assert len(other.missing(["ce"], "cpu")) == 2
    fresh = tune.Tuner(
        path, epochs=1, batch_size=64, schedule="cosine", grid=(1e-4, 0.3), retune=True
    )
    assert len(fresh.missing(["ce"], "cpu")) == 2


def test_every_trial_diverging_is_a_clear_error(tmp_path, make_data):
    tuner = tune.Tuner(
        tmp_path / "t.csv",
        epochs=1,
        batch_size=32,
        schedule="constant",
        grid=(1e4,),
        validation_fraction=1 / 6,
    )
    with pytest.raises(ValueError, match="every trial diverged"):
        tuner.run(["l2:on=scores"], make_data(n_train=3000), "cpu")


def test_the_two_stage_search_screens_every_rate_then_trains_the_best_in_full(tmp_path, make_data):
    data = make_data(n_train=3000)
    path = tmp_path / "tuning.csv"
    grid = (1e-4, 1e-2, 0.3, 1e4)
    tuner = tune.Tuner(path, epochs=2, batch_size=64, schedule="cosine", grid=grid,
                       screen_epochs=1, keep=2)  # fmt: skip
    trials = []
    rates = tuner.run(["ce"], data, "cpu", on_trial=trials.append)
    screened = {t["lr"]: t for t in trials if t["epochs"] == 1}
    full = {t["lr"]: t for t in trials if t["epochs"] == 2}
    assert sorted(screened) == sorted(grid)  # every rate, for the screening epochs
    ranked = sorted((t["val_acc"], -lr) for lr, t in screened.items() if t["status"] == "ok")
    kept = {-neg for _, neg in ranked[::-1][:2]}
    assert set(full) == kept  # only the two best go on to the full epochs
    best = max(full.values(), key=lambda t: (t["val_acc"], -t["lr"]))
    assert rates == {"ce": best["lr"]}
    # cached: nothing is trained again, and the full-grid tuner of the same protocol does not
    # mistake the screening trials for its own
    again = tune.Tuner(path, epochs=2, batch_size=64, schedule="cosine", grid=grid,
                       screen_epochs=1, keep=2)  # fmt: skip
    assert again.missing(["ce"], "cpu") == []
    full_grid = tune.Tuner(path, epochs=2, batch_size=64, schedule="cosine", grid=grid)
    assert {lr for _, lr, _ in full_grid.missing(["ce"], "cpu")} == set(grid) - kept
