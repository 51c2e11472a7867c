"""Targets: labels to probability rows (one-hot, smoothed), and the checks every loss makes."""

from __future__ import annotations

import torch


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """One-hot probability rows of ``labels``.

    Shape: labels (N,) int64 -> (N, K) in ``dtype``, on the labels' device.
    """
    rows = torch.zeros(labels.shape[0], num_classes, dtype=dtype, device=labels.device)
    return rows.scatter_(1, labels.unsqueeze(1), 1.0)


def as_probs(target: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """The target as probability rows: labels become one-hot, probability rows pass through.

    Shape: target (N,) or (N, K) -> (N, K).
    """
    if target.is_floating_point():
        return target.to(dtype)
    return one_hot(target, num_classes, dtype)


def smooth(probs: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Label smoothing: (1 - smoothing)·t + smoothing/K, the convention of torch and timm.

    Shape: (N, K) -> (N, K).
    """
    return probs * (1.0 - smoothing) + smoothing / probs.shape[1]


def check_scores(scores: torch.Tensor) -> None:
    """Raise ValueError unless ``scores`` is an (N, K) floating tensor with K >= 1."""
    if not isinstance(scores, torch.Tensor):
        raise ValueError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape (N, K), got {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise ValueError(f"scores must be floating point, got {scores.dtype}")
    if scores.shape[1] < 1:
        raise ValueError("scores must have at least one class column, got K = 0")


def check_target(scores: torch.Tensor, target: torch.Tensor, *, check_values: bool = True) -> None:
    """Raise ValueError unless ``target`` fits ``scores``: labels (N,) in [0, K) or (N, K) rows.

    ``check_values=False`` keeps the shape and dtype checks but skips those that read values
    (and so synchronise with a GPU): label range, negative entries, row sums.
    """
    if not isinstance(target, torch.Tensor):
        raise ValueError(f"target must be a torch.Tensor, got {type(target).__name__}")
    n, k = scores.shape
    if target.is_floating_point():
        if target.shape != scores.shape:
            raise ValueError(
                f"soft target must have the shape of scores {tuple(scores.shape)}, "
                f"got {tuple(target.shape)}"
            )
        if check_values and n > 0:
            if (target < 0).any():
                raise ValueError("soft target has negative entries: rows must be probabilities")
            tolerance = 1e-3 if target.element_size() <= 2 else 1e-4
            sums = target.sum(1, dtype=torch.float64)
            worst = (sums - 1).abs().max().item()
            if not worst <= tolerance:
                raise ValueError(
                    f"soft target rows must sum to 1, found a row off by {worst:.3g}: "
                    "normalise them (t / t.sum(1, keepdim=True))"
                )
        return
    if target.dim() != 1:
        raise ValueError(
            f"labels must have shape (N,) = ({n},), got {tuple(target.shape)}; "
            "pass probability rows as a floating (N, K) tensor"
        )
    if target.shape[0] != n:
        raise ValueError(f"scores have N = {n} rows but target has {target.shape[0]}")
    if target.dtype != torch.int64:
        raise ValueError(f"labels must be int64 (torch.long), got {target.dtype}: use .long()")
    if check_values and n > 0:
        low, high = target.min().item(), target.max().item()
        if low < 0 or high >= k:
            bad = low if low < 0 else high
            raise ValueError(f"label {bad} is out of range [0, {k}) for scores with K = {k}")


def residual(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """probs − t, with t the target's probability rows; labels never build a one-hot matrix.

    Shape: probs (N, K); target (N,) labels or (N, K) rows -> (N, K), a new tensor.
    """
    if target.is_floating_point():
        return probs - target
    minus_one = probs.new_full((probs.shape[0], 1), -1.0)
    return probs.scatter_add(1, target.unsqueeze(1), minus_one)


def residual_(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`residual` in place: probs becomes probs − t (for a loss's own fresh probs, it
    saves a copy of the (N, K) scores). Shape: as :func:`residual`."""
    if target.is_floating_point():
        return probs.sub_(target)
    minus_one = probs.new_full((probs.shape[0], 1), -1.0)
    return probs.scatter_add_(1, target.unsqueeze(1), minus_one)
