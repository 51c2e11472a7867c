"""The softmax regression model of D2L chapter 3: scores o = xW + b, prediction argmax(o)."""

from __future__ import annotations

import dataclasses

import torch

NUM_INPUTS = 28 * 28
NUM_CLASSES = 10
INIT_STD = 0.01


@dataclasses.dataclass
class SoftmaxRegression:
    """Parameters W (784, 10) and b (10,), updated in place by the trainer.

    W is stored transposed, as ``weight`` (10, 784) like ``nn.Linear``, and the scores are
    computed transposed, as (W x ᵀ)ᵀ: on the CPU the GEMMs run fastest in that form (measured at
    batch 256 on this 2-core machine: forward Wxᵀ 18 µs against 62 µs for x·Wᵀ and 59 µs for
    x·W with W (784, 10); update gᵀx 16 µs against 159 µs into a (784, 10) matrix).
    Shape: x (N, 784) -> scores (N, 10), predictions (N,). The scores are the transpose of a
    contiguous (10, N) matrix, so their strides are (1, N).
    """

    weight: torch.Tensor
    b: torch.Tensor

    @classmethod
    def init(cls, seed: int, device: str | torch.device = "cpu") -> SoftmaxRegression:
        """D2L's init, W ~ N(0, 0.01²) and b = 0, drawn on the CPU so every device starts equal."""
        generator = torch.Generator().manual_seed(seed)
        weights = torch.normal(0.0, INIT_STD, (NUM_INPUTS, NUM_CLASSES), generator=generator)
        return cls.from_weights(weights.to(device), torch.zeros(NUM_CLASSES, device=device))

    @classmethod
    def from_weights(cls, W: torch.Tensor, b: torch.Tensor) -> SoftmaxRegression:
        """A model from W (784, 10) and b (10,), copied."""
        return cls(W.T.contiguous(), b.clone())

    @property
    def W(self) -> torch.Tensor:
        """W (784, 10), a view of the stored weight."""
        return self.weight.T

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """o = xW + b, as (W xᵀ + b)ᵀ. Shape: (N, 784) -> (N, 10), strides (1, N)."""
        return torch.addmm(self.b.unsqueeze(1), self.weight, x.T).T

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """argmax(o). Shape: (N, 784) -> (N,) int64."""
        return self.scores(x).argmax(1)

    def update(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> None:
        """One SGD update from the score gradient g (N, 10): W -= step·xᵀg, b -= step·Σg."""
        self.weight.addmm_(grad.T, x, alpha=-step_size)
        self.b.sub_(grad.sum(0), alpha=step_size)

    def is_finite(self) -> bool:
        return bool(torch.isfinite(self.weight).all() and torch.isfinite(self.b).all())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """{"W": (784, 10), "b": (10,)}, contiguous, on the CPU."""
        return {"W": self.W.detach().cpu().contiguous(), "b": self.b.detach().cpu()}
