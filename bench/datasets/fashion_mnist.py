"""Fashion-MNIST (the default dataset): provision the four IDX files, validate them, load them.

The files live in torchvision's layout, ``ROOT/FashionMNIST/raw/{train,t10k}-{images-idx3,
labels-idx1}-ubyte``. :func:`provision` fills that folder from the first source that works: the
files already there; Debian's ``dataset-fashion-mnist`` package (its ``.gz`` files were
recompressed, so torchvision's MD5 check rejects them: they are decompressed here instead);
torchvision's download; and, as root with ``apt-get``, installing that package. Every file is
staged and validated beside the raw folder, then moved in with ``os.replace``, so an interrupted
provision never leaves a partial file under a complete name.

:func:`validate` reads only the IDX headers, the file sizes and the labels, so a run never trains
on a truncated or corrupt dataset and a second ``make setup`` takes well under a second.

    python -m bench.data [--data DIR]      # provision DIR (default: ./data); used by `make setup`
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from bench.datasets.base import DataError, Dataset, DatasetPart

# D2L's text labels (chapter 3.5), in label order.
CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
COUNTS = {"train": 60000, "test": 10000}
FILES = {  # split -> (images, labels), as torchvision names them
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NAMES = tuple(name for pair in FILES.values() for name in pair)
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801  # unsigned bytes; 3 dims / 1 dim
SIDE = 28
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DOWNLOAD_TIMEOUT_S = 30  # per socket operation: a silent network must not hang `make setup`
APT_TIMEOUT_S = 900


# Fashion-MNIST's own confusions, flipped by class-conditional noise: t-shirt/top ↔ shirt,
# pullover ↔ coat.
PAIRS = ((0, 6), (2, 4))


@dataclasses.dataclass(frozen=True)
class FashionMNIST(DatasetPart, name="fashion_mnist"):
    """Fashion-MNIST (Xiao et al. 2017), D2L's dataset: 60,000 training and 10,000 test images
    of 28×28 grey pixels in [0, 1], flattened to 784 inputs, 10 balanced classes.

    Files: ``ROOT/FashionMNIST/raw`` (``--data ROOT``), provisioned by :func:`provision`.
    """

    def provision(self, root: Path, *, quiet: bool = False) -> None:
        provision(root, quiet=quiet)

    def load(self, root: Path) -> Dataset:
        return load(root)


def raw_dir(root: Path | str) -> Path:
    """The folder torchvision reads: ``root/FashionMNIST/raw``."""
    return Path(root) / "FashionMNIST" / "raw"


# ---------------------------------------------------------------------------------------------
# validation


def _fix(path: Path) -> str:
    return f"run `make setup`, or delete {path} and re-run `make setup`"


def _read_header(path: Path, magic: int, ndims: int) -> tuple[int, ...]:
    """The dimensions in an IDX header, after checking the magic number and the file size."""
    header_size = 4 + 4 * ndims
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(header_size)
    except FileNotFoundError:
        raise DataError(f"{path}: missing; run `make setup`") from None
    except OSError as error:
        raise DataError(f"{path}: unreadable ({error.strerror}); {_fix(path)}") from None
    if len(header) < 4:
        raise DataError(f"{path}: truncated: {size} bytes, shorter than its header; {_fix(path)}")
    (found,) = struct.unpack(">I", header[:4])
    if found != magic:
        raise DataError(
            f"{path}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}; {_fix(path)}"
        )
    if len(header) < header_size:
        raise DataError(
            f"{path}: truncated: {size} bytes, shorter than its {header_size}-byte "
            f"header; {_fix(path)}"
        )
    dims = struct.unpack(f">{ndims}I", header[4:])
    expected = header_size + math.prod(dims)
    if size < expected:
        raise DataError(f"{path}: truncated: {size} of {expected} bytes; {_fix(path)}")
    if size > expected:
        raise DataError(f"{path}: too long: {size} bytes, its header says {expected}; {_fix(path)}")
    return dims


def _check_labels(path: Path) -> None:
    labels = path.read_bytes()[8:]
    if labels and max(labels) >= len(CLASSES):
        index = next(i for i, label in enumerate(labels) if label >= len(CLASSES))
        raise DataError(
            f"{path}: label out of range: {labels[index]} at index {index}, "
            f"expected 0..{len(CLASSES) - 1}; {_fix(path)}"
        )


def validate(raw: Path | str, counts: Mapping[str, int] | None = None) -> None:
    """Check the four IDX files in ``raw`` without parsing the images; raise DataError if not fine.

    Checks each file's magic number, that images are 28×28, that the size is exactly header +
    data, that images and labels agree in number and match ``counts`` (default: 60000 train,
    10000 test), and that every label lies in 0..9.
    """
    raw = Path(raw)
    counts = COUNTS if counts is None else counts
    for split, (images_name, labels_name) in FILES.items():
        images, labels = raw / images_name, raw / labels_name
        n_images, rows, cols = _read_header(images, IMAGE_MAGIC, 3)
        if (rows, cols) != (SIDE, SIDE):
            raise DataError(
                f"{images}: images are {rows}×{cols}, expected {SIDE}×{SIDE}; {_fix(images)}"
            )
        (n_labels,) = _read_header(labels, LABEL_MAGIC, 1)
        if n_images != n_labels:
            raise DataError(
                f"{labels}: count mismatch: {n_images} images in {images_name} vs "
                f"{n_labels} labels; {_fix(labels)}"
            )
        if n_images != counts[split]:
            raise DataError(
                f"{images}: {n_images} {split} images, expected {counts[split]}; {_fix(images)}"
            )
        _check_labels(labels)


# ---------------------------------------------------------------------------------------------
# provisioning


def _problem(error: DataError) -> str:
    """The message without its advice: what a log line needs while provisioning is under way."""
    return str(error).split("; ")[0]


def _cause(error: BaseException) -> str:
    """One line of an error: its last, since torchvision's end with the underlying cause."""
    lines = str(error).strip().splitlines()
    return lines[-1].strip() if lines else type(error).__name__


def _decompress(source: Path, target: Path) -> None:
    with gzip.open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _gz_files(folder: Path) -> list[Path]:
    """The four original files, gzipped, as Debian ships them in ``folder``."""
    return [folder / f"{name}.gz" for name in NAMES]


def _stage_from_debian(debian_dir: Path, staged: Path, log: Callable[[str], None]) -> bool:
    sources = _gz_files(debian_dir)
    if not all(source.is_file() for source in sources):
        log(f"no Debian {DEBIAN_PACKAGE} files in {debian_dir}")
        return False
    for source, name in zip(sources, NAMES, strict=True):
        try:
            _decompress(source, staged / name)
        except (OSError, EOFError, zlib.error) as error:
            log(f"cannot decompress {source}: {_cause(error)}")
            return False
    log(f"decompressed the four .gz files from {debian_dir}")
    return True


def _stage_from_torchvision(staged: Path, log: Callable[[str], None]) -> bool:
    from torchvision import datasets  # 1.5 s to import; the fast path never needs it

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        datasets.FashionMNIST(staged.parents[1], train=True, download=True)
    except Exception as error:  # any failure of this source means: try the next one
        log(f"torchvision download failed: {_cause(error)}")
        return False
    finally:
        socket.setdefaulttimeout(previous)
    log("downloaded with torchvision")
    return True


def _can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install(log: Callable[[str], None]) -> bool:
    """``apt-get update`` then ``apt-get install -y dataset-fashion-mnist``; True if both worked."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", DEBIAN_PACKAGE],
    ):
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            log(f"`{' '.join(command)}` failed: {_cause(error)}")
            return False
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            log(f"`{' '.join(command)}` failed: {reason}")
            return False
    log(f"installed {DEBIAN_PACKAGE} with apt-get")
    return True


def _stage_with_apt(debian_dir: Path, staged: Path, log: Callable[[str], None]) -> bool:
    if not _can_apt():
        log(f"not installing {DEBIAN_PACKAGE}: needs root and apt-get")
        return False
    return _apt_install(log) and _stage_from_debian(debian_dir, staged, log)


def _install(
    staged: Path, raw: Path, counts: Mapping[str, int] | None, log: Callable[[str], None]
) -> bool:
    """Validate the staged files as a set, then move each into ``raw`` atomically."""
    try:
        validate(staged, counts)
    except DataError as error:
        log(f"rejected: {_problem(error)}")
        return False
    for name in NAMES:
        os.replace(staged / name, raw / name)
    return True


def provision(
    root: Path | str,
    *,
    quiet: bool = False,
    counts: Mapping[str, int] | None = None,
    debian_dir: Path | str = DEBIAN_DIR,
    allow_download: bool = True,
    allow_apt: bool = True,
) -> Path:
    """Make sure ``root/FashionMNIST/raw`` holds the four valid IDX files; return that folder.

    Tries in order, logging one line per step unless ``quiet``: the files already there;
    decompressing Debian's package from ``debian_dir``; torchvision's download (if
    ``allow_download``); ``apt-get install dataset-fashion-mnist`` as root (if ``allow_apt``),
    then Debian's files again. Raises DataError, one line saying how to get the files, if all fail.
    """

    def log(message: str) -> None:
        if not quiet:
            print(f"data: {message}", flush=True)

    raw = raw_dir(root)
    try:
        validate(raw, counts)
        log(f"{raw}: all four files present and valid")
        return raw
    except DataError as error:
        if raw.exists():
            log(f"provisioning again: {_problem(error)}")

    debian_dir = Path(debian_dir)
    sources = [lambda staged: _stage_from_debian(debian_dir, staged, log)]
    if allow_download:
        sources.append(lambda staged: _stage_from_torchvision(staged, log))
    if allow_apt:
        sources.append(lambda staged: _stage_with_apt(debian_dir, staged, log))
    try:
        raw.mkdir(parents=True, exist_ok=True)
        for stage in sources:
            # Staged beside raw/ (same file system, so os.replace is atomic); removed on any exit.
            with tempfile.TemporaryDirectory(prefix=".provision-", dir=raw.parent) as staging:
                staged = raw_dir(staging)
                staged.mkdir(parents=True)
                if stage(staged) and _install(staged, raw, counts, log):
                    return raw
    except OSError as error:
        raise DataError(
            f"{raw}: cannot write ({error.strerror or _cause(error)}); "
            f"choose a writable --data folder"
        ) from None
    raise DataError(
        f"no Fashion-MNIST files for {raw}: install them with `apt-get install "
        f"{DEBIAN_PACKAGE}` and re-run `make setup`, or copy the four files "
        f"({', '.join(NAMES)}) into {raw}"
    )


# ---------------------------------------------------------------------------------------------
# loading


def load(
    root: Path | str,
    device: str | torch.device = "cpu",
    *,
    counts: Mapping[str, int] | None = None,
) -> Dataset:
    """Validate, then read both splits through torchvision and move them to ``device`` once.

    Images: uint8 -> float32 / 255, flattened to 784 (as D2L's ``ToTensor`` + ``Flatten``);
    labels int64. Shape: (60000, 784), (60000,), (10000, 784), (10000,) for the real dataset.
    """
    from torchvision import datasets

    counts = COUNTS if counts is None else counts
    validate(raw_dir(root), counts)
    tensors = {}
    for split in FILES:
        dataset = datasets.FashionMNIST(root, train=split == "train", download=False)
        images, labels = dataset.data, dataset.targets
        # torchvision prefers legacy processed/*.pt files when present; never trust them blindly
        if images.shape != (counts[split], SIDE, SIDE) or labels.shape != (counts[split],):
            raise DataError(
                f"{Path(root) / 'FashionMNIST'}: torchvision read {split} images "
                f"{tuple(images.shape)} and labels {tuple(labels.shape)}, expected "
                f"{counts[split]}; delete {Path(root) / 'FashionMNIST' / 'processed'} "
                f"and re-run `make setup`"
            )
        # uint8 travels (4× fewer bytes), the conversion happens on the device
        tensors[f"{split}_x"] = images.to(device).reshape(counts[split], SIDE * SIDE).float() / 255
        tensors[f"{split}_y"] = labels.to(device=device, dtype=torch.int64)
    return Dataset(
        **tensors, classes=CLASSES, image_shape=(SIDE, SIDE), pairs=PAIRS, spec="fashion_mnist"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.data", description="Provision Fashion-MNIST (torchvision layout)."
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("data"),
        help="root folder; files go to DATA/FashionMNIST/raw (default: ./data)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help="take the four original .gz files from DIR (as Zalando publishes "
        "them and Debian ships them) and nothing else: no download, no apt",
    )
    args = parser.parse_args(argv)
    try:
        if args.source is None:
            raw = provision(args.data)
        else:
            missing = [path.name for path in _gz_files(args.source) if not path.is_file()]
            if missing:
                raise DataError(
                    f"--from {args.source}: missing {', '.join(missing)}; the folder "
                    f"needs the four original .gz files"
                )
            raw = provision(
                args.data, debian_dir=args.source, allow_download=False, allow_apt=False
            )
    except DataError as error:
        print(f"bench.data: error: {error}", file=sys.stderr)
        return 2
    print(f"Fashion-MNIST ready in {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
