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

Two additions, each with a default, so the models above need neither:

- ``part.init_for(seed, data, device)``: the model for a dataset (its D, K and image shape);
  ``init`` with D and K by default. Parts whose models read images (``lenet``, ``module``)
  take the image shape from here.
- ``model.training_scores(x)``, optional: the scores of a training batch, for the ``update``
  of the same batch that follows (a ``torch.nn.Module`` in training mode, its autograd graph
  kept for that update), where ``scores`` is evaluation (no graph, dropout off). The trainer
  calls :func:`training_scores`, which falls back to ``scores``.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from bench.parts import Part, split_spec


class ModelPart(Part):
    """A registered model family with its hyper-parameters (``mlp:hidden=256``)."""

    kind: ClassVar[str] = "model"
    registry: ClassVar[dict[str, type[ModelPart]]] = {}
    linear: ClassVar[bool] = False

    def init(
        self, seed: int, num_inputs: int, num_classes: int, device: str | torch.device = "cpu"
    ):
        raise NotImplementedError

    def from_state(self, state: dict[str, torch.Tensor], device: str | torch.device = "cpu"):
        raise NotImplementedError

    def init_for(self, seed: int, data, device: str | torch.device = "cpu"):
        """The model for ``data`` (a Dataset: ``num_features``, ``num_classes``,
        ``image_shape``): ``init`` with its D and K; parts that read the image shape extend it."""
        return self.init(seed, data.num_features, data.num_classes, device)

    @classmethod
    def parse(cls, spec: str) -> ModelPart:
        """As :meth:`Part.parse`; a part with a ``from_params`` classmethod takes parameters
        beyond its fields through it (``module``: the constructor arguments of a user's class,
        and ``name=``, the class)."""
        name, params = split_spec(spec, cls.kind)
        part = cls.registry.get(name)
        if part is not None and hasattr(part, "from_params"):
            return part.from_params(**params)
        return cls.get(name, **params)

    def describe(self) -> str:
        """One line for the report: what the model is."""
        return str(self)


def training_scores(model, x: torch.Tensor) -> torch.Tensor:
    """The scores of a training batch for the ``update`` that follows: the model's own
    ``training_scores`` where it has one, else ``scores``. Shape: x (N, D) -> (N, K)."""
    scores = getattr(model, "training_scores", None)
    return model.scores(x) if scores is None else scores(x)
