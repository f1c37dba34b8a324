"""Read a folder of image files of any sizes and shapes into one uint8 array, with clear
errors.

Why a module of its own: image files come in forms a model cannot take as they are
(16-bit or float pixels, palettes, rotation stored in EXIF, every size and shape) and a
folder holds files that are not images. Each gets one rule here, and what is left out is
reported, not dropped without a word. Images are decoded one at a time (a JPEG at a reduced
scale when it is read smaller) and shrunk straight into a preallocated array, so memory is
that array and one photo, whatever the photos' size; or batch by batch into a temporary
file mapped read-only (``on_disk``, as the command line reads folders), so memory does not
grow with their number either.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mcod.data.inputs import InputError, warn_about_data
from mcod.io.atomic import disk_full_named
from mcod.io.results import size_text

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "IMAGE_EXTENSIONS", "RESIZE_POLICIES", "FolderScan", "ImageFiles", "load_image_folder",
    "scan_folder",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".pgm", ".ppm", ".pbm", ".pnm",
)
RESIZE_POLICIES: dict[str, str] = {  # how an image is made square at a size, in words
    "crop": "centre crop",  # shorter side to the size, the centre kept
    "pad": "padded with black",  # longer side to the size, centred on black
}
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # grey with more than 8 bits
_GREY_MODES = {"1", "L", "LA", *_WIDE_MODES}
_EXIF_ORIENTATION = 0x0112
_TURNED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_MAX_SIZES_LISTED = 4
_FEW_LEVELS = 64  # 16-bit images mapped to fewer 8-bit grey levels than this are warned about
_REDUCING_GAP = 3.0  # Pillow box-reduces to 3x the target first, then resamples: as sharp
_BATCH = 64  # images per batch, and per step of the progress bar
_LOAD_CHUNK_BYTES = 16 * 2**20  # at most this much decoded per batch by ImageFiles.load


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
        listed = ", ".join(f"{kind} ({n:,})" for kind, n in kinds.most_common())
        return (f"{len(self.skipped):,} file(s) that are not images mcod reads are left out: "
                f"{listed}")


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
    images: list[Path] = []
    skipped: list[Path] = []
    seen: set[str] = set()
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


def _check_one_size(files: Sequence[Path], sizes: Sequence[tuple[int, int]]) -> None:
    """Refuse to read images of several sizes as they are, counting the most common sizes
    so that the odd ones stand out."""
    counts = Counter(sizes)
    if len(counts) == 1:
        return
    listed = []
    for (w, h), n in counts.most_common(_MAX_SIZES_LISTED):
        example = files[sizes.index((w, h))]
        listed.append(f"1 is {size_text(w, h)} ({example})" if n == 1 else
                      f"{n:,} are {size_text(w, h)} (e.g. {example})")
    more = len(counts) - _MAX_SIZES_LISTED
    raise InputError(
        "images have different sizes: " + ", ".join(listed)
        + (f" and {more:,} more sizes" if more > 0 else "")
        + "; give a size to read them at (such as size=64), or resize them to "
        "one size first"
    )


def _draft_size(stored: tuple[int, int], size: int, policy: str) -> tuple[int, int]:
    """The smallest (width, height) a JPEG may be decoded at so that `_fit` only shrinks
    it (Pillow's ``draft`` picks a 1/2, 1/4 or 1/8 scale at least this large): a
    4000x3000 photo read at 32x32 is never in memory at full size."""
    width, height = stored
    scale = size / (min(width, height) if policy == "crop" else max(width, height))
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _decode(path: Path, grey: bool, draft: tuple[int, str] | None = None
            ) -> tuple[Image.Image, int | None]:
    """One image as an "L" or "RGB" Pillow image: first frame, EXIF rotation applied,
    16-bit grey mapped to 8 bits, transparency ignored; and a 16-bit image's largest value
    (None for 8 bits), for the few-levels warning. ``draft`` (size, policy): a JPEG is
    decoded at a reduced scale still large enough for that size."""
    from PIL import Image, ImageOps

    with _reading(path), Image.open(path) as opened:
        if draft is not None:
            opened.draft(None, _draft_size(opened.size, *draft))
        opened.load()
        im = ImageOps.exif_transpose(opened)
    if im.mode == "F":
        raise InputError(
            f"{path} has 32-bit float pixels, which have no fixed scale; save it as an 8- or "
            "16-bit image, or give the pixels as a .npy array"
        )
    wide_max = None
    if im.mode in _WIDE_MODES:
        wide = np.asarray(im).astype(np.int32)  # I;16 and I: 4 bytes a pixel at most
        if wide.min() < 0 or wide.max() > 65535:
            raise InputError(f"{path} has pixel values outside 0..65535 ({im.mode} image)")
        wide_max = int(wide.max())
        im = Image.fromarray(((wide + 128) // 257).astype(np.uint8), "L")
    if "transparency" in im.info:  # palette transparency: through RGBA, as Pillow advises
        im = im.convert("RGBA")
    return im.convert("L" if grey else "RGB"), wide_max


def _fit(im: Image.Image, size: int, policy: str) -> Image.Image:
    """``im`` made size x size by ``policy`` (see `RESIZE_POLICIES`). Lanczos, after a box
    reduction to 3x the target, keeps fine detail without aliasing, and costs no more for
    a large photo than the box reduction; an image already at the size is left as it is."""
    from PIL import Image

    width, height = im.size
    if (width, height) == (size, size):
        return im
    lanczos = Image.Resampling.LANCZOS
    if policy == "crop":
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        return im.resize((size, size), lanczos, box=(left, top, left + side, top + side),
                         reducing_gap=_REDUCING_GAP)
    scale = size / max(width, height)
    inner = im.resize((max(1, round(width * scale)), max(1, round(height * scale))), lanczos,
                      reducing_gap=_REDUCING_GAP)
    canvas = Image.new(im.mode, (size, size))  # black
    canvas.paste(inner, ((size - inner.width) // 2, (size - inner.height) // 2))
    return canvas


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


class ImageFiles:
    """Image files to read as one batch: sizes and modes come from their headers (nothing
    is decoded until `batches` or `load`), so a caller can say how they will be read first.

    ``grey``: every image is read as grey when every file is grey (or ``channels`` is 1: a
    fitted model's), else as RGB. A file name that is not UTF-8 and a TIFF turned by 90
    degrees are refused here, before any decoding.
    """

    def __init__(self, files: Sequence[Path], channels: int | None = None) -> None:
        for file in files:
            _check_name(file)
        headers = [_header(p) for p in files]
        self.files: list[Path] = list(files)
        self.sizes: list[tuple[int, int]] = [size for size, _ in headers]  # (width, height)
        self.grey: bool = (channels == 1 if channels
                           else all(mode in _GREY_MODES for _, mode in headers))

    def __len__(self) -> int:
        return len(self.files)

    def one_size(self) -> tuple[int, int] | None:
        """(width, height) when every image has it, else None."""
        return self.sizes[0] if len(set(self.sizes)) == 1 else None

    def shape(self, size: int | None) -> tuple[int, ...]:
        """One image's array shape when read at ``size`` (None: as they are)."""
        if size is None:
            _check_one_size(self.files, self.sizes)
            width, height = self.sizes[0]
        else:
            width = height = size
        return (height, width) + (() if self.grey else (3,))

    def batches(self, size: int | None, policy: str = "crop", batch_size: int = _BATCH,
                progress: bool = False) -> Iterator[np.ndarray]:
        """The images as uint8 (B, size, size) grey or (B, size, size, 3) RGB arrays of
        ``batch_size`` (the last one shorter), made square by ``policy`` (one of
        `RESIZE_POLICIES`). ``size`` None reads them as they are, which needs one size for
        all; a model resizes such images itself, as it did before mixed sizes were read."""
        if policy not in RESIZE_POLICIES:
            raise ValueError(f"policy must be one of {', '.join(RESIZE_POLICIES)}, not {policy!r}")
        if (size is not None and size < 1) or batch_size < 1:
            raise ValueError(f"size and batch_size must be at least 1, not {size}, {batch_size}")
        from mcod.io.progress import progress as progress_bar

        shape = self.shape(size)
        images = self._decoded(size, policy)
        widest = None
        with progress_bar(total=len(self), desc="reading images", unit="image",
                          enabled=progress) as bar:
            for start in range(0, len(self), batch_size):
                batch = np.empty((min(batch_size, len(self) - start), *shape), dtype=np.uint8)
                for i in range(len(batch)):
                    file, image, wide_max = next(images)
                    if image.shape != shape:  # as they are: the header promised another size
                        raise InputError(
                            f"cannot read image {file}: it decodes to "
                            f"{size_text(image.shape[1], image.shape[0])}, its header says "
                            f"{size_text(shape[1], shape[0])}")
                    batch[i] = image
                    widest = widest if wide_max is None else max(wide_max, widest or 0)
                bar.update(len(batch))
                yield batch
        _warn_if_few_levels(widest)

    def load(self, size: int | None, policy: str = "crop", progress: bool = False,
             on_disk: bool = False) -> np.ndarray:
        """Every image in one array (N, ...) as `batches` reads them, filled batch by batch
        (of at most 16 MB: full-size photos read as they are), so nothing else of that size
        is ever held. ``on_disk``: the array is read-only and its pixels are in a temporary
        file, not in memory (see `_on_disk`)."""
        shape = self.shape(size)
        batch_size = max(1, min(_BATCH, _LOAD_CHUNK_BYTES // math.prod(shape)))
        batches = self.batches(size, policy, batch_size, progress)
        if on_disk and len(self):  # an empty file cannot be mapped
            return _on_disk(batches, (len(self), *shape))
        out = np.empty((len(self), *shape), dtype=np.uint8)
        start = 0
        for batch in batches:
            out[start:start + len(batch)] = batch
            start += len(batch)
        return out

    def _decoded(self, size: int | None, policy: str
                 ) -> Iterator[tuple[Path, np.ndarray, int | None]]:
        """(file, pixels, largest 16-bit value or None) for each file in turn."""
        draft = None if size is None else (size, policy)
        for file in self.files:
            im, wide_max = _decode(file, self.grey, draft)
            yield file, np.asarray(im if size is None else _fit(im, size, policy)), wide_max


def _on_disk(batches: Iterable[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 ``batches`` written in turn to a temporary file in TMPDIR that has no name
    (the OS frees it once the array is gone, however the process ends: nothing is left
    behind), then mapped read-only. Written by plain writes, the pixels never count in
    this process's memory, and once read `release_pages` lets them go: a folder is then
    read as a memory-mapped .npy file is, in memory that does not grow with its length.
    (On a tmpfs TMPDIR the file itself is in memory.) Python's own writes, not numpy's
    ``tofile``, whose buffered writes can lose a full disk's error: a full disk is named as
    such, with the folder and the room needed."""
    room = math.prod(shape) / 2**20
    where = (f"the images' temporary file in {tempfile.gettempdir()} ({room:,.0f} MB; set "
             "TMPDIR to a folder with room)")
    # the close too: it writes what is still buffered
    with disk_full_named(where), tempfile.TemporaryFile(prefix="mcod-images-") as handle:
        for batch in batches:  # a bad image raises as itself: no full disk's error
            handle.write(np.ascontiguousarray(batch).data)
        handle.flush()
        return np.asarray(np.memmap(handle, dtype=np.uint8, mode="r", shape=shape))


def load_image_folder(
    path: str | Path,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    progress: bool | str = "auto",
    channels: int | None = None,
    size: int | None = None,
    policy: str = "crop",
    on_disk: bool = False,
) -> tuple[np.ndarray, list[Path]]:
    """Read every image below a folder into the array ``MCOD.fit`` takes, with its paths.

    ``X, paths = mcod.load_image_folder("photos/")``: ``X`` is uint8, (N, H, W) when every
    image is grey, else (N, H, W, 3) RGB; ``paths[i]`` is the file of ``X[i]`` (sorted, so
    the order is the same each time), to name ``detector.decision_scores_[i]`` by.

    path : the folder, searched recursively (links followed once).
    extensions : file suffixes read (case-insensitive); other files are left out.
    progress : a progress bar: True, False or "auto" (in a notebook and at a terminal).
    channels : 1 or 3 to read every image as grey or RGB (a model's ``n_channels_``);
        None: grey only when all of them are.
    size : the side to read every image at, made square by ``policy`` ("crop": the
        centre of the shorter side; "pad": the longer side, on black). None reads them as
        they are, which needs one size for all (mcod's network resizes them itself).
    on_disk : False (the default) gives an ordinary array in memory, which can be changed
        in place. True gives a read-only array whose pixels stay in a temporary file
        (in TMPDIR, removed by the OS once the array is freed), read into memory only as
        used, as ``numpy.load(..., mmap_mode="r")`` would: for folders of more images
        than fit in memory at the size read (``MCOD.fit`` and scoring read such an array
        in chunks, as ``mcod detect FOLDER`` does).

    Raises :class:`~mcod.data.inputs.InputError` (a ValueError) with a one-line message
    for a folder without images, an unreadable image or, with ``size`` None, images of
    several sizes; ``FileNotFoundError`` for a missing folder.
    """
    from mcod.io.progress import show_progress

    files = scan_folder(path, extensions).images
    images = ImageFiles(files, channels)
    return images.load(size, policy, show_progress(progress), on_disk), files
