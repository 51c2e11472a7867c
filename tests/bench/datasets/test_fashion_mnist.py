"""bench/data.py: provisioning fallbacks, validation of the IDX files, loading, the CLI.

Small IDX files written by the tests stand in for Fashion-MNIST; torchvision's download and
apt-get are always replaced, so no test touches the network or the system. Tests marked
``realdata`` check the real files in the checkout's data/.
"""

import gzip
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import datasets

from bench.datasets import fashion_mnist as data

ROOT = Path(__file__).resolve().parents[3]
TRAIN_IMAGES, TRAIN_LABELS = data.FILES["train"]
TEST_IMAGES, TEST_LABELS = data.FILES["test"]


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


@pytest.fixture
def no_network(monkeypatch):
    """torchvision's download fails as it does offline; returns the roots it was asked for."""
    asked = []

    def offline(self):
        asked.append(Path(self.root))
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried http://...")

    monkeypatch.setattr(datasets.FashionMNIST, "download", offline)
    return asked


@pytest.fixture
def debian_dir(tmp_path, idx):
    """A fake /usr/share/datasets/fashion-mnist: the tiny dataset, gzipped."""
    folder = tmp_path / "debian"
    folder.mkdir()
    for name, content in idx.tiny_files().items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(content))
    return folder


def provision_offline(root, idx, **kwargs):
    return data.provision(root, counts=idx.counts, allow_apt=False, **kwargs)


# --- loading -------------------------------------------------------------------------------------


def test_load_gives_flat_float_images_in_unit_range_and_int64_labels(tiny_idx_root, idx):
    dataset = data.load(tiny_idx_root, counts=idx.counts)
    assert dataset.train_x.shape == (60, 784) and dataset.test_x.shape == (10, 784)
    assert dataset.train_x.dtype == dataset.test_x.dtype == torch.float32
    assert dataset.train_y.dtype == dataset.test_y.dtype == torch.int64
    assert 0 <= dataset.train_x.min() and dataset.train_x.max() <= 1
    assert torch.equal(dataset.train_y, torch.arange(60) % 10)
    assert torch.equal(dataset.test_y, torch.arange(10))
    # row-major flattening, pixel / 255 exactly as ToTensor does it
    pixels = (data.raw_dir(tiny_idx_root) / TRAIN_IMAGES).read_bytes()[16 : 16 + 784]
    expected = torch.tensor(list(pixels), dtype=torch.uint8).float() / 255
    assert torch.equal(dataset.train_x[0], expected)


def test_to_moves_every_tensor(tiny_idx_root, idx):
    moved = data.load(tiny_idx_root, counts=idx.counts).to("meta")
    assert {t.device.type for t in (moved.train_x, moved.train_y, moved.test_x, moved.test_y)} == {
        "meta"
    }
    assert moved.train_x.shape == (60, 784)


def test_load_onto_a_device(tiny_idx_root, idx):
    dataset = data.load(tiny_idx_root, "meta", counts=idx.counts)
    assert dataset.test_y.device.type == "meta" and dataset.test_x.dtype == torch.float32


def test_classes_are_the_ten_d2l_labels():
    assert len(data.CLASSES) == 10 and data.CLASSES[0] == "t-shirt"
    assert data.CLASSES[-1] == "ankle boot"


# --- validation ----------------------------------------------------------------------------------


def truncate(raw):
    path = raw / TRAIN_IMAGES
    path.write_bytes(path.read_bytes()[:-100])
    return path


def wrong_magic(raw):
    path = raw / TEST_IMAGES
    path.write_bytes(struct.pack(">I", 0x801) + path.read_bytes()[4:])
    return path


def fewer_labels(raw):
    path = raw / TRAIN_LABELS
    path.write_bytes(struct.pack(">II", 0x801, 59) + path.read_bytes()[8:-1])
    return path


def label_out_of_range(raw):
    path = raw / TEST_LABELS
    content = bytearray(path.read_bytes())
    content[8 + 3] = 10
    path.write_bytes(bytes(content))
    return path


def missing(raw):
    path = raw / TEST_LABELS
    path.unlink()
    return path


def appended(raw):
    path = raw / TRAIN_LABELS
    path.write_bytes(path.read_bytes() + b"\0")
    return path


def wrong_image_size(raw):
    path = raw / TEST_IMAGES
    body = path.read_bytes()[16:]
    path.write_bytes(struct.pack(">IIII", 0x803, 10, 28 * 28 // 14, 14) + body)
    return path


@pytest.mark.parametrize(
    "corrupt, words",
    [
        (missing, "missing"),
        (truncate, f"truncated: {16 + 60 * 784 - 100} of {16 + 60 * 784} bytes"),
        (wrong_magic, "wrong magic number 0x00000801"),
        (fewer_labels, "count mismatch: 60 images"),
        (label_out_of_range, "label out of range: 10 at index 3"),
        (appended, "too long"),
        (wrong_image_size, "images are 56×14, expected 28×28"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_fix(tiny_idx_root, idx, corrupt, words):
    path = corrupt(data.raw_dir(tiny_idx_root))
    with pytest.raises(data.DataError) as error:
        data.load(tiny_idx_root, counts=idx.counts)
    message = one_line(error)
    assert str(path) in message and words in message and "make setup" in message


def test_real_counts_are_expected_by_default(tiny_idx_root):
    with pytest.raises(data.DataError) as error:
        data.load(tiny_idx_root)
    assert "60 train images, expected 60000" in one_line(error)


def test_same_wrong_count_in_both_files_is_caught(tmp_path, idx):
    files = idx.tiny_files()
    files[TRAIN_IMAGES] = idx.bytes(torch.zeros(59, 28, 28))
    files[TRAIN_LABELS] = idx.bytes(torch.arange(59) % 10)
    idx.write_raw(tmp_path, files)
    with pytest.raises(data.DataError) as error:
        data.validate(data.raw_dir(tmp_path), idx.counts)
    assert "59 train images, expected 60" in one_line(error)


def test_stale_processed_files_of_torchvision_are_not_trusted(tiny_idx_root, idx):
    # torchvision loads processed/{training,test}.pt instead of raw/ when both exist
    processed = tiny_idx_root / "FashionMNIST" / "processed"
    processed.mkdir()
    for name in ("training.pt", "test.pt"):
        torch.save(
            (torch.zeros(5, 28, 28, dtype=torch.uint8), torch.zeros(5, dtype=torch.int64)),
            processed / name,
        )
    with pytest.raises(data.DataError) as error:
        data.load(tiny_idx_root, counts=idx.counts)
    assert str(processed) in one_line(error)


@settings(max_examples=150, deadline=None)
@given(draws=st.data())
def test_any_corruption_of_a_file_is_a_data_error_naming_it(idx, draws):
    files = idx.tiny_files()
    name = draws.draw(st.sampled_from(data.NAMES), label="file")
    content = bytearray(files[name])
    header = 16 if "images" in name else 8
    kinds = ["truncate", "flip header byte", "append"] + (["label"] if "labels" in name else [])
    kind = draws.draw(st.sampled_from(kinds), label="kind")
    if kind == "truncate":
        del content[draws.draw(st.integers(0, len(content) - 1), label="length") :]
    elif kind == "flip header byte":
        content[draws.draw(st.integers(0, header - 1), label="at")] ^= draws.draw(
            st.integers(1, 255), label="xor"
        )
    elif kind == "append":
        content += draws.draw(st.binary(min_size=1, max_size=64), label="tail")
    else:
        at = draws.draw(st.integers(header, len(content) - 1), label="at")
        content[at] = draws.draw(st.integers(10, 255), label="label")
    with tempfile.TemporaryDirectory() as root:
        raw = idx.write_raw(Path(root), {**files, name: bytes(content)})
        with pytest.raises(data.DataError) as error:
            data.load(root, counts=idx.counts)
        assert str(raw / name) in one_line(error)


# --- provisioning --------------------------------------------------------------------------------


def test_provision_decompresses_debian_files_into_an_empty_root(
    tmp_path, idx, debian_dir, no_network, capsys
):
    root = tmp_path / "data"
    raw = provision_offline(root, idx, debian_dir=debian_dir)
    assert raw == root / "FashionMNIST" / "raw"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == idx.tiny_files()
    assert [p.name for p in raw.parent.iterdir()] == ["raw"]  # no staging folder left behind
    assert "decompressed" in capsys.readouterr().out
    assert no_network == []  # the first source that works ends the search
    data.load(root, counts=idx.counts)


def test_second_provision_touches_nothing(
    tmp_path, idx, debian_dir, no_network, monkeypatch, capsys
):
    root = tmp_path / "data"
    raw = provision_offline(root, idx, debian_dir=debian_dir)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in raw.iterdir()}
    capsys.readouterr()

    def no_decompressing(source, target):
        raise AssertionError("decompressed again")

    monkeypatch.setattr(data, "_decompress", no_decompressing)
    assert provision_offline(root, idx, debian_dir=debian_dir) == raw
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in raw.iterdir()} == before
    assert capsys.readouterr().out.strip().splitlines() == [
        f"data: {raw}: all four files present and valid"
    ]


def test_quiet_provision_prints_nothing(tmp_path, idx, debian_dir, capsys):
    provision_offline(tmp_path, idx, debian_dir=debian_dir, quiet=True)
    provision_offline(tmp_path, idx, debian_dir=debian_dir, quiet=True)
    assert capsys.readouterr().out == ""


def test_provision_replaces_a_truncated_file(tiny_idx_root, idx, debian_dir, no_network):
    path = truncate(data.raw_dir(tiny_idx_root))
    inode = path.stat().st_ino
    provision_offline(tiny_idx_root, idx, debian_dir=debian_dir)
    assert path.read_bytes() == idx.tiny_files()[TRAIN_IMAGES]
    assert path.stat().st_ino != inode  # replaced by a complete file, never rewritten in place


def test_interrupted_provision_leaves_no_partial_file(tmp_path, idx, debian_dir, monkeypatch):
    decompress = data._decompress
    done = []

    def interrupted(source, target):
        if len(done) == 2:
            target.write_bytes(gzip.decompress(source.read_bytes())[:1000])
            raise KeyboardInterrupt
        decompress(source, target)
        done.append(target)

    monkeypatch.setattr(data, "_decompress", interrupted)
    root = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        provision_offline(root, idx, debian_dir=debian_dir, allow_download=False)
    assert list(data.raw_dir(root).iterdir()) == []
    assert [p.name for p in (root / "FashionMNIST").iterdir()] == ["raw"]

    monkeypatch.setattr(data, "_decompress", decompress)
    provision_offline(root, idx, debian_dir=debian_dir, allow_download=False)
    data.validate(data.raw_dir(root), idx.counts)


def test_bad_debian_files_are_rejected_and_nothing_is_installed(
    tmp_path, idx, debian_dir, no_network, capsys
):
    (debian_dir / f"{TEST_LABELS}.gz").write_bytes(gzip.compress(idx.bytes(torch.arange(9))))
    root = tmp_path / "data"
    with pytest.raises(data.DataError):
        provision_offline(root, idx, debian_dir=debian_dir)
    assert list(data.raw_dir(root).iterdir()) == []
    assert "rejected" in capsys.readouterr().out


def test_corrupt_gzip_falls_through_to_the_next_source(
    tmp_path, idx, debian_dir, no_network, capsys
):
    (debian_dir / f"{TRAIN_IMAGES}.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(data.DataError):
        provision_offline(tmp_path, idx, debian_dir=debian_dir)
    out = capsys.readouterr().out
    assert "cannot decompress" in out and "torchvision download failed" in out
    assert len(no_network) == 1


def test_no_source_is_one_line_saying_how_to_get_the_files(tmp_path, idx, no_network, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    root = tmp_path / "data"
    with pytest.raises(data.DataError) as error:
        provision_offline(root, idx, debian_dir=empty)
    message = one_line(error)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(data.raw_dir(root)) in message and TRAIN_IMAGES in message
    steps = [line.split(":")[1].strip() for line in capsys.readouterr().out.splitlines()]
    assert steps == [
        f"no Debian dataset-fashion-mnist files in {empty}",
        "torchvision download failed",
    ]


def test_torchvision_download_is_used_when_debian_has_nothing(tmp_path, idx, monkeypatch, capsys):
    def download(self):
        idx.write_raw(Path(self.root), idx.tiny_files())
        (Path(self.raw_folder) / f"{TRAIN_IMAGES}.gz").write_bytes(b"archive")

    monkeypatch.setattr(datasets.FashionMNIST, "download", download)
    root = tmp_path / "data"
    raw = provision_offline(root, idx, debian_dir=tmp_path / "nowhere")
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.NAMES)
    assert "downloaded with torchvision" in capsys.readouterr().out


def test_apt_installs_the_package_then_its_files_are_decompressed(
    tmp_path, idx, debian_dir, no_network, monkeypatch
):
    package = tmp_path / "package"
    debian_dir.rename(package)
    installs = []

    def install(log):
        installs.append(True)
        package.rename(debian_dir)
        return True

    monkeypatch.setattr(data, "_can_apt", lambda: True)
    monkeypatch.setattr(data, "_apt_install", install)
    raw = data.provision(tmp_path / "data", counts=idx.counts, debian_dir=debian_dir)
    assert installs == [True] and len(no_network) == 1
    data.validate(raw, idx.counts)


def test_apt_needs_root(tmp_path, idx, no_network, monkeypatch, capsys):
    monkeypatch.setattr(data, "_can_apt", lambda: False)
    monkeypatch.setattr(data, "_apt_install", lambda log: pytest.fail("apt-get ran"))
    with pytest.raises(data.DataError):
        data.provision(tmp_path, counts=idx.counts, debian_dir=tmp_path / "nowhere")
    assert "needs root and apt-get" in capsys.readouterr().out


@pytest.mark.parametrize("returncode", [0, 100])
def test_apt_install_runs_update_then_install(monkeypatch, returncode):
    commands, lines = [], []

    def run(command, **kwargs):
        commands.append(command)
        return subprocess.CompletedProcess(command, returncode, "", "E: Unable to locate package")

    monkeypatch.setattr(data.subprocess, "run", run)
    assert data._apt_install(lines.append) is (returncode == 0)
    assert commands[0][:2] == ["apt-get", "update"]
    if returncode == 0:
        assert commands[1][:3] == ["apt-get", "install", "-y"]
        assert commands[1][-1] == "dataset-fashion-mnist"
    else:
        assert len(commands) == 1 and lines[-1].endswith("E: Unable to locate package")


# --- the command line ----------------------------------------------------------------------------


def test_cli_on_an_unusable_folder_exits_2_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = subprocess.run(
        [sys.executable, "-m", "bench.data", "--data", str(blocker / "data")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("bench.data: error: ") and done.stderr.count("\n") == 1
    assert str(blocker) in done.stderr and "Traceback" not in done.stderr


# --- the real data -------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_data_has_the_documented_shapes_and_range(fashion_mnist):
    assert fashion_mnist.train_x.shape == (60000, 784)
    assert fashion_mnist.test_x.shape == (10000, 784)
    for x in (fashion_mnist.train_x, fashion_mnist.test_x):
        assert x.dtype == torch.float32 and x.min() == 0 and x.max() == 1
    assert fashion_mnist.train_y.dtype == fashion_mnist.test_y.dtype == torch.int64


@pytest.mark.realdata
def test_real_data_has_every_class_equally_often(fashion_mnist):
    assert fashion_mnist.train_y.bincount(minlength=10).tolist() == [6000] * 10
    assert fashion_mnist.test_y.bincount(minlength=10).tolist() == [1000] * 10


@pytest.mark.realdata
def test_cli_on_provisioned_data_is_fast_and_prints_the_raw_folder(fashion_mnist, capsys):
    assert data.main(["--data", str(ROOT / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"Fashion-MNIST ready in {data.raw_dir(ROOT / 'data')}"


def test_cli_from_a_folder_without_the_files_is_one_line(tmp_path, debian_dir, capsys):
    (debian_dir / f"{TEST_LABELS}.gz").unlink()
    assert data.main(["--data", str(tmp_path / "data"), "--from", str(debian_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"missing {TEST_LABELS}.gz" in err
    assert not data.raw_dir(tmp_path / "data").exists()


@pytest.mark.realdata
def test_cli_from_the_original_gz_files_uses_them_and_nothing_else(
    fashion_mnist, tmp_path, no_network, capsys, monkeypatch
):
    source = tmp_path / "gz"
    source.mkdir()
    raw = data.raw_dir(ROOT / "data")
    for name in data.NAMES:  # the four originals, gzipped, as Zalando publishes them
        (source / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes(), 1))
    monkeypatch.setattr(data, "_apt_install", lambda log: pytest.fail("apt was tried"))
    assert data.main(["--data", str(tmp_path / "data"), "--from", str(source)]) == 0
    out = capsys.readouterr().out
    assert f"decompressed the four .gz files from {source}" in out and no_network == []
    for name in data.NAMES:
        assert (data.raw_dir(tmp_path / "data") / name).read_bytes() == (raw / name).read_bytes()
