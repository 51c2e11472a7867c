"""Label noise: seeded flips at the asked rate, to other classes or to the confused partner."""

import pytest
import torch

from bench.datasets import noise
from bench.datasets.fashion_mnist import PAIRS
from bench.training.config import RunConfig
from bench.training.loop import train

LABELS = torch.arange(10).repeat(2000)  # 20,000 labels, 2,000 per class


@pytest.mark.parametrize("rate", [0.2, 0.4, 0.8])
def test_symmetric_noise_flips_the_rate_to_other_classes_uniformly(rate):
    noisy = noise.flip(LABELS, f"sym:{rate}", 0, 10)
    flipped = noisy != LABELS
    assert flipped.float().mean().item() == pytest.approx(rate, abs=0.015)
    # flips land on each of the 9 other classes about equally
    offsets = (noisy[flipped] - LABELS[flipped]) % 10
    counts = torch.bincount(offsets, minlength=10)
    assert counts[0] == 0
    assert counts[1:].min() > 0.8 * counts[1:].float().mean()


def test_pair_noise_only_swaps_shirt_tshirt_and_pullover_coat():
    noisy = noise.flip(LABELS, "pairs:0.4", 0, 10, PAIRS)
    flipped = noisy != LABELS
    pairs = set(zip(LABELS[flipped].tolist(), noisy[flipped].tolist(), strict=True))
    assert pairs == {(0, 6), (6, 0), (2, 4), (4, 2)}
    for c in (0, 2, 4, 6):
        assert flipped[LABELS == c].float().mean().item() == pytest.approx(0.4, abs=0.04)
    assert not flipped[(LABELS == 1) | (LABELS == 9)].any()


def test_pair_noise_needs_a_dataset_with_pairs():
    with pytest.raises(ValueError, match="defines none: use sym:RATE") as info:
        noise.check_fits("pairs:0.2", None, "digits")
    assert "digits" in str(info.value) and "\n" not in str(info.value)
    noise.check_fits("sym:0.2", None, "digits")  # symmetric noise fits every dataset
    noise.check_fits("pairs:0", None, "digits")  # no flips asked for


def test_same_seed_same_flips_other_seed_other_flips():
    a = noise.flip(LABELS, "sym:0.4", 3, 10)
    assert torch.equal(a, noise.flip(LABELS, "sym:0.4", 3, 10))
    assert not torch.equal(a, noise.flip(LABELS, "sym:0.4", 4, 10))


def test_no_noise_is_a_copy():
    clean = noise.flip(LABELS, "none", 0, 10)
    assert torch.equal(clean, LABELS) and clean is not LABELS
    assert noise.canonical("sym:0") == "none" and noise.canonical("sym:0.40") == "sym:0.4"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("sym", "sym:RATE"),
        ("gauss:0.1", "sym:RATE"),
        ("sym:x", "not a number"),
        ("sym:1.5", "[0, 1]"),
        ("pairs:-0.1", "[0, 1]"),
    ],
)
def test_bad_noise_specs_name_the_problem(spec, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        noise.parse(spec)
    with pytest.raises(ValueError):
        RunConfig("ce", noise=spec)


def test_noisy_training_reports_memorisation_and_keeps_test_labels_clean(make_data):
    data = make_data(n_train=400)
    rows = []
    train(
        RunConfig("ce", epochs=3, lr=0.5, batch_size=32, noise="sym:0.4"),
        data,
        on_epoch=rows.append,
    )
    last = rows[-1]
    assert 0 <= last["memorised"] <= 1
    assert last["test_acc"] > 0.8  # the clean test set is still learnt
    clean = []
    train(RunConfig("ce", epochs=1, batch_size=32), data, on_epoch=clean.append)
    assert clean[-1]["memorised"] != clean[-1]["memorised"]  # NaN without flips


def test_instance_noise_needs_the_features():
    with pytest.raises(ValueError, match="pass features=") as info:
        noise.flip(LABELS, "idn:0.4", 0, 10)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="one row per label"):
        noise.flip(LABELS, "idn:0.4", 0, 10, features=torch.rand(5, 3))
    assert noise.canonical("idn:0.40") == "idn:0.4"


def test_truncated_normal_matches_scipys_truncnorm():
    from scipy import stats

    draws = noise.truncated_normal(200_000, 0.9, 0.1, torch.Generator().manual_seed(0))
    reference = stats.truncnorm(-9, 1, loc=0.9, scale=0.1)  # bounds in sds: (0 − 0.9)/0.1, ...
    assert draws.min() >= 0 and draws.max() <= 1
    assert draws.mean().item() == pytest.approx(reference.mean(), abs=1e-3)
    assert draws.std().item() == pytest.approx(reference.std(), abs=1e-3)
    quartiles = torch.quantile(
        draws[:100_000], torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    )
    assert quartiles.tolist() == pytest.approx(reference.ppf([0.25, 0.5, 0.75]), abs=2e-3)


def test_instance_noise_is_seeded_and_never_flips_to_the_true_class(make_data):
    data = make_data(n_train=2000, n_test=10)
    a = noise.flip(data.train_y, "idn:0.4", 3, 10, features=data.train_x)
    assert torch.equal(a, noise.flip(data.train_y, "idn:0.4", 3, 10, features=data.train_x))
    assert not torch.equal(a, noise.flip(data.train_y, "idn:0.4", 4, 10, features=data.train_x))
    flipped = a != data.train_y
    assert flipped.float().mean().item() == pytest.approx(0.4, abs=0.03)
    assert torch.equal(
        noise.flip(data.train_y, "idn:0", 3, 10, features=data.train_x), data.train_y
    )


def nearest_neighbour_agreement(x, clean, noisy) -> float:
    """Among flipped examples of each true class, how often an example's wrong label is that of
    its nearest neighbour (Euclidean, same true class, flipped too): 1/(K − 1) for flips that
    ignore the instance, near 1 where similar images get the same wrong label."""
    flipped = noisy != clean
    hits, total = 0, 0
    for c in clean.unique():
        rows = (flipped & (clean == c)).nonzero().squeeze(1)
        distances = torch.cdist(x[rows], x[rows]).fill_diagonal_(torch.inf)
        nearest = rows[distances.argmin(1)]
        hits += (noisy[rows] == noisy[nearest]).sum().item()
        total += len(rows)
    return hits / total


@pytest.fixture(scope="module")
def fashion_subset(fashion_mnist):
    from bench.datasets.fashion_mnist_subset import draw

    return draw(fashion_mnist, 10_000, 0)


@pytest.mark.realdata
@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_instance_noise_realises_its_rate_on_fashion_mnist(fashion_mnist, fashion_subset, rate):
    for data in (fashion_mnist, fashion_subset):
        for seed in (0, 1):
            noisy = noise.flip(data.train_y, f"idn:{rate}", seed, 10, features=data.train_x)
            realised = (noisy != data.train_y).float().mean().item()
            assert realised == pytest.approx(rate, abs=0.01)


@pytest.mark.realdata
def test_instance_noise_depends_on_the_image(fashion_subset):
    data = fashion_subset
    x, clean = data.train_x, data.train_y
    idn = noise.flip(clean, "idn:0.4", 0, 10, features=x)
    sym = noise.flip(clean, "sym:0.4", 0, 10)
    # similar images of one class get the same wrong label; under sym noise, 1 in 9 do
    assert nearest_neighbour_agreement(x, clean, sym) == pytest.approx(1 / 9, abs=0.03)
    assert nearest_neighbour_agreement(x, clean, idn) > 0.5
    # and each class's flips concentrate on a few classes instead of spreading over all nine
    flipped = idn != clean
    for c in range(10):
        wrong = torch.bincount(idn[flipped & (clean == c)], minlength=10).double()
        assert wrong.max() / wrong.sum() > 1.5 / 9
