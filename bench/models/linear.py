"""Softmax regression, D2L chapter 3: scores o = xW + b, prediction argmax(o)."""

from __future__ import annotations

import dataclasses

import torch

from bench.models.base import ModelPart

INIT_STD = 0.01  # D2L's init: W ~ N(0, 0.01²), b = 0


@dataclasses.dataclass(frozen=True)
class Linear(ModelPart, name="linear"):
    """Softmax regression (D2L chapter 3): one linear layer from D inputs to K scores."""

    linear = True

    def init(self, seed, num_inputs, num_classes, device="cpu") -> SoftmaxRegression:
        return SoftmaxRegression.init(seed, device, num_inputs, num_classes)

    def from_state(self, state, device="cpu") -> SoftmaxRegression:
        return SoftmaxRegression.from_weights(state["W"].to(device), state["b"].to(device))

    def describe(self) -> str:
        return "softmax regression (D2L chapter 3: o = xW + b)"


@dataclasses.dataclass
class SoftmaxRegression:
    """Parameters W (D, K) and b (K,), updated in place by the trainer.

    W is stored transposed, as ``weight`` (K, D) like ``nn.Linear``, and the scores are
    computed transposed, as (W x ᵀ)ᵀ: on the CPU the GEMMs run fastest in that form (measured at
    batch 256, D = 784, K = 10, on a 2-core machine: forward Wxᵀ 18 µs against 62 µs for x·Wᵀ and
    59 µs for x·W with W (784, 10); update gᵀx 16 µs against 159 µs into a (784, 10) matrix).
    Shape: x (N, D) -> scores (N, K), predictions (N,). The scores are the transpose of a
    contiguous (K, N) matrix, so their strides are (1, N).
    """

    weight: torch.Tensor
    b: torch.Tensor

    @classmethod
    def init(
        cls,
        seed: int,
        device: str | torch.device = "cpu",
        num_inputs: int = 784,
        num_classes: int = 10,
    ) -> SoftmaxRegression:
        """D2L's init, W ~ N(0, 0.01²) and b = 0, drawn on the CPU so every device starts equal."""
        generator = torch.Generator().manual_seed(seed)
        weights = torch.normal(0.0, INIT_STD, (num_inputs, num_classes), generator=generator)
        return cls.from_weights(weights.to(device), torch.zeros(num_classes, device=device))

    @classmethod
    def from_weights(cls, W: torch.Tensor, b: torch.Tensor) -> SoftmaxRegression:
        """A model from W (D, K) and b (K,), copied."""
        return cls(W.T.contiguous(), b.clone())

    @property
    def W(self) -> torch.Tensor:
        """W (D, K), a view of the stored weight."""
        return self.weight.T

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """o = xW + b, as (W xᵀ + b)ᵀ. Shape: (N, D) -> (N, K), strides (1, N)."""
        return torch.addmm(self.b.unsqueeze(1), self.weight, x.T).T

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """argmax(o). Shape: (N, D) -> (N,) int64."""
        return self.scores(x).argmax(1)

    def update(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> None:
        """One SGD update from the score gradient g (N, K): W -= step·xᵀg, b -= step·Σg."""
        self.weight.addmm_(grad.T, x, alpha=-step_size)
        self.b.sub_(grad.sum(0), alpha=step_size)

    def gradients(
        self, x: torch.Tensor, grad: torch.Tensor, scale: float = 1.0
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, scale · its gradient of Σ_i g_i·o_i) in ``parameters()`` order, for the
        score gradient g (N, K): (weight, scale·gᵀx), (b, scale·Σg); the model is unchanged."""
        return [(self.weight, torch.mm(grad.T, x).mul_(scale)), (self.b, grad.sum(0).mul_(scale))]

    def grad_norm(self, x: torch.Tensor, grad: torch.Tensor) -> float:
        """‖∂(mean loss)/∂W‖ = ‖gᵀx‖ / N for the score gradient g (N, K) of the examples x."""
        return torch.linalg.vector_norm(grad.T @ x / grad.shape[0]).item()

    def parameters(self) -> list[torch.Tensor]:
        return [self.weight, self.b]

    def is_finite(self) -> bool:
        return bool(torch.isfinite(self.weight).all() and torch.isfinite(self.b).all())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """{"W": (D, K), "b": (K,)}, contiguous, on the CPU."""
        return {"W": self.W.detach().cpu().contiguous(), "b": self.b.detach().cpu()}
