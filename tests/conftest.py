"""Fixtures for every test: the real Fashion-MNIST, and small IDX files written on the spot."""

import struct
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.datasets import fashion_mnist as data

DATA = Path(__file__).parents[1] / "data"
TINY_COUNTS = {"train": 60, "test": 10}


def idx_bytes(array: torch.Tensor) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000080<ndim>, big-endian dims, then the data."""
    array = array.to(torch.uint8).contiguous()
    header = struct.pack(f">I{array.dim()}I", 0x800 + array.dim(), *array.shape)
    return header + array.numpy().tobytes()


def tiny_files(seed: int = 0) -> dict[str, bytes]:
    """The four files of a valid dataset of 60 train / 10 test 28×28 images, classes balanced."""
    g = torch.Generator().manual_seed(seed)
    files = {}
    for split, (images, labels) in data.FILES.items():
        n = TINY_COUNTS[split]
        files[images] = idx_bytes(torch.randint(0, 256, (n, 28, 28), generator=g))
        files[labels] = idx_bytes(torch.arange(n) % 10)
    return files


def write_raw(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` into ``root/FashionMNIST/raw``; return that folder."""
    raw = data.raw_dir(root)
    raw.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (raw / name).write_bytes(content)
    return raw


@pytest.fixture(scope="session")
def idx() -> SimpleNamespace:
    """The IDX helpers: ``idx.bytes(tensor)``, ``idx.tiny_files(seed)``,
    ``idx.write_raw(root, files)`` and ``idx.counts``, the tiny dataset's sizes."""
    return SimpleNamespace(
        bytes=idx_bytes, tiny_files=tiny_files, write_raw=write_raw, counts=TINY_COUNTS
    )


@pytest.fixture
def tiny_idx_root(tmp_path) -> Path:
    """A data root holding a small valid dataset (sizes ``TINY_COUNTS``) in torchvision's layout."""
    root = tmp_path / "data"
    write_raw(root, tiny_files())
    return root


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST on the CPU, from the checkout's data/ (provisioned if missing)."""
    try:
        data.provision(DATA, quiet=True)
        return data.load(DATA)
    except data.DataError as error:
        pytest.fail(f"real Fashion-MNIST unavailable: {error}", pytrace=False)


@pytest.fixture(autouse=True)
def keep_the_loss_registry():
    """Losses a test registers (users' files through --import, plug-in checks) leave with it."""
    from losses.base import REGISTRY

    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)
