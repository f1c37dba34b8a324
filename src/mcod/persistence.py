"""Save a fitted MCOD detector to one file and load it back, without pickled code.

The file is written by ``torch.save`` but holds only tensors and plain values (str, int,
float, bool, None, lists and dicts of them), so it is read back with
``torch.load(..., weights_only=True)``: loading a file never runs code from it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

import mcod
from mcod.atomic import atomic_write
from mcod.config import MCODConfig
from mcod.detector import MCOD, resolve_device
from mcod.ensemble import MCODEnsemble
from mcod.pretrained import check_encoder

__all__ = ["FORMAT", "load", "load_with_table_options", "save_detector"]

FORMAT = "mcod-detector/2"  # 2: the network is an ensemble of members

_FITTED = ("network_", "config_", "input_kind_", "input_shape_", "decision_scores_", "threshold_")


# --------------------------------------------------------------------------- saving


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
    config = params.get("config")
    if isinstance(config, MCODConfig):
        params["config"] = {"mcod_config": config.to_dict()}
    return _plain(params, "the detector's parameters")


_POWER = ("power_lambdas", "power_mean", "power_std")  # tables with table_yeo_johnson


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
            for name in _POWER
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
    ``table_options``: how the training table was read (:attr:`mcod.tables.TableData.options`),
    so that ``mcod score`` reads new tables the same way.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"{target} is a folder; give a file name such as model.pt")
    state = _detector_state(detector)
    state["table_options"] = _plain(table_options, "the table options")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as handle:
        torch.save(state, handle)
    return target


# --------------------------------------------------------------------------- loading


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise ValueError(f"not a file: {path}")
    unreadable = f"cannot read {path}: not an mcod model file, or it is corrupt"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is not ours
        raise ValueError(unreadable)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses classes and functions: this is how a file holding code fails.
        raise ValueError(
            f"refusing to load {path}: it holds Python objects other than tensors and plain "
            "values (mcod model files never do)"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError):
        raise ValueError(unreadable) from None
    if not isinstance(state, dict) or "format" not in state:
        raise ValueError(f"{path} is not an mcod model file (no format tag)")
    if state["format"] != FORMAT:
        raise ValueError(
            f"{path} has format {state['format']!r}; "
            f"this mcod ({mcod.__version__}) reads {FORMAT!r}"
        )
    return state


def _constructor_params(params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    config = params.get("config")
    if isinstance(config, dict):
        params["config"] = MCODConfig.from_dict(config["mcod_config"])
    return params


def _device(requested: str | torch.device | None, params: dict[str, Any]) -> torch.device:
    """The device asked for at load time, else the one saved; CPU where CUDA is absent."""
    if requested is not None:
        return resolve_device(requested)
    try:
        return resolve_device(params.get("device", "auto"))
    except ValueError:
        return torch.device("cpu")


def _restore(detector: MCOD, state: dict[str, Any], device: torch.device) -> None:
    config = MCODConfig.from_dict(state["config"])
    input_shape = tuple(int(n) for n in state["input_shape"])
    network = MCODEnsemble(config, input_shape, int(state["queue_size"]))
    network.load_state_dict(state["state_dict"], strict=True)
    detector.config_ = config
    detector.input_kind_ = state["input_kind"]
    detector.input_shape_ = input_shape
    detector.feature_names_in_ = state.get("feature_names")  # absent in files before names
    if config.encoder:
        detector.encoder_digest_ = state.get("encoder_digest")
    if detector.input_kind_ == "table" or config.encoder:
        detector.n_features_in_ = int(state["n_features_in"])
        detector.scale_mean_ = state["scale_mean"]
        detector.scale_std_ = state["scale_std"]
        if config.table_yeo_johnson:
            for name in _POWER:
                setattr(detector, f"{name}_", state[name])
    if detector.input_kind_ != "table":
        detector.n_channels_ = int(state["n_channels"])
        detector.pixel_range_ = tuple(float(v) for v in state["pixel_range"])
        size = state.get("image_size_in")  # absent in files before it was recorded
        detector.image_size_in_ = None if size is None else tuple(int(n) for n in size)
    detector.device_ = device
    detector.network_ = network.to(device).eval()
    scores = state["decision_scores"].numpy().astype(np.float64)
    detector.decision_scores_ = scores
    detector.threshold_ = float(state["threshold"])
    detector.labels_ = state["labels"].numpy().astype(int)
    detector.history_ = list(state["history"])
    # What PyOD's fit would have set, for predict_proba(method="unify") and friends.
    detector._mu = float(np.mean(scores))
    detector._sigma = float(np.std(scores))
    detector._classes = 2


def load(path: str | os.PathLike[str], device: str | torch.device | None = None) -> MCOD:
    """Load a detector written by ``MCOD.save`` / :func:`save_detector`.

    ``device`` overrides the saved one ("auto", "cpu", "cuda", ...); by default the saved
    device is used, falling back to CPU where CUDA is not available. The detector is in
    evaluation mode and scores exactly as the saved one did.
    """
    return load_with_table_options(path, device)[0]


def load_with_table_options(
    path: str | os.PathLike[str], device: str | torch.device | None = None
) -> tuple[MCOD, dict[str, Any] | None]:
    """:func:`load`, and the table options saved with the detector (None: none saved)."""
    source = Path(path).expanduser()
    state = _read(source)
    try:
        params = _constructor_params(state["params"])
        detector = MCOD(**params)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"{source} is damaged or incomplete ({_first_line(error)})") from None
    encoder = state.get("config", {}).get("encoder") if isinstance(state.get("config"), dict) \
        else None
    if encoder:  # only the spec is saved: refuse at once if it cannot be scored here
        check_encoder(encoder, state.get("encoder_digest"))
    target = _device(device, params)
    try:
        _restore(detector, state, target)
    except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{source} is damaged or incomplete ({_first_line(error)})") from None
    return detector, state.get("table_options")  # absent in files before table options


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
