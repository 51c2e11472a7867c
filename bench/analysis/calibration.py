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
    """The T > 0 minimising the NLL of softmax(scores / T): scipy's bounded scalar search on
    log T in [1e-3, 1e3] (the NLL is convex in 1/T, so the bracket holds its one minimum).

    On one thread: each NLL is a pass over a (N, K) table too small for threads to pay, and
    on a shared 2-core machine they made the search 15 times slower.
    """
    from scipy.optimize import minimize_scalar

    scores, labels = scores.double(), labels.to(scores.device)

    def nll(log_t: float) -> float:
        log_probs, _ = softmax.log_softmax(scores / math.exp(log_t))
        return -log_probs.gather(1, labels[:, None]).mean().item()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        found = minimize_scalar(
            nll, bounds=(math.log(1e-3), math.log(1e3)), method="bounded", options={"xatol": 1e-6}
        )
    finally:
        torch.set_num_threads(threads)
    return math.exp(found.x)
