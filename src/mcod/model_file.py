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

__all__ = ["CHECKSUM_ENTRY", "FORMAT", "POWER_FIELDS", "digest", "is_checksum", "save_detector",
           "with_checksum"]

FORMAT = "mcod-detector/2"  # 2: the network is an ensemble of members
_FITTED = ("network_", "config_", "input_kind_", "input_shape_", "decision_scores_", "threshold_")



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


POWER_FIELDS = ("power_lambdas", "power_mean", "power_std")  # tables with table_yeo_johnson


def _detector_state(detector: MCOD) -> dict[str, Any]:
    missing = [name for name in _FITTED if not hasattr(detector, name)]
    if missing:
        raise ValueError("cannot save an unfitted MCOD detector; call fit(X) first")
    table = detector.input_kind_ == "table"
    encoded = bool(detector.config_.encoder)  # images as feature rows: a table's scaling
    rows = table or encoded
    power = rows and detector.config_.table_yeo_johnson
    network = detector.network_
    return {
        "format": FORMAT,
        "mcod_version": mcod.__version__,
        "params": _params(detector),
        "config": _plain(detector.config_.to_dict(), "the config"),
        "input_kind": detector.input_kind_,
        "input_shape": [int(n) for n in detector.input_shape_],
        "n_channels": None if table else int(detector.n_channels_),
        "pixel_range": None if table else [float(v) for v in detector.pixel_range_],
        "image_size_in": None if table or detector.image_size_in_ is None
        else list(detector.image_size_in_),
        "n_features_in": int(detector.n_features_in_) if rows else None,
        "feature_names": _plain(detector.feature_names_in_, "feature names"),
        "scale_mean": detector.scale_mean_.detach().cpu().clone() if rows else None,
        "scale_std": detector.scale_std_.detach().cpu().clone() if rows else None,
        "encoder_digest": detector.encoder_digest_ if encoded else None,
        **{
            name: getattr(detector, f"{name}_").detach().cpu().clone() if power else None
            for name in POWER_FIELDS
        },
        "queue_size": int(network.first.queue.size),
        "state_dict": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
        "decision_scores": torch.as_tensor(np.asarray(detector.decision_scores_, np.float64)),
        "threshold": float(detector.threshold_),
        "labels": torch.as_tensor(np.asarray(detector.labels_, np.int64)),
        "history": _plain(list(detector.history_), "the training history"),
    }


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
