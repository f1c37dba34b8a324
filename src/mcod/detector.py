"""The MCOD detector with PyOD's API: fit on unlabeled data, score, threshold, predict."""

from __future__ import annotations

import math
import mmap
import numbers
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pyod.models.base import BaseDetector
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from mcod.config import MAX_SEED, MCODConfig, get_config
from mcod.cuts import cut, is_thresholder
from mcod.data.inputs import (
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
from mcod.data.scaling import fit_lambdas, yeo_johnson
from mcod.io.progress import check_progress, show_progress
from mcod.nn.checkpoint import FitCheckpoints, fingerprint
from mcod.nn.distributed import ALONE, Group, join
from mcod.nn.ensemble import MCODEnsemble, mean_history
from mcod.nn.model import MCODNet
from mcod.nn.training import Checkpoints, train

SCORE_BATCH = 1024
# Scoring prepares this many bytes of network input at a time (counted as float64, the
# tables' working precision), in whole SCORE_BATCH batches: the batches the network sees,
# and so the scores, are those of preparing everything at once.
SCORE_CHUNK_BYTES = 16 * 2**20
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
    """The expected outlier share, a Python float in (0, 0.5], or a ValueError naming
    ``name`` (a thresholder object is told apart before, by `mcod.cuts.is_thresholder`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a Python float in (0, 0.5] or a PyThresh "
                         f"thresholder object, got {value!r}")
    if not 0.0 < value <= 0.5:  # also false for NaN
        raise ValueError(f"{name} must be in (0, 0.5], got {value!r}")
    return float(value)


def _check_checkpoint_args(folder: str | Path, every: float) -> None:
    """A checkpoint folder that is not a file, and a cadence in seconds (0: every step)."""
    if isinstance(every, bool) or not isinstance(every, (int, float)) or not (
            math.isfinite(every) and every >= 0):
        raise ValueError(f"checkpoint_every must be a number of seconds >= 0, got {every!r}")
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"checkpoint {folder} is a file; give a folder")


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


def _extremes(arr: np.ndarray) -> np.ndarray:
    """[min, max] of arr in its dtype, read SCORE_CHUNK_BYTES at a time, so that checking
    a memory-mapped file's scale does not hold all of it in memory at once."""
    step = max(1, SCORE_CHUNK_BYTES // max(1, arr[:1].nbytes))
    parts = []
    for start in range(0, len(arr), step):
        part = arr[start:start + step]
        parts += [part.min(), part.max()]
        _release_pages(arr)
    return np.array([min(parts), max(parts)], dtype=arr.dtype)


def _release_pages(arr: np.ndarray) -> None:
    """Let the OS take back the pages of a read-only memory-mapped array (np.load with
    mmap_mode='r', or a view of one) that have been read: they stay in the page cache, so
    reading them again needs no disk, but they stop counting in this process's memory,
    which then stays bounded however large the file. Other arrays are left alone (on a
    copy-on-write map the advice would drop the caller's changes)."""
    base: object = arr
    mode = None
    while base is not None and not isinstance(base, mmap.mmap):
        if isinstance(base, np.memmap):
            mode = base.mode
        base = getattr(base, "base", None)
    if isinstance(base, mmap.mmap) and mode == "r" and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)


class MCOD(BaseDetector):
    """Unsupervised outlier detection with memory and contrastive learning.

    Parameters
    ----------
    contamination : share of outliers expected, in (0, 0.5]; or, as in PyOD, a PyThresh
        thresholder object (``pythresh.thresholds.karch.KARCH()``) that sets the cut
        from the training scores alone. Either sets `threshold_`.
    config : "default" (images through a frozen ImageNet encoder into MCOD's head;
        tables train "tabular"), "scratch" (image features learnt from the pixels),
        "release" (faithful to the authors' release), "tabular", or an `MCODConfig`.
    epochs : training epochs; None takes the config's. The read-loss warm-up is
        scaled to keep its share of training.
    batch_size : None takes the config's.
    device : "auto" (CUDA if present), "cpu", "cuda", ...
    random_state : seed for reproducible training (on CPU).
    verbose : progress bars during `fit` (with the loss terms), in a notebook as a
        widget: True, False, or "auto" (show them in a Jupyter notebook and when stderr
        is a terminal, not when it goes to a file or a pipe).
    feature_cache : configs with a pretrained encoder ("default"): where encoded
        features are cached, "auto" (see `mcod.nn.feature_cache.default_cache_dir`), a
        folder, or None for no cache.

    Attributes (after fit)
    ----------------------
    decision_scores_, threshold_, labels_ : as in PyOD (higher score = more outlying).
    history_ : per-epoch mean of each loss term.
    """

    contamination: Any  # a share or a thresholder object: PyOD leaves it untyped

    # Fitted state (absent until fit, as scikit-learn's trailing underscore says), declared
    # for the type checker: fit and mcod.load set it.
    config_: MCODConfig
    input_kind_: str  # "table" or "image"
    feature_names_in_: list[str] | None  # a DataFrame's text column names
    n_features_in_: int
    image_size_in_: tuple[int, int] | None  # (height, width) of images given as they are

    def __init__(
        self,
        contamination: float = 0.1,
        config: str | MCODConfig = "default",
        epochs: int | None = None,
        batch_size: int | None = None,
        device: str = "auto",
        random_state: int | None = None,
        verbose: bool | str = "auto",
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

    def fit(self, X: np.ndarray, y: object = None, checkpoint: str | Path | None = None,
            checkpoint_every: float = 60.0) -> MCOD:
        """Learn features and memory from X alone; `y` is ignored (unsupervised).

        ``checkpoint``: a folder where the training state is saved after a step, every
        ``checkpoint_every`` seconds (`mcod.nn.checkpoint`); a fit started again with the
        same data, settings and seed goes on from it and ends as an uninterrupted fit
        would. A fit argument, not a setting: it belongs to this fit's data, and a clone
        must not share it. The file stays after the fit (delete it, or
        `mcod.nn.checkpoint.remove_checkpoint`, once the results are safe).
        """
        self.check_settings()
        device = resolve_device(self.device)
        if checkpoint is not None:
            _check_checkpoint_args(checkpoint, checkpoint_every)
        before = dict(vars(self))
        for name in [k for k in before if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)  # a table's scaling must not outlive a refit on images
        try:
            return self._fit(X, device, checkpoint, checkpoint_every)
        except BaseException:  # refused data, a failed or interrupted training: keep the old fit
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def check_settings(self) -> None:
        """Refuse constructor settings a fit could not use (the device is resolved apart:
        a loaded model falls back to CPU), with a ValueError naming the setting; run by
        `fit`, and by `mcod.load` on the settings a model file holds."""
        if not is_thresholder(self.contamination):
            check_contamination(self.contamination)
        check_progress(self.verbose)
        for name, least in (("batch_size", 2), ("epochs", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not (
                    isinstance(value, numbers.Real) and math.isfinite(value)
                    and float(value).is_integer() and float(value) >= least)):
                raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
        seed = self.random_state
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed <= MAX_SEED):
            raise ValueError(f"random_state must be an integer seed in 0..2**32 - 1 or None, "
                             f"got {seed!r}")

    def _fit(self, X: np.ndarray, device: torch.device, checkpoint: str | Path | None,
             checkpoint_every: float) -> MCOD:
        """The fit itself; `fit` puts the previous state back if this raises. Under torchrun
        the processes share it (`mcod.nn.distributed`) and end with the same model."""
        group = join(device)
        if checkpoint is not None and group.size > 1:
            raise InputError("checkpoints are written by single-process fits only; run "
                             "without torchrun, or without --checkpoint")
        self.device_ = group.device  # a pretrained encoder runs there as the data is prepared
        data = self._prepare(X, fitting=True, group=group)
        # small data: at least ~8 steps per epoch, so the memory and queue get to work
        least = 2 * group.size  # two samples a process
        batch_size = self.batch_size or min(self.config_.batch_size, max(least, len(data) // 8))
        batch_size = min(int(batch_size), len(data))
        config = self._schedule(self.config_, steps_per_epoch=len(data) // batch_size)
        config = config.replace(batch_size=batch_size)  # config_ records what was used
        self.config_ = config
        queue_size = min(config.queue_size, max(batch_size, len(data) - batch_size))
        group.check_fit(config, self.random_state, data)
        self.input_shape_ = tuple(data.shape[1:])
        cuda = [self.device_.index or 0] if self.device_.type == "cuda" else []
        # a seed makes this fit repeatable without touching the caller's torch random state
        with torch.random.fork_rng(devices=cuda, enabled=self.random_state is not None):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            self.network_ = MCODEnsemble(config, self.input_shape_, queue_size).to(self.device_)
            data_on_device, n = data.to(self.device_), config.members
            store = None if checkpoint is None else FitCheckpoints(
                checkpoint, self.network_, fingerprint(config, data, self.random_state, device),
                len(data), batch_size, device, checkpoint_every,
                say=(lambda line: print(line, flush=True)) if show_progress(self.verbose) else None)
            histories = []
            for i, member in enumerate(self.network_.nets):
                history = None if store is None else store.trained(i)
                if history is None:
                    history = self._train(member, data_on_device, group,
                                          "mcod fit" if n == 1 else f"mcod fit {i + 1}/{n}",
                                          None if store is None else store.member(i))
                    if store is not None:
                        store.record(i, history)
                histories.append(history)
            self.history_ = mean_history(histories)
        if self.network_.reference is None:
            self.decision_scores_ = self._score(data.split(SCORE_BATCH))
        else:  # the memory picks the reference rows; the score is the distance to them
            memory = self._score(data.split(SCORE_BATCH), memory=True)
            self.decision_scores_ = self.network_.fit_reference(
                data, torch.from_numpy(memory), self.scale_std_.float()).double().numpy()
        if not np.isfinite(self.decision_scores_).all():
            raise ValueError("training diverged: the scores are not finite (is the learning "
                             "rate too large?)")
        self._process_decision_scores()
        self._set_n_classes(None)
        return self

    def _train(self, net: MCODNet, data: torch.Tensor, group: Group, desc: str,
               checkpoints: Checkpoints | None) -> list[dict[str, float]]:
        with group.training(net) as session:
            return train(net, data, self.config_.epochs, self.config_.batch_size,
                         verbose=show_progress(self.verbose) and group.main, desc=desc,
                         checkpoints=checkpoints, session=session)

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

    def _process_decision_scores(self) -> MCOD:
        """threshold_ and labels_ from the training scores (`mcod.cuts.cut`): PyOD's
        percentile for a share; for a thresholder, its cut as one threshold in score
        units, which `predict`, a saved model and `mcod score` then apply as they are."""
        self.threshold_, self.labels_ = cut(self.decision_scores_, self.contamination)
        self._mu = np.mean(self.decision_scores_)  # for predict_proba(method="unify")
        self._sigma = np.std(self.decision_scores_)
        return self

    def predict(self, X: np.ndarray, return_confidence: bool = False) -> Any:
        """1 where the score of X is above `threshold_`, else 0 (with a thresholder too:
        PyOD would ask the thresholder again, which a loaded model does not hold fitted)."""
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        prediction = (self.decision_function(X) > self.threshold_).astype(int)
        if return_confidence:
            return prediction, self.predict_confidence(X)
        return prediction

    def predict_confidence(self, X: np.ndarray) -> np.ndarray:
        """PyOD's; with a thresholder, as PyOD computes it for one (the share it flagged
        in training), at `threshold_`."""
        with self._as_share():
            return super().predict_confidence(X)

    def predict_with_rejection(self, X: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        """PyOD's; with a thresholder, at the share it flagged in training."""
        with self._as_share():
            return super().predict_with_rejection(X, *args, **kwargs)

    @contextmanager
    def _as_share(self) -> Iterator[None]:
        """For PyOD's code that reads `contamination` as a share: a thresholder stands in
        as the share of training samples it flagged while the block runs."""
        saved = self.contamination
        if is_thresholder(saved):
            self.contamination = float(np.mean(self.labels_))
        try:
            yield
        finally:
            self.contamination = saved

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Outlier scores of X (higher = more outlying), from the fitted model."""
        check_is_fitted(self, ["network_"])
        batches = (batch for chunk in self._chunks(X) for batch in chunk.split(SCORE_BATCH))
        scores = self._score(batches)
        bad = len(scores) - int(np.isfinite(scores).sum())
        if bad:  # inputs are clipped or scaled first, so only damaged weights get here
            raise ValueError(f"the model gave non-finite scores for {bad:,} of {len(scores):,} "
                             "samples: its weights are damaged; refit it")
        return scores

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
        parts = [self.network_.first.embed(batch.to(self.device_))
                 for chunk in self._chunks(X) for batch in chunk.split(SCORE_BATCH)]
        features = torch.cat([f for f, _ in parts]).cpu().numpy()
        attention = torch.cat([w for _, w in parts]).softmax(dim=1).cpu().numpy()
        return features, attention

    @property
    def memory_items_(self) -> np.ndarray:
        """The K memory items (K x d) as the last write left them (the first member's)."""
        check_is_fitted(self, ["network_"])
        return self.network_.first.memory.items.cpu().numpy()

    # ------------------------------------------------------------------ data

    def _prepare(self, X: np.ndarray, fitting: bool, group: Group = ALONE) -> torch.Tensor:
        """X as the float tensor the network takes, all of it at once (training draws
        batches from all of it); when fitting, also record the input kind, config and
        scaling (`fit` undoes them if it fails)."""
        raw, convert = self._validate(X, fitting, group)
        return convert(raw)

    def _chunks(self, X: np.ndarray) -> Iterator[torch.Tensor]:
        """X prepared as `_prepare` does, in whole SCORE_BATCH batches of about
        SCORE_CHUNK_BYTES: scoring N samples never holds all N as floats, and the network
        sees the batches (so gives the scores) it would see in one piece. The pages of a
        read-only memory-mapped X are let go once prepared."""
        raw, convert = self._validate(X, fitting=False)
        row_bytes = 8 * math.prod(self.input_shape_)
        step = SCORE_BATCH * max(1, SCORE_CHUNK_BYTES // (row_bytes * SCORE_BATCH))
        for start in range(0, len(raw), step):
            yield convert(raw[start:start + step])
            _release_pages(raw)

    def _validate(
        self, X: np.ndarray, fitting: bool, group: Group = ALONE
    ) -> tuple[np.ndarray, Callable[[np.ndarray], torch.Tensor]]:
        """X checked, as a float64 table (N, D) or images (N, C, H, W) not yet scaled, with
        the function that turns any run of its rows into network input; when fitting, the
        input kind, config and scaling are recorded first (a fit's ``group`` shares the
        encoding of images)."""
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
        if fitting:
            self.input_kind_, self.config_ = kind, config
            self.feature_names_in_ = names
        if kind == "table":
            return self._check_table(raw, fitting, config), self._table_tensor
        images = self._check_images(raw, fitting)
        if not config.encoder:
            return images, self._image_tensor
        if fitting:  # the head's scaling is fitted on the encoded rows of all the images
            rows, self.encoder_digest_ = self._encoded(images, group)
            return self._check_table(rows, True, config), self._table_tensor
        return images, self._encoded_tensor

    def _check_table(self, raw: np.ndarray, fitting: bool, config: MCODConfig) -> np.ndarray:
        """The table in float64; when fitting, its standardisation (scikit-learn's
        StandardScaler in float64, so that a column such as a timestamp keeps its
        variation; a constant column gets scale 1) and, for `table_yeo_johnson`, the
        Yeo-Johnson lambdas (`mcod.data.scaling`) of the standardised columns and the
        standardisation of their transform."""
        table = as_table(raw, min_samples=2 if fitting else 1)
        if not fitting:
            if table.shape[1] != self.n_features_in_:
                raise InputError(f"X has {table.shape[1]} features, the model was fitted on "
                                 f"{self.n_features_in_}")
            return table
        self.n_features_in_ = table.shape[1]
        mean, std = _standardisation(table)
        self.scale_mean_, self.scale_std_ = torch.from_numpy(mean), torch.from_numpy(std)
        if config.table_yeo_johnson:
            z = _standardised(table, self.scale_mean_, self.scale_std_)
            self.power_lambdas_ = torch.from_numpy(fit_lambdas(z))
            mean, std = _standardisation(yeo_johnson(z, self.power_lambdas_.double().numpy()))
            self.power_mean_, self.power_std_ = torch.from_numpy(mean), torch.from_numpy(std)
        return table

    def _table_tensor(self, table: np.ndarray) -> torch.Tensor:
        """Rows standardised (and through Yeo-Johnson, standardised again, for
        `table_yeo_johnson`) in float64, then float32."""
        z = _standardised(table, self.scale_mean_, self.scale_std_)
        if self.config_.table_yeo_johnson:
            out = yeo_johnson(z, self.power_lambdas_.double().numpy())
            z = _standardised(out, self.power_mean_, self.power_std_)
        return torch.from_numpy(z.astype(np.float32))

    def _check_images(self, raw: np.ndarray, fitting: bool) -> np.ndarray:
        """The images as (N, C, H, W), not yet scaled; when fitting, their intensity range,
        channels and size; else a warning when they differ from the training images in
        scale or size, and an error when in channels."""
        arr = image_array(raw, min_samples=2 if fitting else 1)
        if fitting:
            self.pixel_range_, self.n_channels_ = intensity_range(arr), arr.shape[1]
            self.image_size_in_ = (int(arr.shape[-2]), int(arr.shape[-1]))
            return arr
        warn_if_off_scale(_extremes(arr), self.pixel_range_)
        warn_if_other_size(arr, self.image_size_in_, self.config_.input_size)
        if arr.shape[1] != self.n_channels_:
            channels = "1 channel" if arr.shape[1] == 1 else f"{arr.shape[1]} channels"
            raise InputError(f"images have {channels}, the model was fitted on {self.n_channels_}")
        return arr

    def _image_tensor(self, arr: np.ndarray) -> torch.Tensor:
        """Images scaled to [0, 1] by the training images' intensity range and resized to
        the config's size, IMAGE_CHUNK_BYTES of float images at a time into the output (no
        float copy of all the full-size images: a folder of photos would need 4 bytes per
        pixel each)."""
        size = self.config_.image_size
        if arr.shape[-2:] == (size, size):  # nothing to resize: one scaled copy
            return torch.from_numpy(scale_01(arr, self.pixel_range_))
        images = torch.empty((len(arr), arr.shape[1], size, size))
        step = max(1, IMAGE_CHUNK_BYTES // (4 * math.prod(arr.shape[1:])))
        for start in range(0, len(arr), step):
            chunk = torch.from_numpy(scale_01(arr[start:start + step], self.pixel_range_))
            images[start:start + step] = F.interpolate(
                chunk, size=(size, size), mode="bilinear", antialias=True)
        return images

    def _encoded(self, arr: np.ndarray, group: Group = ALONE) -> tuple[np.ndarray, str]:
        """Images through the config's frozen encoder (`mcod.nn.pretrained`, with the feature
        cache): L2-normalised float64 rows, which the head takes as a table's, and the
        encoder's weight digest (recorded at fit; scoring leaves the fitted state alone).
        A fit's ``group`` encodes a share of the images in each process."""
        from mcod.nn.pretrained import encoded_rows, feature_cache_for

        return encoded_rows(arr, self.pixel_range_, self.config_, self.device_,
                            feature_cache_for(self.feature_cache),
                            show_progress(self.verbose) and group.main, group)

    def _encoded_tensor(self, arr: np.ndarray) -> torch.Tensor:
        return self._table_tensor(self._encoded(arr)[0])

    def _resolve_config(self, kind: str) -> MCODConfig:
        config = get_config(self.config)
        if kind == "table" and config.name == "default":
            if config != get_config("default"):
                raise InputError("this customised 'default' config is for images; for tables "
                                 "customise get_config('tabular')")
            return get_config("tabular")
        if kind == "table" and (config.encoder or config.backbone != "mlp"):
            raise InputError(f"config {config.name!r} is for images; tables (2-D input) use "
                             "'default' or 'tabular'")
        if kind == "image" and config.backbone == "mlp" and not config.encoder:
            raise InputError(f"config {config.name!r} is for tables; images need 'default' "
                             "or 'scratch'")
        return config

    def _score(self, batches: Iterable[torch.Tensor], memory: bool = False) -> np.ndarray:
        """The network's scores of each batch in turn, as one float64 array (``memory``:
        the members' memory score, also where the score is a whitened reference's)."""
        self.network_.eval()
        score = self.network_.memory_score if memory else self.network_.score
        scores = [score(batch.to(self.device_)).cpu() for batch in batches]
        return torch.cat(scores).double().numpy()

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the fitted detector to one file (tensors + plain values, no pickled code)."""
        from mcod.model_file import save_detector

        return save_detector(self, path)
