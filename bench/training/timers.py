"""Per-step timers that add no synchronisation to the loop they measure.

CPU: torch's CPU ops run synchronously, so ``perf_counter`` around the step is the step's time.
CUDA: a pair of events recorded around each step on the stream; they are read only at the end
of the epoch (one synchronisation per epoch, outside the timed steps).
"""

from __future__ import annotations

import time

import torch


class CpuStepTimer:
    """Step times from ``time.perf_counter``; ``start``/``stop`` bracket one step."""

    def __init__(self, steps: int):
        self._seconds = [0.0] * steps
        self._count = 0
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        self._seconds[self._count] = time.perf_counter() - self._started
        self._count += 1

    def read(self) -> torch.Tensor:
        """The epoch's step times in seconds, float64 (steps,); resets the timer."""
        seconds = torch.tensor(self._seconds[: self._count], dtype=torch.float64)
        self._count = 0
        return seconds


class CudaStepTimer:
    """Step times from CUDA events, preallocated for an epoch and read once at its end."""

    def __init__(self, steps: int):
        self._starts = [torch.cuda.Event(enable_timing=True) for _ in range(steps)]
        self._stops = [torch.cuda.Event(enable_timing=True) for _ in range(steps)]
        self._count = 0

    def start(self) -> None:
        self._starts[self._count].record()

    def stop(self) -> None:
        self._stops[self._count].record()
        self._count += 1

    def read(self) -> torch.Tensor:
        torch.cuda.synchronize()
        ms = [s.elapsed_time(e) for s, e in zip(self._starts, self._stops, strict=False)][
            : self._count
        ]
        self._count = 0
        return torch.tensor(ms, dtype=torch.float64) / 1000.0


def step_timer(device: torch.device, steps: int) -> CpuStepTimer | CudaStepTimer:
    """The timer for ``device``: CUDA events on a GPU, perf_counter elsewhere."""
    return CudaStepTimer(steps) if device.type == "cuda" else CpuStepTimer(steps)


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (CUDA only): used at epoch boundaries, never per step."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
