"""Reading what a command scores: an image folder, a .npy array, a table or the demo,
into :class:`InputData`; and the list of input files, for the output checks."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mcod.cli.arguments import say, table_options, table_options_given
from mcod.config import CONFIGS
from mcod.data.folders import RESIZE_POLICIES, FolderScan, ImageFiles, scan_folder
from mcod.data.inputs import InputError, image_size_text
from mcod.data.tables import TableData, TableOptions, is_table_path, read_table
from mcod.io.results import counted, size_text


@dataclass
class InputData:
    """What a command scores: the array, sample names, and (demo only) the truth."""

    X: np.ndarray
    names: list[str] | None  # image paths; None means rows are named by their index
    source: str  # one line: where the data came from
    truth: np.ndarray | None = None  # demo only, 1 = planted outlier; never used for training
    table: TableData | None = None  # tables only: ids, column names, the frame as read
    key_column: str = "index"  # header naming the samples in outputs: index, path or the id


NPY_MAGIC = b"\x93NUMPY"  # how every .npy file begins


def _npy_header(handle: BinaryIO, file: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a .npy file declares, read from its header alone, so that a
    damaged or hostile header is caught before numpy allocates what it claims."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(handle)
    except ValueError as error:
        raise InputError(f"cannot read {file} as a .npy array: {error}") from None
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:  # 3.0 is for structured arrays with non-latin-1 field names
        raise InputError(f"{file} is a .npy file of format version {version[0]}.{version[1]}; "
                         "mcod reads versions 1.0 and 2.0, which numpy.save writes for numbers")
    try:
        shape, _, dtype = readers[version](handle)
    except ValueError as error:
        raise InputError(f"cannot read {file} as a .npy array: {error}") from None
    return shape, dtype


def _check_npy_size(file: Path, shape: tuple[int, ...], dtype: np.dtype, start: int) -> None:
    """Refuse a header that declares more data than the file holds (truncated, or a 1 KB
    file claiming terabytes): numpy would otherwise try to allocate it all."""
    if any(n < 0 for n in shape):
        raise InputError(f"cannot read {file} as a .npy array: its header declares the "
                         f"negative shape {shape}")
    declared = math.prod(shape) * dtype.itemsize
    held = file.stat().st_size - start
    if declared > held:
        raise InputError(f"cannot read {file} as a .npy array: its header declares shape "
                         f"{shape} of {dtype} ({declared:,} bytes), but the file holds "
                         f"{held:,} bytes of data (truncated, or a damaged header)")


def _load_npy(path: str) -> np.ndarray:
    """The array in a .npy file, memory-mapped read-only: reading it copies no more than
    is used (scoring in batches reads a batch at a time). Bad files raise InputError."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise InputError(f"{file} is a folder, not a .npy file (a folder of images is INPUT)")
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {file}")
    with file.open("rb") as handle:
        if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise InputError(f"{file} is not a .npy file (it lacks the .npy header); save "
                             "arrays with numpy.save")
        handle.seek(0)
        shape, dtype = _npy_header(handle, file)
        start = handle.tell()
    if dtype.hasobject:  # an object array: loading it would run pickle
        raise InputError(f"{file} holds Python objects, not numbers; mcod does not "
                         "unpickle files")
    _check_npy_size(file, shape, dtype, start)
    try:  # np.asarray: a plain (read-only) ndarray view, not the np.memmap subclass
        return np.asarray(np.load(file, mmap_mode="r", allow_pickle=False))
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"cannot read {file} as a .npy array: {error}") from None


def _load_demo(inlier: int, contamination: float, seed: int) -> InputData:
    from mcod.data.datasets import load_dataset, uod_split

    digits = load_dataset("digits")
    index, truth = uod_split(digits.labels, inlier, rho=contamination, seed=seed)
    n_out = int(truth.sum())
    source = (
        f"demo: sklearn digits, digit {inlier} as inliers + {n_out:,} other digits "
        f"planted as outliers (seed {seed})"
    )
    return InputData(digits.images[index], None, source, truth)


def read_input(args: argparse.Namespace, contamination: float | None = None,
               channels: int | None = None, scan: FolderScan | None = None,
               image_size: int | None = None, table_read: TableOptions | None = None,
               ) -> InputData:
    """The data named by INPUT / --npy; the demo when neither is given and the command has
    --demo-class (``contamination`` then sets the planted share). ``channels`` and
    ``image_size``: a fitted model's, so that a folder's images are all read as grey (1) or
    RGB (3), and images of several sizes at its input size (default: --config's);
    ``scan``: the INPUT folder's, when the caller has walked it already; ``table_read``:
    how a table is read (default: the command line's table options)."""
    table = getattr(args, "table", None)
    if sum(bool(x) for x in (args.input, args.npy, table)) > 1:
        raise InputError("give one of INPUT, --npy FILE or --table FILE, not both")
    npy = args.npy or (args.input and Path(args.input).suffix.lower() == ".npy")
    if args.resize and (table or npy or not args.input or is_table_path(args.input)):
        raise InputError("--resize applies only to image folders")
    if table or is_table_path(args.input):
        path = table or args.input
        data = read_table(path, table_read or table_options(args))
        # no column count here: the "data:" line counts the columns the model is given
        source = f"table {path}" + (f", rows named by {data.id_column!r}" if data.id_column else "")
        read_as = "" if data.csv is None else data.csv.describe()
        source += f", {read_as}" if read_as else ""
        repeats = 0 if data.ids is None else len(data.ids) - len(set(data.ids))
        if repeats:
            print(f"mcod: warning: --id-column {data.id_column!r} repeats {repeats:,} value(s); "
                  "the outputs cannot tell those rows apart", file=sys.stderr)
        return InputData(data.X, data.ids, source, table=data, key_column=data.key_column)
    given = table_options_given(args)
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise InputError(f"{', '.join(given)} {verb} only to tables (.csv, .tsv, .parquet)")
    if npy:
        path = args.npy or args.input
        return InputData(_load_npy(path), None, f"array {path}")
    if args.input:
        size = image_size or CONFIGS[args.config].input_size
        return _read_folder(args, scan, channels, size)
    if getattr(args, "demo_class", None) is None:
        raise InputError("no input: give an image folder, a table (.csv, .parquet) or --npy FILE")
    return _load_demo(args.demo_class, 0.1 if contamination is None else contamination, args.seed)


def _read_folder(args: argparse.Namespace, scan: FolderScan | None, channels: int | None,
                 network_size: int) -> InputData:
    """The images below INPUT: as they are when they share one size no larger than the
    network's input and no --resize is given (the network resizes them), else decoded and
    shrunk one by one to the network's input size by --resize (crop by default), so that
    memory does not grow with the photos' size; saying which. The array is a read-only map
    of a temporary file, so that memory does not grow with their number either."""
    scan = scan or scan_folder(args.input)
    note = scan.skipped_note()
    if note:
        print(f"mcod: note: below {args.input}, {note}", file=sys.stderr)
    files = ImageFiles(scan.images, channels)
    policy = args.resize or "crop"
    one_size = files.one_size()
    as_they_are = one_size is not None and max(one_size) <= network_size and not args.resize
    if one_size is not None and as_they_are:
        say(args, f"images: {counted(len(files), 'file')} of {size_text(*one_size)}, "
                   f"read as they are (the network resizes them to "
                   f"{size_text(network_size, network_size)})")
    else:
        say(args, f"images: {counted(len(files), 'file')} of "
                   f"{counted(len(set(files.sizes)), 'size')}, read at "
                   f"{size_text(network_size, network_size)} ({RESIZE_POLICIES[policy]})")
    images = files.load(None if as_they_are else network_size, policy, progress=not args.quiet,
                        on_disk=True)  # read in chunks from there, as an --npy file is
    return InputData(images, [str(f) for f in scan.images], f"images in {args.input}",
                     key_column="path")


def describe(X: np.ndarray) -> str:
    """'1,797 images of 8x8 grey, dtype float64', '500 rows of 7 columns, dtype float64'."""
    if X.ndim == 2:
        return f"{counted(X.shape[0], 'row')} of {counted(X.shape[1], 'column')}, dtype {X.dtype}"
    if X.ndim in (3, 4) and len(X):
        return f"{counted(len(X), 'image')} of {image_size_text(X)}, dtype {X.dtype}"
    shape = "x".join(str(n) for n in X.shape[1:]) or "scalar"
    return f"{X.shape[0] if X.ndim else 0:,} samples of shape {shape}, dtype {X.dtype}"


def input_files(args: argparse.Namespace, scan: FolderScan | None) -> list[Path]:
    """The files a command reads (array, table, model, scores and, for a folder, its images),
    for :func:`mcod.cli.outputs.check_outputs` to keep every output off them."""
    named = [getattr(args, name, None) for name in ("npy", "table", "model", "scores", "input")]
    files = [Path(value).expanduser() for value in named if value]
    if scan is not None:
        files += scan.images
    return files


def scan_input(args: argparse.Namespace) -> FolderScan | None:
    """The INPUT folder's scan (None for other input): read once, for the output check
    and then the images."""
    other = args.npy or getattr(args, "table", None)  # both given: read_input refuses
    if args.input and not other and Path(args.input).expanduser().is_dir():
        return scan_folder(args.input)
    return None
