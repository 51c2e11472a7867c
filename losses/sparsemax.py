"""Sparsemax and its loss (Martins & Astudillo 2016): a softmax that can put exactly zero
probability on a class, and the convex, margin-like loss whose gradient is sparsemax(o) − t."""

from __future__ import annotations

import dataclasses

import torch

from losses.base import Loss

# From this many classes τ is found by Michelot's iteration instead of a sort of every row (a sort
# is O(K log K) a row: 34-45x F.cross_entropy at 4096x1000 and 256x32000, 1 thread, AMD EPYC).
SEARCH_FROM_CLASSES = 128


def threshold(shifted: torch.Tensor) -> torch.Tensor:
    """τ of each row of z = o − max o: the support S is the largest k with 1 + k·z_(k) >
    Σ_{j<=k} z_(j) over z sorted descending, and τ = (Σ_{j∈S} z_(j) − 1)/|S|, so that
    Σ_k [z_k − τ]_+ = 1.

    Below SEARCH_FROM_CLASSES classes, by that sort. From there up, by Michelot's iteration
    (Condat 2016, "Fast projection onto the simplex"), from τ = −1 (a lower bound: the largest
    z alone is 0 and must keep a probability of at most 1): C = {k: z_k > τ}, τ = (Σ_C z − 1)/|C|,
    until C stops changing. τ rises at each step and never passes the solution, so C always holds
    the support and the last τ is the sort's, up to the order of the sum (a few steps: the
    classes within 1 of the largest score).
    Shape: shifted (N, K) -> (N, 1).
    """
    if shifted.shape[1] < SEARCH_FROM_CLASSES:
        ordered = shifted.sort(1, descending=True).values
        cumulative = ordered.cumsum(1)
        k = torch.arange(1, shifted.shape[1] + 1, dtype=shifted.dtype, device=shifted.device)
        # the condition holds on a prefix of the sorted scores (and equally across ties)
        size = torch.sum(ordered.mul_(k).add_(1.0) > cumulative, 1, keepdim=True)
        return (cumulative.gather(1, size - 1) - 1.0) / size
    # the candidates z_k > −1, gathered into a narrow (N, most) matrix padded with −inf (a few
    # dozen columns for Gaussian scores at K = 32,000): each step reads that, not all K columns
    rows, columns = (shifted > -1.0).nonzero(as_tuple=True)  # row by row, in column order
    counts = torch.bincount(rows, minlength=shifted.shape[0])
    place = torch.arange(rows.numel(), device=rows.device) - (counts.cumsum(0) - counts)[rows]
    most = int(counts.max()) if counts.numel() else 0
    narrow = shifted.new_full((shifted.shape[0], most), float("-inf"))
    narrow[rows, place] = shifted[rows, columns]
    tau = shifted.new_full((shifted.shape[0], 1), -1.0)
    inside = narrow > tau
    size = inside.sum(1, keepdim=True)
    while True:
        tau = (torch.where(inside, narrow, 0.0).sum(1, keepdim=True) - 1.0) / size
        # C only shrinks (as it does exactly), so rounding near τ cannot make it cycle: at most
        # `most` steps
        inside &= narrow > tau
        found = inside.sum(1, keepdim=True)
        if torch.equal(found, size):
            return tau
        size = found


def sparsemax(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Euclidean projection of the scores onto the probability simplex, p = [z − τ]_+
    (:func:`threshold`'s τ). Computed on z = o − max o: sparsemax is shift-invariant and the
    shift keeps τ exact for scores of 1e4 in float32. Returns (p, z, τ), τ of z.
    Shape: scores (N, K) -> p (N, K), z (N, K), τ (N, 1).
    """
    shifted = scores - scores.amax(1, keepdim=True)
    tau = threshold(shifted)
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
        if target.is_floating_point():
            probs, shifted, tau = sparsemax(scores)
            grad = probs.sub_(target)
            below = (tau - shifted).clamp_min_(0.0)  # [τ − o_k]_+
            return grad.square().sum(1).mul_(0.5) + (target * below).sum(1), grad
        # labels: z is needed at y only, so p = [z − τ]_+ is written over z, then p − e_y
        labels = target.unsqueeze(1)
        grad = scores - scores.amax(1, keepdim=True)
        tau = threshold(grad)
        below = (tau - grad.gather(1, labels)).clamp_min_(0.0).squeeze(1)  # [τ − z_y]_+
        grad = grad.sub_(tau).clamp_min_(0.0)
        grad = grad.scatter_add_(1, labels, grad.new_full((grad.shape[0], 1), -1.0))
        return torch.linalg.vecdot(grad, grad).mul_(0.5) + below, grad
