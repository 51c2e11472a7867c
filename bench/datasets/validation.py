"""The validation protocol: which held-out training examples tuning and early stopping select on,
and which labels those examples carry.

A protocol is a spec string:

- ``noisy`` (the default): a stratified share ``VALIDATION_FRACTION`` of the training set held
  out, with labels as noisy as training (flipped before the split): a user with noisy labels
  has no clean ones. On Fashion-MNIST, 10,000 of 60,000 images.
- ``trusted:N``: N training examples held out with their TRUE labels (a small verified set, as
  many noisy-label papers and practitioners have), stratified by true class, excluded from
  training; the rest train, with their noise.

Under symmetric noise at rate ρ with K classes, noisy-label accuracy is
(1 − ρ)·a + ρ/(K − 1)·(1 − a) for clean accuracy a: its slope in a is 1 − ρK/(K − 1) (0.11 at
sym:0.8, K = 10), so a noisy split's standard error √(s(1 − s)/n) is that over the slope in
clean points, whereas a trusted split's is √(a(1 − a)/N) directly. At sym:0.8 on Fashion-MNIST,
1,000 trusted labels carry about as much as 75,000 noisy ones.

Both protocols flip the whole training set's labels first (:func:`bench.datasets.noise.flip`,
the run's seed), so the same examples are flipped as in a run without a hold-out; the
``noisy`` hold-out is then exactly :meth:`Dataset.validation_split` of the flipped labels (the
split tuning has always used, so cached trials stay valid).

    from bench.datasets import validation
    validation.parse("trusted:1000")            # Protocol(kind="trusted", size=1000)
    part = validation.holdout(data, "trusted:1000", "sym:0.8", seed=0)
    part.train      # the Dataset to train on: kept examples, noisy labels; test set unchanged
    part.val_x, part.val_y   # the held-out examples, labels as the protocol gives them
    validation.tuning_set(data, "noisy", "sym:0.4")   # train on the rest, "test" on validation
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch

from bench.datasets import noise
from bench.datasets.base import MIN_PER_CLASS, VALIDATION_FRACTION, DataError, Dataset

KINDS = ("noisy", "trusted")
DEFAULT = "noisy"


class Protocol(NamedTuple):
    """A parsed protocol: ``kind`` in KINDS; ``size`` the trusted examples N (None for noisy)."""

    kind: str
    size: int | None = None

    def __str__(self) -> str:
        return self.kind if self.size is None else f"{self.kind}:{self.size}"


def parse(spec: str) -> Protocol:
    """``noisy`` -> Protocol("noisy"); ``trusted:1000`` -> Protocol("trusted", 1000); a one-line
    ValueError naming the problem and the fix otherwise."""
    kind, colon, size = str(spec).strip().partition(":")
    if kind == "noisy" and not colon:
        return Protocol("noisy")
    if kind != "trusted" or not size:
        raise ValueError(
            f"bad validation protocol {spec!r}: use noisy or trusted:N "
            f"(N training examples held out with their true labels)"
        )
    try:
        count = int(size)
    except ValueError:
        raise ValueError(
            f"bad validation protocol {spec!r}: N in trusted:N must be a whole number, got {size!r}"
        ) from None
    if count < 1:
        raise ValueError(f"bad validation protocol {spec!r}: N in trusted:N must be at least 1")
    return Protocol("trusted", count)


def canonical(spec: str) -> str:
    """The spec as results.csv and tuning.csv write it: ``noisy`` or ``trusted:N``."""
    return str(parse(spec))


def is_trusted(spec: str) -> bool:
    return parse(spec).kind == "trusted"


class Holdout(NamedTuple):
    """A training set split by a protocol.

    ``train``: the dataset to train on: the kept examples (M, D) with their labels after noise
    (``noise.flip`` of the whole training set), its test set unchanged. ``val_x`` (V, D) and
    ``val_y`` (V,): the held-out examples, labels noisy (``noisy``) or true (``trusted:N``).
    ``clean_y`` (M,): the kept examples' true labels (memorised / corrected shares).
    ``held`` (V,) int64: the held-out rows' indices into the original training set.
    """

    train: Dataset
    val_x: torch.Tensor
    val_y: torch.Tensor
    clean_y: torch.Tensor
    held: torch.Tensor


def trusted_sizes(labels: torch.Tensor, num_classes: int, size: int) -> list[int]:
    """How many of each class ``trusted:size`` holds out: ``size`` split in proportion to the
    class counts of ``labels`` (largest remainder), at least one per class and at most n_c − 1,
    so every class stays on both sides. ValueError when that is impossible."""
    counts = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    present = [c for c in range(num_classes) if counts[c]]
    room = sum(counts[c] - 1 for c in present)
    if any(counts[c] < MIN_PER_CLASS for c in present):
        raise DataError(
            f"trusted:{size}: a class has fewer than {MIN_PER_CLASS} training examples; "
            f"the stratified hold-out needs at least {MIN_PER_CLASS} per class"
        )
    if not len(present) <= size <= room:
        raise ValueError(
            f"trusted:{size} cannot be held out of {sum(counts)} training examples in "
            f"{len(present)} classes: use N between {len(present)} and {room}"
        )
    total = sum(counts)
    exact = {c: size * counts[c] / total for c in present}
    sizes = {c: min(counts[c] - 1, max(1, int(exact[c]))) for c in present}
    # hand out the rest by largest remainder (or take back from the largest), within bounds
    while (gap := size - sum(sizes.values())) != 0:
        step = 1 if gap > 0 else -1
        order = sorted(present, key=lambda c: (exact[c] - sizes[c]) * step, reverse=True)
        for c in order:
            if 1 <= sizes[c] + step <= counts[c] - 1:
                sizes[c] += step
                break
    return [sizes.get(c, 0) for c in range(num_classes)]


def _stratified(labels: torch.Tensor, sizes: list[int], seed: int) -> torch.Tensor:
    """``sizes[c]`` examples of each class c, drawn as :meth:`Dataset.validation_split` draws
    them (one generator seeded ``seed``, a permutation per class in class order)."""
    generator = torch.Generator().manual_seed(seed)
    held = []
    for c, size in enumerate(sizes):
        members = (labels == c).nonzero().squeeze(1)
        if len(members):
            held.append(members[torch.randperm(len(members), generator=generator)[:size]])
    return torch.cat(held) if held else torch.zeros(0, dtype=torch.int64)


def _fraction_sizes(labels: torch.Tensor, data: Dataset, fraction: float) -> list[int]:
    """round(fraction × n_c) per class, at least 1 and at most n_c − 1 (validation_split's)."""
    sizes = []
    for c in range(data.num_classes):
        count = int((labels == c).sum())
        if count < MIN_PER_CLASS:
            raise DataError(
                f"{data.spec or 'dataset'}: class {data.classes[c]!r} has {count} training "
                f"example(s); the stratified validation split needs at least {MIN_PER_CLASS} "
                f"per class"
            )
        sizes.append(min(count - 1, max(1, round(count * fraction))))
    return sizes


def holdout(
    data: Dataset,
    spec: str = DEFAULT,
    level: str = "none",
    *,
    seed: int = 0,
    split_seed: int = 0,
    fraction: float = VALIDATION_FRACTION,
) -> Holdout:
    """Split ``data``'s training set by protocol ``spec`` under noise ``level``.

    The whole training set's labels are flipped with ``seed`` (the run's seed; 0 in tuning)
    first, then the hold-out is drawn with ``split_seed``: ``noisy`` stratifies
    round(``fraction`` × n_c) per noisy class (exactly ``data.validation_split``), ``trusted:N``
    stratifies N by true class (:func:`trusted_sizes`) and keeps their true labels.
    Shape: data.train_x (N, D) -> train (N − V, D), val_x (V, D), val_y (V,).
    """
    protocol = parse(spec)
    clean = data.train_y
    noisy = clean
    if noise.canonical(level) != "none":
        # instance-dependent noise draws from the inputs; sym and pairs need none
        inputs = {"features": data.train_x} if level.startswith("idn") else {}
        noisy = noise.flip(clean, level, seed, data.num_classes, data.pairs, **inputs)
    labels = (clean if protocol.kind == "trusted" else noisy).cpu()
    if protocol.kind == "trusted":
        sizes = trusted_sizes(labels, data.num_classes, protocol.size)
    else:
        sizes = _fraction_sizes(labels, data, fraction)
    held = _stratified(labels, sizes, split_seed)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held] = False
    kept = keep.nonzero().squeeze(1).to(clean.device)
    held_here = held.to(clean.device)
    return Holdout(
        train=dataclasses.replace(data, train_x=data.train_x[kept], train_y=noisy[kept]),
        val_x=data.train_x[held_here],
        val_y=(clean if protocol.kind == "trusted" else noisy)[held_here],
        clean_y=clean[kept],
        held=held,
    )


def tuning_set(
    data: Dataset,
    spec: str = DEFAULT,
    level: str = "none",
    *,
    seed: int = 0,
    fraction: float = VALIDATION_FRACTION,
) -> Dataset:
    """The dataset a tuning trial trains and scores on: it trains on the kept examples (noisy
    labels) and *tests* on the held-out ones (the protocol's labels), so a trainer's test
    accuracy on it is the validation score. With ``noisy`` it is the split tuning has always
    used: ``level``'s noise flipped with ``seed`` 0, then ``validation_split(fraction)``."""
    part = holdout(data, spec, level, seed=seed, fraction=fraction)
    return dataclasses.replace(part.train, test_x=part.val_x, test_y=part.val_y)
