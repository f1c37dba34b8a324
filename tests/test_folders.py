"""Image folders (mcod.folders): what is read, how odd image files are turned into uint8
pixels, and what is left out and said to be."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mcod.folders import ImageFiles, load_image_folder, scan_folder
from mcod.inputs import InputError, as_image_batch


def _save(path: Path, mode: str, size: tuple[int, int] = (6, 5), value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode in ("L", "1") else (value, 0, 255 - value)
    Image.new(mode, size, colour).save(path)
    return path


def test_folder_greyscale(tmp_path):
    _save(tmp_path / "b.png", "L", value=10)
    _save(tmp_path / "a.png", "L", value=20)
    _save(tmp_path / "sub" / "c.PNG", "L", value=30)  # recursive, case-insensitive suffix
    (tmp_path / "notes.txt").write_text("not an image")
    x, paths = load_image_folder(tmp_path)
    assert x.shape == (3, 5, 6) and x.dtype == np.uint8
    assert [p.name for p in paths] == ["a.png", "b.png", "c.PNG"]  # sorted, deterministic
    assert x[:, 0, 0].tolist() == [20, 10, 30]
    assert as_image_batch(x).shape == (3, 1, 5, 6)


def test_folder_mixed_modes_become_rgb(tmp_path):
    _save(tmp_path / "grey.png", "L")
    _save(tmp_path / "colour.jpg", "RGB")
    x, paths = load_image_folder(tmp_path, progress=True)
    assert x.shape == (2, 5, 6, 3) and x.dtype == np.uint8
    assert len(paths) == 2


def test_folder_extensions_filter(tmp_path):
    _save(tmp_path / "a.png", "L")
    _save(tmp_path / "b.bmp", "L")
    x, paths = load_image_folder(tmp_path, extensions=(".bmp",))
    assert [p.name for p in paths] == ["b.bmp"]


def test_folder_corrupt_file_named(tmp_path):
    _save(tmp_path / "good.png", "L")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="broken.png"):
        load_image_folder(tmp_path)


def test_folder_mixed_sizes_are_counted_so_the_odd_one_stands_out(tmp_path):
    for name in ("a", "b", "c"):
        _save(tmp_path / f"{name}.png", "L", size=(7, 5))
    _save(tmp_path / "0.png", "L", size=(6, 5))  # sorts first: no longer the "reference"
    with pytest.raises(InputError) as info:
        load_image_folder(tmp_path)
    msg = str(info.value)
    assert "3 are 7x5 (e.g. " in msg and "a.png" in msg and "1 is 6x5 (" in msg
    assert msg.index("7x5") < msg.index("6x5") and "resize" in msg


def test_folder_empty(tmp_path):
    with pytest.raises(InputError, match=r"no image files.*\.png"):
        load_image_folder(tmp_path)


def test_folder_missing(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_image_folder(tmp_path / "nope")


def test_folder_is_a_file(tmp_path):
    f = _save(tmp_path / "a.png", "L")
    with pytest.raises(InputError, match="is a file, not a folder of images.*tables"):
        load_image_folder(f)


def test_16_bit_grey_is_mapped_to_8_bits_and_stays_grey(tmp_path):
    values = np.array([[0, 1, 2], [127, 128, 255]], dtype=np.uint16)
    Image.fromarray(values * 257).save(tmp_path / "a.png")  # 16-bit PNG: mode I;16
    Image.fromarray((values * 257).astype(np.int32), "I").save(tmp_path / "b.tif")
    _save(tmp_path / "c.png", "L", size=(3, 2), value=9)
    x, _ = load_image_folder(tmp_path)
    assert x.shape == (3, 2, 3)  # grey, not RGB
    np.testing.assert_array_equal(x[0], values)
    np.testing.assert_array_equal(x[1], values)


def test_float_pixels_are_refused_with_the_file_named(tmp_path):
    _save(tmp_path / "a.png", "L")
    Image.fromarray(np.full((5, 6), 0.5, np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(InputError, match=r"f\.tif has 32-bit float pixels"):
        load_image_folder(tmp_path)


def test_16_bit_images_holding_12_bit_data_warn_about_the_few_grey_levels(tmp_path, recwarn):
    twelve_bit = np.random.default_rng(0).integers(0, 4096, (4, 5)).astype(np.uint16)
    twelve_bit[0, 0] = 4095
    Image.fromarray(twelve_bit).save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="values up to 4095 only.*keep 17 grey levels"):
        load_image_folder(tmp_path)
    Image.fromarray(twelve_bit * 16).save(tmp_path / "a.png")  # the full 16-bit range
    recwarn.clear()
    load_image_folder(tmp_path)
    assert not recwarn.list


def test_exif_rotation_is_applied(tmp_path):
    upright = np.zeros((4, 3), np.uint8)  # 3 wide, 4 high, one marked corner
    upright[0, 2] = 255
    Image.fromarray(upright).save(tmp_path / "a.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: store it turned the other way
    Image.fromarray(np.rot90(upright, -3).copy()).save(tmp_path / "b.jpg", exif=exif,
                                                       quality=100)
    x, _ = load_image_folder(tmp_path)
    assert x.shape == (2, 4, 3)
    assert x[1].argmax() == upright.argmax()  # the marked corner is where it is shown


def test_a_tiff_turned_by_its_orientation_tag_is_refused_and_a_half_turn_applied(tmp_path):
    stored = np.zeros((4, 3), np.uint8)
    stored[0, 0] = 255  # top left as stored
    Image.fromarray(stored).save(tmp_path / "half.tif", tiffinfo={0x0112: 3})  # 180 degrees
    x, _ = load_image_folder(tmp_path)
    assert x.shape == (1, 4, 3) and x[0, 3, 2] == 255  # shown bottom right
    Image.fromarray(stored).save(tmp_path / "quarter.tif", tiffinfo={0x0112: 6})
    with pytest.raises(InputError, match=r"quarter\.tif is a TIFF whose orientation tag turns"):
        load_image_folder(tmp_path)


def test_palette_transparency_and_grey_alpha_load_without_warnings(tmp_path, recwarn):
    palette = Image.new("P", (6, 5), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.save(tmp_path / "p.png", transparency=0)
    Image.new("LA", (6, 5), (70, 128)).save(tmp_path / "la.png")
    x, paths = load_image_folder(tmp_path)
    assert x.shape == (2, 5, 6, 3) and not recwarn.list
    assert x[[p.name for p in paths].index("p.png"), 0, 0].tolist() == [200, 100, 50]
    grey, _ = load_image_folder(tmp_path, extensions=(".png",), channels=1)
    assert grey.shape == (2, 5, 6)


def test_channels_make_a_folder_match_a_fitted_model(tmp_path):
    _save(tmp_path / "g.png", "L", value=40)
    _save(tmp_path / "c.png", "RGB", value=40)
    assert load_image_folder(tmp_path, channels=1)[0].shape == (2, 5, 6)
    only_grey, _ = load_image_folder(tmp_path, extensions=(".png",), channels=3)
    assert only_grey.shape == (2, 5, 6, 3)
    grey_as_rgb = only_grey[[0]] if only_grey[0, 0, 0, 0] == 40 and only_grey[0, 0, 0, 1] == 40 \
        else only_grey[[1]]
    assert grey_as_rgb[0, 0, 0].tolist() == [40, 40, 40]


def test_netpbm_and_jfif_are_read(tmp_path):
    _save(tmp_path / "a.pgm", "L")
    _save(tmp_path / "b.ppm", "RGB")
    Image.new("RGB", (6, 5)).save(tmp_path / "c.jfif", format="JPEG")
    _, paths = load_image_folder(tmp_path)
    assert [p.name for p in paths] == ["a.pgm", "b.ppm", "c.jfif"]


def test_what_is_left_out_is_named_by_kind(tmp_path):
    _save(tmp_path / "a.png", "L")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "more.TXT").write_text("x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata beside a.png
    os.symlink(tmp_path / "gone.png", tmp_path / "dangling.png")
    scan = scan_folder(tmp_path)
    assert [p.name for p in scan.images] == ["a.png"]
    assert scan.skipped_note() == ("5 file(s) that are not images mcod reads are left out: "
                                   ".png (2), .txt (2), .DS_Store (1)")
    assert scan_folder(tmp_path, extensions=(".png",)).skipped_note() is not None
    only = tmp_path / "only"
    _save(only / "x.png", "L")
    assert scan_folder(only).skipped_note() is None


def test_linked_folders_are_followed_once(tmp_path):
    root, other = tmp_path / "root", tmp_path / "other"
    _save(root / "a.png", "L")
    _save(other / "b.png", "L")
    os.symlink(other, root / "linked")
    os.symlink(root, root / "linked" / "back")  # a cycle: root -> linked -> back -> root
    assert [p.name for p in scan_folder(root).images] == ["a.png", "b.png"]


def test_a_name_that_is_not_utf8_is_refused_before_any_decoding(tmp_path):
    _save(tmp_path / "a.png", "L")
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff.png")
    Image.new("L", (6, 5)).save(bad, format="PNG")
    with pytest.raises(InputError, match="not valid UTF-8.*rename it"):
        ImageFiles(scan_folder(tmp_path).images)
