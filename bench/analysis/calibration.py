"""Calibration of a trained model's softmax probabilities, and temperature scaling.

Every loss here produces scores; its probabilities are softmax(scores / T). For the losses that
are not trained as likelihoods (margin, L2 on raw scores) the scale of the scores is arbitrary,
which temperature scaling (Guo et al. 2017) corrects with one fitted number.
"""

from __future__ import annotations

import math

import torch

from losses import softmax

BINS = 15


def metrics(
    scores: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, bins: int = BINS
) -> dict[str, float]:
    """NLL, Brier score, expected and maximum calibration error (equal-width confidence bins).

    Shape: scores (N, K), labels (N,). NLL is the mean −log p_y; Brier the mean Σ_k (p_k − t_k)².
    """
    log_probs, probs = softmax.log_softmax(scores.double() / temperature)
    labels = labels.to(scores.device)
    nll = -log_probs.gather(1, labels[:, None]).mean().item()
    brier = probs.clone()
    brier[torch.arange(len(labels)), labels] -= 1
    confidence, predicted = probs.max(1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64, device=scores.device)
    which = torch.bucketize(confidence, edges[1:-1], right=True)
    ece, mce = 0.0, 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap = (correct[members].mean() - confidence[members].mean()).abs().item()
            ece += members.double().mean().item() * gap
            mce = max(mce, gap)
    return {
        "nll": nll,
        "brier": (brier**2).sum(1).mean().item(),
        "ece": ece,
        "mce": mce,
        "temperature": temperature,
    }


def reliability(
    scores: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, bins: int = BINS
) -> list[dict[str, float]]:
    """Per confidence bin: its centre, mean confidence, accuracy and share of examples."""
    probs = softmax.softmax(scores.double() / temperature)
    confidence, predicted = probs.max(1)
    correct = (predicted == labels.to(scores.device)).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    which = torch.bucketize(confidence.cpu(), edges[1:-1], right=True)
    rows = []
    for b in range(bins):
        members = (which == b).to(scores.device)
        if members.any():
            rows.append(
                {
                    "bin": (edges[b] + edges[b + 1]).item() / 2,
                    "confidence": confidence[members].mean().item(),
                    "accuracy": correct[members].mean().item(),
                    "share": members.double().mean().item(),
                }
            )
    return rows


def fit_temperature(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the NLL of softmax(scores / T): golden-section search on log T.

    The NLL is convex in 1/T, so a bracketed 1-D search over log T in [1e-3, 1e3] finds it.
    """
    scores, labels = scores.double(), labels.to(scores.device)

    def nll(log_t: float) -> float:
        log_probs, _ = softmax.log_softmax(scores / math.exp(log_t))
        return -log_probs.gather(1, labels[:, None]).mean().item()

    low, high = math.log(1e-3), math.log(1e3)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    for _ in range(80):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return math.exp((low + high) / 2)
