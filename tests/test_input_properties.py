"""Property-based: any array, of any shape, dtype and values, given to mcod's input checks
(the API's) or as a ``--npy`` file (the CLI's) is either accepted, as numbers mcod can
compute with, or refused with a one-line InputError; never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mcod.cli.reading import _load_npy
from mcod.data.inputs import InputError, as_array, as_image_batch, as_table

# Deterministic and quick: the same examples on every run, no per-example deadline.
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)

NUMBERS = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
           np.uint64, np.float16, np.float32, np.float64]
OTHERS = [np.complex64, np.complex128, np.dtype("U3"), np.dtype("S3"), np.dtype(object)]
SPECIAL = [0.0, 1.0, -1.0, 255.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 5e-324,
           3.5e38, -3.5e38, 6e4, 1e-8]
OBJECTS = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=3))


def _elements(dtype: np.dtype) -> st.SearchStrategy:
    """Values of ``dtype``, leaning on the edges: integers at their extremes (uint64 near
    2**64 collapses in float64), floats at NaN, inf, huge, tiny and subnormal."""
    if dtype.kind == "O":
        return OBJECTS
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.one_of(st.integers(info.min, info.max), st.integers(info.max - 3, info.max),
                         st.integers(info.min, info.min + 3), st.integers(0, min(info.max, 255)))
    if dtype.kind == "f":
        special = [v for v in SPECIAL if not np.isfinite(v) or abs(v) <= float(np.finfo(dtype).max)]
        return st.one_of(hnp.from_dtype(dtype), st.sampled_from(special).map(dtype.type))
    return hnp.from_dtype(dtype)


@st.composite
def arrays(draw: st.DrawFn, dims: tuple[int, int] = (0, 5)) -> np.ndarray:
    """An array of any supported or unsupported dtype; ``dims`` bounds its rank."""
    dtype = np.dtype(draw(st.sampled_from(NUMBERS + OTHERS)))
    shape = draw(hnp.array_shapes(min_dims=dims[0], max_dims=dims[1], min_side=0, max_side=5))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


def _accepted_or_refused(check, arr: np.ndarray) -> np.ndarray | None:
    """``check(arr)``, or None when it raised a one-line InputError."""
    try:
        return check(arr)
    except InputError as error:
        message = str(error)
        assert message.strip() and "\n" not in message, repr(message)
        return None


pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent overflow


@FAST
@given(arrays())
def test_as_array_accepts_numbers_of_2_or_more_dims(arr):
    out = _accepted_or_refused(as_array, arr)
    if out is not None:
        assert out.ndim >= 2 and out.size and out.dtype.kind in "biuf"


@FAST
@given(arrays(dims=(1, 3)))
def test_as_table_gives_finite_float64(arr):
    out = _accepted_or_refused(as_table, arr)
    if out is not None:
        assert out.dtype == np.float64 and out.shape == arr.shape and arr.shape[0] >= 2
        assert np.isfinite(out).all()


@FAST
@given(arrays(dims=(2, 5)))
def test_as_image_batch_gives_float32_in_0_1(arr):
    out = _accepted_or_refused(as_image_batch, arr)
    if out is not None:
        assert out.dtype == np.float32 and out.ndim == 4 and out.shape[1] in (1, 3)
        assert len(out) == len(arr) and ((out >= 0) & (out <= 1)).all()


def _through_npy(arr: np.ndarray) -> np.ndarray | None:
    """What ``mcod detect --npy`` does with ``arr`` saved by numpy: load, then check."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.npy"
        np.save(path, arr, allow_pickle=True)  # a user's object array reaches mcod too
        loaded = _accepted_or_refused(_load_npy, str(path))
        if loaded is None:
            return None
        assert loaded.dtype == arr.dtype and loaded.shape == arr.shape
        checked = _accepted_or_refused(as_array, loaded)
        if checked is None:
            return None
        check = as_table if checked.ndim == 2 else as_image_batch
        return _accepted_or_refused(check, checked)


@FAST
@given(arrays())
def test_npy_files_are_loaded_then_accepted_or_refused(arr):
    out = _through_npy(arr)
    if out is not None:
        assert np.isfinite(out).all()
        if arr.dtype.kind == "O":
            pytest.fail("an object array was accepted")


@FAST
@given(st.integers(1, 6), st.integers(0, 3))
def test_npy_headers_claiming_more_than_the_file_holds_are_refused(rows, cut):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.npy"
        np.save(path, np.zeros((rows, 4, 4), np.float32))
        path.write_bytes(path.read_bytes()[:-1 - cut])
        with pytest.raises(InputError, match="holds .* bytes of data"):
            _load_npy(str(path))
