"""Image folders (mcod.data.folders): what is read, how odd image files are turned into uint8
pixels, how images of other sizes are made square, and what is left out and said to be."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from mcod.cli.main import main
from mcod.data.folders import ImageFiles, load_image_folder, scan_folder
from mcod.data.inputs import InputError, as_image_batch


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


@pytest.mark.parametrize("size", [None, 4])
def test_folder_corrupt_file_named(tmp_path, size):
    _save(tmp_path / "good.png", "L")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="broken.png"):
        load_image_folder(tmp_path, size=size)


def test_folder_mixed_sizes_are_counted_so_the_odd_one_stands_out(tmp_path):
    for name in ("a", "b", "c"):
        _save(tmp_path / f"{name}.png", "L", size=(7, 5))
    _save(tmp_path / "0.png", "L", size=(6, 5))  # sorts first: no longer the "reference"
    with pytest.raises(InputError) as info:
        load_image_folder(tmp_path)
    msg = str(info.value)
    assert "3 are 7x5 (e.g. " in msg and "a.png" in msg and "1 is 6x5 (" in msg
    assert msg.index("7x5") < msg.index("6x5") and "give a size to read them at" in msg


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


@pytest.mark.parametrize("size", [None, 4])
def test_float_pixels_are_refused_with_the_file_named(tmp_path, size):
    _save(tmp_path / "a.png", "L")
    Image.fromarray(np.full((5, 6), 0.5, np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(InputError, match=r"f\.tif has 32-bit float pixels"):
        load_image_folder(tmp_path, size=size)


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


# --------------------------------------------------------------------------- sizes


def _columns(path: Path, values: list[int], height: int) -> Path:
    """A grey image whose columns hold ``values``, ``height`` rows high."""
    Image.fromarray(np.tile(np.array(values, np.uint8), (height, 1))).save(path)
    return path


def test_crop_keeps_the_centre_of_the_longer_side(tmp_path):
    wide = _columns(tmp_path / "wide.png", [10, 20, 30, 40], height=2)
    tall = tmp_path / "tall.png"
    Image.fromarray(np.array([[1, 1], [2, 2], [3, 3], [4, 4]], np.uint8)).save(tall)
    x = ImageFiles([wide, tall]).load(2, "crop")
    np.testing.assert_array_equal(x[0], [[20, 30], [20, 30]])
    np.testing.assert_array_equal(x[1], [[2, 2], [3, 3]])


def test_pad_centres_the_whole_image_on_black(tmp_path):
    wide = _columns(tmp_path / "wide.png", [10, 20, 30, 40], height=2)
    x = ImageFiles([wide]).load(4, "pad")
    np.testing.assert_array_equal(x[0], [[0] * 4, [10, 20, 30, 40], [10, 20, 30, 40], [0] * 4])


def test_mixed_sizes_shrink_to_the_asked_size_by_either_policy(tmp_path):
    Image.new("RGB", (60, 40), (200, 100, 50)).save(tmp_path / "a.png")
    Image.new("RGB", (40, 60), (20, 40, 60)).save(tmp_path / "b.png")
    exact = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(exact).save(tmp_path / "c.png")  # at the size already: passed through
    crop, paths = load_image_folder(tmp_path, size=32)
    assert crop.shape == (3, 32, 32, 3)
    assert np.abs(crop[0].astype(int) - [200, 100, 50]).max() <= 1  # one colour, no border
    assert np.abs(crop[1].astype(int) - [20, 40, 60]).max() <= 1
    np.testing.assert_array_equal(crop[2], exact)
    pad, _ = load_image_folder(tmp_path, size=32, policy="pad")
    # 60x40 -> 32x21, rows 5-25; 40x60 -> 21x32, columns 5-25
    assert not pad[0, :5].any() and not pad[0, 26:].any() and not pad[1, :, :5].any()
    assert np.abs(pad[0, 5:26].astype(int) - [200, 100, 50]).max() <= 1
    assert np.abs(pad[1, :, 5:26].astype(int) - [20, 40, 60]).max() <= 1
    np.testing.assert_array_equal(pad[2], exact)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    photo = np.zeros((2000, 3000, 3), np.uint8)
    photo[:, :1500, 0] = 200  # left half red, right half blue
    photo[:, 1500:, 2] = 200
    Image.fromarray(photo).save(tmp_path / "big.jpg", quality=90)
    decoded = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):  # noqa: ANN001, ANN202 - Pillow's signature
        result = draft(self, mode, size)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    x = ImageFiles([tmp_path / "big.jpg"]).load(32)
    assert decoded == [(375, 250)]  # 1/8 scale: still at least 48x32 for the crop
    assert x.shape == (1, 32, 32, 3)
    assert np.abs(x[0, :, :14].astype(int) - [200, 0, 0]).max() <= 12
    assert np.abs(x[0, :, 18:].astype(int) - [0, 0, 200]).max() <= 12


def test_exif_rotation_is_applied_before_a_reduced_jpeg_is_padded(tmp_path):
    upright = np.zeros((300, 200), np.uint8)  # 200 wide, 300 high, its top third white
    upright[:100] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(upright, -3).copy()).save(tmp_path / "turned.jpg", exif=exif)
    x = ImageFiles([tmp_path / "turned.jpg"]).load(20, "pad")
    assert x.shape == (1, 20, 20)  # 13 wide, centred at columns 3-15
    assert x[0, 2, 9] > 200 and x[0, 17, 9] < 30 and x[0, 10, 1] == 0


def test_same_size_images_read_as_they_are_or_at_their_own_size_are_unchanged(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    files = [tmp_path / f"{i}.png" for i in range(3)]
    for image, file in zip(pixels, files, strict=True):
        Image.fromarray(image).save(file)
    images = ImageFiles(files)
    assert images.grey and len(images) == 3 and images.one_size() == (8, 8)
    np.testing.assert_array_equal(images.load(None), pixels)
    np.testing.assert_array_equal(images.load(8, "pad"), pixels)


def test_batches_are_of_the_asked_length_and_fill_load(tmp_path):
    for i, size in enumerate([(9, 5), (5, 9), (7, 7), (4, 4), (12, 3)]):
        _save(tmp_path / f"{i}.png", "RGB", size=size, value=40 * i)
    images = ImageFiles(scan_folder(tmp_path).images)
    assert not images.grey and images.one_size() is None
    batches = list(images.batches(6, batch_size=2, progress=True))
    assert [b.shape for b in batches] == [(2, 6, 6, 3), (2, 6, 6, 3), (1, 6, 6, 3)]
    np.testing.assert_array_equal(np.concatenate(batches), images.load(6))
    with pytest.raises(InputError, match="different sizes"):
        images.load(None)
    with pytest.raises(ValueError, match="policy must be one of crop, pad"):
        next(images.batches(6, policy="stretch"))
    with pytest.raises(ValueError, match="at least 1"):
        next(images.batches(6, batch_size=0))


def test_16_bit_images_read_at_a_size_warn_once_all_batches_are_read(tmp_path):
    twelve_bit = np.full((6, 4), 4095, np.uint16)
    Image.fromarray(twelve_bit).save(tmp_path / "a.png")
    Image.fromarray(twelve_bit).save(tmp_path / "b.png")
    with pytest.warns(UserWarning, match="values up to 4095 only"):
        x = np.concatenate(list(ImageFiles(scan_folder(tmp_path).images).batches(3, batch_size=1)))
    assert x.shape == (2, 3, 3) and (x == 16).all()  # (4095 + 128) // 257


# --------------------------------------------------------------------------- on disk


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """A TMPDIR of the test's own, to see what is left in it."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _left_in(folder: Path) -> list[str]:
    """The files in ``folder``, and the files there (named or not) that this process
    still has open or mapped: nothing once the array is freed."""
    import gc

    gc.collect()
    held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")]
    mapped = Path("/proc/self/maps").read_text().splitlines()
    return ([p.name for p in folder.iterdir()]
            + [line for line in held + mapped if str(folder) in line])


def _photos(folder: Path, n: int = 10) -> Path:
    rng = np.random.default_rng(3)
    folder.mkdir(exist_ok=True)
    for i in range(n):
        shape = [(40, 30, 3), (30, 40, 3)][i % 2]
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_on_disk_the_images_are_a_read_only_map_of_a_file_in_tmpdir_gone_with_the_array(
        tmp_path, temp_dir):
    folder = _photos(tmp_path / "photos")
    in_memory, paths = load_image_folder(folder, size=16, progress=False)
    on_disk, same_paths = load_image_folder(folder, size=16, progress=False, on_disk=True)
    np.testing.assert_array_equal(on_disk, in_memory)
    assert same_paths == paths and in_memory.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        on_disk[0] = 0
    # mapped from TMPDIR, by a file without a name there (Linux: "... (deleted)")
    assert [p.name for p in temp_dir.iterdir()] == []
    assert any(str(temp_dir) in line for line in _left_in(temp_dir))
    del on_disk
    assert _left_in(temp_dir) == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_nothing_is_left_in_tmpdir_when_reading_stops_at_a_bad_image_or_ctrl_c(
        tmp_path, temp_dir, monkeypatch):
    import mcod.data.folders

    folder = _photos(tmp_path / "photos", n=200)
    truncated = folder / "150.png"  # its header reads, its pixels do not: the 3rd batch of 64
    good = [file for file in scan_folder(folder).images if file != truncated]
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(InputError, match="cannot read image .*150.png"):
        ImageFiles(scan_folder(folder).images).load(16, on_disk=True)
    assert _left_in(temp_dir) == []
    assert main(["detect", str(folder), "--quiet"]) == 2  # said in one line
    assert _left_in(temp_dir) == []
    fitted, calls = mcod.data.folders._fit, []

    def interrupted(*args):  # Ctrl-C in the 2nd batch
        calls.append(1)
        if len(calls) == 70:
            raise KeyboardInterrupt
        return fitted(*args)

    monkeypatch.setattr(mcod.data.folders, "_fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ImageFiles(good).load(16, on_disk=True)
    assert len(calls) == 70 and _left_in(temp_dir) == []


def test_a_folder_scores_the_same_read_into_memory_or_onto_disk(tmp_path):
    from mcod import MCOD

    folder = _photos(tmp_path / "photos", n=12)
    for config, epochs in (("default", 1), ("scratch", 1)):
        size = 128 if config == "default" else 32
        scores = []
        for on_disk in (False, True):
            X, _ = load_image_folder(folder, size=size, progress=False, on_disk=on_disk)
            detector = MCOD(config=config, epochs=epochs, batch_size=6, device="cpu",
                            random_state=0, verbose=False,
                            feature_cache=str(tmp_path / f"cache{on_disk}")).fit(X)
            scores.append((detector.decision_scores_, detector.decision_function(X)))
        np.testing.assert_array_equal(scores[1], scores[0])


# --------------------------------------------------------------------------- command line


def _mixed_folder(folder: Path) -> Path:
    rng = np.random.default_rng(2)
    for i in range(12):
        shape = [(40, 30, 3), (30, 40, 3), (20, 20, 3)][i % 3]
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def test_cli_reads_a_mixed_folder_at_the_network_size_and_scores_it_again(tmp_path, capsys):
    folder = _mixed_folder(tmp_path)
    model = tmp_path / "model.pt"
    fast = ["--epochs", "1", "--batch-size", "6", "--device", "cpu"]
    assert main(["detect", str(folder), *fast, "--resize", "pad", "--top", "0",
                 "--save-model", str(model)]) == 0
    out = capsys.readouterr()
    # the default config's encoder sees 128x128
    assert "images: 12 files of 3 sizes, read at 128x128 (padded with black)" in out.out
    assert "data: 12 images of 128x128 RGB" in out.out and "reading images" in out.err
    assert main(["score", str(model), str(folder), "--quiet", "--top", "0"]) == 0
    out = capsys.readouterr()
    assert "images:" not in out.out and "reading images" not in out.err
    assert "12 samples" in out.out and "warning" not in out.err


def test_cli_reads_a_folder_of_one_small_size_as_it_is_unless_resize_is_given(
        tmp_path, capsys):
    from mcod.cli.main import build_parser
    from mcod.cli.reading import read_input

    for i in range(3):
        _save(tmp_path / f"{i}.png", "L", size=(8, 6), value=10 * i)
    parse = build_parser().parse_args
    as_they_are = read_input(parse(["detect", str(tmp_path), "--quiet"])).X
    np.testing.assert_array_equal(as_they_are[:, 0, 0], [0, 10, 20])
    assert as_they_are.shape == (3, 6, 8) and "note" not in capsys.readouterr().err
    for i in range(3):  # one size, larger than the network's input: shrunk as read
        _save(tmp_path / "big" / f"{i}.png", "L", size=(80, 60), value=10 * i)
    scratch = ["--config", "scratch"]  # a 32x32 network; the default's encoder sees 128x128
    assert read_input(parse(["detect", str(tmp_path / "big"), "--quiet", *scratch])).X.shape \
        == (3, 32, 32)
    assert read_input(parse(["detect", str(tmp_path / "big"), "--quiet"])).X.shape \
        == (3, 60, 80)  # not larger than 128x128: read as they are
    (tmp_path / "big").rename(tmp_path.parent / f"{tmp_path.name}-big")
    assert read_input(parse(["detect", str(tmp_path), "--quiet", "--resize", "crop",
                             *scratch])).X.shape == (3, 32, 32)
    np.save(tmp_path / "x.npy", as_they_are)
    with pytest.raises(InputError, match="--resize applies only to image folders"):
        read_input(parse(["detect", str(tmp_path / "x.npy"), "--resize", "pad"]))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_tmpdir_is_named_with_the_room_needed(tmp_path, monkeypatch):
    """Reading a folder onto disk in a full TMPDIR (here /dev/full, which refuses every
    write with ENOSPC) stops with the folder, the room needed and the way out."""
    import tempfile

    import mcod.data.folders

    (tmp_path / "photos").mkdir()
    for i in range(3):
        _save(tmp_path / "photos" / f"{i}.png", "RGB", (20, 12), value=40 * i)
    monkeypatch.setattr(mcod.data.folders.tempfile, "TemporaryFile",
                        lambda **_: open("/dev/full", "w+b"))  # noqa: SIM115 (closed by the with)
    with pytest.raises(OSError, match=r"disk full while writing the images' temporary file "
                       rf"in {re.escape(tempfile.gettempdir())} \(0 MB; set TMPDIR"):
        load_image_folder(tmp_path / "photos", size=16, on_disk=True)
