"""A multilayer perceptron, D2L chapter 4: scores o = ReLU(x W1 + b1) W2 + b2, one hidden layer."""

from __future__ import annotations

import dataclasses

import torch

from bench.models.base import ModelPart

INIT_STD = 0.01  # D2L 4.2's init: W1, W2 ~ N(0, 0.01²), b1 = b2 = 0
DEFAULT_HIDDEN = 256  # D2L 4.2/4.3: num_hiddens = 256


@dataclasses.dataclass(frozen=True)
class MLP(ModelPart, name="mlp"):
    """One hidden ReLU layer of ``hidden`` units (D2L chapter 4), from D inputs to K scores."""

    hidden: int = DEFAULT_HIDDEN
    linear = False

    def validate_params(self) -> None:
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"mlp hidden must be an integer of at least 1, got {self.hidden!r}")

    def init(self, seed, num_inputs, num_classes, device="cpu") -> MultilayerPerceptron:
        return MultilayerPerceptron.init(seed, device, num_inputs, self.hidden, num_classes)

    def from_state(self, state, device="cpu") -> MultilayerPerceptron:
        if state["W1"].shape[1] != self.hidden:
            raise ValueError(
                f"{self}: the state has {state['W1'].shape[1]} hidden units, not {self.hidden}"
            )
        return MultilayerPerceptron.from_weights(
            *(state[key].to(device) for key in ("W1", "b1", "W2", "b2"))
        )

    def describe(self) -> str:
        return (
            f"MLP, one hidden ReLU layer of {self.hidden} units "
            "(D2L chapter 4: o = ReLU(xW1 + b1)W2 + b2)"
        )


class MultilayerPerceptron:
    """Parameters W1 (D, H), b1 (H,), W2 (H, K), b2 (K,), updated in place by the trainer.

    The body's backward is written by hand (dW2 = hᵀg, db2 = Σg, dh = gW2ᵀ ⊙ [h > 0],
    dW1 = xᵀdh, db1 = Σdh): one trainer step (gather, scores, ``ce``, update) at batch 256,
    D = 784, H = 256, K = 10 took 1.36 ms against 1.62 ms with autograd through the body
    (``F.linear`` layers, ``torch.autograd.grad`` from the score gradient, ``_foreach_add_``),
    medians over 12 interleaved rounds of 234 steps on the 2-core machine (best rounds 1.33 and
    1.59 ms). The two 784×256 GEMMs (h and dW1, ~0.52 ms each at 2 threads) are ~3/4 of the step
    whatever their layout (within 1%); the small ones are not: the weights are stored
    transposed, as ``weight1`` (H, D) and ``weight2`` (K, H) like ``nn.Linear``, h (N, H), and
    the scores are (W2ᵀhᵀ + b2)ᵀ, strides (1, N), as softmax regression's (µs at 2 threads:
    scores 22-24 against 28 for hW2 + b2; dW2 into (K, H) from h (N, H) 19 against 32 from a
    stored hᵀ; the loss 30 on these scores against 35 on contiguous ones). Every update is an
    in-place ``addmm_``/``sub_`` with the step size as alpha; ReLU and its backward run in place.
    (oneDNN's fused linear + ReLU was 9% faster alone but no faster inside the step.)
    ``scores`` keeps h for the ``update`` of the same batch, which the trainer always calls next
    with the same x; a call with another x recomputes it, so ``scores`` alone (evaluation) and
    ``update`` alone are both correct. Neither reads anything back to the host, so a CUDA graph
    can capture a step.
    Shape: x (N, D) -> scores (N, K), predictions (N,).
    """

    def __init__(
        self, weight1: torch.Tensor, b1: torch.Tensor, weight2: torch.Tensor, b2: torch.Tensor
    ):
        self.weight1, self.b1, self.weight2, self.b2 = weight1, b1, weight2, b2
        self._hidden_of: tuple[int, tuple[int, ...]] | None = None  # (x.data_ptr(), x.shape)
        self._hidden: torch.Tensor | None = None  # h (N, H) of that x

    @classmethod
    def init(
        cls,
        seed: int,
        device: str | torch.device = "cpu",
        num_inputs: int = 784,
        hidden: int = DEFAULT_HIDDEN,
        num_classes: int = 10,
    ) -> MultilayerPerceptron:
        """D2L's init, W ~ N(0, 0.01²) and b = 0, drawn on the CPU so every device starts equal."""
        generator = torch.Generator().manual_seed(seed)
        W1 = torch.normal(0.0, INIT_STD, (num_inputs, hidden), generator=generator)
        W2 = torch.normal(0.0, INIT_STD, (hidden, num_classes), generator=generator)
        return cls.from_weights(
            W1.to(device),
            torch.zeros(hidden, device=device),
            W2.to(device),
            torch.zeros(num_classes, device=device),
        )

    @classmethod
    def from_weights(
        cls, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
    ) -> MultilayerPerceptron:
        """A model from W1 (D, H), b1 (H,), W2 (H, K), b2 (K,), copied."""
        return cls(W1.T.contiguous(), b1.clone(), W2.T.contiguous(), b2.clone())

    @property
    def W1(self) -> torch.Tensor:
        """W1 (D, H), a view of the stored weight."""
        return self.weight1.T

    @property
    def W2(self) -> torch.Tensor:
        """W2 (H, K), a view of the stored weight."""
        return self.weight2.T

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer h = ReLU(xW1 + b1). Shape: (N, D) -> (N, H), contiguous."""
        if self._hidden_of != (x.data_ptr(), tuple(x.shape)):
            self._hidden = torch.addmm(self.b1, x, self.weight1.T).clamp_min_(0)
            self._hidden_of = (x.data_ptr(), tuple(x.shape))
        return self._hidden

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """o = ReLU(xW1 + b1)W2 + b2, as (W2ᵀhᵀ + b2)ᵀ. Shape: (N, D) -> (N, K), strides (1, N)."""
        self._hidden_of = None  # a new forward: x's buffer may hold a new batch
        return torch.addmm(self.b2.unsqueeze(1), self.weight2, self.hidden(x).T).T

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """argmax(o). Shape: (N, D) -> (N,) int64."""
        return self.scores(x).argmax(1)

    def update(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> None:
        """One SGD update from the score gradient g (N, K), backpropagated by hand."""
        hidden = self.hidden(x)
        grad_hidden = _relu_backward_(torch.mm(grad, self.weight2), hidden)  # before W2 moves
        self.weight2.addmm_(grad.T, hidden, alpha=-step_size)
        self.b2.sub_(grad.sum(0), alpha=step_size)
        self.weight1.addmm_(grad_hidden.T, x, alpha=-step_size)
        self.b1.sub_(grad_hidden.sum(0), alpha=step_size)

    def grad_norm(self, x: torch.Tensor, grad: torch.Tensor) -> float:
        """‖(∂(mean loss)/∂W1, ∂(mean loss)/∂W2)‖ for the score gradient g (N, K) of x."""
        hidden = self.hidden(x)
        grad_hidden = _relu_backward_(grad @ self.weight2, hidden)
        norm = torch.hypot(
            torch.linalg.vector_norm(grad_hidden.T @ x), torch.linalg.vector_norm(grad.T @ hidden)
        )
        return norm.item() / grad.shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return [self.weight1, self.b1, self.weight2, self.b2]

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """{"W1": (D, H), "b1": (H,), "W2": (H, K), "b2": (K,)}, contiguous, on the CPU."""
        weights = {"W1": self.W1, "b1": self.b1, "W2": self.W2, "b2": self.b2}
        return {
            key: weight.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
            for key, weight in weights.items()
        }


def _relu_backward_(grad: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """grad ⊙ [hidden > 0], in place: ReLU's own backward kernel, one pass, no mask tensor."""
    return torch.ops.aten.threshold_backward.grad_input(grad, hidden, 0, grad_input=grad)
