"""The machine a number was measured on: what run.json records and what a report names.

A report only ever shows numbers measured on the machine it names, so a results folder is tied
to one machine: its CPU model, thread count, GPU and torch version (``identity``).
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import torch


def environment() -> dict[str, object]:
    """Versions and hardware of this process: what run.json's ``environment`` holds."""
    import torchvision

    return {
        "lossbench": version(),
        "commit": commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device",
    }


# The fields of ``environment()`` that make two measurements comparable.
IDENTITY = ("cpu", "threads", "cuda", "torch")


def identity(env: dict) -> dict[str, object]:
    """The fields of an environment that tell machines (and builds) apart."""
    return {key: env.get(key) for key in IDENTITY}


def describe(env: dict) -> str:
    """One line: "Intel(R) Xeon(R), 2 threads, no CUDA device, torch 2.14.1"."""
    return (
        f"{env.get('cpu')}, {env.get('threads')} threads, {env.get('cuda')}, "
        f"torch {env.get('torch')}"
    )


def version() -> str:
    """The installed lossbench's version (its package metadata), or "unknown" when the code runs
    from a checkout that was never installed."""
    try:
        return importlib.metadata.version("lossbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def commit(root: Path | None = None) -> str:
    """The git commit of the code that runs, "<sha> (modified)" when tracked files differ from
    it, "unknown" outside a git checkout (an installed wheel) or without git."""
    root = Path(__file__).resolve().parent if root is None else Path(root)
    try:
        sha = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha} (modified)" if dirty else sha


def _git(root: Path, *args: str) -> str:
    command = ["git", "-C", str(root), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
