"""Fitted preprocessing, in scikit-learn's transformer pattern: checked input in, the float
tensor a network takes out.

Three preprocessors, one for each way data reaches a network:

- `TablePreprocessor`: rows standardised by the training columns (and, for
  ``table_yeo_johnson``, through Yeo-Johnson, `mcod.data.scaling`, and standardised
  again), in float64, clipped at `Z_LIMIT` training sds, then float32.
- `ImagePreprocessor`: images scaled to [0, 1] by the training images' intensity range and
  resized to the network's size; new images that differ from the training ones in scale or
  size are warned about, in channels refused.
- `EncodedPreprocessor`: images through a frozen pretrained encoder (a function the caller
  gives, `mcod.nn.pretrained.encoded_rows` in mcod), whose rows a `TablePreprocessor` takes.

Each has ``fit`` (learns from the training data), ``check`` (new data checked against the
fit, as one array) and ``transform`` (any run of checked rows to network input, so that
scoring can go a chunk at a time), and saves its fit as plain values and tensors
(``state``) that ``from_state`` reads back, refusing any field that is wrong with a
ValueError naming it (`mcod.io.archive.need`).
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler

from mcod.config import MCODConfig
from mcod.data.inputs import (
    InputError,
    as_table,
    image_array,
    intensity_range,
    scale_01,
    warn_if_off_scale,
    warn_if_other_size,
)
from mcod.data.scaling import fit_lambdas, yeo_johnson
from mcod.io.archive import check_tensor, is_int, is_number, need

__all__ = ["EncodedPreprocessor", "Encode", "ImagePreprocessor", "Preprocessor",
           "TablePreprocessor", "Z_LIMIT", "preprocessor_for", "preprocessor_from_state",
           "release_pages", "standardisation"]

# A standardised value is clipped to this many training standard deviations: a training
# row cannot reach it (|z| <= sqrt(N - 1)), and a new row beyond it still scores as the
# most outlying, with a finite score.
Z_LIMIT = 1e6
IMAGE_CHUNK_BYTES = 64 * 2**20  # float32 full-size images scaled and resized at a time
READ_CHUNK_BYTES = 16 * 2**20  # new images read at a time to check their intensity range
MAX_CHANNELS = 4  # what a saved image model may hold

# Images (N, C, H, W) and the intensity range that maps them onto [0, 1] -> (the encoder's
# rows (N, D) in float64, the encoder's weight digest).
Encode = Callable[[np.ndarray, tuple[float, float]], tuple[np.ndarray, str]]

POWER_FIELDS = ("power_lambdas", "power_mean", "power_std")  # with table_yeo_johnson
TABLE_FIELDS = ("n_features_in", "scale_mean", "scale_std", *POWER_FIELDS)
IMAGE_FIELDS = ("n_channels", "pixel_range", "image_size_in")
ENCODED_FIELDS = (*IMAGE_FIELDS, "encoder_digest", *TABLE_FIELDS)
# every field a preprocessor's state may hold; those another kind holds are None in a state
STATE_FIELDS = ENCODED_FIELDS


# --------------------------------------------------------------------------- tables

class _Fitting:
    """``fit`` and ``fit_transform`` of a preprocessor whose ``_fit`` learns from X and
    returns it checked, as ``transform`` takes it."""

    def fit(self: _P, X: Any) -> _P:
        """Learn from X, the training data (at least 2 samples)."""
        self._fit(X)
        return self

    def fit_transform(self, X: Any) -> torch.Tensor:
        """`fit`, then the training data as network input."""
        return self.transform(self._fit(X))

    def _fit(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def transform(self, checked: np.ndarray) -> torch.Tensor:
        raise NotImplementedError


_P = TypeVar("_P", bound=_Fitting)


def standardisation(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and sds (StandardScaler's; a constant column gets sd 1). A column that
    StandardScaler takes for constant though it varies (a tiny spread on a huge offset,
    such as nanosecond timestamps, or a spread near 1e-300) is measured again around its
    median, where float64 holds it."""
    constant = np.ptp(table, axis=0) == 0
    if constant.all():
        raise InputError("every row is the same: there is nothing to tell rows apart")
    with np.errstate(over="ignore", invalid="ignore"):  # refused just below if it matters
        scaler = StandardScaler().fit(table)
    mean, std = scaler.mean_.copy(), scaler.scale_.copy()
    mean[constant], std[constant] = table[0, constant], 1.0  # even at 1e200: no weight
    if not (np.isfinite(mean).all() and np.isfinite(scaler.var_[~constant]).all()):
        raise InputError("values too large to standardise (their squares overflow); rescale them")
    overridden = (std == 1.0) & (scaler.var_ != 1.0) & ~constant
    for j in np.flatnonzero(overridden):
        centre = np.median(table[:, j])
        offsets = table[:, j] - centre
        peak = np.abs(offsets).max()  # dividing first keeps squares of 1e-300 from underflowing
        mean[j], std[j] = centre + offsets.mean(), peak * (offsets / peak).std()
    return mean, std


def _z(values: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """(values - mean) / std in float64, not clipped."""
    return (values - mean.double().numpy()) / std.double().numpy()


def _standardised(values: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """(values - mean) / std in float64, clipped at Z_LIMIT training sds."""
    return np.clip(_z(values, mean, std), -Z_LIMIT, Z_LIMIT)


class TablePreprocessor(_Fitting):
    """Rows (N, D) standardised by the training columns in float64 (scikit-learn's
    StandardScaler, so that a column such as a timestamp keeps its variation; a constant
    column gets scale 1) and, with ``yeo_johnson``, through the Yeo-Johnson lambdas of the
    standardised columns and standardised again; clipped at `Z_LIMIT`, then float32 (with
    ``float64``, left in float64: an encoder's rows that `MCODConfig.image_float64` scores
    in float64 throughout, where one rounding to float32 could land either side of a
    boundary in mcod and in an exported graph).

    Fitted: ``n_features_in_``, ``scale_mean_``, ``scale_std_`` and, with
    ``yeo_johnson``, ``power_lambdas_``, ``power_mean_``, ``power_std_`` (float64 tensors).
    """

    n_features_in_: int
    scale_mean_: torch.Tensor
    scale_std_: torch.Tensor
    power_lambdas_: torch.Tensor
    power_mean_: torch.Tensor
    power_std_: torch.Tensor

    def __init__(self, yeo_johnson: bool = False, float64: bool = False) -> None:
        self.yeo_johnson, self.float64 = yeo_johnson, float64

    def _fit(self, X: Any) -> np.ndarray:
        """Learn the scaling of the table X (at least 2 rows); X as a float64 table."""
        table = as_table(X, min_samples=2)
        mean, std = standardisation(table)
        self.scale_mean_, self.scale_std_ = torch.from_numpy(mean), torch.from_numpy(std)
        if self.yeo_johnson:
            z = _standardised(table, self.scale_mean_, self.scale_std_)
            self.power_lambdas_ = torch.from_numpy(fit_lambdas(z))
            mean, std = standardisation(yeo_johnson(z, self.power_lambdas_.double().numpy()))
            self.power_mean_, self.power_std_ = torch.from_numpy(mean), torch.from_numpy(std)
        self.n_features_in_ = table.shape[1]
        return table

    def check(self, X: Any) -> np.ndarray:
        """New rows as a float64 table with the training table's columns."""
        table = as_table(X, min_samples=1)
        if table.shape[1] != self.n_features_in_:
            raise InputError(f"X has {table.shape[1]} features, the model was fitted on "
                             f"{self.n_features_in_}")
        return table

    def transform(self, table: np.ndarray) -> torch.Tensor:
        """Checked rows (`check`, or the fitted table) as network input (float32, or float64:
        see the class)."""
        z = _standardised(table, self.scale_mean_, self.scale_std_)
        if self.yeo_johnson:
            out = yeo_johnson(z, self.power_lambdas_.double().numpy())
            z = _standardised(out, self.power_mean_, self.power_std_)
        return torch.from_numpy(z if self.float64 else z.astype(np.float32))

    def z_scores(self, table: np.ndarray) -> np.ndarray:
        """(value - training mean) / training sd of each cell, in float64, not clipped: how
        far a row lies from the training rows, column by column (for reports)."""
        return _z(table, self.scale_mean_, self.scale_std_)

    def state(self) -> dict[str, Any]:
        """The fit as plain values and float64 tensors (copies, on the CPU)."""
        return {
            "n_features_in": int(self.n_features_in_),
            **{name: getattr(self, f"{name}_").detach().cpu().clone()
               if self.yeo_johnson or name not in POWER_FIELDS else None
               for name in TABLE_FIELDS[1:]},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], n_features: int, yeo_johnson: bool,
                   float64: bool = False) -> TablePreprocessor:
        """The fit `state` saved, each field checked: ``n_features`` columns (what the
        network takes), positive finite sds; the power fields only with ``yeo_johnson``."""
        need(is_int(state["n_features_in"]) and state["n_features_in"] == n_features,
             "n_features_in", f"{n_features} (input_shape's)", state["n_features_in"])
        table = cls(yeo_johnson, float64)
        for name in TABLE_FIELDS[1:] if yeo_johnson else TABLE_FIELDS[1:3]:
            check_tensor(state.get(name), name, torch.float64, (n_features,))
            if name.endswith("_std"):
                need(bool((state[name] > 0).all()), name, "positive", "a value <= 0")
            setattr(table, f"{name}_", state[name].clone())  # not mapped from a file
        if not yeo_johnson:
            for name in POWER_FIELDS:
                need(state.get(name) is None, name, "None without table_yeo_johnson",
                     state.get(name))
        table.n_features_in_ = n_features
        return table


# --------------------------------------------------------------------------- images

def release_pages(arr: np.ndarray) -> None:
    """Let the OS take back the pages of a read-only memory-mapped array (np.load with
    mmap_mode='r', or a view of one) that have been read: they stay in the page cache, so
    reading them again needs no disk, but they stop counting in this process's memory,
    which then stays bounded however large the file. Other arrays are left alone (on a
    copy-on-write map the advice would drop the caller's changes)."""
    base: object = arr
    mode = None
    while base is not None and not isinstance(base, mmap.mmap):
        if isinstance(base, np.memmap):
            mode = base.mode
        base = getattr(base, "base", None)
    if isinstance(base, mmap.mmap) and mode == "r" and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)


def _extremes(arr: np.ndarray) -> np.ndarray:
    """[min, max] of arr in its dtype, read READ_CHUNK_BYTES at a time, so that checking
    a memory-mapped file's scale does not hold all of it in memory at once."""
    step = max(1, READ_CHUNK_BYTES // max(1, arr[:1].nbytes))
    parts = []
    for start in range(0, len(arr), step):
        part = arr[start:start + step]
        parts += [part.min(), part.max()]
        release_pages(arr)
    return np.array([min(parts), max(parts)], dtype=arr.dtype)


class ImagePreprocessor(_Fitting):
    """Images (N, C, H, W) scaled to [0, 1] by the training images' intensity range and
    resized to ``image_size`` (0: left at their size, for an encoder that resizes them).
    ``input_size``: the side the images are brought to, named in the warning about new
    images of another size.

    Fitted: ``pixel_range_`` (low, high), ``n_channels_``, ``image_size_in_`` (height,
    width; None in models saved before it was recorded).
    """

    pixel_range_: tuple[float, float]
    n_channels_: int
    image_size_in_: tuple[int, int] | None

    def __init__(self, image_size: int, input_size: int) -> None:
        self.image_size = image_size
        self.input_size = input_size

    def _fit(self, X: Any) -> np.ndarray:
        """Learn the intensity range, channels and size of the images X (at least 2); X as
        (N, C, H, W), not yet scaled."""
        arr = image_array(X, min_samples=2)
        self.pixel_range_, self.n_channels_ = intensity_range(arr), arr.shape[1]
        self.image_size_in_ = (int(arr.shape[-2]), int(arr.shape[-1]))
        return arr

    def check(self, X: Any) -> np.ndarray:
        """New images as (N, C, H, W), not yet scaled: a warning when they differ from the
        training images in scale or size, an error when in channels."""
        arr = image_array(X, min_samples=1)
        warn_if_off_scale(_extremes(arr), self.pixel_range_)
        warn_if_other_size(arr, self.image_size_in_, self.input_size)
        if arr.shape[1] != self.n_channels_:
            channels = "1 channel" if arr.shape[1] == 1 else f"{arr.shape[1]} channels"
            raise InputError(f"images have {channels}, the model was fitted on {self.n_channels_}")
        return arr

    def transform(self, arr: np.ndarray) -> torch.Tensor:
        """Checked images scaled to [0, 1] and resized, IMAGE_CHUNK_BYTES of float images at
        a time into the output (no float copy of all the full-size images: a folder of
        photos would need 4 bytes per pixel each); the pages of a read-only memory-mapped
        array are let go after each chunk."""
        size = self.image_size
        images = torch.empty((len(arr), arr.shape[1], size, size))
        step = max(1, IMAGE_CHUNK_BYTES // (4 * math.prod(arr.shape[1:])))
        for start in range(0, len(arr), step):
            chunk = torch.from_numpy(scale_01(arr[start:start + step], self.pixel_range_))
            images[start:start + step] = (chunk if arr.shape[-2:] == (size, size) else
                                          F.interpolate(chunk, size=(size, size),
                                                        mode="bilinear", antialias=True))
            release_pages(arr)
        return images

    def state(self) -> dict[str, Any]:
        size = self.image_size_in_
        return {"n_channels": int(self.n_channels_),
                "pixel_range": [float(v) for v in self.pixel_range_],
                "image_size_in": None if size is None else [int(n) for n in size]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], image_size: int, input_size: int,
                   n_channels: int | None = None) -> ImagePreprocessor:
        """The fit `state` saved, each field checked; ``n_channels``: the channels the
        network takes (None: any from 1 to MAX_CHANNELS, for an encoder's input)."""
        channels = state["n_channels"]
        if n_channels is None:
            need(is_int(channels) and 1 <= channels <= MAX_CHANNELS, "n_channels",
                 f"1 to {MAX_CHANNELS}", channels)
        else:
            need(is_int(channels) and channels == n_channels, "n_channels",
                 f"{n_channels} (input_shape's)", channels)
        low_high = state["pixel_range"]
        need(isinstance(low_high, list) and len(low_high) == 2
             and all(map(is_number, low_high)) and low_high[0] < low_high[1]
             and math.isfinite(low_high[1] - low_high[0]),
             "pixel_range", "[low, high], finite numbers with low < high", low_high)
        size = state.get("image_size_in")
        need(size is None or isinstance(size, list) and len(size) == 2
             and all(is_int(n) and n > 0 for n in size), "image_size_in",
             "None or [height, width]", size)
        images = cls(image_size, input_size)
        images.n_channels_ = channels
        images.pixel_range_ = (float(low_high[0]), float(low_high[1]))
        images.image_size_in_ = None if size is None else (int(size[0]), int(size[1]))
        return images


# --------------------------------------------------------------------------- encoded images

class EncodedPreprocessor:
    """Images through a frozen encoder (an `Encode` function, given to ``fit_transform``
    and ``transform``: it holds no fitted state), whose L2-normalised rows a
    `TablePreprocessor` scales as a table's.

    Fitted: an `ImagePreprocessor`'s attributes (``images``; its ``image_size`` is 0, the
    encoder resizes), a `TablePreprocessor`'s (``rows``) and ``encoder_digest_``, the
    encoder's weight digest at fit; each can be read from this object too.
    """

    encoder_digest_: str

    def __init__(self, input_size: int, yeo_johnson: bool = False,
                 float64: bool = False) -> None:
        self.images = ImagePreprocessor(0, input_size)
        self.rows = TablePreprocessor(yeo_johnson, float64)

    def __getattr__(self, name: str) -> Any:
        """A fitted attribute of the images' or the rows' preprocessor."""
        if name.endswith("_") and not name.startswith("_"):
            for part in (self.__dict__.get("images"), self.__dict__.get("rows")):
                if part is not None and hasattr(part, name):
                    return getattr(part, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def fit_transform(self, X: Any, encode: Encode) -> torch.Tensor:
        """Learn the images' range and the scaling of their encoded rows (from all the
        images); the rows as network input."""
        arr = self.images._fit(X)
        rows, self.encoder_digest_ = encode(arr, self.images.pixel_range_)
        return self.rows.fit_transform(rows)

    def check(self, X: Any) -> np.ndarray:
        return self.images.check(X)

    def transform(self, arr: np.ndarray, encode: Encode) -> torch.Tensor:
        """Checked images encoded, their rows scaled as the training rows were."""
        return self.rows.transform(encode(arr, self.images.pixel_range_)[0])

    def state(self) -> dict[str, Any]:
        return {**self.images.state(), "encoder_digest": self.encoder_digest_,
                **self.rows.state()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], n_features: int, input_size: int,
                   yeo_johnson: bool, float64: bool = False) -> EncodedPreprocessor:
        digest = state.get("encoder_digest")
        need(isinstance(digest, str), "encoder_digest", "the encoder's weight digest", digest)
        encoded = cls(input_size, yeo_johnson, float64)
        encoded.rows = TablePreprocessor.from_state(state, n_features, yeo_johnson, float64)
        encoded.images = ImagePreprocessor.from_state(state, 0, input_size)
        encoded.encoder_digest_ = str(digest)
        return encoded


# --------------------------------------------------------------------------- by config

Preprocessor = TablePreprocessor | ImagePreprocessor | EncodedPreprocessor


def preprocessor_for(kind: str, config: MCODConfig) -> Preprocessor:
    """The unfitted preprocessor of ``kind`` ("table" or "image") data under ``config``."""
    if kind == "table":
        return TablePreprocessor(config.table_yeo_johnson)
    if config.encoder:
        return EncodedPreprocessor(config.input_size, config.table_yeo_johnson,
                                   config.image_float64)
    return ImagePreprocessor(config.image_size, config.input_size)


def preprocessor_from_state(state: Mapping[str, Any], kind: str, config: MCODConfig,
                            input_shape: tuple[int, ...]) -> Preprocessor:
    """The preprocessor `state` saved, for ``kind`` data under ``config`` into a network
    taking ``input_shape``; every field is checked, and those of other kinds must be None."""
    encoded = kind == "image" and bool(config.encoder)
    fields = TABLE_FIELDS if kind == "table" else ENCODED_FIELDS if encoded else IMAGE_FIELDS
    for name in STATE_FIELDS:
        if name not in fields:
            need(state.get(name) is None, name, f"None in a{'' if kind == 'table' else 'n'} "
                 f"{kind} model", state.get(name))
    if kind == "table":
        return TablePreprocessor.from_state(state, input_shape[0], config.table_yeo_johnson)
    if encoded:
        return EncodedPreprocessor.from_state(state, input_shape[0], config.input_size,
                                              config.table_yeo_johnson, config.image_float64)
    return ImagePreprocessor.from_state(state, config.image_size, config.input_size,
                                        n_channels=input_shape[0])
