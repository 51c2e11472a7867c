"""Any ``torch.nn.Module`` as a model part: ``--model module:path=my_model.py:name=Net:width=64``.

``path`` is a Python file (resolved against the working directory), ``name`` a class in it, a
subclass of ``torch.nn.Module``; every other key is a keyword argument of its constructor (values
read as int or float where they read as one, else text). The model is trained by the bench's
protocol — its batches, schedule and (tuned) rate — with ``torch.optim.SGD``: the loss's analytic
gradient g = dl/do at the scores is backpropagated through the module (``scores.backward(g)``),
so no autograd graph runs through the loss's formula.

- The constructor runs on the CPU under the run's seed (``torch.manual_seed`` inside a forked
  RNG), then the module moves to the run's device: every loss of a seed starts from the same
  weights, on every device.
- The module receives the dataset's rows in its image shape, (N, C, H, W), where the dataset has
  one ((H, W) images are one channel; a three-sided shape is read as (C, H, W)), and (N, D)
  otherwise. It must return scores (N, K).
- Training batches run in training mode (``module.train()``), evaluation in eval mode.
- A bad file, class, constructor or output is a one-line ``ValueError``: checked when the spec
  is parsed (file, class, constructor arguments) and at init on a small random batch (the
  forward runs, returns (N, K), and depends on its input).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from pathlib import Path

import torch

from bench.models.base import ModelPart
from losses.plugins import _import_file, first_line

# Rows scored per forward pass outside training (evaluation over a whole split): bounds the
# activations' memory (LeNet on 4096 Fashion-MNIST images: 77 MB for its first layer).
EVAL_ROWS = 4096
PROBE_ROWS = 4  # the random batch that init checks the module's output on
# Keys of state_dict beyond the module's own: what from_state needs to rebuild the model.
INPUT_SHAPE_KEY, NUM_CLASSES_KEY = "@input_shape", "@num_classes"


class ModulePart(ModelPart):
    """A model part whose models are ``torch.nn.Module`` s wrapped as :class:`ModuleModel`.

    A subclass writes ``build(num_classes, input_shape) -> torch.nn.Module`` (the constructor,
    called under the run's seed) and ``label`` (the module's name in messages), and may check
    the input shape first in ``check_input_shape`` (raising ValueError).
    """

    linear = False

    def build(self, num_classes: int, input_shape: tuple[int, ...]) -> torch.nn.Module:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return str(self)

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        """Raise ValueError for inputs the module cannot take (before it is built)."""

    def init(self, seed, num_inputs, num_classes, device="cpu", input_shape=None) -> ModuleModel:
        """The module built under ``seed`` on the CPU, checked, on ``device``. ``input_shape`` is
        the dataset's image shape, or None for flat (N, D) rows."""
        shape = model_input_shape(num_inputs, input_shape)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self._checked(shape, num_classes, seed)
        return ModuleModel(module.to(device), shape, num_classes)

    def init_for(self, seed, data, device="cpu") -> ModuleModel:
        return self.init(seed, data.num_features, data.num_classes, device, data.image_shape)

    def from_state(self, state, device="cpu") -> ModuleModel:
        state = dict(state)
        shape = tuple(state.pop(INPUT_SHAPE_KEY).tolist())
        num_classes = int(state.pop(NUM_CLASSES_KEY))
        with torch.random.fork_rng(devices=[]):
            module = self._checked(shape, num_classes, seed=0)
        try:
            module.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(
                f"model {self.label}: the saved state does not fit it: {first_line(error)}"
            ) from None
        return ModuleModel(module.to(device), shape, num_classes)

    def _checked(self, shape: tuple[int, ...], num_classes: int, seed: int) -> torch.nn.Module:
        """The built module, after one eval-mode forward of two random batches of PROBE_ROWS
        inputs (which also sizes lazy layers): ValueError unless it returns (N, K) scores that
        depend on the input."""
        where = f"model {self.label}"
        self.check_input_shape(shape)
        try:
            module = self.build(num_classes, shape)
        except Exception as error:  # noqa: BLE001 — the user's constructor failed: one line
            raise ValueError(f"{where}: its constructor raised {first_line(error)}") from None
        if not isinstance(module, torch.nn.Module):
            raise ValueError(f"{where}: built a {type(module).__name__}, not a torch.nn.Module")
        generator = torch.Generator().manual_seed(seed)
        probes = [torch.rand(PROBE_ROWS, *shape, generator=generator) for _ in range(2)]
        batch = f"a batch of {PROBE_ROWS} inputs of shape {shape}"
        module.eval()
        try:
            with torch.no_grad():
                outputs = [module(probe) for probe in probes]
        except Exception as error:  # noqa: BLE001 — the user's forward failed: one line
            raise ValueError(f"{where} raises on {batch}: {first_line(error)}") from None
        first, second = outputs
        expected = (PROBE_ROWS, num_classes)
        if not isinstance(first, torch.Tensor) or not first.is_floating_point():
            kind = first.dtype if isinstance(first, torch.Tensor) else type(first).__name__
            raise ValueError(
                f"{where} returns a {kind} for {batch}; it must return a floating "
                f"tensor of scores (N, K) = {expected}"
            )
        if tuple(first.shape) != expected:
            raise ValueError(
                f"{where} returns shape {tuple(first.shape)} for {batch}; it must "
                f"return scores (N, K) = {expected}, one per class of the "
                "dataset"
            )
        if torch.equal(first, second):
            raise ValueError(
                f"{where} returns the same scores for two different random "
                f"batches of {PROBE_ROWS} inputs: its output does not depend on its "
                "input"
            )
        return module


@dataclasses.dataclass(frozen=True)
class Module(ModulePart, name="module"):
    """A user's ``torch.nn.Module``: class ``class_name`` (spec key ``name``) of the file
    ``path``, constructed with ``kwargs`` (sorted (key, value) pairs, the spec's other keys)."""

    path: str = ""
    class_name: str = ""
    kwargs: tuple[tuple[str, object], ...] = ()

    @classmethod
    def from_params(cls, **params) -> Module:
        """The part of ``module:path=FILE:name=CLASS:key=value...``."""
        missing = [key for key in ("path", "name") if key not in params]
        if missing:
            raise ValueError(
                f"model module needs {' and '.join(f'{k}=' for k in missing)}: "
                "e.g. module:path=my_model.py:name=Net:width=64"
            )
        path, class_name = str(params.pop("path")), str(params.pop("name"))
        return cls(path, class_name, tuple(sorted(params.items())))

    def params(self) -> dict[str, object]:
        return {"path": self.path, "name": self.class_name, **dict(self.kwargs)}

    def validate_params(self) -> None:
        self.module_class()

    @property
    def label(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.kwargs)
        return f"{self.class_name}({arguments}) of {self.path}"

    def module_class(self) -> type[torch.nn.Module]:
        """The class, imported from the file (once per file); its constructor must accept
        ``kwargs``. ValueError (one line) otherwise."""
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise ValueError(
                f"model module: no file {self.path} (from {Path.cwd()}); path= "
                "names a .py file defining a torch.nn.Module"
            )
        try:
            source = _import_file(path)
        except Exception as error:  # noqa: BLE001 — the user's file failed to import: one line
            raise ValueError(
                f"model module: cannot import {self.path}: {first_line(error)}"
            ) from None
        found = getattr(source, self.class_name, None)
        if found is None:
            classes = sorted(
                name
                for name, value in vars(source).items()
                if isinstance(value, type)
                and issubclass(value, torch.nn.Module)
                and value.__module__ == source.__name__
            )
            raise ValueError(
                f"model module: {self.path} has no class {self.class_name!r}; its "
                f"torch.nn.Module classes: {', '.join(classes) or '(none)'}"
            )
        if not (isinstance(found, type) and issubclass(found, torch.nn.Module)):
            raise ValueError(
                f"model module: {self.class_name} in {self.path} is not a subclass "
                "of torch.nn.Module"
            )
        try:
            inspect.signature(found).bind(**dict(self.kwargs))
        except TypeError as error:
            raise ValueError(
                f"model module: {self.class_name}() does not take these parameters: {error}"
            ) from None
        return found

    def build(self, num_classes, input_shape) -> torch.nn.Module:
        return self.module_class()(**dict(self.kwargs))

    def describe(self) -> str:
        return (
            f"the torch.nn.Module {self.label}, trained by torch.optim.SGD from the "
            "loss's analytic score gradient"
        )


class ModuleModel:
    """A ``torch.nn.Module`` under the model protocol (bench.models.base), trained by
    ``torch.optim.SGD`` from the score gradient.

    ``training_scores(x)`` runs the module in training mode with autograd on and keeps the
    scores' graph; ``update(x, g, step)`` backpropagates g (N, K) through it
    (``scores.backward(g)``), then takes one SGD step at rate ``step`` and drops the gradients.
    An update without the batch's training scores computes them first. ``scores`` (evaluation)
    runs in eval mode without a graph, EVAL_ROWS rows at a time. Nothing reads back to the host
    in a step, so a CUDA graph can capture one (forward, backward and the optimizer's step).
    Shape: x (N, D) -> viewed as (N, *input_shape) -> scores (N, K).
    """

    def __init__(self, module: torch.nn.Module, input_shape: tuple[int, ...], num_classes: int):
        self.module, self.input_shape, self.num_classes = module, input_shape, num_classes
        self.optimizer = torch.optim.SGD(module.parameters(), lr=1.0)  # the rate is per step
        self._kept: tuple[tuple, torch.Tensor] | None = None  # (key of x, scores with graph)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The rows x (N, D) in the module's input shape (N, *input_shape)."""
        return x.reshape(x.shape[0], *self.input_shape)

    def _mode(self, training: bool) -> None:
        if self.module.training != training:
            self.module.train(training)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """The module's scores in eval mode, without a graph. Shape: (N, D) -> (N, K)."""
        self._kept = None
        self._mode(False)
        with torch.no_grad():
            if x.shape[0] <= EVAL_ROWS:
                return self.module(self.inputs(x))
            return torch.cat([self.module(self.inputs(rows)) for rows in x.split(EVAL_ROWS)])

    def training_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The scores of a training batch, in training mode; their graph is kept for the update
        of the same x. Shape: (N, D) -> (N, K), detached."""
        self._mode(True)
        with torch.enable_grad():
            scores = self.module(self.inputs(x))
        self._kept = (_key(x), scores)
        return scores.detach()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """argmax of the scores. Shape: (N, D) -> (N,) int64."""
        return self.scores(x).argmax(1)

    def update(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> None:
        """One SGD step from the score gradient g (N, K) of the summed loss:
        θ -= step · ∂(Σ_i g_i · o_i)/∂θ, by ``scores.backward(g)`` and ``torch.optim.SGD``."""
        if self._kept is None or self._kept[0] != _key(x):
            self.training_scores(x)
        scores, self._kept = self._kept[1], None
        with torch.enable_grad():
            scores.backward(grad)
        for group in self.optimizer.param_groups:
            group["lr"] = step_size
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def gradients(
        self, x: torch.Tensor, grad: torch.Tensor, scale: float = 1.0
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, scale · ∂(Σ_i g_i·o_i)/∂parameter) for the module's parameters, from the
        score gradient g (N, K) backpropagated through the batch's training scores (zeros for a
        parameter the scores do not reach); the parameters are unchanged and keep no ``.grad``."""
        if self._kept is None or self._kept[0] != _key(x):
            self.training_scores(x)
        scores, self._kept = self._kept[1], None
        with torch.enable_grad():
            scores.backward(grad * scale)
        pairs = []
        for p in self.module.parameters():
            pairs.append((p, torch.zeros_like(p) if p.grad is None else p.grad))
            p.grad = None
        return pairs

    def grad_norm(self, x: torch.Tensor, grad: torch.Tensor) -> float:
        """‖∂(mean loss)/∂W‖ over the weight tensors W (parameters of 2 or more dimensions, not
        the biases), for the score gradient g (N, K) of the examples x (eval mode, as
        ``scores``), EVAL_ROWS rows at a time."""
        self._mode(False)
        weights = [p for p in self.module.parameters() if p.ndim >= 2]
        total = [torch.zeros_like(w) for w in weights]
        with torch.enable_grad():
            for rows, g in zip(x.split(EVAL_ROWS), grad.split(EVAL_ROWS), strict=True):
                parts = torch.autograd.grad(
                    self.module(self.inputs(rows)), weights, g, allow_unused=True
                )
                for sum_, part in zip(total, parts, strict=True):
                    if part is not None:
                        sum_ += part
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in total]))
        return norm.item() / grad.shape[0]

    def parameters(self) -> list[torch.Tensor]:
        """The parameters and buffers (batch-norm statistics): what a training step changes."""
        return [*self.module.parameters(), *self.module.buffers()]

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.module.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The module's state_dict on the CPU, with its input shape and number of classes."""
        state = {
            key: tensor.detach().to("cpu", copy=True)
            for key, tensor in self.module.state_dict().items()
        }
        state[INPUT_SHAPE_KEY] = torch.tensor(self.input_shape)
        state[NUM_CLASSES_KEY] = torch.tensor(self.num_classes)
        return state


def model_input_shape(num_inputs: int, image_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape one example reaches the module in: (C, H, W) for images ((H, W) is one
    channel), (D,) for flat rows. ValueError when the image does not hold the D inputs."""
    if image_shape is None:
        return (num_inputs,)
    shape = tuple(int(side) for side in image_shape)
    shape = (1, *shape) if len(shape) == 2 else shape
    if len(shape) != 3 or math.prod(shape) != num_inputs:
        raise ValueError(
            f"image shape {tuple(image_shape)} does not hold the dataset's "
            f"{num_inputs} inputs; expected (H, W) or (C, H, W)"
        )
    return shape


def _key(x: torch.Tensor) -> tuple:
    """Which batch x is: its memory, shape and version (an in-place write changes it)."""
    return (x.data_ptr(), tuple(x.shape), x._version)
