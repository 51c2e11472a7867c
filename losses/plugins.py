"""Losses from outside the library: a user's file or module, installed entry points, and the
check every loss passes before training.

    names = plugins.load("my_losses.py")     # or a dotted module: plugins.load("pkg.losses")
    plugins.load_entry_points()              # installed packages' group "lossbench.losses"
    plugins.check(losses.parse("cauchy:c=0.5"))   # one-line ValueError naming what is wrong

Each failure is one line naming the file, module, entry point or loss spec and the problem, so
the CLI can print it and exit with status 2 before any training.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

import torch

from losses.base import REGISTRY, Loss

GROUP = "lossbench.losses"
CHECK_ROWS = 16
AUTOGRAD_TOLERANCE = 1e-6  # relative to 1 + max |reference|; float64 agrees to ~1e-12
DIFFERENCE_TOLERANCE = 1e-4  # central differences, step 1e-6: ~1e-9 off where all is well
DIFFERENCE_STEP = 1e-6


def load(source: str) -> list[str]:
    """Import a ``.py`` file (by path) or a dotted module; return the loss names it registers.

    Loading the same source again imports nothing new and returns the same names.
    Raises ValueError (one line) for a file or module that cannot be imported, giving the
    error's first line (e.g. the SyntaxError), or that registers no loss.
    """
    is_file = source.endswith(".py") or "/" in source or "\\" in source
    before = dict(REGISTRY)
    try:
        module = _import_file(Path(source)) if is_file else importlib.import_module(source)
    except Exception as error:  # noqa: BLE001 — any import failure is the user's, reported
        _restore(before)
        kind = "file" if is_file else "module"
        raise ValueError(f"cannot import loss {kind} {source}: {first_line(error)}") from None
    names = _registered_by(module.__name__, before)
    if not names:
        raise ValueError(
            f"{source} registers no loss: define a subclass of losses.Loss with a name, "
            'e.g. class Cauchy(losses.Loss, name="cauchy")'
        )
    return names


def load_entry_points(group: str = GROUP) -> list[str]:
    """Load every installed entry point of ``group``; return the loss names they register.

    An entry point names a module (``pkg.losses``) or a class in one (``pkg.losses:Cauchy``).
    Raises ValueError (one line) naming an entry point that cannot be loaded or registers
    no loss.
    """
    names: set[str] = set()
    for entry in importlib.metadata.entry_points(group=group):
        where = f"entry point {entry.name} = {entry.value} (group {group})"
        before = dict(REGISTRY)
        try:
            loaded = entry.load()
        except Exception as error:  # noqa: BLE001 — reported, one line
            _restore(before)
            raise ValueError(f"{where} cannot be loaded: {first_line(error)}") from None
        found = set(_registered_by(entry.module, before))
        if isinstance(loaded, type) and issubclass(loaded, Loss) and "name" in vars(loaded):
            found.add(loaded.name)
        if not found:
            raise ValueError(f"{where} registers no loss")
        names |= found
    return sorted(names)


def check(loss: Loss, num_classes: int = 10) -> None:
    """Raise ValueError (one line, naming the loss spec) unless ``loss`` is fit to train with.

    On a random float64 batch of ``CHECK_ROWS`` rows and ``num_classes`` classes, with labels
    and, where the loss accepts them, probability rows, under ``torch.no_grad()`` as in the
    trainer: the loss must not raise, must return (N,) values and an (N, K) gradient, all
    finite; and a loss defined outside this package that writes its own gradient must agree
    with autograd through the value it returns (with central differences where that value
    carries no autograd graph). Each term of a weighted sum is checked too.
    """
    for _, term in getattr(loss, "terms", ()):
        check(term, num_classes)
    spec, k = str(loss), num_classes
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(CHECK_ROWS, k, generator=g, dtype=torch.float64) * 2
    labels = (torch.arange(CHECK_ROWS) % k)[torch.randperm(CHECK_ROWS, generator=g)]
    batches = [("labels", labels)]
    if loss.accepts_soft_targets:
        soft = torch.softmax(torch.randn(CHECK_ROWS, k, generator=g, dtype=torch.float64), 1)
        batches.append(("probability rows", soft))
    for words, target in batches:
        try:
            with torch.no_grad():
                value, grad = loss.value_and_grad(scores, target)
        except Exception as error:  # noqa: BLE001 — the user's loss failed: say how, one line
            raise ValueError(
                f"loss {spec} raises on a valid batch of {words}: {first_line(error)}"
            ) from None
        _check_outputs(spec, words, value, grad, scores.shape)
        if loss.grad_source == "analytic" and not _is_library(loss):
            _check_gradient(loss, spec, words, scores, target, grad)


def first_line(error: BaseException) -> str:
    """``Type: first line of the message`` of an exception."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


# -- the checks ---------------------------------------------------------------------------------
def _check_outputs(spec, words, value, grad, shape) -> None:
    n, k = shape
    got = [
        tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (value, grad)
    ]
    if got != [(n,), (n, k)]:
        raise ValueError(
            f"loss {spec} returns value of shape {got[0]} and gradient of shape {got[1]} on a "
            f"batch of {words}; expected (N,) = ({n},) and (N, K) = ({n}, {k})"
        )
    for what, tensor in (("values", value), ("gradients", grad)):
        if not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(
                f"loss {spec} returns {bad} non-finite {what} on a valid batch of {words}"
            )


def _check_gradient(loss, spec, words, scores, target, grad) -> None:
    reference, how = _reference_gradient(loss, scores, target)
    scale = 1 + reference.abs().max().item()
    tolerance = (AUTOGRAD_TOLERANCE if how == "autograd" else DIFFERENCE_TOLERANCE) * scale
    error = (grad.to(reference.dtype) - reference).abs().max().item()
    if not error <= tolerance:
        raise ValueError(
            f"loss {spec}: its analytic gradient disagrees with {how} through its value on a "
            f"batch of {words}: max error {error:.3g} (tolerance {tolerance:.1g})"
        )


def _reference_gradient(loss, scores, target) -> tuple[torch.Tensor, str]:
    """Autograd through ``loss.value``; central differences where it has no graph (or fails)."""
    try:
        with torch.enable_grad():
            leaf = scores.clone().requires_grad_()
            value = loss.value(leaf, target)
            if isinstance(value, torch.Tensor) and value.requires_grad:
                (reference,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
                return (torch.zeros_like(scores) if reference is None else reference), "autograd"
    except Exception:  # noqa: BLE001, S110 — e.g. in-place ops on the scores: differences then
        pass
    reference = torch.empty_like(scores)
    with torch.no_grad():
        for column in range(scores.shape[1]):
            up, down = scores.clone(), scores.clone()
            up[:, column] += DIFFERENCE_STEP
            down[:, column] -= DIFFERENCE_STEP
            change = loss.value(up, target) - loss.value(down, target)
            reference[:, column] = change / (2 * DIFFERENCE_STEP)
    return reference, "finite differences"


def _is_library(loss: Loss) -> bool:
    return type(loss).__module__.split(".")[0] == __name__.split(".")[0]


# -- importing ----------------------------------------------------------------------------------
def _import_file(path: Path):
    path = path.expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such file {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"lossbench_plugin_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _registered_by(module: str, before: dict[str, type[Loss]]) -> list[str]:
    """Names registered since ``before`` or by classes of ``module`` (and its submodules)."""
    return sorted(
        name
        for name, cls in REGISTRY.items()
        if before.get(name) is not cls
        or cls.__module__ == module
        or cls.__module__.startswith(module + ".")
    )


def _restore(before: dict[str, type[Loss]]) -> None:
    REGISTRY.clear()
    REGISTRY.update(before)
