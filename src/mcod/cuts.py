"""Label-free cuts: a PyThresh thresholder (or any object with PyThresh's ``eval``) that
decides from the training scores alone how many samples are outliers, turned into the one
score threshold that mcod stores, prints and applies to new data.

PyOD takes such an object as ``contamination``; so does :class:`mcod.MCOD`. The command
line names a few PyThresh methods (:data:`METHODS`); ``auto`` is :data:`DEFAULT_METHOD`,
picked on development data (benchmarks/DEVELOPMENT.md, "Label-free cuts").
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import numpy as np

__all__ = ["AUTO", "DEFAULT_METHOD", "METHODS", "PYTHRESH_CLASSES", "cut", "describe_cut",
           "is_thresholder", "pythresh_class", "rebuild_thresholder", "saved_thresholder",
           "thresholder", "thresholder_cut"]

# Every thresholder PyThresh 1.1 ships, by class name: the ones a model file may name
# (a saved model rebuilds its thresholder from this list only, never from a module path
# the file gives).
PYTHRESH_CLASSES = (
    "AUCP", "BOOT", "CHAU", "CLF", "CLUST", "CPD", "DECOMP", "DSN", "EB", "FGD", "FILTER",
    "FWFM", "GAMGMM", "GESD", "HIST", "IQR", "KARCH", "MAD", "MCST", "META", "MIXMOD",
    "MOLL", "MTT", "OCSVM", "QMCD", "REGR", "VAE", "WIND", "YJ", "ZSCORE",
)
# The command line's short list (--threshold-method NAME): fast, deterministic methods
# that need no package beyond PyThresh's own, each with a one-line description.
METHODS: dict[str, str] = {
    "mixmod": "normal and non-normal mixture models fitted to the scores",
    "karch": "Karcher mean of the scores plus their spread",
    "clf": "a trained linear classifier's decision boundary on the scores",
    "mtt": "modified Thompson tau test",
    "iqr": "above the third quartile by 1.5 interquartile ranges",
    "zscore": "more than one standard deviation above the mean",
    "mad": "more than one median absolute deviation above the median",
    "fwfm": "full width at full minimum of the score density",
}
AUTO = "auto"
# the best mean F1 on the development tasks (benchmarks/cuts.py; DEVELOPMENT.md, "Label-free
# cuts"): 0.569 against 0.479 for the fixed share 0.1, over 33 tasks
DEFAULT_METHOD = "mixmod"


def is_thresholder(value: object) -> bool:
    """Whether ``value`` is a thresholder object (PyThresh's interface: ``eval(scores)``
    returns 0/1 labels) rather than a share."""
    return not isinstance(value, (int, float, str)) and callable(getattr(value, "eval", None))


def pythresh_class(name: str) -> Any:
    """The PyThresh class called ``name`` (one of PYTHRESH_CLASSES)."""
    module = importlib.import_module(f"pythresh.thresholds.{name.lower()}")
    return getattr(module, name)


def thresholder(name: str) -> Any:
    """A fresh PyThresh thresholder for a method of :data:`METHODS`, or ``auto`` (the
    default one); a ValueError listing them for any other name."""
    method = DEFAULT_METHOD if name == AUTO else name
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {name!r}; choose {AUTO} or one of "
                         f"{', '.join(METHODS)}")
    return pythresh_class(method.upper())()


def cut(scores: np.ndarray, contamination: Any) -> tuple[float, np.ndarray]:
    """(threshold, labels = scores > threshold) of a share (PyOD's: the percentile at
    1 - share, interpolated) or of a thresholder (:func:`thresholder_cut`)."""
    scores = np.asarray(scores, dtype=np.float64)
    if is_thresholder(contamination):
        return thresholder_cut(contamination, scores)
    threshold = float(np.percentile(scores, 100 * (1 - contamination)))
    return threshold, (scores > threshold).astype(int)


def thresholder_cut(cutter: Any, scores: np.ndarray) -> tuple[float, np.ndarray]:
    """(threshold, labels) with labels = scores > threshold, flagging as many samples as
    ``cutter`` labels outliers, the highest scores. PyThresh's methods flag the scores
    above a cut, so the labels are theirs; the threshold is the highest score left
    unflagged (below the lowest score when all are flagged), in the scores' own units
    (PyThresh's ``thresh_`` is on min-max normalised ones). ``cutter`` is left as given
    (a copy is fitted), so that a detector's settings do not change by fitting."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(copy.deepcopy(cutter).eval(scores))
    if labels.shape != scores.shape or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"the thresholder {type(cutter).__name__} gave no 0/1 label for each "
                         f"of the {len(scores)} scores")
    flagged = int(labels.sum())
    ordered = np.sort(scores)[::-1]
    if flagged == len(scores):
        threshold = float(np.nextafter(ordered[-1], -np.inf))
    else:
        threshold = float(ordered[flagged])
    return threshold, (scores > threshold).astype(int)


def describe_cut(contamination: object) -> str:
    """How the threshold was set, for messages: 'contamination 0.1' or 'threshold
    method KARCH'."""
    if is_thresholder(contamination):
        return f"threshold method {type(contamination).__name__}"
    return f"contamination {contamination:g}"


def saved_thresholder(cutter: Any) -> dict[str, Any]:
    """A thresholder as a model file keeps it: the PyThresh class name and its settings
    (plain values), never the object; a ValueError for another kind of object."""
    name = type(cutter).__name__
    if name not in PYTHRESH_CLASSES or type(cutter).__module__.split(".")[0] != "pythresh":
        raise ValueError(f"cannot save a detector whose contamination is a {name} object: "
                         "model files keep PyThresh thresholders only")
    return {"pythresh": name, "params": dict(cutter.get_params(deep=False))}


def rebuild_thresholder(saved: object) -> Any:
    """The thresholder :func:`saved_thresholder` recorded; a ValueError naming what is
    wrong otherwise (a class outside :data:`PYTHRESH_CLASSES`, settings that are not a
    dict or that the class does not take)."""
    if not (isinstance(saved, dict) and set(saved) == {"pythresh", "params"}
            and saved["pythresh"] in PYTHRESH_CLASSES and isinstance(saved["params"], dict)):
        raise ValueError("contamination must be a share or a PyThresh thresholder "
                         "{'pythresh': CLASS, 'params': {...}}")
    try:
        return pythresh_class(saved["pythresh"])(**saved["params"])
    except (TypeError, ImportError) as error:
        raise ValueError(f"contamination: PyThresh {saved['pythresh']}: {error}") from None
