"""The model file's format and its writing: a fitted MCOD detector in one file, without
pickled code.

The file is the zip archive ``torch.save`` writes, holding only tensors and plain values
(str, int, float, bool, None, lists and dicts of them), plus one entry of mcod's own: the
SHA-256 of all the others (:mod:`mcod.io.archive`; :mod:`mcod.persistence` checks it, and
all the rest, on loading).
Kept apart from the loading, which makes detectors, so that ``MCOD.save`` can use it
without an import circle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import mcod
from mcod.config import MCODConfig
from mcod.cuts import is_thresholder, saved_thresholder
from mcod.io.archive import CHECKSUM_ENTRY, digest, is_checksum, with_checksum, write_archive

if TYPE_CHECKING:
    from mcod.detector import MCOD

__all__ = ["CHECKSUM_ENTRY", "FORMAT", "digest", "is_checksum", "save_detector",
           "with_checksum"]

FORMAT = "mcod-detector/2"  # 2: the network is an ensemble of members



def _plain(value: Any, what: str) -> Any:
    """Turn numpy scalars into Python ones; refuse anything that is not JSON-like."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, what) for k, v in value.items()}
    raise ValueError(f"cannot save {what}: {type(value).__name__} is not a plain value")


def _params(detector: MCOD) -> dict[str, Any]:
    params = dict(detector.get_params(deep=False))
    if isinstance(params.get("device"), torch.device):
        params["device"] = str(params["device"])
    if is_thresholder(params.get("contamination")):  # its class and settings, not the object
        params["contamination"] = saved_thresholder(params["contamination"])
    config = params.get("config")
    if isinstance(config, MCODConfig):
        params["config"] = {"mcod_config": config.to_dict()}
    return _plain(params, "the detector's parameters")


def _detector_state(detector: MCOD) -> dict[str, Any]:
    """What the file holds: its format and mcod's version, the detector's settings, and its
    fitted state (`MCOD._state`), whose values other than tensors must be plain."""
    state = detector._state()
    for name, value in state.items():
        if name != "state_dict" and not isinstance(value, torch.Tensor):
            state[name] = _plain(value, name.replace("_", " "))
    return {"format": FORMAT, "mcod_version": mcod.__version__, "params": _params(detector),
            **state}


def save_detector(detector: MCOD, path: str | os.PathLike[str],
                  table_options: Mapping[str, Any] | None = None) -> Path:
    """Write a fitted detector to ``path`` (atomically); return the path.

    The parent directory is created if needed. Conventional suffix: ``.pt``.
    ``table_options``: how the training table was read (:attr:`mcod.data.tables.TableData.options`),
    so that ``mcod score`` reads new tables the same way.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"{target} is a folder; give a file name such as model.pt")
    state = _detector_state(detector)
    state["table_options"] = _plain(table_options, "the table options")
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_archive(state, target)
