"""The square loss for classification on raw scores, rescaled as Hui & Belkin (2021) train it."""

from __future__ import annotations

import dataclasses
import math

from losses.base import Loss


@dataclasses.dataclass(frozen=True)
class HuiBelkin(Loss, name="hui_belkin"):
    """Rescaled square loss on raw scores (Hui & Belkin, ICLR 2021, "Evaluation of neural
    architectures trained with square loss vs cross-entropy in classification tasks"):

        L = (1/K)·[ k·(o_y − m)² + Σ_{j≠y} o_j² ];
        gradient  (2/K)·k·(o_y − m) at y,  (2/K)·o_j elsewhere.

    k weights the true class's term and m is its target score; the minimum, L = 0, is at
    o = m·e_y. Default k = m = 1, the paper's setting for its data sets with few classes (plain
    square loss against the one-hot target, averaged over classes); it rescales (k, m > 1) only
    for data sets with many classes, ImageNet's 1000 among them. Labels only: the paper defines
    k and m for one true class, and a probability row has no single one.
    Ranges: k > 0 and m finite. Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    k: float = 1.0
    m: float = 1.0
    paper = (
        'Hui & Belkin 2021, "Evaluation of Neural Architectures Trained with '
        'Square Loss vs Cross-Entropy in Classification Tasks", ICLR'
    )
    code = None
    departures = ()
    applied_to = "scores"
    family = "square"
    sweep = {"k": (1.0, 5.0), "m": (1.0, 15.0)}  # Hui & Belkin 2021
    target_encoding = "class label"
    accepts_soft_targets = False
    convex_in_scores = True

    def validate_params(self) -> None:
        for key, positive in (("k", True), ("m", False)):
            value = getattr(self, key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and (value > 0 or not positive)
            if not ok:
                kind = "a positive finite number" if positive else "a finite number"
                raise ValueError(f"hui_belkin {key} must be {kind}, got {value!r}")
            object.__setattr__(self, key, float(value))

    def describe(self) -> dict[str, str]:
        return {
            **super().describe(),
            "target": f"class label: o_y → m = {self.m:g}, others → 0",
            "reduction": "mean over classes; mean over the batch",
        }

    def compute(self, scores, target):
        labels = target.unsqueeze(1)
        scale = 2.0 / scores.shape[1]
        miss = scores.gather(1, labels).sub_(self.m)  # o_y − m
        rivals = scores.scatter(1, labels, 0.0)  # o with o_y := 0
        value = rivals.square().sum(1).add_(miss.square().mul_(self.k).squeeze(1))
        grad = rivals.mul_(scale).scatter_(1, labels, miss.mul_(self.k * scale))
        return value.mul_(0.5 * scale), grad
