"""The Python API as a notebook user meets it: a folder read into what `fit` takes (with
its paths), progress shown where a person watches (not into logs), and file paths given
where data belongs named as such."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny import TINY

import mcod
from mcod.data.inputs import InputError
from mcod.io.progress import show_progress

PARAMS = dict(config=TINY, epochs=1, batch_size=12, device="cpu", random_state=0)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _folder(root: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 255, size=(8, 8), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img{i:02d}.png")
    return root


def test_the_folder_reader_is_public_and_gives_what_fit_takes_with_the_paths(tmp_path):
    assert "load_image_folder" in mcod.__all__ and "load_image_folder" in dir(mcod)
    assert mcod.load_image_folder.__doc__.startswith("Read every image below a folder")
    X, paths = mcod.load_image_folder(_folder(tmp_path))
    assert X.shape == (24, 8, 8) and X.dtype == np.uint8
    assert paths == sorted(tmp_path.glob("*.png"))
    np.testing.assert_array_equal(X[3], np.asarray(Image.open(paths[3])))
    detector = mcod.MCOD(**PARAMS).fit(X)
    assert detector.decision_scores_.shape == (len(paths),)
    (tmp_path / "odd").mkdir()
    Image.new("L", (9, 8)).save(tmp_path / "odd" / "wide.png")
    with pytest.raises(InputError, match=r"different sizes.*such as size=64"):
        mcod.load_image_folder(tmp_path)
    assert mcod.load_image_folder(tmp_path, size=8)[0].shape == (25, 8, 8)


def test_progress_is_auto_shown_in_a_notebook_or_at_a_terminal_only(monkeypatch):
    assert mcod.MCOD().verbose == "auto"
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, a pipe, a test run
    assert not show_progress("auto") and show_progress(True) and not show_progress(False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert show_progress("auto")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert show_progress("auto")  # a Jupyter kernel: tqdm.auto draws a widget there
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="verbose must be True, False or 'auto'"):
            mcod.MCOD(**PARAMS, verbose=bad).fit(np.zeros((24, 8, 8)))


def test_a_fit_shows_its_progress_at_a_terminal_and_writes_none_to_a_log(monkeypatch):
    X = np.random.default_rng(1).random((24, 8, 8))
    for stream, shown in ((io.StringIO(), False), (_Terminal(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        mcod.MCOD(**PARAMS).fit(X)
        assert ("mcod fit" in stream.getvalue()) is shown


def test_file_paths_given_as_data_name_the_folder_reader(tmp_path):
    detector = mcod.MCOD(**PARAMS).fit(np.random.default_rng(2).random((24, 8, 8)))
    message = r"got file paths \('photos/a.png', \.\.\.\), not data; .*mcod.load_image_folder"
    for paths in (["photos/a.png", "photos/b.png"], np.array(["photos/a.png"]),
                  [Path("photos/a.png")], "photos/a.png"):
        with pytest.raises(InputError, match=message):
            mcod.MCOD(**PARAMS).fit(paths)
        with pytest.raises(InputError, match=message):
            detector.decision_function(paths)
    with pytest.raises(InputError, match="non-numeric dtype <U1"):  # text, not paths
        detector.decision_function([["a", "b"]])
