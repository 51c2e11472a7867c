"""What a model is: a registered part that builds trainable models, and the protocol they follow.

The trainer, the CUDA-graph step, the timers and the floors use this protocol and nothing else:

- ``part.init(seed, num_inputs, num_classes, device)`` -> a model, drawn on the CPU from ``seed``
  so every device starts from the same weights;
- ``model.scores(x)`` (N, D) -> (N, K);  ``model.predict(x)`` -> (N,) argmax of the scores;
- ``model.update(x, grad, step_size)``: one SGD step from the gradient of the summed loss with
  respect to the scores, ``grad`` (N, K), backpropagated through the model (``grad`` is only
  read);
- ``model.grad_norm(x, grad)``: the norm of the gradient of the mean loss over ``x`` with
  respect to the weight matrices (not the biases);
- ``model.parameters()`` (the tensors a step changes, in place), ``model.state_dict()`` (on the
  CPU), ``model.is_finite()``;
- ``part.from_state(state, device)`` -> the model saved by ``state_dict``;
- ``part.linear``: whether the scores are linear in the inputs (softmax regression). Stages that
  only make sense for a linear model — the L-BFGS optimum of a convex loss, stacked-rate tuning,
  the scikit-learn peers and the D2L chapter-3 loop — read it and are skipped otherwise.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from bench.parts import Part


class ModelPart(Part):
    """A registered model family with its hyper-parameters (``mlp:hidden=256``)."""

    kind: ClassVar[str] = "model"
    registry: ClassVar[dict[str, type[ModelPart]]] = {}
    linear: ClassVar[bool] = False

    def init(self, seed: int, num_inputs: int, num_classes: int,
             device: str | torch.device = "cpu"):  # fmt: skip
        raise NotImplementedError

    def from_state(self, state: dict[str, torch.Tensor], device: str | torch.device = "cpu"):
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the report: what the model is."""
        return str(self)
