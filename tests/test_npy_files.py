"""Reading ``--npy`` files: the header is checked before any data is read, and the data is
memory-mapped rather than copied."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from mcod.cli.main import main
from mcod.cli.reading import _load_npy
from mcod.data.inputs import InputError


def _craft(path: Path, header: dict, version: tuple[int, int] = (1, 0), data: int = 1024) -> str:
    """A .npy file with ``header`` as written, whatever it claims, and ``data`` zero bytes."""
    text = repr(header).encode("latin1")
    prefix = 10 if version == (1, 0) else 12
    text += b" " * (-(len(text) + 1 + prefix) % 64) + b"\n"
    length = struct.pack("<H" if version == (1, 0) else "<I", len(text))
    path.write_bytes(b"\x93NUMPY" + bytes(version) + length + text + bytes(data))
    return str(path)


def _header(shape: tuple[int, ...], descr: str = "<f8") -> dict:
    return {"descr": descr, "fortran_order": False, "shape": shape}


def test_a_small_file_claiming_a_huge_shape_is_refused_before_allocating(tmp_path):
    path = _craft(tmp_path / "huge.npy", _header((10**9, 10**9)))
    with pytest.raises(InputError, match=r"declares shape \(1000000000, 1000000000\) of "
                       r"float64 \(8,000,000,000,000,000,000 bytes\), but the file holds "
                       r"1,024 bytes of data \(truncated"):
        _load_npy(path)


def test_the_cli_names_an_oversized_header_on_one_line(tmp_path, capsys):
    path = _craft(tmp_path / "huge.npy", _header((2**40, 3, 3), "<u1"))
    assert main(["detect", "--npy", path, "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: cannot read ") and err.count("\n") == 1
    assert "9,895,604,649,984 bytes" in err


def test_a_header_that_fits_the_file_exactly_is_read(tmp_path):
    path = _craft(tmp_path / "exact.npy", _header((4, 4, 4), "<u2"), data=4 * 4 * 4 * 2)
    assert _load_npy(path).shape == (4, 4, 4)


def test_one_byte_short_is_refused(tmp_path):
    path = _craft(tmp_path / "short.npy", _header((4, 4, 4), "<u2"), data=4 * 4 * 4 * 2 - 1)
    with pytest.raises(InputError, match="holds 127 bytes of data"):
        _load_npy(path)


@pytest.mark.parametrize(
    ("header", "version", "message"),
    [
        (_header((-1, 4)), (1, 0), r"declares the negative shape \(-1, 4\)"),
        (_header((10, 5, 5)), (3, 0), "format version 3.0; mcod reads versions 1.0 and 2.0"),
        (_header((10**12,), "|O"), (1, 0), "holds Python objects, not numbers"),
        ({"descr": "<f8", "shape": (2, 2)}, (1, 0), "cannot read .* as a .npy array: Header"),
    ],
    ids=["negative", "version-3", "objects", "no-fortran-key"],
)
def test_bad_headers_raise_one_line_input_errors(tmp_path, header, version, message):
    path = _craft(tmp_path / "bad.npy", header, version)
    with pytest.raises(InputError, match=message) as caught:
        _load_npy(path)
    assert "\n" not in str(caught.value)


def test_a_file_cut_inside_the_magic_string_is_named(tmp_path):
    (tmp_path / "cut.npy").write_bytes(b"\x93NUMPY\x01")
    with pytest.raises(InputError, match="cannot read .*cut.npy as a .npy array: EOF"):
        _load_npy(str(tmp_path / "cut.npy"))


def test_version_2_headers_and_fortran_order_are_read(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=">f4").reshape(2, 3, 4)
    path = _craft(tmp_path / "v2.npy", _header((2, 3, 4), ">f4"), (2, 0), data=0)
    Path(path).write_bytes(Path(path).read_bytes() + data.tobytes())
    np.testing.assert_array_equal(_load_npy(path), data)
    np.save(tmp_path / "f.npy", np.asfortranarray(data))
    np.testing.assert_array_equal(_load_npy(str(tmp_path / "f.npy")), data)


def test_the_array_is_memory_mapped_read_only_not_copied(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(60, dtype=np.float32).reshape(5, 3, 4))
    arr = _load_npy(str(tmp_path / "x.npy"))
    assert type(arr) is np.ndarray  # not the np.memmap subclass
    assert not arr.flags.writeable and not arr.flags.owndata
    with (tmp_path / "x.npy").open("r+b") as handle:  # the file's bytes are what it shows
        handle.seek(-4, 2)
        handle.write(np.float32(-1.0).tobytes())
    assert arr[-1, -1, -1] == -1.0


def test_an_empty_array_is_read_then_refused_as_empty(tmp_path, capsys):
    np.save(tmp_path / "empty.npy", np.zeros((0, 5)))
    assert _load_npy(str(tmp_path / "empty.npy")).shape == (0, 5)
    assert main(["detect", "--npy", str(tmp_path / "empty.npy"), "--quiet"]) == 2
    assert "empty input" in capsys.readouterr().err
