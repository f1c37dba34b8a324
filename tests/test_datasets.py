"""Tests for mcod.data.datasets: loaders, checksums, cache, protocol splits."""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcod.data import datasets as ds
from mcod.data.datasets import (
    DATASET_NAMES,
    ODDS_NAMES,
    DatasetChecksumError,
    DatasetMissingError,
    load_dataset,
    load_odds,
    oneclass_split,
    resolve_data_dir,
    uod_split,
)

IDX = ds.IDX_FILES


def _shared_data_dir() -> Path | None:
    """$MCOD_DATA_DIR, else the `shared/data` folder beside the repository."""
    env = os.environ.get("MCOD_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def data_dir() -> Path:
    path = _shared_data_dir()
    if path is None:
        pytest.skip("benchmark data directory not available (set MCOD_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MCOD_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- directories


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MCOD_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir("~/x") == Path.home() / "x"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("MCOD_DATA_DIR")
    assert resolve_data_dir(None) == Path.home() / "mcod_data"


def test_resolve_cache_dir(monkeypatch, tmp_path):
    assert ds.resolve_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("MCOD_CACHE_DIR")
    assert ds.resolve_cache_dir() == Path.home() / ".cache" / "mcod"


# --------------------------------------------------------------------------- digits, names


def test_digits():
    d = load_dataset("digits")
    assert d.images.shape == (1797, 8, 8) and d.images.dtype == np.uint8
    assert d.images.max() == 255 and d.images.min() == 0
    assert d.labels.shape == (1797,) and d.labels.dtype == np.int64
    assert set(d.split.tolist()) == {"train"}
    assert d.classes == tuple("0123456789") and d.name == "digits"
    assert len(d) == 1797


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError) as info:
        load_dataset("svhn")
    assert all(n in str(info.value) for n in DATASET_NAMES)


def test_unknown_odds_lists_names():
    with pytest.raises(ValueError, match="wine"):
        load_odds("nope")
    assert len(ODDS_NAMES) == 25


# --------------------------------------------------------------------------- uod_split

LABELS = np.repeat(np.arange(10), 100)


def test_uod_split_counts_and_content():
    idx, y = uod_split(LABELS, inlier_class=3, rho=0.1, seed=0)
    n_out = math.floor(100 * 0.1 / 0.9)
    assert (y == 1).sum() == n_out == 11
    assert (y == 0).sum() == 100
    assert len(np.unique(idx)) == len(idx)
    assert set(idx[y == 0].tolist()) == set(np.flatnonzero(LABELS == 3).tolist())
    assert np.all(LABELS[idx[y == 1]] != 3)
    assert idx.dtype == np.int64 and y.dtype == np.int64


def test_uod_split_shuffled_and_seeded():
    idx, y = uod_split(LABELS, 0, 0.2, seed=1)
    assert not np.all(np.diff(idx) > 0)  # not in dataset order
    assert y[: (y == 0).sum()].any()  # outliers are not all at the end
    idx2, y2 = uod_split(LABELS, 0, 0.2, seed=1)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_array_equal(y, y2)
    idx3, _ = uod_split(LABELS, 0, 0.2, seed=2)
    assert not np.array_equal(idx, idx3)


def test_uod_split_exact_floor():
    labels = np.repeat([0, 1], [900, 900])
    _, y = uod_split(labels, 0, 0.1, seed=0)  # 900 * 0.1 / 0.9 = 100 (not 99 by rounding)
    assert y.sum() == 100


@pytest.mark.parametrize("rho", [0, 0.51, -0.1, 0.7, float("nan")])
def test_uod_split_bad_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        uod_split(LABELS, 0, rho, seed=0)


def test_uod_split_takes_half_outliers_like_the_largest_contamination():
    _, y = uod_split(LABELS, 0, 0.5, seed=0)
    assert y.sum() == (y == 0).sum()


def test_uod_split_errors():
    with pytest.raises(ValueError, match="no sample has class"):
        uod_split(LABELS, 42, 0.1, seed=0)
    with pytest.raises(ValueError, match="only"):
        uod_split(np.repeat([0, 1], [100, 5]), 0, 0.2, seed=0)


def test_uod_split_on_digits():
    d = load_dataset("digits")
    idx, y = uod_split(d.labels, 0, 0.05, seed=0)
    n_in = int((d.labels == 0).sum())
    assert y.sum() == math.floor(n_in * 0.05 / 0.95)


# --------------------------------------------------------------------------- oneclass_split


def test_oneclass_split():
    split = np.tile(np.array(["train"] * 80 + ["test"] * 20), 10)
    train, test, y = oneclass_split(LABELS, split, inlier_class=4, rho=0.2, seed=0)
    assert len(train) == 80
    assert np.all(LABELS[train] == 4) and np.all(split[train] == "train")
    assert np.all(split[test] == "test")
    assert (y == 0).sum() == 20 and (y == 1).sum() == math.floor(20 * 0.2 / 0.8)
    np.testing.assert_array_equal(y, (LABELS[test] != 4).astype(int))
    _, test2, _ = oneclass_split(LABELS, split, 4, 0.2, seed=0)
    np.testing.assert_array_equal(test, test2)


def test_oneclass_split_needs_test_split():
    d = load_dataset("digits")
    with pytest.raises(ValueError, match="uod_split"):
        oneclass_split(d.labels, d.split, 0, 0.1, seed=0)


# --------------------------------------------------------------------------- missing / checksum


def test_missing_mnist_message(tmp_path):
    with pytest.raises(DatasetMissingError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    for f in IDX:
        assert str(tmp_path / "mnist" / f) in msg
    assert "MCOD_DATA_DIR" in msg and "--data-dir" in msg and "IDX" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_missing_fashion_message(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    with pytest.raises(DatasetMissingError) as info:
        load_dataset("fashion-mnist", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "fashion-mnist" / IDX[0]) in msg
    assert "apt-get install dataset-fashion-mnist" in msg


def test_missing_cifar_and_odds_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MCOD_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetMissingError, match="cifar10_jpg_q75.tar.gz"):
        load_dataset("cifar10")
    with pytest.raises(DatasetMissingError) as info:
        load_odds("wine")
    assert str(tmp_path / "odds" / "wine.mat") in str(info.value)


def test_checksum_mismatch(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in IDX:
        (folder / f).write_bytes(b"not mnist")
    actual = hashlib.sha256(b"not mnist").hexdigest()
    with pytest.raises(DatasetChecksumError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    assert str(folder / IDX[0]) in msg
    assert ds.SHA256["mnist/" + IDX[0]] in msg and actual in msg


def _idx_gz(path: Path, arr: np.ndarray, mtime: int) -> bytes:
    """Write a uint8 IDX file, gzipped with the given header mtime; return the payload."""
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    payload = header + arr.astype(np.uint8).tobytes()
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=mtime) as f:
        f.write(payload)
    return payload


def test_fashion_payload_checksum_accepts_other_gzip_header(tmp_path, monkeypatch):
    """Upstream and Debian Fashion-MNIST differ only in the gzip header: both must load."""
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    arrays = {
        IDX[0]: np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256,
        IDX[1]: np.array([0, 1, 2]),
        IDX[2]: np.zeros((2, 28, 28)),
        IDX[3]: np.array([9, 8]),
    }
    payload_sha = {}
    file_sha = {}
    for f, arr in arrays.items():
        key = f"fashion-mnist/{f}"
        payload_sha[key] = hashlib.sha256(_idx_gz(folder / f, arr, mtime=1)).hexdigest()
        file_sha[key] = "0" * 64  # pretend the recorded file hash is another header's
    monkeypatch.setattr(ds, "SHA256", {**ds.SHA256, **file_sha})
    monkeypatch.setattr(ds, "_PAYLOAD_SHA256", payload_sha)
    d = load_dataset("fashion-mnist", tmp_path)
    assert d.images.shape == (5, 28, 28)
    assert d.labels.tolist() == [0, 1, 2, 9, 8]
    assert d.split.tolist() == ["train"] * 3 + ["test"] * 2
    assert d.classes[0] == "T-shirt/top"


def test_hash_is_memoised_and_tracks_changes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    h1 = ds._sha256(f)
    assert h1 == hashlib.sha256(b"abc").hexdigest()
    n = len(ds._hash_memo)
    assert ds._sha256(f) == h1 and len(ds._hash_memo) == n
    f.write_bytes(b"abcd")  # new size -> new key
    assert ds._sha256(f) == hashlib.sha256(b"abcd").hexdigest()


# --------------------------------------------------------------------------- CIFAR (synthetic)


def _fake_cifar_tar(path: Path) -> None:
    """A tiny tar.gz in the CIFAR layout, members deliberately out of order."""
    names = [
        "test/cat/0000.jpg",
        "train/truck/0001.jpg",
        "train/airplane/0001.jpg",
        "train/truck/0000.jpg",
        "train/airplane/0000.jpg",
        "test/airplane/0000.jpg",
    ]
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            buf = io.BytesIO()
            Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(buf, format="JPEG", quality=95)
            info = tarfile.TarInfo(name)
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)


def test_decode_cifar_tar_sorted(tmp_path):
    path = tmp_path / "c.tar.gz"
    _fake_cifar_tar(path)
    data = ds._decode_cifar_tar(path)
    assert data["images"].shape == (6, 32, 32, 3) and data["images"].dtype == np.uint8
    assert data["split"].tolist() == ["train"] * 4 + ["test"] * 2
    assert data["labels"].tolist() == [0, 0, 9, 9, 0, 3]
    # train/airplane/0000 was member 4 (red ~160), train/airplane/0001 member 2 (red ~80)
    assert abs(int(data["images"][0, 0, 0, 0]) - 160) < 8
    assert abs(int(data["images"][1, 0, 0, 0]) - 80) < 8


def test_cifar_load_uses_cache(tmp_path, monkeypatch):
    tar = tmp_path / "cifar10" / ds.CIFAR_FILE
    tar.parent.mkdir()
    _fake_cifar_tar(tar)
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    monkeypatch.setattr(ds, "SHA256", {**ds.SHA256, f"cifar10/{ds.CIFAR_FILE}": digest})
    first = load_dataset("cifar10", tmp_path)
    assert first.images.shape == (6, 32, 32, 3) and first.classes[9] == "truck"
    cache_files = list((tmp_path / "cache").iterdir())
    assert [p.name for p in cache_files] == [f"cifar10-v{ds._CACHE_VERSION}-{digest}.npz"]

    def no_decode(path):
        raise AssertionError("cache was not used")

    monkeypatch.setattr(ds, "_decode_cifar_tar", no_decode)
    second = load_dataset("cifar10", tmp_path)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)


def test_corrupt_cache_is_rebuilt(tmp_path):
    path = tmp_path / "c" / "x.npz"
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(3), "b": np.array(["x", "y", "z"])}

    path.parent.mkdir()
    path.write_bytes(b"garbage, not a zip")
    out = ds._cached(path, ("a", "b"), build)
    assert len(calls) == 1 and out["a"].tolist() == [0, 1, 2]
    out = ds._cached(path, ("a", "b"), build)
    assert len(calls) == 1 and out["b"].tolist() == ["x", "y", "z"]
    assert [p.name for p in path.parent.iterdir()] == ["x.npz"]  # no temp files left


# --------------------------------------------------------------------------- real files


def test_mnist_from_data_dir(data_dir, monkeypatch):
    if not (data_dir / "mnist").is_dir():
        pytest.skip("no mnist/ in the data directory")
    monkeypatch.setenv("MCOD_DATA_DIR", str(data_dir))
    d = load_dataset("mnist")
    assert d.images.shape == (70000, 28, 28) and d.images.dtype == np.uint8
    assert d.labels.dtype == np.int64
    assert (d.split == "train").sum() == 60000 and (d.split == "test").sum() == 10000
    assert np.bincount(d.labels[d.split == "train"]).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    train, test, y = oneclass_split(d.labels, d.split, 0, 0.1, seed=0)
    assert len(train) == 5923 and (y == 0).sum() == 980


def test_fashion_mnist_if_installed(tmp_path):
    have_data_dir = _shared_data_dir() is not None and all(
        (_shared_data_dir() / "fashion-mnist" / f).is_file() for f in IDX
    )
    have_debian = all((ds.DEBIAN_FASHION_MNIST_DIR / f).is_file() for f in IDX)
    if not (have_data_dir or have_debian):
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    d = load_dataset("fashion-mnist", _shared_data_dir() if have_data_dir else tmp_path)
    assert d.images.shape == (70000, 28, 28)
    assert np.bincount(d.labels[d.split == "train"]).tolist() == [6000] * 10


def test_odds_wine_and_smtp(data_dir):
    if not (data_dir / "odds").is_dir():
        pytest.skip("no odds/ in the data directory")
    X, y = load_odds("wine", data_dir)
    assert X.shape == (129, 13) and X.dtype == np.float64
    assert y.shape == (129,) and y.sum() == 10 and set(np.unique(y)) == {0, 1}
    X, y = load_odds("smtp", data_dir)  # MAT v7.3, read through h5py
    assert X.shape == (95156, 3) and y.shape == (95156,) and y.sum() == 30
