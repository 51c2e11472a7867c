"""Label noise for the robustness study: flip training labels, seeded; test labels stay clean.

A noise spec is ``none``, ``sym:RATE`` (each label, with probability RATE, becomes one of the
other K − 1 classes, uniformly) or ``pairs:RATE`` (with probability RATE, a label of a class in
one of the dataset's class pairs becomes its partner; on Fashion-MNIST the classes it already
confuses: shirt ↔ t-shirt/top, pullover ↔ coat). Only datasets that define pairs take ``pairs``.
"""

from __future__ import annotations

import torch

KINDS = ("none", "sym", "pairs")


def parse(spec: str) -> tuple[str, float]:
    """``sym:0.4`` -> ("sym", 0.4); ValueError naming the problem otherwise."""
    kind, _, rate = spec.partition(":")
    if kind == "none" and not rate:
        return "none", 0.0
    if kind not in KINDS[1:] or not rate:
        raise ValueError(f"bad noise {spec!r}: use none, sym:RATE or pairs:RATE (RATE in [0, 1])")
    try:
        value = float(rate)
    except ValueError:
        raise ValueError(f"bad noise rate in {spec!r}: {rate!r} is not a number") from None
    if not 0 <= value <= 1:
        raise ValueError(f"noise rate must lie in [0, 1], got {value:g} in {spec!r}")
    return kind, value


def canonical(spec: str) -> str:
    """The spec as results.csv writes it: ``none``, ``sym:0.4``, ``pairs:0.2``."""
    kind, rate = parse(spec)
    return "none" if kind == "none" or rate == 0 else f"{kind}:{rate:g}"


def check_fits(spec: str, pairs, dataset: str = "this dataset") -> None:
    """Raise ValueError when ``spec`` asks for class pairs that the dataset does not define."""
    kind, rate = parse(spec)
    if kind == "pairs" and rate > 0 and not pairs:
        raise ValueError(
            f"noise {spec!r} flips class pairs, but {dataset} defines none: use sym:RATE"
        )


def flip(
    labels: torch.Tensor,
    spec: str,
    seed: int,
    num_classes: int,
    pairs: tuple[tuple[int, int], ...] | None = None,
) -> torch.Tensor:
    """Noisy copy of ``labels`` (N,) int64; the same seed flips the same examples in every run.

    ``pairs`` are the dataset's class pairs (each flipped both ways) for ``pairs:RATE``.
    Drawn on the CPU with its own generator, then moved to the labels' device.
    """
    kind, rate = parse(spec)
    check_fits(spec, pairs)
    if kind == "none" or rate == 0:
        return labels.clone()
    generator = torch.Generator().manual_seed(10_007 + seed)
    clean = labels.cpu()
    hit = torch.rand(clean.shape[0], generator=generator) < rate
    if kind == "sym":
        # an offset in 1..K-1 lands on each other class with equal probability
        offset = torch.randint(1, num_classes, clean.shape, generator=generator)
        noisy = torch.where(hit, (clean + offset) % num_classes, clean)
    else:
        partner = clean.clone()
        for a, b in pairs:
            partner[clean == a] = b
            partner[clean == b] = a
        noisy = torch.where(hit, partner, clean)
    return noisy.to(labels.device)
