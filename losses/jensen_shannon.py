"""The Jensen–Shannon divergence loss (Englesson & Azizpour 2021, "Generalized Jensen-Shannon
Divergence Loss for Learning with Noisy Labels", NeurIPS; code github.com/ErikEnglesson/GJS).
"""

from __future__ import annotations

import dataclasses
import math

from losses.true_class import TrueClassLoss, set_number


@dataclasses.dataclass(frozen=True)
class JensenShannon(TrueClassLoss, name="js"):
    """JS_π(e_y, p)/Z: the π-weighted Jensen–Shannon divergence between the label e_y and
    p = softmax(o), with weights (π1, 1 − π1), scaled by 1/Z, Z = −(1 − π1)·ln(1 − π1).

    With m = π1·e_y + (1 − π1)·p, JS = π1·KL(e_y‖m) + (1 − π1)·KL(p‖m). For a label it depends
    on p_y alone: with b = 1 − π1 and m_y = π1 + b·p_y (the rivals' terms are b·p_j·log(1/b)),
        f = [−m_y·log m_y + b·p_y·log p_y − b·(1 − p_y)·log b] / Z,
        w = −p_y·f′ = b·p_y·(log m_y − log b − log p_y) / Z   (→ 0 as p_y → 0).
    The scaling makes it CE as π1 → 0 and MAE/2 = 1 − p_y as π1 → 1 (the paper's Prop. 1).
    Default π1 = 0.7, a CIFAR-10 setting of the paper, which tunes π1 per dataset and noise
    level; the sweep is the paper's {0.1, 0.3, 0.5, 0.7, 0.9}. The official code
    (``losses.py``, JensenShannonDivergenceWeightedScaled) clamps m and p at 1e-7 before each
    log, rival classes included: where p_k or m_k falls below 1e-7 a rival's term changes, so
    value and gradient differ from the formula (measured on Gaussian scores, K = 10, up to
    8e-7 in value and 2e-6 in gradient per example). Nothing is clamped here: m_y >= π1 > 0,
    and each rival's term is b·p_k·log(1/b) exactly. Labels only: the paper's soft-label and
    multi-distribution (GJS) forms are not written here.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    pi1: float = 0.7
    paper = (
        'Englesson & Azizpour 2021, "Generalized Jensen-Shannon Divergence Loss for Learning '
        'with Noisy Labels", NeurIPS'
    )
    code = "github.com/ErikEnglesson/GJS, losses.py (JensenShannonDivergenceWeightedScaled)"
    departures = (
        "no 1e-7 clamp of m and p before the logs (the official one changes value and "
        "gradient by up to about 1e-6 where a rival's p_k < 1e-7)",
        "labels only: the soft-label and multi-distribution (GJS) forms are not written",
    )
    family = "noise-robust"
    sweep = {"pi1": (0.1, 0.3, 0.5, 0.7, 0.9)}

    def validate_params(self) -> None:
        set_number(self, "pi1", lambda p: 0 < p < 1, "in (0, 1) (the label's weight)")

    def value_and_weight(self, log_p_y, p_y, rest):
        b = 1.0 - self.pi1
        log_b, scale = math.log(b), -1.0 / (b * math.log(b))
        mixed = 1.0 - b * rest  # m_y = π1 + b·p_y = 1 − b·(1 − p_y)
        log_mixed = mixed.log()
        value = (b * p_y * log_p_y - mixed * log_mixed - b * log_b * rest) * scale
        weight = (log_mixed - log_p_y - log_b).mul_(p_y * (b * scale))
        return value, weight
