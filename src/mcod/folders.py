"""Read a folder of image files into one uint8 array, with clear errors.

Why a module of its own: image files come in forms a model cannot take as they are
(16-bit or float pixels, palettes, rotation stored in EXIF) and a folder holds files that
are not images. Each gets one rule here, and what is left out is reported, not dropped
without a word. Images are decoded one at a time into a preallocated array, so memory
is the array itself, not a list of decoded pictures besides it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcod.inputs import InputError, warn_about_data

__all__ = ["IMAGE_EXTENSIONS", "FolderScan", "load_image_folder", "load_images", "scan_folder"]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".pgm", ".ppm", ".pbm", ".pnm",
)
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # grey with more than 8 bits
_GREY_MODES = {"1", "L", "LA", *_WIDE_MODES}
_EXIF_ORIENTATION = 0x0112
_TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_MAX_SIZES_LISTED = 4
_FEW_LEVELS = 64  # 16-bit images mapped to fewer 8-bit grey levels than this are warned about


@dataclass
class FolderScan:
    """The files below a folder: the images mcod reads, and the others it leaves out."""

    images: list[Path]  # sorted: results are in a deterministic order
    skipped: list[Path]  # other suffixes, and links to nothing
    folders: list[Path]  # every folder read, resolved (linked ones lead outside the root)

    def skipped_note(self) -> str | None:
        """One line naming what was left out by kind (".txt (2), .DS_Store (1)"), or None."""
        if not self.skipped:
            return None
        kinds = Counter(p.suffix.lower() or p.name for p in self.skipped)
        listed = ", ".join(f"{kind} ({n})" for kind, n in kinds.most_common())
        return f"{len(self.skipped)} file(s) that are not images mcod reads are left out: {listed}"


def scan_folder(path: str | Path, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> FolderScan:
    """Every file below ``path``, following linked folders once each (no cycles); an
    error if it is not a folder or holds no images."""
    root = Path(path).expanduser()
    if not root.exists():
        raise InputError(f"folder not found: {root}")
    if not root.is_dir():
        raise InputError(
            f"{root} is a file, not a folder of images; mcod reads image folders, tables "
            "(.csv, .tsv, .parquet, .pq) and .npy arrays"
        )
    suffixes = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    images, skipped, seen = [], [], set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        for name in names:
            path = Path(folder) / name
            wanted = (path.suffix.lower() in suffixes and path.is_file()
                      and not name.startswith("._"))  # "._x.png": macOS metadata, not an image
            (images if wanted else skipped).append(path)
    if not images:
        raise InputError(f"no image files found in {root} (looked for {', '.join(extensions)})")
    return FolderScan(sorted(images), sorted(skipped), sorted(Path(p) for p in seen))


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Pillow's errors while opening or decoding ``path`` as one line naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except UnidentifiedImageError:
        raise InputError(f"cannot read image {path}: not an image file, or in a format "
                         "Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"cannot read image {path}: {type(error).__name__}: {error}") from None


def _check_name(path: Path) -> None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"file name is not valid UTF-8: {str(path)!r}; rename it") from None


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """(width, height) as displayed (EXIF rotation applied) and the mode, without decoding."""
    from PIL import Image

    with _reading(path), Image.open(path) as im:
        (width, height), mode, tiff = im.size, im.mode, im.format == "TIFF"
        turned = im.getexif().get(_EXIF_ORIENTATION, 1) in _TURNED
    if tiff and turned:  # Pillow 13 gives these a size that does not match their pixels
        raise InputError(
            f"{path} is a TIFF whose orientation tag turns it by 90 degrees, which Pillow "
            "decodes into scrambled pixels; save it without the tag (or as PNG) first"
        )
    return ((height, width) if turned else (width, height)), mode


def _check_sizes(files: Sequence[Path], sizes: Sequence[tuple[int, int]]) -> None:
    counts = Counter(sizes)
    if len(counts) == 1:
        return
    listed = []
    for (w, h), n in counts.most_common(_MAX_SIZES_LISTED):
        example = files[sizes.index((w, h))]
        listed.append(f"1 is {w}x{h} ({example})" if n == 1 else
                      f"{n} are {w}x{h} (e.g. {example})")
    more = len(counts) - _MAX_SIZES_LISTED
    raise InputError(
        "images have different sizes: " + ", ".join(listed)
        + (f" and {more} more sizes" if more > 0 else "") + "; resize them to one size first"
    )


def _decode(path: Path, grey: bool) -> tuple[np.ndarray, int | None]:
    """One image as uint8 (H, W) or (H, W, 3): first frame, EXIF rotation applied, 16-bit
    grey mapped to 8 bits, transparency ignored; and a 16-bit image's largest value
    (None for 8 bits), for the warning of `load_images`."""
    from PIL import Image, ImageOps

    with _reading(path), Image.open(path) as opened:
        opened.load()
        im = ImageOps.exif_transpose(opened)
    if im.mode == "F":
        raise InputError(
            f"{path} has 32-bit float pixels, which have no fixed scale; save it as an 8- or "
            "16-bit image, or give the pixels as a .npy array"
        )
    wide_max = None
    if im.mode in _WIDE_MODES:
        wide = np.asarray(im).astype(np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise InputError(f"{path} has pixel values outside 0..65535 ({im.mode} image)")
        wide_max = int(wide.max())
        im = Image.fromarray(((wide + 128) // 257).astype(np.uint8), "L")
    if "transparency" in im.info:  # palette transparency: through RGBA, as Pillow advises
        im = im.convert("RGBA")
    return np.asarray(im.convert("L" if grey else "RGB"), dtype=np.uint8), wide_max


def _warn_if_few_levels(wide_max: int | None) -> None:
    """16-bit files that hold 12-bit data (a camera or scanner's) keep only a few grey
    levels under the fixed 65535 -> 255 mapping; say so rather than train on them."""
    if wide_max is None:
        return
    levels = (wide_max + 128) // 257 + 1
    if levels < _FEW_LEVELS:
        warn_about_data(
            f"the 16-bit images use values up to {wide_max} only, so mapped to 8 bits "
            f"(value / 257) they keep {levels} grey levels; stretch them to the 16-bit "
            "range or save them as 8-bit first, or give the pixels as a .npy array"
        )


def load_images(files: Sequence[Path], progress: bool = False,
                channels: int | None = None) -> np.ndarray:
    """Decode ``files`` into one uint8 array: (N, H, W) if every image is greyscale, else
    (N, H, W, 3) RGB; ``channels`` (1 or 3: a fitted model's) makes every image grey or
    RGB instead. All images must share one size; nothing is resized silently, because
    resizing choices (crop, pad, interpolation) change what looks unusual."""
    for file in files:
        _check_name(file)
    headers = [_header(p) for p in files]
    sizes = [size for size, _ in headers]
    _check_sizes(files, sizes)
    grey = channels == 1 if channels else all(mode in _GREY_MODES for _, mode in headers)
    width, height = sizes[0]
    batch = np.empty((len(files), height, width) + (() if grey else (3,)), dtype=np.uint8)
    iterator: Iterable[Path] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="loading images", unit="img")
    widest = None
    for i, file in enumerate(iterator):
        image, wide_max = _decode(file, grey)
        if wide_max is not None:
            widest = max(wide_max, widest or 0)
        if image.shape != batch.shape[1:]:  # the header promised another size
            raise InputError(f"cannot read image {file}: it decodes to {image.shape[1]}x"
                             f"{image.shape[0]}, its header says {width}x{height}")
        batch[i] = image
    _warn_if_few_levels(widest)
    return batch


def load_image_folder(
    path: str | Path,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    progress: bool = False,
    channels: int | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """Every image below ``path`` (:func:`scan_folder`, :func:`load_images`), and the
    file paths in the array's order."""
    files = scan_folder(path, extensions).images
    return load_images(files, progress, channels), files
