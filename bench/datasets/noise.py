"""Label noise for the robustness study: flip training labels, seeded; test labels stay clean.

A noise spec is ``none``, ``sym:RATE`` (each label, with probability RATE, becomes one of the
other K − 1 classes, uniformly) or ``pairs:RATE`` (with probability RATE, a label of a class in
one of the dataset's class pairs becomes its partner; on Fashion-MNIST the classes it already
confuses: shirt ↔ t-shirt/top, pullover ↔ coat). Only datasets that define pairs take ``pairs``.

``idn:RATE`` is instance-dependent noise as Xia et al. 2020 ("Part-dependent label noise",
NeurIPS; the generator ``get_instance_noisy_label`` of their code, which the IDN results of later
papers use). Example i with features x_i (D,) and label y_i:

- its flip rate q_i is drawn from a normal of mean RATE and sd ``IDN_SD`` = 0.1 truncated to
  [0, 1], so E[q_i] = RATE (for RATE away from the bounds);
- a random projection W ~ N(0, 1) of shape (K, D, K), one (D, K) matrix per true class, scores
  the wrong classes: s = x_i W[y_i] (K,), s[y_i] = −∞;
- the label stays y_i with probability 1 − q_i and becomes class j ≠ y_i with probability
  q_i · softmax(s)_j, so which wrong class, and how likely a flip, both depend on the instance.

The features are the training inputs as the model sees them (``features``, (N, D)); on
Fashion-MNIST's [0, 1] pixels the projections have an sd of ‖x_i‖ ≈ 10, so each image has
one dominant wrong class, set by its pixels. Only ``idn`` reads the features.
"""

from __future__ import annotations

import torch

KINDS = ("none", "sym", "pairs", "idn")
IDN_SD = 0.1  # Xia et al.'s norm_std: the sd of the per-example flip rate around RATE


def parse(spec: str) -> tuple[str, float]:
    """``sym:0.4`` -> ("sym", 0.4); ValueError naming the problem otherwise."""
    kind, _, rate = spec.partition(":")
    if kind == "none" and not rate:
        return "none", 0.0
    if kind not in KINDS[1:] or not rate:
        raise ValueError(
            f"bad noise {spec!r}: use none, sym:RATE, pairs:RATE or idn:RATE (RATE in [0, 1])"
        )
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
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """Noisy copy of ``labels`` (N,) int64; the same seed flips the same examples in every run.

    ``pairs`` are the dataset's class pairs (each flipped both ways) for ``pairs:RATE``;
    ``features`` (N, D) the examples' inputs, which ``idn:RATE`` needs (the others ignore it).
    Drawn on the CPU with its own generator, then moved to the labels' device.
    """
    kind, rate = parse(spec)
    check_fits(spec, pairs)
    if kind == "none" or rate == 0:
        return labels.clone()
    generator = torch.Generator().manual_seed(10_007 + seed)
    clean = labels.cpu()
    if kind == "idn":
        if features is None or features.shape[0] != clean.shape[0]:
            raise ValueError(
                f"noise {spec!r} depends on each example's features: pass features= "
                f"(N, D) with one row per label ({clean.shape[0]})"
            )
        return instance_flip(clean, rate, features.cpu(), num_classes, generator).to(labels.device)
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


def truncated_normal(n: int, mean: float, sd: float, generator: torch.Generator) -> torch.Tensor:
    """n draws (float64) of a normal(mean, sd) truncated to [0, 1], by inverting its CDF:
    q = mean + sd · Φ⁻¹(u), u uniform on [Φ((0 − mean)/sd), Φ((1 − mean)/sd)]."""
    bounds = torch.special.ndtr(torch.tensor([-mean / sd, (1 - mean) / sd], dtype=torch.float64))
    uniform = torch.rand(n, dtype=torch.float64, generator=generator)
    u = bounds[0] + (bounds[1] - bounds[0]) * uniform
    return (mean + sd * torch.special.ndtri(u)).clamp(0, 1)


def instance_flip(
    labels: torch.Tensor,
    rate: float,
    features: torch.Tensor,
    num_classes: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Xia et al.'s instance-dependent flips (the module docstring): q_i ~ N(rate, IDN_SD²)
    truncated to [0, 1]; W ~ N(0, 1) (K, D, K); P(i → j) = q_i · softmax(x_i W[y_i])_j over
    j ≠ y_i, P(i → y_i) = 1 − q_i; one draw per example. Float64 throughout.
    Shape: labels (N,), features (N, D) -> (N,) int64, on the CPU."""
    n, d = features.shape
    q = truncated_normal(n, rate, IDN_SD, generator)
    projection = torch.randn(num_classes, d, num_classes, dtype=torch.float64, generator=generator)
    x = features.double()
    scores = torch.empty(n, num_classes, dtype=torch.float64)
    for c in range(num_classes):  # one (N_c, D) @ (D, K) product per true class
        members = labels == c
        scores[members] = x[members] @ projection[c]
    true = torch.nn.functional.one_hot(labels, num_classes).bool()
    probs = q.unsqueeze(1) * torch.softmax(scores.masked_fill(true, -torch.inf), 1)
    probs = torch.where(true, (1 - q).unsqueeze(1), probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)
