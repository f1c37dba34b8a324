"""Turn user input (arrays, tables) into clean float batches, with clear errors.

Every bad input raises :class:`InputError` whose message names the problem in one line,
so the command line can print it as is instead of a traceback from deep inside torch.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from mcod.io.results import size_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DataWarning",
    "InputError",
    "as_array",
    "as_image_batch",
    "as_table",
    "frame_to_table",
    "is_frame",
    "image_array",
    "image_size_text",
    "intensity_range",
    "scale_01",
    "warn_about_data",
    "warn_if_names_differ",
    "warn_if_off_scale",
    "warn_if_other_size",
]

_CHANNELS_LAST = {1, 3, 4}  # grey, RGB, RGBA
_CHANNELS_FIRST = {1, 3}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).smallest_normal)
_FLOAT64_EXACT = 2**53  # every integer up to this is a float64


class InputError(ValueError):
    """The input data cannot be used; the message says why in one line."""


# --------------------------------------------------------------------------- checks


def _as_numeric_array(X: Any) -> np.ndarray:
    """np.asarray with a readable error for ragged, sparse or non-numeric input."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse, without importing it
        raise InputError("sparse input is not supported; convert it with X.toarray()")
    if isinstance(X, (Mapping, Iterator, set)):  # np.asarray makes a 0-d object array of them
        raise InputError(f"input must be array-like (an array, a DataFrame or a list of rows), "
                         f"got a {type(X).__name__}; convert it with np.asarray(list(...))")
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:  # ragged nested lists, odd objects
        raise InputError(f"cannot convert input to an array: {exc}") from None
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return arr
    path = _first_path(arr)
    if path is not None:
        raise InputError(f"got file paths ({path!r}, ...), not data; read images into an "
                         "array first: X, paths = mcod.load_image_folder(folder)")
    raise InputError(f"non-numeric dtype {arr.dtype}: expected numbers (int, float, uint8 or bool)")


def _first_path(arr: np.ndarray) -> str | None:
    """The first value of ``arr`` (not numbers) when it is a file path: a path object, or
    text with a slash or a suffix (``fit(["photos/a.png", ...])``); else None."""
    if arr.size == 0 or arr.dtype.kind not in "USO":
        return None
    first = arr.reshape(-1)[0]
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    if isinstance(first, os.PathLike):
        return os.fspath(first)  # type: ignore[no-any-return]
    looks = isinstance(first, str) and ("/" in first or "\\" in first
                                        or bool(os.path.splitext(first)[1]))
    return str(first) if looks else None


def _check_samples(arr: np.ndarray, min_samples: int) -> None:
    """Reject empty input, and fewer than `min_samples` (fitting needs others to compare to)."""
    if arr.shape[0] == 0 or arr.size == 0:
        raise InputError(f"empty input: shape {arr.shape} holds no values")
    if arr.shape[0] < min_samples:
        raise InputError(
            f"need at least {min_samples} samples to find outliers, got {arr.shape[0]} "
            f"(shape {arr.shape})"
        )


def _check_finite(arr: np.ndarray) -> None:
    """Reject NaN and inf; integer and bool arrays cannot hold them, so skip the scan."""
    if not np.issubdtype(arr.dtype, np.floating):
        return
    n_bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if n_bad:
        n_nan = int(np.count_nonzero(np.isnan(arr)))
        raise InputError(
            f"input contains {n_bad:,} non-finite values ({n_nan:,} NaN, {n_bad - n_nan:,} inf); "
            "remove or impute them first"
        )


def _check_range(arr: np.ndarray, computed_in: type[np.floating], what: str) -> None:
    """Refuse floats beyond the range of the type they are computed in: float64 images at
    1e300 would become inf in float32 and surface much later as 'training diverged'."""
    if arr.dtype.kind != "f" or arr.dtype.itemsize <= np.dtype(computed_in).itemsize:
        return
    limit = np.finfo(computed_in).max
    peak = max(abs(arr.min()), abs(arr.max()))
    if peak > limit:
        name, shown = np.dtype(computed_in).name, np.format_float_scientific(peak, 2, trim="-")
        raise InputError(
            f"{what} values reach magnitude {shown}, "
            f"beyond {name}'s range (±{float(limit):.3g}) that mcod computes {what}s in; "
            "rescale them"
        )


def _check_exact(arr: np.ndarray, axis: int | None) -> None:
    """Refuse integers that vary but become one float64 (uint64 values near 2**64 differ by
    less than float64 resolves there): they would be reported as all the same. Images and
    tables are both scaled in float64 (see `scale_01`), so float64 is the limit for both."""
    if arr.dtype.kind not in "iu" or np.iinfo(arr.dtype).max <= _FLOAT64_EXACT:
        return
    lo, hi = arr.min(axis=axis), arr.max(axis=axis)
    lost = np.atleast_1d((lo != hi) & (lo.astype(np.float64) == hi.astype(np.float64)))
    if lost.any():
        where = "values" if axis is None else f"column(s) {np.flatnonzero(lost).tolist()}"
        peak = max(abs(float(np.min(lo))), abs(float(np.max(hi))))
        raise InputError(
            f"{where} vary only beyond float64's precision: integers above 2**53 (these "
            f"reach {peak:.3g}) are not exact in float64, and all become one value; subtract "
            "an offset (such as the minimum) first"
        )


# --------------------------------------------------------------------------- layout


def _to_nchw(arr: np.ndarray) -> np.ndarray:
    """Reorder (N,H,W), (N,H,W,C) or (N,C,H,W) to (N,C,H,W) with C in {1, 3}.

    4-D input is ambiguous; the rule is: a last axis of 1/3/4 with axis 1 not 1/3 means
    channels-last (the PIL / numpy image convention); axis 1 of 1/3 means channels-first
    (the torch convention). Anything else is refused rather than guessed.
    """
    if arr.ndim == 3:
        return arr[:, None, :, :]
    if arr.ndim != 4:
        raise InputError(
            f"got an array of shape {arr.shape} ({arr.ndim}-D); images must be "
            "(N, H, W), (N, H, W, C) with C in 1/3/4, or (N, C, H, W) with C in 1/3"
        )
    last, second = arr.shape[3], arr.shape[1]
    if last in _CHANNELS_LAST and second not in _CHANNELS_FIRST:
        return arr[..., :3].transpose(0, 3, 1, 2)  # drops an alpha channel
    if second in _CHANNELS_FIRST:
        return arr
    raise InputError(
        f"cannot tell the channel axis of shape {arr.shape}: expected (N, H, W, C) with "
        "C in 1/3/4 or (N, C, H, W) with C in 1/3"
    )


def intensity_range(arr: np.ndarray) -> tuple[float, float]:
    """The intensities that map to 0 and 1.

    uint8 means 0..255. Other numbers already in [0, 1] keep their values; values that fit
    0..255 are taken as 8-bit intensities. Anything else (negative, standardised, 16-bit,
    ...) is min-max scaled over the *whole* array, not per sample: per-sample scaling would
    erase brightness differences, which can be exactly what makes a sample an outlier.
    """
    if arr.dtype == np.uint8:
        return 0.0, 255.0
    if arr.dtype == np.bool_:
        return 0.0, 1.0
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 255.0:
        return 0.0, 255.0
    if hi > lo:
        return lo, hi
    # one value throughout: any range holding it; past 2**53, 1.0 is below float64's step
    return lo, lo + max(1.0, float(np.spacing(lo)))


def scale_01(arr: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Convert to float32, mapping `value_range` onto [0, 1] (values outside are clipped).

    Input float32 cannot hold exactly (float64, 32- and 64-bit integers), and spans outside
    float32's normal range, are shifted and divided in float64: converted first, 1e9 + small
    offsets would collapse, and hi - lo could overflow or round to 0.
    """
    lo, hi = value_range
    narrow = np.result_type(arr.dtype, np.float32) == np.float32
    wide = not (narrow and _FLOAT32_TINY <= hi - lo <= _FLOAT32_MAX)
    # One pass that converts and lays out (N, C, H, W) contiguously; always a copy, so the
    # in-place ops below never touch the caller's array.
    out = np.array(arr, dtype=np.float64 if wide else np.float32, order="C")
    if (lo, hi) != (0.0, 1.0):
        np.subtract(out, lo, out=out)
        np.divide(out, hi - lo, out=out)
    np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def image_array(X: Any, min_samples: int = 2) -> np.ndarray:
    """Checked (N, C, H, W) view of image input, not yet scaled."""
    arr = _as_numeric_array(X)
    if arr.ndim not in (3, 4):
        raise InputError(
            f"got an array of shape {arr.shape} ({arr.ndim}-D); images must be "
            "(N, H, W), (N, H, W, C) with C in 1/3/4, or (N, C, H, W) with C in 1/3"
        )
    _check_samples(arr, min_samples)
    arr = _to_nchw(arr)
    _check_finite(arr)
    _check_range(arr, np.float32, "image")
    _check_exact(arr, axis=None)
    return arr


def as_image_batch(
    X: Any, min_samples: int = 2, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Return a float32 (N, C, H, W) array in [0, 1] with C in {1, 3}.

    Accepts (N,H,W), (N,H,W,C) with C in {1,3,4} (alpha dropped) or (N,C,H,W) with C in
    {1,3}. Intensities are mapped from `value_range`, by default the input's own (see
    `intensity_range`). Vectorised over N: no per-sample Python loop.
    """
    arr = image_array(X, min_samples)
    if value_range is None:
        return scale_01(arr, intensity_range(arr))
    warn_if_off_scale(arr, value_range)
    return scale_01(arr, value_range)


def image_size_text(X: Any) -> str:
    """'32x24 RGB': the width x height and colour of the images in X (any layout
    `image_array` takes), as every message and the report write a size."""
    _, channels, height, width = image_array(X[:1], min_samples=1).shape
    return f"{size_text(width, height)} {'grey' if channels == 1 else 'RGB'}"


class DataWarning(UserWarning):
    """Data mcod can use but probably not as meant: another scale or size than the
    training images, columns taken by position, images with few grey levels."""


def warn_about_data(message: str) -> None:
    """A :class:`DataWarning` shown at the first caller outside mcod and PyOD, the user's
    own line (PyOD's predict and predict_proba reach decision_function too)."""
    import pyod

    import mcod

    libraries = (os.path.dirname(mcod.__file__), os.path.dirname(pyod.__file__))
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(libraries):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DataWarning, stacklevel=level)


def warn_if_off_scale(arr: np.ndarray, value_range: tuple[float, float]) -> None:
    """Warn when new images use another intensity scale than the training images (0-255
    against 0-1, say): they would be scored as nearly black, or far too bright."""
    low, high = value_range
    span = high - low
    new_low, new_high = float(arr.min()), float(arr.max())
    squeezed = (np.issubdtype(arr.dtype, np.floating)  # 0..1 floats for 0..255, say; not
                and low < new_high <= low + 0.01 * span)  # dark 8-bit or all-black frames
    if squeezed or new_high > high + span or new_low < low - span:
        warn_about_data(
            f"these images span {new_low:g}..{new_high:g}, but the model was fitted on "
            f"{low:g}..{high:g}; give them on the same scale (e.g. both uint8 0-255)",
        )


def warn_if_names_differ(named: bool, fitted_named: bool) -> None:
    """Warn, as scikit-learn does, when a table comes with column names and the model was
    fitted without them, or the reverse: its columns are then taken by position, which is
    right only if they are in the order of the training columns."""
    if named != fitted_named:
        given, fitted = (" no", "") if fitted_named else ("", "out")
        warn_about_data(
            f"X has{given} column names, but the model was fitted with{fitted} them; its "
            "columns are taken by position, in the order of the training columns",
        )


def warn_if_other_size(
    arr: np.ndarray, fitted_size: tuple[int, int] | None, network_size: int
) -> None:
    """Warn when new images are not the size of the training images: both are resized to
    the network's input, but at another resolution fine detail (and so the score) differs.
    ``fitted_size`` is None for models saved before it was recorded."""
    size = (int(arr.shape[-2]), int(arr.shape[-1]))  # (height, width), as fitted_size
    if fitted_size is not None and size != tuple(fitted_size):
        warn_about_data(
            f"these images are {size_text(size[1], size[0])}, the model was fitted on "
            f"{size_text(fitted_size[1], fitted_size[0])} images; they are resized to "
            f"{size_text(network_size, network_size)}, the network's input, as those were, "
            "so their scores are not strictly comparable",
        )


def as_array(X: Any) -> np.ndarray:
    """X as a numeric array of a table (2-D) or images (3-D / 4-D), or a readable error."""
    arr = _as_numeric_array(X)
    if arr.size == 0:
        raise InputError(f"empty input: shape {arr.shape} holds no values")
    if arr.ndim < 2:
        raise InputError(
            f"got a {arr.ndim}-D array of shape {arr.shape}; give a table as (samples, "
            "features) (one feature: X.reshape(-1, 1)) or images as (N, H, W[, C])"
        )
    return arr


def is_frame(X: Any) -> TypeGuard[pd.DataFrame]:
    """True for a pandas DataFrame (duck-typed, so pandas is imported only when used)."""
    return hasattr(X, "columns") and hasattr(X, "dtypes") and getattr(X, "ndim", 0) == 2


def frame_to_table(
    frame: Any, fitted_names: list[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """(column names, float64 values) of a DataFrame of numbers and booleans.

    With ``fitted_names`` (the names a model was fitted on) the columns are matched by
    name, in that order; a missing or unexpected column is an error, as in scikit-learn.
    """
    import pandas as pd

    labels = {str(c): c for c in frame.columns}
    if len(labels) < frame.shape[1]:
        names = [str(c) for c in frame.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"repeated column name(s) {repeated}: columns are matched by name")
    if fitted_names is not None:
        fitted = set(fitted_names)
        missing = [n for n in fitted_names if n not in labels]
        unexpected = [n for n in labels if n not in fitted]
        if missing or unexpected:
            raise InputError(
                f"X's columns differ from those the model was fitted on: missing {missing}, "
                f"unexpected {unexpected}"
            )
        frame = frame[[labels[n] for n in fitted_names]]
    numeric = pd.api.types.is_numeric_dtype
    text = [str(c) for c, dtype in frame.dtypes.items() if not numeric(dtype)]
    if text:
        raise InputError(f"non-numeric column(s) {text}: a table holds numbers or booleans")
    return [str(c) for c in frame.columns], frame.to_numpy(dtype=np.float64, na_value=np.nan)


def as_table(X: Any, min_samples: int = 2) -> np.ndarray:
    """Return a float64 (N, D) array for tabular data; values are not rescaled."""
    arr = _as_numeric_array(X)
    if arr.ndim != 2:
        raise InputError(
            f"got an array of shape {arr.shape} ({arr.ndim}-D); tables must be 2-D "
            "(samples, features)"
        )
    if arr.shape[0] > 0 and arr.shape[1] == 0:
        raise InputError(f"zero columns: shape {arr.shape} has no features")
    _check_samples(arr, min_samples)
    _check_finite(arr)
    _check_range(arr, np.float64, "table")
    _check_exact(arr, axis=0)
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_contamination(value: object, name: str = "contamination") -> float:
    """The expected outlier share, a Python float in (0, 0.5], or a ValueError naming
    ``name`` (a thresholder object is told apart before, by `mcod.cuts.is_thresholder`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a Python float in (0, 0.5] or a PyThresh "
                         f"thresholder object, got {value!r}")
    if not 0.0 < value <= 0.5:  # also false for NaN
        raise ValueError(f"{name} must be in (0, 0.5], got {value!r}")
    return float(value)
