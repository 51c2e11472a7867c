"""digits and breast_cancer draw a new stratified train/test split per seed: reproducible from
the seed, the same for every loss of that seed, seed 0 the split ``load`` returns."""

import pytest
import torch

from bench import datasets
from bench.study import runner
from bench.study.results import Results
from bench.training.config import RunConfig


def rows_key(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One integer per example (its features hashed with its label), sorted: a split's identity."""
    key = torch.randint(0, 2**20, (x.shape[1],), generator=torch.Generator().manual_seed(1))
    return ((x * 1000).round().long() @ key * 100 + y).sort().values


@pytest.mark.parametrize("spec", ["digits", "breast_cancer"])
def test_each_seed_draws_its_own_stratified_split_reproducibly(spec):
    data = datasets.load(spec)
    assert data.for_seed(0).fingerprint() == data.fingerprint()  # seed 0 is load()'s split
    one, again, two = data.for_seed(1), data.for_seed(1), data.for_seed(2)
    assert one.fingerprint() == again.fingerprint()
    assert len({data.fingerprint(), one.fingerprint(), two.fingerprint()}) == 3
    for split in (one, two):
        assert split.train_y.shape == data.train_y.shape
        assert split.test_y.shape == data.test_y.shape
        # stratified: each class's test count is the same as in seed 0's split, within one
        counts = torch.bincount(split.test_y, minlength=data.num_classes)
        reference = torch.bincount(data.test_y, minlength=data.num_classes)
        assert (counts - reference).abs().max().item() <= 1
    # a new split: most test examples of seed 1 are training examples of seed 2
    assert not torch.equal(
        rows_key(one.test_x[:, :5], one.test_y), rows_key(two.test_x[:, :5], two.test_y)
    )


def test_a_dataset_with_a_test_set_keeps_it(make_data):
    data = make_data()
    assert data.for_seed(3) is data


def test_runs_of_one_seed_share_its_split_whatever_their_loss(tmp_path, monkeypatch):
    seen = []

    def fake_train(config, data, **kwargs):
        seen.append((config.loss, config.seed, data.fingerprint()))
        raise KeyboardInterrupt  # enough: only the data handed over is checked

    monkeypatch.setattr(runner.loop, "train", fake_train)
    data = datasets.load("digits")
    configs = [
        RunConfig(loss, seed=seed, epochs=1, dataset="digits")
        for seed in (1, 2)
        for loss in ("ce", "nce")
    ]
    for config in configs:
        with pytest.raises(KeyboardInterrupt):
            runner.train_all([config], {"digits": data}, Results(tmp_path), tmp_path, lambda: False)
    by_seed = {}
    for _, seed, fingerprint in seen:
        by_seed.setdefault(seed, set()).add(fingerprint)
    assert by_seed == {1: {data.for_seed(1).fingerprint()}, 2: {data.for_seed(2).fingerprint()}}
