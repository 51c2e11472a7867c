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
