"""The softmax link, stable: log-probabilities and probabilities from scores in one pass."""

from __future__ import annotations

import torch


def log_softmax(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (log softmax(o), softmax(o)) over the class dimension.

    z = o − max(o), log p = z − log Σ exp(z), p = exp(z) / Σ exp(z): finite for any finite
    scores, and no log of a probability that underflowed. Written out rather than calling
    ``torch.log_softmax``: on the CPU torch's fused kernel reduces a short class dimension
    (K = 10) slowly, and this is about twice as fast from 1024 rows up (65536×10: 2.4 ms vs
    5.4 ms for log_softmax alone), at a few µs more on a 256-row batch.
    Shape: (N, K) -> (N, K), (N, K).
    """
    shifted = scores - scores.amax(1, keepdim=True)
    exp = shifted.exp()
    total = exp.sum(1, keepdim=True)
    return shifted.sub_(total.log()), exp.div_(total)


def softmax(scores: torch.Tensor) -> torch.Tensor:
    """softmax(o) = exp(o − max o) / Σ exp(o − max o) over the class dimension, without the log
    that :func:`log_softmax` also takes. Shape: (N, K) -> (N, K)."""
    exp = (scores - scores.amax(1, keepdim=True)).exp_()
    return exp.div_(exp.sum(1, keepdim=True))
