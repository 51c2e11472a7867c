"""A multilayer perceptron, D2L chapter 4: o = ReLU(x W1 + b1) W2 + b2, one hidden layer or more."""

from __future__ import annotations

import dataclasses

import torch

from bench.models.base import ModelPart

INIT_STD = 0.01  # D2L 4.2's init: W1, W2 ~ N(0, 0.01²), b1 = b2 = 0
DEFAULT_HIDDEN = 256  # D2L 4.2/4.3: num_hiddens = 256


@dataclasses.dataclass(frozen=True)
class MLP(ModelPart, name="mlp"):
    """``layers`` hidden ReLU layers of ``hidden`` units each (D2L chapter 4: one), from D inputs
    to K scores. The spec omits ``layers`` at 1 (``mlp:hidden=256``, as before it existed)."""

    hidden: int = DEFAULT_HIDDEN
    layers: int = 1
    linear = False

    def validate_params(self) -> None:
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"mlp hidden must be an integer of at least 1, got {self.hidden!r}")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(
                f"mlp layers (hidden layers) must be an integer of at least 1, got {self.layers!r}"
            )

    def params(self) -> dict[str, object]:
        params = super().params()
        if self.layers == 1:
            del params["layers"]
        return params

    def init(self, seed, num_inputs, num_classes, device="cpu") -> MultilayerPerceptron:
        return MultilayerPerceptron.init(
            seed, device, num_inputs, self.hidden, num_classes, layers=self.layers
        )

    def from_state(self, state, device="cpu") -> MultilayerPerceptron:
        if state["W1"].shape[1] != self.hidden:
            raise ValueError(
                f"{self}: the state has {state['W1'].shape[1]} hidden units, not {self.hidden}"
            )
        if len(state) != 2 * (self.layers + 1):
            raise ValueError(
                f"{self}: the state has {len(state) // 2 - 1} hidden layers, not {self.layers}"
            )
        keys = [f"{p}{i}" for i in range(1, self.layers + 2) for p in ("W", "b")]
        return MultilayerPerceptron.from_weights(*(state[key].to(device) for key in keys))

    def describe(self) -> str:
        if self.layers == 1:
            return (
                f"MLP, one hidden ReLU layer of {self.hidden} units "
                "(D2L chapter 4: o = ReLU(xW1 + b1)W2 + b2)"
            )
        return (
            f"MLP, {self.layers} hidden ReLU layers of {self.hidden} units "
            f"(D2L chapter 4's, deeper: h_l = ReLU(h_(l-1)W_l + b_l), o = h_{self.layers}"
            f"W_{self.layers + 1} + b_{self.layers + 1})"
        )


class MultilayerPerceptron:
    """Parameters W1 (D, H), b1 (H,), …, W_(L+1) (H, K), b_(L+1) (K,) for L hidden layers,
    updated in place by the trainer.

    The body's backward is written by hand (dW_l = h_(l-1)ᵀδ_l, db_l = Σδ_l, δ_(l-1) =
    δ_l W_lᵀ ⊙ [h_(l-1) > 0], from δ_(L+1) = g): one trainer step (gather, scores, ``ce``,
    update) at batch 256, D = 784, H = 256, K = 10, one hidden layer, took 1.36 ms against
    1.62 ms with autograd through the body (``F.linear`` layers, ``torch.autograd.grad`` from
    the score gradient, ``_foreach_add_``), medians over 12 interleaved rounds of 234 steps on
    the 2-core machine (best rounds 1.33 and 1.59 ms). The two 784×256 GEMMs (h and dW1, ~0.52
    ms each at 2 threads) are ~3/4 of the step whatever their layout (within 1%); the small
    ones are not: the weights are stored transposed, as ``weights[l]`` (out, in) like
    ``nn.Linear``, h (N, H), and the scores are (W_outᵀhᵀ + b_out)ᵀ, strides (1, N), as softmax
    regression's (µs at 2 threads: scores 22-24 against 28 for hW2 + b2; dW2 into (K, H) from
    h (N, H) 19 against 32 from a stored hᵀ; the loss 30 on these scores against 35 on
    contiguous ones). Every update is an in-place ``addmm_``/``sub_`` with the step size as
    alpha; ReLU and its backward run in place. (oneDNN's fused linear + ReLU was 9% faster
    alone but no faster inside the step.)
    ``scores`` keeps the hidden layers for the ``update`` of the same batch, which the trainer
    always calls next with the same x; a call with another x recomputes them, so ``scores``
    alone (evaluation) and ``update`` alone are both correct. Neither reads anything back to
    the host, so a CUDA graph can capture a step. ``gradients`` gives the parameter gradients
    instead of taking the step, for an optimiser with state (bench.training.optimizers).
    Shape: x (N, D) -> scores (N, K), predictions (N,).
    """

    def __init__(self, *tensors: torch.Tensor):
        if len(tensors) < 4 or len(tensors) % 2:
            raise ValueError("an MLP needs (weight, bias) pairs: at least one hidden layer")
        self.weights, self.biases = list(tensors[0::2]), list(tensors[1::2])
        self._hidden_of: tuple[int, tuple[int, ...]] | None = None  # (x.data_ptr(), x.shape)
        self._hidden: list[torch.Tensor] = []  # h_1 … h_L (N, H) of that x

    @classmethod
    def init(
        cls,
        seed: int,
        device: str | torch.device = "cpu",
        num_inputs: int = 784,
        hidden: int = DEFAULT_HIDDEN,
        num_classes: int = 10,
        layers: int = 1,
    ) -> MultilayerPerceptron:
        """D2L's init, W ~ N(0, 0.01²) and b = 0, drawn on the CPU so every device starts equal
        (layer by layer from the input, so one hidden layer draws W1, W2 as it always did)."""
        generator = torch.Generator().manual_seed(seed)
        sizes = [num_inputs, *[hidden] * layers, num_classes]
        tensors = []
        for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
            W = torch.normal(0.0, INIT_STD, (fan_in, fan_out), generator=generator)
            tensors += [W.to(device), torch.zeros(fan_out, device=device)]
        return cls.from_weights(*tensors)

    @classmethod
    def from_weights(cls, *tensors: torch.Tensor) -> MultilayerPerceptron:
        """A model from W1 (D, H), b1 (H,), …, W_(L+1) (H, K), b_(L+1) (K,), copied."""
        return cls(*(t.T.contiguous() if i % 2 == 0 else t.clone() for i, t in enumerate(tensors)))

    @property
    def W1(self) -> torch.Tensor:
        """W1 (D, H), a view of the stored weight."""
        return self.weights[0].T

    @property
    def W2(self) -> torch.Tensor:
        """W2 (H, ·), a view of the stored weight."""
        return self.weights[1].T

    @property
    def b1(self) -> torch.Tensor:
        return self.biases[0]

    @property
    def b2(self) -> torch.Tensor:
        return self.biases[1]

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The hidden layers h_l = ReLU(h_(l-1)W_l + b_l), h_0 = x. Shape: (N, D) -> L × (N, H)."""
        if self._hidden_of != (x.data_ptr(), tuple(x.shape)):
            self._hidden, h = [], x
            for weight, bias in zip(self.weights[:-1], self.biases[:-1], strict=True):
                h = torch.addmm(bias, h, weight.T).clamp_min_(0)
                self._hidden.append(h)
            self._hidden_of = (x.data_ptr(), tuple(x.shape))
        return self._hidden

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """o = h_L W_(L+1) + b_(L+1), as (Wᵀh_Lᵀ + b)ᵀ. Shape: (N, D) -> (N, K), strides (1, N)."""
        self._hidden_of = None  # a new forward: x's buffer may hold a new batch
        return torch.addmm(self.biases[-1].unsqueeze(1), self.weights[-1], self.hidden(x)[-1].T).T

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """argmax(o). Shape: (N, D) -> (N,) int64."""
        return self.scores(x).argmax(1)

    def _backward(self, x: torch.Tensor, grad: torch.Tensor):
        """(layer l's input h_(l-1), δ_l) from the top layer down, each δ_(l-1) computed before
        the caller may change W_l."""
        inputs = [x, *self.hidden(x)]
        delta = grad
        for layer in range(len(self.weights) - 1, -1, -1):
            below = None
            if layer > 0:
                below = _relu_backward_(torch.mm(delta, self.weights[layer]), inputs[layer])
            yield inputs[layer], delta
            delta = below

    def update(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> None:
        """One SGD update from the score gradient g (N, K), backpropagated by hand."""
        layer = len(self.weights)
        for h, delta in self._backward(x, grad):
            layer -= 1
            self.weights[layer].addmm_(delta.T, h, alpha=-step_size)
            self.biases[layer].sub_(delta.sum(0), alpha=step_size)

    def gradients(
        self, x: torch.Tensor, grad: torch.Tensor, scale: float = 1.0
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, scale · ∂(Σ_i g_i·o_i)/∂parameter) for every parameter, in
        ``parameters()`` order, from the score gradient g (N, K); the model is unchanged."""
        found = {}
        layer = len(self.weights)
        for h, delta in self._backward(x, grad * scale):
            layer -= 1
            found[layer] = (torch.mm(delta.T, h), delta.sum(0))
        pairs = []
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            pairs += [(weight, found[layer][0]), (bias, found[layer][1])]
        return pairs

    def grad_norm(self, x: torch.Tensor, grad: torch.Tensor) -> float:
        """‖(∂(mean loss)/∂W_l)_l‖ for the score gradient g (N, K) of x (weights, not biases)."""
        norms = [torch.linalg.vector_norm(delta.T @ h) for h, delta in self._backward(x, grad)]
        return torch.linalg.vector_norm(torch.stack(norms)).item() / grad.shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """{"W1": (D, H), "b1": (H,), …, "W_(L+1)": (H, K), "b_(L+1)": (K,)}, contiguous, on
        the CPU (one hidden layer: W1, b1, W2, b2)."""
        state = {}
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True), 1):
            state[f"W{i}"] = weight.T
            state[f"b{i}"] = bias
        return {
            key: weight.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
            for key, weight in state.items()
        }


def _relu_backward_(grad: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """grad ⊙ [hidden > 0], in place: ReLU's own backward kernel, one pass, no mask tensor."""
    return torch.ops.aten.threshold_backward.grad_input(grad, hidden, 0, grad_input=grad)
