"""Scoring prepares its input chunk by chunk (bounded memory) with the scores of preparing
it all at once, and leaves the caller's arrays (memory-mapped ones included) as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny import TINY

import mcod.detector
from mcod import MCOD, get_config

IMAGES = np.random.default_rng(4).integers(0, 256, size=(18, 12, 10), dtype=np.uint8)
TABLE = np.exp(np.random.default_rng(2).normal(size=(30, 3)))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 4 and one batch per chunk, so that tiny inputs span several chunks."""
    monkeypatch.setattr(mcod.detector, "SCORE_BATCH", 4)
    monkeypatch.setattr(mcod.detector, "SCORE_CHUNK_BYTES", 1)


def _image_model() -> MCOD:
    return MCOD(config=TINY, epochs=1, batch_size=4, device="cpu", random_state=0).fit(IMAGES)


def _table_model() -> MCOD:
    config = get_config("tabular").replace(members=1, table_yeo_johnson=True)
    return MCOD(config=config, epochs=1, batch_size=4, device="cpu", random_state=0).fit(TABLE)


@pytest.mark.parametrize("make, X", [(_image_model, IMAGES), (_table_model, TABLE)])
def test_chunked_scores_are_those_of_the_whole_input(small_chunks, make, X):
    detector = make()  # fit scores its training data prepared in one piece
    assert len(list(detector._chunks(X))) == -(-len(X) // 4)  # several chunks
    np.testing.assert_array_equal(detector.decision_function(X), detector.decision_scores_)


def test_chunked_embedding_is_that_of_the_whole_input(small_chunks, monkeypatch):
    detector = _image_model()
    features, attention = detector.embed(IMAGES)
    monkeypatch.setattr(mcod.detector, "SCORE_CHUNK_BYTES", 2**30)  # one chunk
    whole_features, whole_attention = detector.embed(IMAGES)
    np.testing.assert_array_equal(features, whole_features)
    np.testing.assert_array_equal(attention, whole_attention)


def test_a_memory_mapped_file_scores_as_the_array_in_memory(small_chunks, tmp_path: Path):
    detector = _image_model()
    np.save(tmp_path / "images.npy", IMAGES)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    np.testing.assert_array_equal(detector.decision_function(mapped), detector.decision_scores_)
    np.testing.assert_array_equal(mapped, IMAGES)


def test_a_copy_on_write_map_keeps_the_callers_changes(small_chunks, tmp_path: Path):
    detector = _image_model()
    np.save(tmp_path / "images.npy", IMAGES)
    changed = np.load(tmp_path / "images.npy", mmap_mode="c")
    changed[:] = 255 - changed  # in this process only: the file keeps IMAGES
    expected = detector.decision_function(np.array(changed))
    np.testing.assert_array_equal(detector.decision_function(changed), expected)
    np.testing.assert_array_equal(changed, 255 - IMAGES)
