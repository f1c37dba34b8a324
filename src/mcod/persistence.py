"""Load a fitted MCOD detector back from the file :mod:`mcod.model_file` wrote, without
running pickled code.

Loading never runs code from the file
(``torch.load(..., weights_only=True)``); before anything in it is used, the archive's
entries, their size and the checksum are checked, and every field of the saved state is
checked against the model's own config: a damaged or hostile file gives one
:class:`ModelFileError` naming the file and the field, never a traceback or an
allocation the model's shapes do not call for.
"""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mcod.config import CONFIGS, MCODConfig
from mcod.cuts import rebuild_thresholder
from mcod.data.inputs import InputError
from mcod.data.tables import check_saved_options
from mcod.detector import MCOD, resolve_device
from mcod.io.archive import Limits, check_tensor, need, read_archive
from mcod.model_file import FORMAT, POWER_FIELDS
from mcod.nn.ensemble import MCODEnsemble
from mcod.nn.pretrained import check_encoder

__all__ = ["ModelFileError", "load", "load_with_table_options"]


# What a model file may hold. A fitted model needs far less: mcod's largest network (the
# release config) is 10 MiB, and scores and labels take 16 bytes a training sample.
MAX_FILE_BYTES = 2**30
MAX_PICKLE_BYTES = 64 * 2**20  # an entry read whole: the plain values (data.pkl) and such
MAX_ENTRIES = 10_000  # one a tensor: a five-member tabular model has 230
MAX_SAMPLES = 20_000_000  # training scores kept
MAX_IMAGE_SIZE = 1024  # the network's input side: images are resized to it when scored
MAX_CHANNELS = 4
MAX_MEMBERS = 64


class ModelFileError(InputError):
    """A model file cannot be used; the one-line message names the file and, where one
    field is at fault, the field."""



# --------------------------------------------------------------------------- loading

def _read(path: Path) -> dict[str, Any]:
    """The saved state, its tensors mapped from the file, not yet read: each is checked
    against the model's shapes before its values are used."""
    limits = Limits("model file", MAX_FILE_BYTES, MAX_PICKLE_BYTES, MAX_ENTRIES)
    return read_archive(path, FORMAT, limits, ModelFileError)


@contextmanager
def _blaming(path: Path) -> Iterator[None]:
    """A field found wrong (a ValueError naming it), or anything the checks did not
    foresee, becomes one ModelFileError naming the file."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as error:
        lines = str(error).strip().splitlines()
        what = lines[0] if lines else type(error).__name__
        if not isinstance(error, ValueError):
            what = f"{type(error).__name__}: {what}"
        raise ModelFileError(f"{path} is damaged or incomplete: {what}") from None


# ------------------------------------------------------------------ checking each field

_REQUIRED = frozenset({
    "format", "mcod_version", "params", "config", "input_kind", "input_shape", "n_channels",
    "pixel_range", "n_features_in", "scale_mean", "scale_std", "queue_size", "state_dict",
    "decision_scores", "threshold", "labels", "history",
})
# absent from files of older mcods (before Yeo-Johnson, names, sizes and table options)
_OPTIONAL = frozenset({"power_lambdas", "power_mean", "power_std", "feature_names",
                       "image_size_in", "table_options", "encoder_digest"})
_IMAGE_ONLY = ("n_channels", "pixel_range", "image_size_in")
_TABLE_ONLY = ("n_features_in", "feature_names", "scale_mean", "scale_std", *POWER_FIELDS)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _check_keys(state: dict[str, Any]) -> None:
    missing = sorted(_REQUIRED - set(state))
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    unknown = sorted(map(str, set(state) - _REQUIRED - _OPTIONAL))
    if unknown:
        raise ValueError(f"unknown field(s) {reprlib.repr(unknown)}")


# Config names that changed meaning in 0.2: images through a pretrained encoder became
# "default", and the from-scratch image config that was "default" became "scratch".
RENAMED_IN_0_2 = {"default": "scratch", "pretrained": "default"}


def _detector(state: dict[str, Any]) -> MCOD:
    """An unfitted MCOD with the saved constructor settings, each checked."""
    _check_keys(state)
    need(isinstance(state["mcod_version"], str), "mcod_version", "text", state["mcod_version"])
    params = state["params"]
    need(isinstance(params, dict), "params", "a dict of settings", params)
    unknown = sorted(map(str, set(params) - set(MCOD().get_params(deep=False))))
    need(not unknown, "params", "MCOD's settings", unknown)
    params = dict(params)
    config = params.get("config", "default")
    if isinstance(config, str) and state["mcod_version"].startswith("0.1."):
        config = params["config"] = RENAMED_IN_0_2.get(config, config)
    if isinstance(config, dict) and set(config) == {"mcod_config"}:
        params["config"] = _config(config["mcod_config"], "params.config")
    else:
        need(isinstance(config, str) and config in CONFIGS, "params.config",
              f"one of {sorted(CONFIGS)} or a config", config)
    need(isinstance(params.get("device", "auto"), str), "params.device", "text",
          params.get("device"))
    if isinstance(params.get("contamination"), dict):  # a thresholder, from a known class only
        try:
            params["contamination"] = rebuild_thresholder(params["contamination"])
        except ValueError as error:
            raise ValueError(f"params.{error}") from None
    try:  # PyOD checks the contamination as MCOD is made, MCOD the rest
        detector = MCOD(**params)
        detector.check_settings()
    except ValueError as error:
        raise ValueError(f"params.{error}") from None
    return detector


def _config(values: object, field: str = "config") -> MCODConfig:
    """The config, every setting's type and range checked (MCODConfig does), within caps."""
    need(isinstance(values, dict), field, "a dict of settings", values)
    try:
        config = MCODConfig.from_dict(values)  # type: ignore[arg-type]
    except (ValueError, TypeError) as error:
        raise ValueError(f"{field}: {error}") from None
    need(config.image_size <= MAX_IMAGE_SIZE, f"{field}.image_size",
          f"at most {MAX_IMAGE_SIZE}", config.image_size)
    need(config.members <= MAX_MEMBERS, f"{field}.members", f"at most {MAX_MEMBERS}",
          config.members)
    return config


def _input_shape(state: dict[str, Any], config: MCODConfig) -> tuple[str, tuple[int, ...]]:
    """The input kind and the network's input shape, as the config has them."""
    kind = state["input_kind"]
    need(kind in ("image", "table"), "input_kind", "'image' or 'table'", kind)
    rows = kind == "table" or bool(config.encoder)  # what the mlp head takes
    need(rows == (config.backbone == "mlp"), "input_kind",
          f"what the {config.backbone} backbone takes", kind)
    need(kind == "image" or not config.encoder, "input_kind", "'image' with an encoder", kind)
    shape = state["input_shape"]
    need(isinstance(shape, list) and all(_is_int(n) and n > 0 for n in shape), "input_shape",
          "a list of positive integers", shape)
    if rows:
        need(len(shape) == 1, "input_shape", "[features] for rows the mlp head takes", shape)
    else:
        size = config.image_size
        need(size > 0, "config.image_size", "positive in an image model", size)
        need(len(shape) == 3 and shape[0] <= MAX_CHANNELS and shape[1:] == [size, size],
              "input_shape", f"[channels (1 to {MAX_CHANNELS}), {size}, {size}] (the config's "
              "image_size)", shape)
    return kind, tuple(shape)


def _restore_image(detector: MCOD, state: dict[str, Any], shape: tuple[int, ...],
                   config: MCODConfig) -> None:
    """The images' channels, intensity range and size; with an encoder, also the scaling
    of the encoded rows the head takes."""
    if config.encoder:
        need(isinstance(state.get("encoder_digest"), str), "encoder_digest",
              "the encoder's weight digest", state.get("encoder_digest"))
        need(state.get("feature_names") is None, "feature_names", "None in an image model",
              state.get("feature_names"))
        _restore_scaling(detector, state, shape[0], config)
        detector.encoder_digest_ = state["encoder_digest"]
        channels = state["n_channels"]
        need(_is_int(channels) and 1 <= channels <= MAX_CHANNELS, "n_channels",
              f"1 to {MAX_CHANNELS}", channels)
    else:
        for name in (*_TABLE_ONLY, "encoder_digest"):
            need(state.get(name) is None, name, "None in an image model", state.get(name))
        channels = state["n_channels"]
        need(_is_int(channels) and channels == shape[0], "n_channels",
              f"{shape[0]} (input_shape's)", channels)
    low_high = state["pixel_range"]
    need(isinstance(low_high, list) and len(low_high) == 2 and all(map(_is_number, low_high))
          and low_high[0] < low_high[1] and math.isfinite(low_high[1] - low_high[0]),
          "pixel_range", "[low, high], finite numbers with low < high", low_high)
    size = state.get("image_size_in")
    need(size is None or isinstance(size, list) and len(size) == 2
          and all(_is_int(n) and n > 0 for n in size), "image_size_in",
          "None or [height, width]", size)
    detector.n_channels_ = channels
    detector.pixel_range_ = (float(low_high[0]), float(low_high[1]))
    detector.image_size_in_ = None if size is None else (int(size[0]), int(size[1]))
    detector.feature_names_in_ = None


def _restore_table(detector: MCOD, state: dict[str, Any], shape: tuple[int, ...],
                   config: MCODConfig) -> None:
    for name in (*_IMAGE_ONLY, "encoder_digest"):
        need(state.get(name) is None, name, "None in a table model", state.get(name))
    n = shape[0]
    names = state.get("feature_names")
    need(names is None or isinstance(names, list) and len(names) == n
          and all(isinstance(c, str) for c in names), "feature_names",
          f"None or a list of {n} column names", names)
    _restore_scaling(detector, state, n, config)
    detector.feature_names_in_ = names


def _restore_scaling(detector: MCOD, state: dict[str, Any], n: int,
                     config: MCODConfig) -> None:
    """The standardisation (and Yeo-Johnson) of the n columns of the rows the head takes."""
    need(_is_int(state["n_features_in"]) and state["n_features_in"] == n, "n_features_in",
          f"{n} (input_shape's)", state["n_features_in"])
    scaling = ("scale_mean", "scale_std", *(POWER_FIELDS if config.table_yeo_johnson else ()))
    for name in scaling:
        check_tensor(state.get(name), name, torch.float64, (n,))
        if name.endswith("_std"):
            need(bool((state[name] > 0).all()), name, "positive", "a value <= 0")
        setattr(detector, f"{name}_", state[name].clone())  # not mapped from the file
    if not config.table_yeo_johnson:
        for name in POWER_FIELDS:
            need(state.get(name) is None, name, "None without table_yeo_johnson",
                  state.get(name))
    detector.n_features_in_ = n


def _network(state: dict[str, Any], config: MCODConfig, shape: tuple[int, ...]) -> MCODEnsemble:
    """The ensemble, after each saved tensor is checked against one built without memory
    (on torch's meta device) from the config: names, dtypes and shapes."""
    queue = state["queue_size"]
    need(_is_int(queue) and 1 <= queue <= config.queue_size, "queue_size",
          f"an integer in 1..{config.queue_size} (the config's queue_size)", queue)
    with torch.device("meta"):
        expected = MCODEnsemble(config, shape, queue).state_dict()
    saved = state["state_dict"]
    need(isinstance(saved, dict), "state_dict", "a dict of tensors", saved)
    need(saved.keys() == expected.keys(), "state_dict", "the tensors the config makes "
          f"({len(expected)})", sorted(map(str, set(saved) ^ set(expected))))
    for name, like in expected.items():
        check_tensor(saved[name], f"state_dict[{name!r}]", like.dtype, tuple(like.shape))
    network = MCODEnsemble(config, shape, queue)
    network.load_state_dict(saved, strict=True)
    return network


def _restore_scores(detector: MCOD, state: dict[str, Any]) -> None:
    """Training scores, threshold and labels: finite, and labels as PyOD sets them."""
    scores = state["decision_scores"]
    n = len(scores) if isinstance(scores, torch.Tensor) and scores.dim() == 1 else 0
    need(2 <= n <= MAX_SAMPLES, "decision_scores",
          f"a 1-D tensor of 2 to {MAX_SAMPLES} training scores", scores)
    check_tensor(scores, "decision_scores", torch.float64, (n,))
    check_tensor(state["labels"], "labels", torch.int64, (n,))
    threshold = state["threshold"]
    need(_is_number(threshold), "threshold", "a finite number", threshold)
    detector.decision_scores_ = scores.numpy().astype(np.float64)
    detector.threshold_ = float(threshold)
    detector.labels_ = state["labels"].numpy().astype(int)
    need(np.array_equal(detector.labels_, detector.decision_scores_ > detector.threshold_),
          "labels", "1 where decision_scores > threshold, else 0", "other values")
    # What PyOD's fit would have set, for predict_proba(method="unify") and friends.
    detector._mu = float(np.mean(detector.decision_scores_))
    detector._sigma = float(np.std(detector.decision_scores_))
    detector._classes = 2


def _history(state: dict[str, Any], config: MCODConfig) -> list[dict[str, float]]:
    history = state["history"]
    need(isinstance(history, list) and len(history) <= config.epochs and all(
        isinstance(epoch, dict) and all(isinstance(k, str) and isinstance(v, (int, float))
                                        for k, v in epoch.items()) for epoch in history),
          "history", f"a list of at most {config.epochs} dicts of loss terms", history)
    return history


def _restore(detector: MCOD, state: dict[str, Any], config: MCODConfig,
             device: torch.device) -> None:
    """Check every field of the saved state against the config, then set the fit."""
    kind, shape = _input_shape(state, config)
    if kind == "table":
        _restore_table(detector, state, shape, config)
    else:
        _restore_image(detector, state, shape, config)
    network = _network(state, config, shape)
    _restore_scores(detector, state)
    detector.history_ = _history(state, config)
    detector.config_ = config
    detector.input_kind_ = kind
    detector.input_shape_ = shape
    detector.device_ = device
    detector.network_ = network.to(device).eval()


def _constructor_device(requested: str | torch.device | None, detector: MCOD) -> torch.device:
    """The device asked for at load time, else the one saved; CPU where CUDA is absent."""
    if requested is not None:
        return resolve_device(requested)
    try:
        return resolve_device(detector.device)
    except ValueError:
        return torch.device("cpu")


def load(path: str | os.PathLike[str], device: str | torch.device | None = None) -> MCOD:
    """Load a detector written by ``MCOD.save`` / :func:`save_detector`.

    ``device`` overrides the saved one ("auto", "cpu", "cuda", ...); by default the saved
    device is used, falling back to CPU where CUDA is not available. The detector is in
    evaluation mode and scores exactly as the saved one did. A file that is not an intact
    mcod model raises :class:`ModelFileError` naming the file and the field at fault.
    """
    return load_with_table_options(path, device)[0]


def load_with_table_options(
    path: str | os.PathLike[str], device: str | torch.device | None = None
) -> tuple[MCOD, dict[str, Any] | None]:
    """:func:`load`, and the table options saved with the detector (None: none saved)."""
    source = Path(path).expanduser()
    state = _read(source)
    with _blaming(source):
        detector = _detector(state)
        config = _config(state["config"])
        if state["mcod_version"].startswith("0.1.") and config.name in RENAMED_IN_0_2:
            config = config.replace(name=RENAMED_IN_0_2[config.name])
    if config.encoder:  # only the spec is saved: refuse at once if it cannot be scored here
        check_encoder(config.encoder, state.get("encoder_digest"))
    target = _constructor_device(device, detector)  # a bad device is the caller's, not the file's
    with _blaming(source):
        _restore(detector, state, config, target)
        options = state.get("table_options")  # absent in files before table options
        if options is not None:
            check_saved_options(options)
    return detector, options
