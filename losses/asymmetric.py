"""The asymmetric losses of Zhou et al. 2021 ("Asymmetric Loss Functions for Learning with Noisy
Labels", ICML; official code github.com/hitcszx/ALFs): losses of p_y alone, robust to noise.

Each is f(p_y) with ∇ₒ = w(p_y)·(p − e_y), w = −p_y·f′(p_y) (``losses.true_class``). The
defaults are the official code's CIFAR-10 settings (``config.py``, CIFAR10_CONFIG); the sweeps
take its MNIST and CIFAR-10 settings (the product of the two values of each parameter). The
official code (``lnl/losses.py``: AGCELoss, AUELoss, AExpLoss) multiplies each loss by a
``scale``, which is not in the paper's definition and not here (scale the loss with a weighted
sum, ``2*agce``). It clamps nothing: AGCELoss and AUELoss store an ``eps`` = 1e-7 that their
forward never reads, and AExpLoss has none; nothing is clamped here either.
"""

from __future__ import annotations

import dataclasses

import torch

from losses.true_class import TrueClassLoss, set_number

PAPER = 'Zhou et al. 2021, "Asymmetric Loss Functions for Learning with Noisy Labels", ICML'


@dataclasses.dataclass(frozen=True)
class AsymmetricGeneralizedCrossEntropy(TrueClassLoss, name="agce"):
    """AGCE: f = ((a + 1)^q − (a + p_y)^q)/q;  w = p_y·(a + p_y)^(q−1).

    Bounded for q > 0; q = 1 is 1 − p_y exactly (MAE/2, w = p_y). Defaults
    a = 0.6, q = 0.6: the official code's CIFAR-10 setting (MNIST: a = 4, q = 0.2).
    a + p_y is written (a + 1) − (1 − p_y), so it keeps the rival mass where p_y rounds to 1.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    a: float = 0.6
    q: float = 0.6
    paper = PAPER
    code = "github.com/hitcszx/ALFs, lnl/losses.py (AGCELoss); settings in config.py"
    departures = ("the official scale factor is a weighted sum here: 2*agce",)
    family = "noise-robust"
    sweep = {"a": (0.6, 4.0), "q": (0.2, 0.6)}

    def validate_params(self) -> None:
        set_number(self, "a", lambda a: a > 0, "a finite number > 0")
        set_number(self, "q", lambda q: q > 0, "a finite number > 0")

    def value_and_weight(self, log_p_y, p_y, rest):
        if self.q == 1:
            return rest.clone(), p_y.clone()
        shifted = (self.a + 1) - rest  # a + p_y
        power = shifted.pow(self.q - 1)
        value = ((self.a + 1) ** self.q - power * shifted).clamp_min_(0)  # rounding below 0
        return value.div_(self.q), power.mul_(p_y)


@dataclasses.dataclass(frozen=True)
class AsymmetricUnhingedLoss(TrueClassLoss, name="aul"):
    """AUL: f = ((a − p_y)^q − (a − 1)^q)/q;  w = p_y·(a − p_y)^(q−1); a > 1, q > 0.

    q = 1 is 1 − p_y exactly. Defaults a = 5.5, q = 3: the official code's CIFAR-10 setting
    (MNIST: a = 3, q = 0.1). a − p_y is written (a − 1) + (1 − p_y).
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    a: float = 5.5
    q: float = 3.0
    paper = PAPER
    code = "github.com/hitcszx/ALFs, lnl/losses.py (AUELoss); settings in config.py"
    departures = ("the official scale factor is a weighted sum here: 2*aul",)
    family = "noise-robust"
    sweep = {"a": (3.0, 5.5), "q": (0.1, 3.0)}

    def validate_params(self) -> None:
        set_number(self, "a", lambda a: a > 1, "a finite number > 1")
        set_number(self, "q", lambda q: q > 0, "a finite number > 0")

    def value_and_weight(self, log_p_y, p_y, rest):
        if self.q == 1:
            return rest.clone(), p_y.clone()
        shifted = rest + (self.a - 1)  # a − p_y
        power = shifted.pow(self.q - 1)
        value = (power * shifted - (self.a - 1) ** self.q).clamp_min_(0)  # rounding below 0
        return value.div_(self.q), power.mul_(p_y)


@dataclasses.dataclass(frozen=True)
class AsymmetricExponentialLoss(TrueClassLoss, name="ael"):
    """AEL: f = exp(−p_y/a);  w = p_y·exp(−p_y/a)/a; a > 0.

    Default a = 2.5: the official code's CIFAR-10 setting (MNIST: a = 3.5). f(1) = exp(−1/a),
    not 0: a constant offset, which changes no gradient.
    Shape: scores (N, K); target (N,) labels -> (N,) and (N, K).
    """

    a: float = 2.5
    paper = PAPER
    code = "github.com/hitcszx/ALFs, lnl/losses.py (AExpLoss); settings in config.py"
    departures = ("the official scale factor is a weighted sum here: 2*ael",)
    family = "noise-robust"
    sweep = {"a": (2.5, 3.5)}

    def validate_params(self) -> None:
        set_number(self, "a", lambda a: a > 0, "a finite number > 0")

    def value_and_weight(self, log_p_y, p_y, rest):
        value = torch.exp(p_y / -self.a)
        return value, value * p_y / self.a
