"""Load a fitted MCOD detector back from the file :mod:`mcod.model_file` wrote, without
running pickled code.

Loading never runs code from the file
(``torch.load(..., weights_only=True)``); before anything in it is used, the archive's
entries, their size and the checksum are checked here, with the settings, the config and
the version's renamed configs; then every field of the fitted state is checked against the
model's own config by the detector (``MCOD._load_state``, which leaves its preprocessor's
fields to :mod:`mcod.data.preprocessing`): a damaged or hostile file gives one
:class:`ModelFileError` naming the file and the field, never a traceback or an
allocation the model's shapes do not call for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from mcod.config import CONFIGS, MCODConfig
from mcod.cuts import rebuild_thresholder
from mcod.data.inputs import InputError
from mcod.data.tables import check_saved_options
from mcod.detector import MCOD, resolve_device
from mcod.io.archive import Limits, need, read_archive
from mcod.model_file import FORMAT
from mcod.nn.pretrained import check_encoder

__all__ = ["ModelFileError", "load", "load_with_table_options"]


# What a model file may hold. A fitted model needs far less: mcod's largest network (the
# release config) is 10 MiB, and scores and labels take 16 bytes a training sample.
MAX_FILE_BYTES = 2**30
MAX_PICKLE_BYTES = 64 * 2**20  # an entry read whole: the plain values (data.pkl) and such
MAX_ENTRIES = 10_000  # one a tensor: a five-member tabular model has 230
MAX_IMAGE_SIZE = 1024  # the network's input side: images are resized to it when scored
MAX_MEMBERS = 64  # networks in the ensemble


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


# ------------------------------------------------------------------ the file's own fields

# The file's fields besides the fitted state (`MCOD._state`, which checks its own); the
# config is the fitted state's, read here first to be renamed as the file's version asks.
_FILE_FIELDS = ("format", "mcod_version", "params", "config")
_TABLE_OPTIONS = "table_options"  # how the training table was read; absent in older files


# Config names that changed meaning in 0.2: images through a pretrained encoder became
# "default", and the from-scratch image config that was "default" became "scratch".
RENAMED_IN_0_2 = {"default": "scratch", "pretrained": "default"}


def _detector(state: dict[str, Any]) -> MCOD:
    """An unfitted MCOD with the saved constructor settings, each checked."""
    missing = [name for name in _FILE_FIELDS if name not in state]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
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
    fitted = {k: v for k, v in state.items() if k not in (*_FILE_FIELDS[:3], _TABLE_OPTIONS)}
    with _blaming(source):
        detector._load_state(fitted, config, target)
        options = state.get(_TABLE_OPTIONS)
        if options is not None:
            check_saved_options(options)
    return detector, options
