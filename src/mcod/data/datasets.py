"""Benchmark datasets (MNIST, Fashion-MNIST, CIFAR-10, digits, ODDS) and protocol splits.

Nothing is downloaded: the files are expected in a data directory (``--data-dir``, the
``MCOD_DATA_DIR`` environment variable, or ``~/mcod_data``). Every file is checked against a
sha256 below, so a benchmark number always refers to the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcod.data.inputs import check_contamination
from mcod.io.atomic import atomic_write

__all__ = [
    "DATASET_NAMES",
    "ODDS_NAMES",
    "Dataset",
    "DatasetChecksumError",
    "DatasetMissingError",
    "load_dataset",
    "load_odds",
    "oneclass_split",
    "resolve_cache_dir",
    "resolve_data_dir",
    "uod_split",
]

DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10", "digits")

ODDS_NAMES: tuple[str, ...] = (
    "annthyroid",
    "arrhythmia",
    "breastw",
    "cardio",
    "cover",
    "glass",
    "http",
    "ionosphere",
    "letter",
    "lympho",
    "mammography",
    "mnist",
    "musk",
    "optdigits",
    "pendigits",
    "pima",
    "satellite",
    "satimage-2",
    "shuttle",
    "smtp",
    "thyroid",
    "vertebral",
    "vowels",
    "wbc",
    "wine",
)

IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_FILE = "cifar10_jpg_q75.tar.gz"
CIFAR_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))

# Where the Debian package `dataset-fashion-mnist` installs the files (a module constant so
# tests can point it elsewhere).
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# sha256 of each file, keyed by its path relative to the data directory.
# MNIST, CIFAR-10 and ODDS: from shared/data/SHA256SUMS (official MNIST bytes, original ODDS).
# Fashion-MNIST: computed on the Debian package files (0.0~git20200523.55506a9-1). Debian
# normalised the gzip header (FNAME removed, mtime 2020-06-05), so these differ from the
# upstream Zalando .gz files although the payload is the same; see _PAYLOAD_SHA256.
SHA256: dict[str, str] = {
    "mnist/train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "mnist/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "fashion-mnist/train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "fashion-mnist/train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "fashion-mnist/t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "fashion-mnist/t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "cifar10/cifar10_jpg_q75.tar.gz": "1ef039d377fd7f1b1a343546fd5e8cff871725b9022dd1e868146341e5e327ec",
    "odds/annthyroid.mat": "17a1012d005f2179eca3b87c0028eb5ca807794b359c33fa1f8ca5ac846c514f",
    "odds/arrhythmia.mat": "e4d47e499591ae31e5d7f0cd983367092353eac240f48e14c9b36457edb3460d",
    "odds/breastw.mat": "a2e3f7c7f61ddde87c4373f0c0539de996227b9659c70b3c227948ebf0c6062b",
    "odds/cardio.mat": "5e568b6a73711012c481fa6cc984ab9c68e9a4fa44d6aeb3b43efa381c3f695b",
    "odds/cover.mat": "39acf6da4d31f08c2c28dc047249d8cd8ccd9d6fc299d9b5a08874ac92290c98",
    "odds/glass.mat": "2c506e6e1e2ca1e82a905d10a90773151ff812c4bd969c71a12db5b2bb6e7921",
    "odds/http.mat": "eca6eada6f51060ae749f80afce8a846c1fe5679da803954a4005f97e39bd46c",
    "odds/ionosphere.mat": "8ac5dfa6f47db4acdfe10615489b7f7dd015d79d5b381ce641e72baca3cfefb0",
    "odds/letter.mat": "f4a229b0e2a6b0c9157ce27fa760bcbac0f948cd690b2f5d51c120e5450f2195",
    "odds/lympho.mat": "031b907ecb50347720b08b38f8139d05635adeca9335a064d89d5569c27a5834",
    "odds/mammography.mat": "271ebb568314a856666d3504b4882e21b0ea6e1ba9e648ad256d572a36df597e",
    "odds/mnist.mat": "9479e221f236684c09f3e11c7ad124725d34ecd301b9450425e8b113368413a6",
    "odds/musk.mat": "50bbf414caceb66cfe6f6b1eb7c1ff7c6eb1e6d87173f7bb597ba55cd3dc5493",
    "odds/optdigits.mat": "30c664cd6f3740a173277a27cd1028d471b06f0835a9902c9712749cec58c1c4",
    "odds/pendigits.mat": "7bc32ac83b3d583443acea8b1342a54aaa59eaedb9996af405322f473f3c22bc",
    "odds/pima.mat": "b6a5be8d548b9293d6958beceb1c77055591714d25d40d957eba87808456468f",
    "odds/satellite.mat": "6feac3112b9c14e1c3e60afc437f2f3d29dc1000119c9f950c628078778d6aa0",
    "odds/satimage-2.mat": "95c37a07cea2cb201f6900d14f521510e10b6b2f0074c06ac46d3157440ec67b",
    "odds/shuttle.mat": "b6e396c92354d5dcf5036901e36dc58e2913f2d1a5e138c35a2bedf9c69db899",
    "odds/smtp.mat": "5b6d13dd23e8c5e4235081ea58b606df216a2b9b86e7f5403cde26f62dafc0d8",
    "odds/thyroid.mat": "49155d7861b977e90808faf68343ff67a67f63090c2744d514dbb67ac68e7e33",
    "odds/vertebral.mat": "84b50b055f118f54b5c976650ccd284ab7c1adee822f8b3eb517c7e2c890d15e",
    "odds/vowels.mat": "51d5397bad1ceeda22b7cd44fd58125c5d603c9c2edb53aa59933330e259ac7b",
    "odds/wbc.mat": "afe6b26953cc196b9a480318c903e0edef22529c2f61bd02082438c6e70630a7",
    "odds/wine.mat": "d1b7cc643379e14397ee25bc1125ba08e4c929f2ec44d8782b1340d7045d4cf7",
}

# sha256 of the *decompressed* Fashion-MNIST files. The upstream .gz files differ from
# Debian's only in the gzip header, so a file that fails the sha256 above but whose payload
# matches here is accepted: that lets users drop in the files from the Zalando site.
_PAYLOAD_SHA256: dict[str, str] = {
    "fashion-mnist/train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "fashion-mnist/train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "fashion-mnist/t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "fashion-mnist/t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

_WHERE_TO_GET: dict[str, str] = {
    "mnist": "MNIST: the four official IDX .gz files (from yann.lecun.com/exdb/mnist or a "
    "mirror; same bytes as torchvision's)",
    "fashion-mnist": "Fashion-MNIST: `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, "
    f"installs into {DEBIAN_FASHION_MNIST_DIR}) or the four IDX .gz files "
    "from github.com/zalandoresearch/fashion-mnist into the folder above",
    "cifar10": f"CIFAR-10: {CIFAR_FILE} (the 60,000 CIFAR-10 images as JPEG q75, "
    "train/<class>/NNNN.jpg and test/<class>/NNNN.jpg, tarred and gzipped)",
    "odds": "ODDS: the original .mat file from the ODDS library "
    "(odds.cs.stonybrook.edu, also in the pyod / ADBench repositories)",
}

_CACHE_VERSION = 1  # bump when the decoded layout changes, to invalidate old caches


class DatasetMissingError(FileNotFoundError):
    """Dataset files are absent; the message lists the expected paths and where to get them."""


class DatasetChecksumError(ValueError):
    """A dataset file exists but its sha256 is not the recorded one (corrupt or other version)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image benchmark. Labels are only for building splits and evaluation."""

    images: np.ndarray  # uint8, (N, H, W) grey or (N, H, W, 3) RGB
    labels: np.ndarray  # int64, (N,)
    split: np.ndarray  # "train" / "test" strings, (N,)
    classes: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)


# --------------------------------------------------------------------------- directories


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else $MCOD_DATA_DIR, else ~/mcod_data."""
    if data_dir is None:
        data_dir = os.environ.get("MCOD_DATA_DIR") or "~/mcod_data"
    return Path(data_dir).expanduser()


def resolve_cache_dir() -> Path:
    """Where decoded datasets are cached: $MCOD_CACHE_DIR, else ~/.cache/mcod."""
    return Path(os.environ.get("MCOD_CACHE_DIR") or "~/.cache/mcod").expanduser()


def _missing_error(kind: str, label: str, missing: list[Path], data_dir: Path) -> Exception:
    listing = "\n".join(f"  {p}" for p in missing)
    return DatasetMissingError(
        f"{label} not found; missing file(s):\n{listing}\n"
        f"Where to get them: {_WHERE_TO_GET[kind]}.\n"
        f"Data directory used: {data_dir} (set it with --data-dir or the MCOD_DATA_DIR "
        "environment variable; default ~/mcod_data)."
    )


# --------------------------------------------------------------------------- checksums

_hash_memo: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """sha256 of a file, memoised per process by (path, size, mtime): hashing is slow-ish."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hash_memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _hash_memo[key] = h.hexdigest()
    return _hash_memo[key]


def _payload_sha256(path: Path) -> str | None:
    """sha256 of a gzip file's decompressed content, or None if it is not valid gzip."""
    h = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError):
        return None
    return h.hexdigest()


def _verify(path: Path, key: str) -> str:
    """Check path against SHA256[key]; return the hash or raise DatasetChecksumError."""
    actual = _sha256(path)
    expected = SHA256[key]
    if actual == expected:
        return actual
    if key in _PAYLOAD_SHA256 and _payload_sha256(path) == _PAYLOAD_SHA256[key]:
        return actual  # same data, different gzip header (e.g. upstream Fashion-MNIST)
    raise DatasetChecksumError(
        f"checksum mismatch for {path}: expected sha256 {expected}, got {actual} "
        "(file corrupt, truncated or a different version; replace it)"
    )


# --------------------------------------------------------------------------- IDX (MNIST)


def _read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes (the MNIST format)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _idx_dir(name: str, data_dir: Path) -> Path:
    """Folder holding the four IDX files; Fashion-MNIST falls back to the Debian package."""
    primary = data_dir / name
    candidates = [primary]
    if name == "fashion-mnist":
        candidates.append(DEBIAN_FASHION_MNIST_DIR)
    for folder in candidates:
        if all((folder / f).is_file() for f in IDX_FILES):
            return folder
    missing = [primary / f for f in IDX_FILES if not (primary / f).is_file()]
    label = "MNIST" if name == "mnist" else "Fashion-MNIST"
    raise _missing_error(name, label, missing, data_dir)


def _load_idx_dataset(name: str, classes: tuple[str, ...], data_dir: Path) -> Dataset:
    folder = _idx_dir(name, data_dir)
    arrays = {}
    for fname in IDX_FILES:
        _verify(folder / fname, f"{name}/{fname}")
        arrays[fname] = _read_idx(folder / fname)
    x_train, y_train, x_test, y_test = (arrays[f] for f in IDX_FILES)
    return Dataset(
        images=np.concatenate([x_train, x_test]),
        labels=np.concatenate([y_train, y_test]).astype(np.int64),
        split=np.array(["train"] * len(y_train) + ["test"] * len(y_test)),
        classes=classes,
        name=name,
    )


# --------------------------------------------------------------------------- CIFAR-10


def _decode_cifar_tar(path: Path) -> dict[str, np.ndarray]:
    """Decode train/<class>/NNNN.jpg and test/<class>/NNNN.jpg members into arrays.

    Members are sorted by (split: train first, class index, file name) so the order
    does not depend on how the tar was packed.
    """
    from PIL import Image

    split_order = {"train": 0, "test": 1}
    entries: list[tuple[int, int, str, bytes]] = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            parts = member.name.removeprefix("./").split("/")
            if not member.isfile() or len(parts) != 3 or not parts[2].endswith(".jpg"):
                continue
            split, cls, fname = parts
            if split not in split_order or cls not in CIFAR_CLASSES:
                continue
            handle = tar.extractfile(member)
            assert handle is not None  # a regular file: member.isfile() above
            data = handle.read()
            entries.append((split_order[split], CIFAR_CLASSES.index(cls), fname, data))
    if not entries:
        raise ValueError(f"{path} holds no train/<class>/*.jpg or test/<class>/*.jpg members")
    entries.sort(key=lambda e: e[:3])

    images = np.empty((len(entries), 32, 32, 3), dtype=np.uint8)
    for i, (_, _, fname, data) in enumerate(entries):
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB"))
        if arr.shape != (32, 32, 3):
            raise ValueError(f"{path}: {fname} is {arr.shape}, expected 32x32 RGB")
        images[i] = arr
    return {
        "images": images,
        "labels": np.array([e[1] for e in entries], dtype=np.int64),
        "split": np.array(["train" if e[0] == 0 else "test" for e in entries]),
    }


def _read_cache(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Load an .npz cache, or None if it is absent or unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n = {len(v) for v in data.values()}
    return data if len(n) == 1 else None


def _cached(
    path: Path, keys: tuple[str, ...], build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Return the cached arrays at path, building and storing them on a miss."""
    data = _read_cache(path, keys)
    if data is not None:
        return data
    data = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as handle:  # readers never see half a file
            # the arrays by name; numpy's stubs read ** as its allow_pickle flag
            np.savez(handle, **data)  # type: ignore[arg-type]
    except OSError as exc:  # read-only home etc.: still usable, just slow next time
        warnings.warn(f"could not write dataset cache {path}: {exc}", stacklevel=3)
    return data


def _load_cifar10(data_dir: Path) -> Dataset:
    path = data_dir / "cifar10" / CIFAR_FILE
    if not path.is_file():
        raise _missing_error("cifar10", "CIFAR-10", [path], data_dir)
    digest = _verify(path, f"cifar10/{CIFAR_FILE}")
    cache = resolve_cache_dir() / f"cifar10-v{_CACHE_VERSION}-{digest}.npz"
    data = _cached(cache, ("images", "labels", "split"), lambda: _decode_cifar_tar(path))
    return Dataset(
        images=data["images"],
        labels=data["labels"].astype(np.int64),
        split=data["split"],
        classes=CIFAR_CLASSES,
        name="cifar10",
    )


# --------------------------------------------------------------------------- digits


def _load_digits() -> Dataset:
    """sklearn's 8x8 digits (bundled, values 0..16) rescaled to uint8 0..255."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    return Dataset(
        images=images,
        labels=d.target.astype(np.int64),
        split=np.full(len(images), "train"),
        classes=DIGIT_CLASSES,
        name="digits",
    )


# --------------------------------------------------------------------------- public loaders


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load one of DATASET_NAMES (train and test together; see ``Dataset.split``)."""
    key = name.strip().lower()
    if key == "digits":
        return _load_digits()
    root = resolve_data_dir(data_dir)
    if key == "mnist":
        return _load_idx_dataset("mnist", DIGIT_CLASSES, root)
    if key == "fashion-mnist":
        return _load_idx_dataset("fashion-mnist", FASHION_CLASSES, root)
    if key == "cifar10":
        return _load_cifar10(root)
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")


def load_odds(name: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load an ODDS benchmark: X float64 (N, D) and y int64 (1 = outlier)."""
    if name not in ODDS_NAMES:
        raise ValueError(f"unknown ODDS dataset {name!r}; valid names: {', '.join(ODDS_NAMES)}")
    root = resolve_data_dir(data_dir)
    path = root / "odds" / f"{name}.mat"
    if not path.is_file():
        raise _missing_error("odds", f"ODDS {name}", [path], root)
    _verify(path, f"odds/{name}.mat")
    X, y = _read_mat(path)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64).ravel()


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MAT v5 through scipy; v7.3 (HDF5, e.g. http, smtp) through h5py, which reads transposed."""
    import scipy.io

    try:
        d = scipy.io.loadmat(path)
        return d["X"], d["y"]
    except NotImplementedError:  # scipy: "Please use HDF reader for matlab v7.3 files"
        import h5py

        with h5py.File(path, "r") as h:
            return np.array(h["X"]).T, np.array(h["y"]).T


# --------------------------------------------------------------------------- protocol splits


def _check_rho(rho: float) -> None:
    """rho is an outlier share as the model's contamination is (NumPy floats taken too:
    splits are often built from arrays of shares)."""
    check_contamination(float(rho) if isinstance(rho, np.floating) else rho, "rho")


def n_outliers(n_inliers: int, rho: float) -> int:
    """floor(n_in * rho / (1 - rho)); the epsilon keeps e.g. 900 * 0.1 / 0.9 at 100, not 99."""
    return int(math.floor(n_inliers * rho / (1.0 - rho) + 1e-9))


def _draw(pool: np.ndarray, n: int, rng: np.random.Generator, what: str) -> np.ndarray:
    if n > len(pool):
        raise ValueError(f"need {n} {what} but only {len(pool)} are available; lower rho")
    return rng.choice(pool, size=n, replace=False)


def uod_split(
    labels: np.ndarray, inlier_class: int, rho: float, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Unsupervised protocol: all samples of one class plus a rho share of others.

    Returns (indices into the dataset, y with 1 = outlier), shuffled together so that
    batches are not sorted by label. The same seed gives the same split.
    """
    _check_rho(rho)
    labels = np.asarray(labels).ravel()
    rng = np.random.default_rng(seed)
    inliers = np.flatnonzero(labels == inlier_class)
    if len(inliers) == 0:
        raise ValueError(
            f"no sample has class {inlier_class!r}; classes present: {np.unique(labels).tolist()}"
        )
    pool = np.flatnonzero(labels != inlier_class)
    outliers = _draw(pool, n_outliers(len(inliers), rho), rng, "outliers")
    idx = np.concatenate([inliers, outliers]).astype(np.int64)
    y = np.concatenate([np.zeros(len(inliers), np.int64), np.ones(len(outliers), np.int64)])
    order = rng.permutation(len(idx))
    return idx[order], y[order]


def oneclass_split(
    labels: np.ndarray, split: np.ndarray, inlier_class: int, rho: float, seed: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-class protocol: train on the inlier class's train split, test on its test split
    plus a rho share of other-class test samples.

    Returns (train indices in dataset order, shuffled test indices, test y with 1 = outlier).
    """
    _check_rho(rho)
    labels = np.asarray(labels).ravel()
    split = np.asarray(split).ravel()
    if labels.shape != split.shape:
        raise ValueError(f"labels {labels.shape} and split {split.shape} differ in length")
    rng = np.random.default_rng(seed)
    is_in = labels == inlier_class
    is_train, is_test = split == "train", split == "test"
    train_idx = np.flatnonzero(is_train & is_in).astype(np.int64)
    test_in = np.flatnonzero(is_test & is_in)
    if len(train_idx) == 0 or len(test_in) == 0:
        raise ValueError(
            f"class {inlier_class!r} has {len(train_idx)} train and {len(test_in)} test "
            "samples; the one-class protocol needs both (datasets without a test split, "
            "such as digits, only support uod_split)"
        )
    pool = np.flatnonzero(is_test & ~is_in)
    test_out = _draw(pool, n_outliers(len(test_in), rho), rng, "test outliers")
    test_idx = np.concatenate([test_in, test_out]).astype(np.int64)
    y = np.concatenate([np.zeros(len(test_in), np.int64), np.ones(len(test_out), np.int64)])
    order = rng.permutation(len(test_idx))
    return train_idx, test_idx[order], y[order]
