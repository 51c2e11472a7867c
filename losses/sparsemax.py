"""Sparsemax and its loss (Martins & Astudillo 2016): a softmax that can put exactly zero
probability on a class, and the convex, margin-like loss whose gradient is sparsemax(o) − t."""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss


def sparsemax(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Euclidean projection of the scores onto the probability simplex, p = [z − τ]_+.

    Sort z descending; the support is the largest k with 1 + k·z_(k) > Σ_{j<=k} z_(j), and
    τ = (Σ_{j<=k} z_(j) − 1)/k. Computed on z = o − max o: sparsemax is shift-invariant and the
    shift keeps τ exact for scores of 1e4 in float32. Returns (p, z, τ).
    Shape: scores (N, K) -> p (N, K), z (N, K), τ (N, 1).
    """
    shifted = scores - scores.amax(1, keepdim=True)
    ordered = shifted.sort(1, descending=True).values
    cumulative = ordered.cumsum(1)
    k = torch.arange(1, scores.shape[1] + 1, dtype=scores.dtype, device=scores.device)
    # the condition holds on a prefix of the sorted scores (and equally across ties)
    size = torch.sum(ordered.mul_(k).add_(1.0) > cumulative, 1, keepdim=True)
    tau = (cumulative.gather(1, size - 1) - 1.0) / size
    return (shifted - tau).clamp_min_(0.0), shifted, tau


@dataclasses.dataclass(frozen=True)
class Sparsemax(Loss, name="sparsemax"):
    """Sparsemax loss (Martins & Astudillo, ICML 2016), for a target row t (one-hot for a label):

        L = −⟨t, o⟩ + ½ Σ_{j∈S(o)} (o_j² − τ(o)²) + ½‖t‖²
          = ½‖p − t‖² + Σ_k t_k [τ − o_k]_+,    p = sparsemax(o) = [o − τ]_+;
        gradient  p − t.

    The second form (⟨t, o − τ⟩ = ⟨t, p⟩ − Σ t_k [τ − o_k]_+, as Σ_{j∈S} (o_j − τ) = 1) is what is
    computed: a sum of non-negative terms, with no o² − τ² cancellation at large scores. It is
    the Fenchel–Young loss of ½‖p‖²: convex, 0 exactly where p = t, i.e. for a label where o_y
    beats every other score by at least 1 (a margin of 1, like the hinge's); no parameters.
    Shape: scores (N, K); target (N,) labels or (N, K) probabilities -> (N,) and (N, K).
    """

    applied_to = "scores"
    family = "margin-sparse"
    paper = (
        'Martins & Astudillo 2016, "From Softmax to Sparsemax: A Sparse Model of '
        'Attention and Multi-Label Classification", ICML'
    )
    code = "github.com/deep-spin/entmax, entmax/losses.py (SparsemaxLoss)"
    departures = ()
    target_encoding = "one-hot or probability rows"
    accepts_soft_targets = True
    convex_in_scores = True

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "margin": "1 (the loss is 0 once o_y − o_i >= 1 for all i)"}

    def compute(self, scores, target):
        probs, shifted, tau = sparsemax(scores)
        if target.is_floating_point():
            grad = probs - target
            below = (tau - shifted).clamp_min_(0.0)  # [τ − o_k]_+
            return grad.square().sum(1).mul_(0.5) + (target * below).sum(1), grad
        labels = target.unsqueeze(1)
        grad = probs.scatter_add(1, labels, probs.new_full((probs.shape[0], 1), -1.0))
        below = (tau - shifted.gather(1, labels)).clamp_min_(0.0).squeeze(1)  # [τ − o_y]_+
        return grad.square().sum(1).mul_(0.5) + below, grad
