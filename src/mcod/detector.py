"""The MCOD detector with PyOD's API: fit on unlabeled data, score, threshold, predict."""

from __future__ import annotations

import functools
import math
import numbers
import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyod.models.base import BaseDetector
from sklearn.utils.validation import check_is_fitted

from mcod.config import MAX_SEED, NOVELTY_TRIM, MCODConfig, get_config
from mcod.cuts import cut, is_thresholder
from mcod.data.inputs import (  # check_contamination: re-exported, mcod's API names it here
    InputError,
    as_array,
    check_contamination,
    frame_to_table,
    is_frame,
    warn_if_names_differ,
)
from mcod.data.preprocessing import (
    MAX_CHANNELS,
    POWER_FIELDS,
    STATE_FIELDS,
    Encode,
    EncodedPreprocessor,
    Preprocessor,
    TablePreprocessor,
    preprocessor_for,
    preprocessor_from_state,
    release_pages,
)
from mcod.io.archive import check_tensor, is_int, is_number, need
from mcod.io.progress import check_progress, show_progress
from mcod.nn.checkpoint import FitCheckpoints, fingerprint
from mcod.nn.distributed import ALONE, Group, join
from mcod.nn.ensemble import MCODEnsemble, mean_history
from mcod.nn.local_terms import rows_kept
from mcod.nn.training import train

SCORE_BATCH = 1024
# Scoring prepares this many bytes of network input at a time (counted as float64, the
# tables' working precision), in whole SCORE_BATCH batches: the batches the network sees,
# and so the scores, are those of preparing everything at once.
SCORE_CHUNK_BYTES = 16 * 2**20
MAX_SAMPLES = 20_000_000  # training scores a saved model may hold
# The fitted state's fields (`MCOD._state`), those of the preprocessor included; files of
# older mcods lack some (before Yeo-Johnson, names, sizes and encoders): they read as None.
_STATE_FIELDS = ("config", "input_kind", "input_shape", "feature_names", *STATE_FIELDS,
                 "queue_size", "state_dict", "decision_scores", "threshold", "labels", "history")
_ADDED_LATER = ("feature_names", "image_size_in", "encoder_digest", *POWER_FIELDS)


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


def _check_checkpoint_args(folder: str | Path, every: float) -> None:
    """A checkpoint folder that is not a file, and a cadence in seconds (0: every step)."""
    if isinstance(every, bool) or not isinstance(every, (int, float)) or not (
            math.isfinite(every) and every >= 0):
        raise ValueError(f"checkpoint_every must be a number of seconds >= 0, got {every!r}")
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"checkpoint {folder} is a file; give a folder")


class _Fitted:
    """A fitted attribute of the detector's preprocessor (``scale_mean_``, ``pixel_range_``,
    ...), read through the detector; absent, as scikit-learn has it, where the preprocessor
    of this fit lacks it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, detector: object, owner: type | None = None) -> Any:
        if detector is None:
            return self
        try:
            return getattr(vars(detector)["preprocessor_"], self.name)
        except (KeyError, AttributeError):
            raise AttributeError(f"{type(detector).__name__!r} object has no attribute "
                                 f"{self.name!r}") from None


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
    novelty : True when the training data hold no outliers and new data are scored with
        `decision_function` (novelty detection, as scikit-learn's LocalOutlierFactor
        names it). The score's whitened reference then takes all but 1% of the training
        rows (`mcod.config.NOVELTY_TRIM`) instead of the share the memory trusts (70% in
        "default"), so the normal data's rarer looks are not scored as outliers, and the
        score adds the distance to the nearest training row and LOF, clean rows being
        neighbours to trust (`mcod.nn.local_terms`; the model keeps up to 10,000 training
        rows for them). Only for configs that score by such a reference ("default" on
        images).

    Attributes (after fit)
    ----------------------
    decision_scores_, threshold_, labels_ : as in PyOD (higher score = more outlying).
    history_ : per-epoch mean of each loss term.
    """

    contamination: Any  # a share or a thresholder object: PyOD leaves it untyped

    # Fitted state (absent until fit, as scikit-learn's trailing underscore says), declared
    # for the type checker: fit and mcod.load set it, all at once.
    config_: MCODConfig
    input_kind_: str  # "table" or "image"
    feature_names_in_: list[str] | None  # a DataFrame's text column names
    preprocessor_: Preprocessor  # input -> network input (`mcod.data.preprocessing`)
    # the preprocessor's fit, read through the detector
    n_features_in_ = _Fitted()  # columns of a table, or of images' encoded rows
    scale_mean_ = _Fitted()
    scale_std_ = _Fitted()
    power_lambdas_ = _Fitted()  # with table_yeo_johnson
    power_mean_ = _Fitted()
    power_std_ = _Fitted()
    pixel_range_ = _Fitted()  # images: (low, high) of the training images
    n_channels_ = _Fitted()
    image_size_in_ = _Fitted()  # (height, width) of images given as they are
    encoder_digest_ = _Fitted()  # images through a pretrained encoder

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
        novelty: bool = False,
    ) -> None:
        super().__init__(contamination=contamination)
        self.config = config
        self.epochs = epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.feature_cache = feature_cache
        self.novelty = novelty

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

        The preprocessor and the network are built apart and the fitted attributes set
        only once all succeeded: refused data, a failed or interrupted training leave a
        previous fit as it was.
        """
        self.check_settings()
        device = resolve_device(self.device)
        if checkpoint is not None:
            _check_checkpoint_args(checkpoint, checkpoint_every)
        group = join(device)  # under torchrun the processes share the fit (mcod.nn.distributed)
        if checkpoint is not None and group.size > 1:
            raise InputError("checkpoints are written by single-process fits only; run "
                             "without torchrun, or without --checkpoint")
        _, names, raw = _input(X, None, fitting=True)
        kind = "table" if raw.ndim == 2 else "image"
        config = self._resolve_config(kind)
        preprocessor = preprocessor_for(kind, config)
        if isinstance(preprocessor, EncodedPreprocessor):  # a pretrained encoder runs on
            # group.device, each process encoding a share of the images
            data = preprocessor.fit_transform(raw, self._encoder(config, group.device, group))
        else:
            data = preprocessor.fit_transform(raw)
        # small data: at least ~8 steps per epoch, so the memory and queue get to work
        least = 2 * group.size  # two samples a process
        batch_size = self.batch_size or min(config.batch_size, max(least, len(data) // 8))
        batch_size = min(int(batch_size), len(data))
        config = self._schedule(config, steps_per_epoch=len(data) // batch_size)
        config = config.replace(batch_size=batch_size)  # config_ records what was used
        queue_size = min(config.queue_size, max(batch_size, len(data) - batch_size))
        group.check_fit(config, self.random_state, data)
        network, history = self._trained(config, data, queue_size, group, device, checkpoint,
                                         checkpoint_every)
        scores = _training_scores(network, data, group.device, preprocessor)
        threshold, labels = cut(scores, self.contamination)
        # all went well: this fit replaces the previous one, all at once
        self.config_, self.input_kind_, self.feature_names_in_ = config, kind, names
        self.preprocessor_, self.input_shape_ = preprocessor, tuple(data.shape[1:])
        self.device_, self.network_, self.history_ = group.device, network, history
        self._set_scores(scores, threshold, labels)
        return self

    def check_settings(self) -> None:
        """Refuse constructor settings a fit could not use (the device is resolved apart:
        a loaded model falls back to CPU), with a ValueError naming the setting; run by
        `fit`, and by `mcod.load` on the settings a model file holds."""
        if not is_thresholder(self.contamination):
            check_contamination(self.contamination)
        check_progress(self.verbose)
        if not isinstance(self.novelty, bool):
            raise ValueError(f"novelty must be True or False, got {self.novelty!r}")
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

    def _trained(self, config: MCODConfig, data: torch.Tensor, queue_size: int, group: Group,
                 device: torch.device, checkpoint: str | Path | None,
                 checkpoint_every: float) -> tuple[MCODEnsemble, list[dict[str, float]]]:
        """A new network trained on ``data`` on ``group.device``, and its mean history; with
        ``checkpoint``, going on from the training state saved there."""
        target = group.device
        cuda = [target.index or 0] if target.type == "cuda" else []
        # a seed makes this fit repeatable without touching the caller's torch random state
        with torch.random.fork_rng(devices=cuda, enabled=self.random_state is not None):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            kept = rows_kept(len(data)) if config.local_terms else 0
            network = MCODEnsemble(config, tuple(data.shape[1:]), queue_size, kept).to(target)
            # (image_float64's rows are float64, for scoring: the networks train in float32)
            data_on_device, n = data.to(target, torch.float32), config.members
            progress = show_progress(self.verbose)
            store = None if checkpoint is None else FitCheckpoints(
                checkpoint, network, fingerprint(config, data, self.random_state, device),
                len(data), config.batch_size, device, checkpoint_every,
                say=(lambda line: print(line, flush=True)) if progress else None)
            histories = []
            for i, member in enumerate(network.nets):
                history = None if store is None else store.trained(i)
                if history is None:
                    with group.training(member) as session:
                        history = train(member, data_on_device, config.epochs, config.batch_size,
                                        verbose=progress and group.main,
                                        desc="mcod fit" if n == 1 else f"mcod fit {i + 1}/{n}",
                                        checkpoints=None if store is None else store.member(i),
                                        session=session)
                    if store is not None:
                        store.record(i, history)
                histories.append(history)
            return network, mean_history(histories)

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

    def _set_scores(self, scores: np.ndarray, threshold: float, labels: np.ndarray) -> None:
        """The training scores, with the threshold and labels `mcod.cuts.cut` gave (PyOD's
        percentile for a share; for a thresholder, its cut as one threshold in score
        units, which `predict`, a saved model and `mcod score` then apply as they are),
        and what PyOD's fit sets besides, for predict_proba(method="unify") and friends."""
        self.decision_scores_, self.threshold_, self.labels_ = scores, threshold, labels
        self._mu = np.mean(scores)
        self._sigma = np.std(scores)
        self._set_n_classes(None)

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
        scores = _scores(self.network_, self.device_, batches)
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
        parts = [self.network_.first.embed(batch.to(self.device_, torch.float32))
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

    def _chunks(self, X: np.ndarray) -> Iterator[torch.Tensor]:
        """X as the network takes it, in whole SCORE_BATCH batches of about
        SCORE_CHUNK_BYTES: scoring N samples never holds all N as floats, and the network
        sees the batches (so gives the scores) it would see in one piece. The pages of a
        read-only memory-mapped X are let go once prepared."""
        raw = self._checked(X)
        preprocessor = self.preprocessor_
        convert: Callable[[np.ndarray], torch.Tensor]
        if isinstance(preprocessor, EncodedPreprocessor):  # scoring encodes in this process
            convert = functools.partial(preprocessor.transform,
                                        encode=self._encoder(self.config_, self.device_))
        else:
            convert = preprocessor.transform
        row_bytes = 8 * math.prod(self.input_shape_)
        step = SCORE_BATCH * max(1, SCORE_CHUNK_BYTES // (row_bytes * SCORE_BATCH))
        for start in range(0, len(raw), step):
            yield convert(raw[start:start + step])
            release_pages(raw)

    def _checked(self, X: np.ndarray) -> np.ndarray:
        """New data checked against the fit, as one array: a float64 table (N, D), or
        images (N, C, H, W) not yet scaled."""
        named, _, raw = _input(X, self.feature_names_in_, fitting=False)
        kind = "table" if raw.ndim == 2 else "image"
        if kind != self.input_kind_:
            raise InputError(f"the model was fitted on {self.input_kind_}s, but X is a "
                             f"{raw.ndim}-D array of shape {raw.shape} ({kind}s)")
        if kind == "table":
            warn_if_names_differ(named, self.feature_names_in_ is not None)
        return self.preprocessor_.check(raw)

    def _encoder(self, config: MCODConfig, device: torch.device, group: Group = ALONE) -> Encode:
        """Images through the config's frozen encoder (`mcod.nn.pretrained`, with the feature
        cache): L2-normalised float64 rows, which the head takes as a table's, and the
        encoder's weight digest. A fit's ``group`` encodes a share of the images in each
        process."""
        from mcod.nn.pretrained import encoded_rows, feature_cache_for

        cache = feature_cache_for(self.feature_cache)  # one for every chunk scoring encodes

        def encode(images: np.ndarray, pixel_range: tuple[float, float]) -> tuple[np.ndarray, str]:
            return encoded_rows(images, pixel_range, config, device, cache,
                                show_progress(self.verbose) and group.main, group)
        return encode

    def _resolve_config(self, kind: str) -> MCODConfig:
        """The config a fit on ``kind`` ("table" or "image") data uses: the named or given
        one, "default" on tables being "tabular", with `novelty`'s reference."""
        config = get_config(self.config)
        if kind == "table" and config.image_float64:
            raise InputError("image_float64 (--float64) is for images; tables score in "
                             "float64 already")
        if kind == "table" and config.name == "default":
            if config != get_config("default"):
                raise InputError("this customised 'default' config is for images; for tables "
                                 "customise get_config('tabular')")
            config = get_config("tabular")
        elif kind == "table" and (config.encoder or config.backbone != "mlp"):
            raise InputError(f"config {config.name!r} is for images; tables (2-D input) use "
                             "'default' or 'tabular'")
        if kind == "image" and config.backbone == "mlp" and not config.encoder:
            raise InputError(f"config {config.name!r} is for tables; images need 'default', "
                             "'scratch' or 'release'")
        if config.local_terms and not self.novelty:
            raise InputError("this config's local_terms trust every training row as a "
                             "neighbour: they are for clean data, fitted with novelty=True "
                             "(--novelty)")
        if self.novelty:
            if not config.reference_trim:
                raise InputError(f"novelty (novelty=True, --novelty) works only with the "
                                 f"'default' config on images: config {config.name!r} (on "
                                 f"{kind}s) has no whitened reference for it to change; "
                                 "leave it out")
            # all but NOVELTY_TRIM of the rows, or more where the config already keeps more;
            # clean rows are neighbours to trust (mcod.nn.local_terms)
            config = config.replace(reference_trim=min(config.reference_trim, NOVELTY_TRIM),
                                    local_terms=True)
        return config

    # ------------------------------------------------------------------ state

    def _state(self) -> dict[str, Any]:
        """The fit as tensors (copies, on the CPU) and plain values: what a model file holds
        besides the settings (`mcod.model_file`). `_load_state` reads it back."""
        if not hasattr(self, "network_"):
            raise ValueError("cannot save an unfitted MCOD detector; call fit(X) first")
        names = self.feature_names_in_
        return {
            "config": self.config_.to_dict(),
            "input_kind": self.input_kind_,
            "input_shape": [int(n) for n in self.input_shape_],
            "feature_names": None if names is None else list(names),
            **dict.fromkeys(STATE_FIELDS), **self.preprocessor_.state(),
            "queue_size": int(self.network_.first.queue.size),
            "state_dict": {k: v.detach().cpu().clone()
                           for k, v in self.network_.state_dict().items()},
            "decision_scores": torch.as_tensor(np.asarray(self.decision_scores_, np.float64)),
            "threshold": float(self.threshold_),
            "labels": torch.as_tensor(np.asarray(self.labels_, np.int64)),
            "history": list(self.history_),
        }

    def _load_state(self, state: Mapping[str, Any], config: MCODConfig,
                    device: torch.device) -> None:
        """Set the fit a `_state` holds, on ``device``, after every field is checked against
        ``config`` (the state's, as the caller read it: a model file's, renamed as its
        version asks). A field found wrong raises a ValueError naming it; then nothing of
        the fit is set."""
        missing = sorted(set(_STATE_FIELDS) - set(_ADDED_LATER) - set(state))
        if missing:
            raise ValueError(f"it lacks {', '.join(missing)}")
        unknown = sorted(map(str, set(state) - set(_STATE_FIELDS)))
        if unknown:
            raise ValueError(f"unknown field(s) {reprlib.repr(unknown)}")
        kind, shape = _input_shape(state, config)
        preprocessor = preprocessor_from_state(state, kind, config, shape)
        names = state.get("feature_names")
        if kind == "table":
            need(names is None or isinstance(names, list) and len(names) == shape[0]
                 and all(isinstance(c, str) for c in names), "feature_names",
                 f"None or a list of {shape[0]} column names", names)
        else:
            need(names is None, "feature_names", "None in an image model", names)
        scores, threshold, labels = _saved_scores(state)
        network = _saved_network(state, config, shape, len(scores))
        if network.local is not None:
            _check_local(network, preprocessor)
        history = _saved_history(state, config)
        self.config_, self.input_kind_, self.feature_names_in_ = config, kind, names
        self.preprocessor_, self.input_shape_ = preprocessor, shape
        self.device_, self.network_, self.history_ = device, network.to(device).eval(), history
        self._set_scores(scores, threshold, labels)

    def save(self, path: str | Path) -> Path:
        """Write the fitted detector to one file (tensors + plain values, no pickled code)."""
        from mcod.model_file import save_detector

        return save_detector(self, path)


def _input(X: Any, fitted_names: list[str] | None,
           fitting: bool) -> tuple[bool, list[str] | None, np.ndarray]:
    """(whether X names its columns, the names to record when fitting, X as an array): a
    DataFrame with text column names (as in scikit-learn, only those count as names) is
    read by name when fitting or where the fit recorded names, others by position."""
    named = is_frame(X) and all(isinstance(c, str) for c in X.columns)
    names = None
    if named and (fitting or fitted_names is not None):
        names, raw = frame_to_table(X, None if fitting else fitted_names)
    elif is_frame(X):  # its columns go by position
        _, raw = frame_to_table(X.set_axis(range(X.shape[1]), axis=1))
    else:
        raw = as_array(X)
    return named, names, raw


def _scores(network: MCODEnsemble, device: torch.device, batches: Iterable[torch.Tensor],
            memory: bool = False) -> np.ndarray:
    """The network's scores of each batch in turn, as one float64 array (``memory``: the
    members' memory score, also where the score is a whitened reference's)."""
    network.eval()
    score = network.memory_score if memory else network.score
    scores = [score(batch.to(device)).cpu() for batch in batches]
    return torch.cat(scores).double().numpy()


def _training_scores(network: MCODEnsemble, data: torch.Tensor, device: torch.device,
                     preprocessor: Preprocessor) -> np.ndarray:
    """The scores of the training data, finite; where the config scores by distance to a
    reference, the memory picks the reference rows first."""
    if network.reference is None:
        scores = _scores(network, device, data.split(SCORE_BATCH))
    else:
        memory = _scores(network, device, data.split(SCORE_BATCH), memory=True)
        rows = preprocessor.rows if isinstance(preprocessor, EncodedPreprocessor) else preprocessor
        assert isinstance(rows, TablePreprocessor)  # a reference is one of rows
        scores = network.fit_reference(data, torch.from_numpy(memory),
                                       rows.scale_std_.float()).double().numpy()
    if not np.isfinite(scores).all():
        raise ValueError("training diverged: the scores are not finite (is the learning "
                         "rate too large?)")
    return scores


def _input_shape(state: Mapping[str, Any], config: MCODConfig) -> tuple[str, tuple[int, ...]]:
    """The input kind and the network's input shape a state holds, as the config has them."""
    kind = state["input_kind"]
    need(kind in ("image", "table"), "input_kind", "'image' or 'table'", kind)
    rows = kind == "table" or bool(config.encoder)  # what the mlp head takes
    need(rows == (config.backbone == "mlp"), "input_kind",
         f"what the {config.backbone} backbone takes", kind)
    need(kind == "image" or not config.encoder, "input_kind", "'image' with an encoder", kind)
    shape = state["input_shape"]
    need(isinstance(shape, list) and all(is_int(n) and n > 0 for n in shape), "input_shape",
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


def _saved_network(state: Mapping[str, Any], config: MCODConfig,
                   shape: tuple[int, ...], n_scores: int) -> MCODEnsemble:
    """The ensemble, after each saved tensor is checked against one built without memory
    (on torch's meta device) from the config: names, dtypes and shapes."""
    queue = state["queue_size"]
    need(is_int(queue) and 1 <= queue <= config.queue_size, "queue_size",
         f"an integer in 1..{config.queue_size} (the config's queue_size)", queue)
    saved = state["state_dict"]
    need(isinstance(saved, dict), "state_dict", "a dict of tensors", saved)
    kept = rows_kept(n_scores) if config.local_terms else 0  # as the fit kept
    with torch.device("meta"):
        expected = MCODEnsemble(config, shape, queue, kept).state_dict()
    need(saved.keys() == expected.keys(), "state_dict", "the tensors the config makes "
         f"({len(expected)})", sorted(map(str, set(saved) ^ set(expected))))
    for name, like in expected.items():
        check_tensor(saved[name], f"state_dict[{name!r}]", like.dtype, tuple(like.shape))
    network = MCODEnsemble(config, shape, queue, kept)
    network.load_state_dict(saved, strict=True)
    return network


def _check_local(network: MCODEnsemble, preprocessor: Preprocessor) -> None:
    """The local terms' values as a fit leaves them: the units the rows were compared in
    (`MCODEnsemble.local_scale`), positive densities and spreads."""
    assert network.local is not None
    rows = preprocessor.rows if isinstance(preprocessor, EncodedPreprocessor) else preprocessor
    assert isinstance(rows, TablePreprocessor)  # local terms come with a reference
    scale = network.local_scale(rows.scale_std_.float())
    need(torch.equal(network.local.scale, scale), "state_dict['local.scale']",
         "the scale the fit compared rows in", network.local.scale)
    network.local.check()


def _saved_scores(state: Mapping[str, Any]) -> tuple[np.ndarray, float, np.ndarray]:
    """Training scores, threshold and labels: finite, and labels as PyOD sets them."""
    scores = state["decision_scores"]
    n = len(scores) if isinstance(scores, torch.Tensor) and scores.dim() == 1 else 0
    need(2 <= n <= MAX_SAMPLES, "decision_scores",
         f"a 1-D tensor of 2 to {MAX_SAMPLES} training scores", scores)
    check_tensor(scores, "decision_scores", torch.float64, (n,))
    check_tensor(state["labels"], "labels", torch.int64, (n,))
    threshold = state["threshold"]
    need(is_number(threshold), "threshold", "a finite number", threshold)
    scores = scores.numpy().astype(np.float64)
    labels = state["labels"].numpy().astype(int)
    need(np.array_equal(labels, scores > threshold), "labels",
         "1 where decision_scores > threshold, else 0", "other values")
    return scores, float(threshold), labels


def _saved_history(state: Mapping[str, Any], config: MCODConfig) -> list[dict[str, float]]:
    history = state["history"]
    need(isinstance(history, list) and len(history) <= config.epochs and all(
        isinstance(epoch, dict) and all(isinstance(k, str) and isinstance(v, (int, float))
                                        for k, v in epoch.items()) for epoch in history),
         "history", f"a list of at most {config.epochs} dicts of loss terms", history)
    return history
