"""The validation protocols: ``noisy`` is the split tuning has always used; ``trusted:N`` holds
out N examples with their true labels, stratified, and trains on the rest."""

import dataclasses

import pytest
import torch

from bench.datasets import noise, validation


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("noisy", ("noisy", None)),
        ("trusted:1000", ("trusted", 1000)),
        (" trusted:5", ("trusted", 5)),
    ],
)
def test_parse_reads_both_protocols(spec, expected):
    assert tuple(validation.parse(spec)) == expected
    assert validation.canonical(spec) == spec.strip()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("clean", "use noisy or trusted:N"),
        ("trusted", "use noisy or trusted:N"),
        ("noisy:3", "use noisy or trusted:N"),
        ("trusted:1e3", "whole number"),
        ("trusted:0", "at least 1"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, words):
    with pytest.raises(ValueError, match=words) as error:
        validation.parse(spec)
    assert "\n" not in str(error.value)


def test_noisy_holdout_is_the_old_split_of_the_flipped_labels(make_data):
    data = make_data(n_train=600)
    flipped = noise.flip(data.train_y, "sym:0.4", 0, data.num_classes, data.pairs)
    old = dataclasses.replace(data, train_y=flipped).validation_split()
    new = validation.tuning_set(data, "noisy", "sym:0.4")
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(old, name), getattr(new, name)), name


def test_trusted_holds_out_n_true_labels_stratified_and_trains_on_the_rest(make_data):
    data = make_data(n_train=600)
    part = validation.holdout(data, "trusted:50", "sym:0.8", seed=3)
    flipped = noise.flip(data.train_y, "sym:0.8", 3, data.num_classes, data.pairs)
    assert part.val_y.shape == (50,)
    assert torch.equal(part.val_y, data.train_y[part.held])  # true labels
    assert not torch.equal(flipped[part.held], part.val_y)  # at 0.8 most would be wrong
    kept = torch.ones(600, dtype=torch.bool)
    kept[part.held] = False
    assert part.train.train_x.shape[0] == 550
    assert torch.equal(part.train.train_y, flipped[kept])  # the run's own flips, kept rows
    assert torch.equal(part.clean_y, data.train_y[kept])
    assert torch.equal(part.train.test_y, data.test_y)  # the test set is untouched
    # stratified by true class: each class's share within one example of its proportion
    counts = torch.bincount(data.train_y, minlength=10).double()
    held = torch.bincount(part.val_y, minlength=10).double()
    assert (held - 50 * counts / 600).abs().max().item() < 1


def test_trusted_sizes_sum_to_n_and_leave_every_class_on_both_sides():
    labels = torch.tensor([0] * 90 + [1] * 8 + [2] * 2)
    assert validation.trusted_sizes(labels, 3, 10) == [8, 1, 1]
    assert validation.trusted_sizes(labels, 3, 3) == [1, 1, 1]
    assert sum(validation.trusted_sizes(labels, 3, 97)) == 97
    with pytest.raises(ValueError, match="use N between 3 and 97"):
        validation.trusted_sizes(labels, 3, 2)


def test_the_holdout_is_reproducible_and_the_split_seed_moves_it(make_data):
    data = make_data(n_train=600)
    one = validation.holdout(data, "trusted:40", "sym:0.4", seed=1)
    again = validation.holdout(data, "trusted:40", "sym:0.4", seed=1)
    other = validation.holdout(data, "trusted:40", "sym:0.4", seed=1, split_seed=1)
    assert torch.equal(one.held, again.held)
    assert not torch.equal(one.held.sort().values, other.held.sort().values)
