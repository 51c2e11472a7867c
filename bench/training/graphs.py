"""A training step with every input in device memory, so that a CUDA graph can replay it.

The eager loop (``bench.training.loop``) hands each step its batch rows and learning rate from
Python, and launches a dozen small kernels whose launch overhead, not their work, sets a GPU's
step time at batch 256. A CUDA graph replays recorded kernels on fixed memory with one launch,
so the step here reads everything from buffers that stay put: the epoch's permutation ``order``
(refilled in place each epoch), a step counter on the device, and the run's step sizes
(learning rate over batch length, schedule included) as a table indexed by that counter. A call
is one step — gather the batch, scores, the loss's value and gradient, the update, counter + 1 —
with no host work and no synchronisation.

The step is plain torch and runs eagerly on any device: the tests run it on the CPU against the
eager loop. Capture is the CUDA-only part, and it is checked before use: one replay of each
graph must reproduce one eager call of the same step, or the run falls back to the eager loop
with a warning saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

import losses
from bench import models


class DeviceStep:
    """``step(rows)`` trains on the next batch of ``rows`` examples (the batch size, or the
    shorter last batch of an epoch) and adds the batch's summed loss to ``loss_sum``.

    Before each epoch, write the permutation into ``order`` in place. The counter runs over the
    whole run, so the epoch's position and the schedule's rate both come from it.
    """

    def __init__(self, model, loss: losses.Loss, data, step_sizes: list[float], batch_size: int):
        device = data.train_x.device
        n = data.train_x.shape[0]
        self.model, self.loss, self.data = model, loss, data
        self.batch_size = batch_size
        self.steps = math.ceil(n / batch_size)
        self.order = torch.arange(n, device=device)
        self.counter = torch.zeros(1, dtype=torch.int64, device=device)
        self.step_sizes = torch.tensor(step_sizes, dtype=data.train_x.dtype, device=device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.offsets = torch.arange(batch_size, device=device)
        self.x = torch.empty(batch_size, data.train_x.shape[1], device=device)
        self.y = torch.empty(batch_size, dtype=torch.int64, device=device)

    def __call__(self, rows: int) -> None:
        start = (self.counter % self.steps) * self.batch_size
        index = torch.index_select(self.order, 0, self.offsets[:rows] + start)
        x = torch.index_select(self.data.train_x, 0, index, out=self.x[:rows])
        y = torch.index_select(self.data.train_y, 0, index, out=self.y[:rows])
        scores = models.training_scores(self.model, x)
        value, grad = self.loss.value_and_grad(scores, y, check=False)
        self.loss_sum += value.sum()
        # index_select, not step_sizes[counter]: indexing by a tensor would read it on the host
        self.model.update(x, grad.mul_(torch.index_select(self.step_sizes, 0, self.counter)), 1.0)
        self.counter += 1

    def state(self) -> list[torch.Tensor]:
        """Copies of everything a step changes: the model's parameters, counter, loss sum."""
        return [t.clone() for t in self._mutable()]

    def restore(self, state: list[torch.Tensor]) -> None:
        for target, saved in zip(self._mutable(), state, strict=True):
            target.copy_(saved)

    def _mutable(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), self.counter, self.loss_sum]


class CaptureError(RuntimeError):
    """The step could not be captured as a CUDA graph, or its replay disagreed with eager."""


def capture(step: DeviceStep, lengths: list[int], warmup: int = 3) -> dict[int, Callable[[], None]]:
    """CUDA graphs of ``step(rows)`` for each batch length; ``{rows: replay}``. CUDA only.

    Warm-up calls run on a side stream first (cuBLAS and the allocator set themselves up outside
    the capture), then each length is captured into a shared memory pool. The step's state is
    restored afterwards, and each graph is checked: one replay from the restored state must give
    the weights one eager call gives. Raises :class:`CaptureError` saying what failed.
    """
    if not available(step.order.device):
        raise CaptureError(f"CUDA graphs need a CUDA device, not {step.order.device}")
    saved = step.state()
    graphs: dict[int, torch.cuda.CUDAGraph] = {}

    def warm_calls() -> None:
        for rows in lengths:
            for _ in range(warmup):
                step.counter.zero_()  # stay inside the step-size table however short the run
                step(rows)

    try:
        warm_up(warm_calls)
        step.restore(saved)
        pool = None
        for rows in lengths:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                step(rows)
            pool = graph.pool()
            graphs[rows] = graph
    except RuntimeError as error:  # torch raises RuntimeError for what cannot be captured
        step.restore(saved)
        first = (str(error).splitlines() or [type(error).__name__])[0]
        raise CaptureError(f"capture failed: {first}") from error
    replays = {rows: graph.replay for rows, graph in graphs.items()}
    verify(step, replays)
    return replays


def warm_up(work: Callable[[], None]) -> None:
    """Call ``work`` on a side stream, so that cuBLAS and the allocator set themselves up
    outside any capture that follows. CUDA only."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        work()
    torch.cuda.current_stream().wait_stream(side)


def replay_of(work: Callable[[], None]) -> Callable[[], None]:
    """``work`` (no host reads, fixed memory) warmed up once and captured as one CUDA graph;
    the graph's replay. The capture itself runs nothing. CUDA only."""
    warm_up(work)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        work()
    return graph.replay


def verify(step: DeviceStep, replays: dict[int, Callable[[], None]]) -> None:
    """Check that one call of each replay changes the step's state as one eager call does;
    the state is left as it was. Raises :class:`CaptureError` naming the batch length."""
    saved = step.state()
    for rows, replay in replays.items():
        replay()
        replayed = step.state()
        step.restore(saved)
        step(rows)
        eager = step.state()
        step.restore(saved)
        if not all(_close(a, b) for a, b in zip(replayed, eager, strict=True)):
            raise CaptureError(f"the graph of a {rows}-row step does not reproduce the eager step")


def available(device: torch.device | str) -> bool:
    """Whether steps on ``device`` can be captured as CUDA graphs (a CUDA device)."""
    return torch.device(device).type == "cuda" and torch.cuda.is_available()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if not a.is_floating_point():
        return torch.equal(a, b)
    return torch.allclose(a, b, rtol=1e-4, atol=1e-6)
