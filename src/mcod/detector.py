"""The MCOD detector with PyOD's API: fit on unlabeled data, score, threshold, predict."""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pyod.models.base import BaseDetector
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from mcod.config import MAX_SEED, MCODConfig, get_config
from mcod.ensemble import MCODEnsemble, mean_history
from mcod.inputs import (
    InputError,
    as_array,
    as_table,
    frame_to_table,
    image_array,
    intensity_range,
    is_frame,
    scale_01,
    warn_if_names_differ,
    warn_if_off_scale,
    warn_if_other_size,
)
from mcod.scaling import fit_lambdas, yeo_johnson
from mcod.training import train

SCORE_BATCH = 1024
IMAGE_CHUNK_BYTES = 64 * 2**20  # float32 full-size images scaled and resized at a time
# A standardised value is clipped to this many training standard deviations: a training
# row cannot reach it (|z| <= sqrt(N - 1)), and a new row beyond it still scores as the
# most outlying, with a finite score.
Z_LIMIT = 1e6


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA when present; anything else must be a valid torch device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"invalid device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):  # the devices mcod is built and tested for
        raise ValueError(f"device {device!r}: mcod runs on cpu or cuda (auto picks CUDA "
                         "when present)")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} asked for, but this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return resolved


def check_contamination(value: object, name: str = "contamination") -> float:
    """The expected outlier share, a Python float in (0, 0.5] (PyOD takes any other type
    for a thresholder object), or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a Python float in (0, 0.5], got {value!r}")
    if not 0.0 < value <= 0.5:  # also false for NaN
        raise ValueError(f"{name} must be in (0, 0.5], got {value!r}")
    return float(value)


def _standardisation(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and sds (StandardScaler's; a constant column gets sd 1). A column that
    StandardScaler takes for constant though it varies (a tiny spread on a huge offset,
    such as nanosecond timestamps, or a spread near 1e-300) is measured again around its
    median, where float64 holds it."""
    constant = np.ptp(table, axis=0) == 0
    if constant.all():
        raise InputError("every row is the same: there is nothing to tell rows apart")
    with np.errstate(over="ignore", invalid="ignore"):  # refused just below if it matters
        scaler = StandardScaler().fit(table)
    mean, std = scaler.mean_.copy(), scaler.scale_.copy()
    mean[constant], std[constant] = table[0, constant], 1.0  # even at 1e200: no weight
    if not (np.isfinite(mean).all() and np.isfinite(scaler.var_[~constant]).all()):
        raise InputError("values too large to standardise (their squares overflow); rescale them")
    overridden = (std == 1.0) & (scaler.var_ != 1.0) & ~constant
    for j in np.flatnonzero(overridden):
        centre = np.median(table[:, j])
        offsets = table[:, j] - centre
        peak = np.abs(offsets).max()  # dividing first keeps squares of 1e-300 from underflowing
        mean[j], std[j] = centre + offsets.mean(), peak * (offsets / peak).std()
    return mean, std


def _standardised(values: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """(values - mean) / std in float64, clipped at Z_LIMIT training sds."""
    z = (values - mean.double().numpy()) / std.double().numpy()
    return np.clip(z, -Z_LIMIT, Z_LIMIT)


class MCOD(BaseDetector):
    """Unsupervised outlier detection with memory and contrastive learning.

    Parameters
    ----------
    contamination : share of outliers expected, in (0, 0.5]; sets `threshold_`.
    config : "default" (mcod's own settings), "release" (faithful to the authors'
        release), "tabular", or an `MCODConfig`. Tables (2-D input) with "default"
        train the "tabular" configuration.
    epochs : training epochs; None takes the config's. The read-loss warm-up is
        scaled to keep its share of training.
    batch_size : None takes the config's.
    device : "auto" (CUDA if present), "cpu", "cuda", ...
    random_state : seed for reproducible training (on CPU).
    verbose : show a progress bar with the loss terms.
    feature_cache : configs with a pretrained encoder ("pretrained"): where encoded
        features are cached, "auto" (see `mcod.feature_cache.default_cache_dir`), a
        folder, or None for no cache.

    Attributes (after fit)
    ----------------------
    decision_scores_, threshold_, labels_ : as in PyOD (higher score = more outlying).
    history_ : per-epoch mean of each loss term.
    """

    def __init__(
        self,
        contamination: float = 0.1,
        config: str | MCODConfig = "default",
        epochs: int | None = None,
        batch_size: int | None = None,
        device: str = "auto",
        random_state: int | None = None,
        verbose: bool = False,
        feature_cache: str | None = "auto",
    ) -> None:
        super().__init__(contamination=contamination)
        self.config = config
        self.epochs = epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.feature_cache = feature_cache

    # ------------------------------------------------------------------ fitting

    def fit(self, X: np.ndarray, y: object = None) -> MCOD:
        """Learn features and memory from X alone; `y` is ignored (unsupervised)."""
        check_contamination(self.contamination)
        for name, least in (("batch_size", 2), ("epochs", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not (
                    isinstance(value, numbers.Real) and math.isfinite(value)
                    and value == int(value) and value >= least)):
                raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
        seed = self.random_state
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed <= MAX_SEED):
            raise ValueError(f"random_state must be an integer seed in 0..2**32 - 1 or None, "
                             f"got {seed!r}")
        device = resolve_device(self.device)
        before = dict(vars(self))
        for name in [k for k in before if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)  # a table's scaling must not outlive a refit on images
        try:
            return self._fit(X, device)
        except BaseException:  # refused data, a failed or interrupted training: keep the old fit
            vars(self).clear()
            vars(self).update(before)
            raise

    def _fit(self, X: np.ndarray, device: torch.device) -> MCOD:
        """The fit itself; `fit` puts the previous state back if this raises."""
        data = self._prepare(X, fitting=True)
        # small data: at least ~8 steps per epoch, so the memory and queue get to work
        batch_size = self.batch_size or min(self.config_.batch_size, max(2, len(data) // 8))
        batch_size = min(int(batch_size), len(data))
        config = self._schedule(self.config_, steps_per_epoch=len(data) // batch_size)
        config = config.replace(batch_size=batch_size)  # config_ records what was used
        self.config_ = config
        self.device_ = device
        queue_size = min(config.queue_size, max(batch_size, len(data) - batch_size))
        self.input_shape_ = tuple(data.shape[1:])
        cuda = [self.device_.index or 0] if self.device_.type == "cuda" else []
        # a seed makes this fit repeatable without touching the caller's torch random state
        with torch.random.fork_rng(devices=cuda, enabled=self.random_state is not None):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            self.network_ = MCODEnsemble(config, self.input_shape_, queue_size).to(self.device_)
            data_on_device, n = data.to(self.device_), config.members
            self.history_ = mean_history([
                train(member, data_on_device, config.epochs, batch_size, verbose=self.verbose,
                      desc="mcod fit" if n == 1 else f"mcod fit {i + 1}/{n}")
                for i, member in enumerate(self.network_.members)
            ])
        self.decision_scores_ = self._score(data)
        if not np.isfinite(self.decision_scores_).all():
            raise ValueError("training diverged: the scores are not finite (is the learning "
                             "rate too large?)")
        self._process_decision_scores()
        self._set_n_classes(None)
        return self

    def _schedule(self, config: MCODConfig, steps_per_epoch: int) -> MCODConfig:
        """Epochs to train: the user's, else the config's, raised to reach `min_steps`.

        The read-loss warm-up keeps its share of training.
        """
        if self.epochs is not None:
            epochs = int(self.epochs)  # checked in fit
        else:
            epochs = max(config.epochs, math.ceil(config.min_steps / max(1, steps_per_epoch)))
        warmup = round(config.warmup_epochs * epochs / config.epochs)
        return config.replace(epochs=epochs, warmup_epochs=warmup)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Outlier scores of X (higher = more outlying), from the fitted model."""
        check_is_fitted(self, ["network_"])
        return self._score(self._prepare(X, fitting=False))

    def predict_proba(
        self, X: np.ndarray, method: str = "linear", return_confidence: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """PyOD's, for any input `decision_function` takes: PyOD reads ``X.shape``, which a
        list of rows lacks."""
        X = X if hasattr(X, "shape") else as_array(X)
        return super().predict_proba(X, method=method, return_confidence=return_confidence)

    def embed(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, memory attention) of X: the space the score is measured in.

        Features are what memory sees (N x d); attention is softmax(w) over the K items
        (N x K). For reports and maps; scoring does not need it. With several `members`
        (the tabular config), these are the first member's.
        """
        check_is_fitted(self, ["network_"])
        self.network_.eval()
        parts = [
            self.network_.first.embed(batch.to(self.device_))
            for batch in self._prepare(X, fitting=False).split(SCORE_BATCH)
        ]
        features = torch.cat([f for f, _ in parts]).cpu().numpy()
        attention = torch.cat([w for _, w in parts]).softmax(dim=1).cpu().numpy()
        return features, attention

    @property
    def memory_items_(self) -> np.ndarray:
        """The K memory items (K x d) as the last write left them (the first member's)."""
        check_is_fitted(self, ["network_"])
        return self.network_.first.memory.items.cpu().numpy()

    # ------------------------------------------------------------------ data

    def _prepare(self, X: np.ndarray, fitting: bool) -> torch.Tensor:
        """Validate X and turn it into the float tensor the network takes; when fitting,
        also record the input kind, config and scaling (`fit` undoes them if it fails)."""
        # as in scikit-learn, only text column names count as names
        named = is_frame(X) and all(isinstance(c, str) for c in X.columns)
        by_name = named and (fitting or self.feature_names_in_ is not None)
        names = None
        if by_name:
            names, raw = frame_to_table(X, None if fitting else self.feature_names_in_)
        elif is_frame(X):  # its columns go by position
            _, raw = frame_to_table(X.set_axis(range(X.shape[1]), axis=1))
        else:
            raw = as_array(X)
        kind = "table" if raw.ndim == 2 else "image"
        if not fitting and kind != self.input_kind_:
            raise InputError(f"the model was fitted on {self.input_kind_}s, but X is a "
                             f"{raw.ndim}-D array of shape {raw.shape} ({kind}s)")
        if not fitting and kind == "table":
            warn_if_names_differ(named, self.feature_names_in_ is not None)
        config = self._resolve_config(kind) if fitting else self.config_
        data = self._prepare_table(raw, fitting, config) if kind == "table" else (
            self._prepare_images(raw, fitting, config))
        if fitting:
            self.input_kind_, self.config_ = kind, config
            self.feature_names_in_ = names
        return data

    def _prepare_table(self, raw: np.ndarray, fitting: bool, config: MCODConfig) -> torch.Tensor:
        """Standardised in float64 (a column such as a timestamp keeps its variation) by
        scikit-learn's StandardScaler (a constant column gets scale 1), then float32."""
        table = as_table(raw, min_samples=2 if fitting else 1)
        if fitting:
            self.n_features_in_ = table.shape[1]
            mean, std = _standardisation(table)
            self.scale_mean_, self.scale_std_ = torch.from_numpy(mean), torch.from_numpy(std)
        elif table.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {table.shape[1]} features, the model was fitted on {self.n_features_in_}"
            )
        z = _standardised(table, self.scale_mean_, self.scale_std_)
        if config.table_yeo_johnson:
            z = self._yeo_johnson(z, fitting)
        return torch.from_numpy(z.astype(np.float32))

    def _prepare_images(self, raw: np.ndarray, fitting: bool, config: MCODConfig) -> torch.Tensor:
        """Scaled to [0, 1] by the training images' intensity range and resized to the
        config's size, IMAGE_CHUNK_BYTES of float images at a time into the output (no
        float copy of all the full-size images: a folder of photos would need 4 bytes per
        pixel each)."""
        arr = image_array(raw, min_samples=2 if fitting else 1)
        if fitting:
            pixel_range = intensity_range(arr)
        else:
            pixel_range = self.pixel_range_
            warn_if_off_scale(arr, pixel_range)
            warn_if_other_size(arr, self.image_size_in_,
                               config.encoder_size if config.encoder else config.image_size)
            if arr.shape[1] != self.n_channels_:
                channels = "1 channel" if arr.shape[1] == 1 else f"{arr.shape[1]} channels"
                raise InputError(
                    f"images have {channels}, the model was fitted on {self.n_channels_}"
                )
        if fitting:
            self.pixel_range_, self.n_channels_ = pixel_range, arr.shape[1]
            self.image_size_in_ = (int(arr.shape[-2]), int(arr.shape[-1]))
        if config.encoder:
            return self._prepare_encoded(arr, fitting, config)
        size = config.image_size
        if arr.shape[-2:] == (size, size):  # nothing to resize: one scaled copy
            images = torch.from_numpy(scale_01(arr, pixel_range))
        else:  # resized into the output chunk by chunk
            images = torch.empty((len(arr), arr.shape[1], size, size))
            step = max(1, IMAGE_CHUNK_BYTES // (4 * math.prod(arr.shape[1:])))
            for start in range(0, len(arr), step):
                chunk = torch.from_numpy(scale_01(arr[start:start + step], pixel_range))
                images[start:start + step] = F.interpolate(
                    chunk, size=(size, size), mode="bilinear", antialias=True)
        return images

    def _prepare_encoded(self, arr: np.ndarray, fitting: bool, config: MCODConfig) -> torch.Tensor:
        """Images through the config's frozen encoder (`mcod.pretrained`), then standardised
        like a table's columns for the mlp head."""
        from mcod.pretrained import encoded_rows, feature_cache_for

        device = resolve_device(self.device) if fitting else self.device_
        rows, digest = encoded_rows(arr, self.pixel_range_, config, device,
                                    feature_cache_for(self.feature_cache), self.verbose)
        if fitting:
            self.encoder_digest_ = digest
        return self._prepare_table(rows, fitting, config)

    def _yeo_johnson(self, z: np.ndarray, fitting: bool) -> np.ndarray:
        """Standardised columns through Yeo-Johnson (`mcod.scaling`), standardised again."""
        if fitting:
            self.power_lambdas_ = torch.from_numpy(fit_lambdas(z))
        out = yeo_johnson(z, self.power_lambdas_.double().numpy())
        if fitting:
            mean, std = _standardisation(out)
            self.power_mean_, self.power_std_ = torch.from_numpy(mean), torch.from_numpy(std)
        return _standardised(out, self.power_mean_, self.power_std_)

    def _resolve_config(self, kind: str) -> MCODConfig:
        config = get_config(self.config)
        if kind == "table" and config.backbone != "mlp":
            if config.name == "default" and config != get_config("default"):
                raise InputError("this customised 'default' config is for images; for tables "
                                 "customise get_config('tabular')")
            if config.name != "default":
                raise InputError(
                    f"config {config.name!r} is for images; tables (2-D input) use 'default' "
                    "or 'tabular'"
                )
            config = get_config("tabular")
        if kind == "table" and config.encoder:
            raise InputError(f"config {config.name!r} encodes images; tables (2-D input) use "
                             "'default' or 'tabular'")
        if kind == "image" and config.backbone == "mlp" and not config.encoder:
            raise InputError(f"config {config.name!r} is for tables; images need 'default'")
        return config

    def _score(self, data: torch.Tensor) -> np.ndarray:
        self.network_.eval()
        scores = [
            self.network_.score(batch.to(self.device_)).cpu() for batch in data.split(SCORE_BATCH)
        ]
        return torch.cat(scores).double().numpy()

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the fitted detector to one file (tensors + plain values, no pickled code)."""
        from mcod.persistence import save_detector

        return save_detector(self, path)
