"""Registry of benchmarked detectors, each with settings fixed in advance.

Nothing here is tuned on test labels: every setting is either the library default, the value
named in docs/method.md, or a round number chosen before any result was seen. A factory takes
``(seed, quick)`` and returns a fresh, unfitted detector with PyOD's interface (``fit(X)``,
``decision_scores_``, ``decision_function(X)``; higher = more outlying).

Inputs: ``image`` detectors (mcod) get the uint8 image array (N, H, W[, C]); ``flat`` detectors
(the raw-pixel baselines) get ``X.reshape(N, -1) / 255`` as float32. Tables (N, D) (the ``odds``
protocol) go to ``table`` detectors (mcod-tabular) and to the baselines marked ``tables``, as
features standardised with a StandardScaler fitted on the same unlabeled rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# --------------------------------------------------------------------------- fixed settings

MCOD_QUICK_EPOCHS = 1  # mcod epochs under --quick: a smoke test of the pipeline, not accuracy
NN_EPOCHS = 20  # PyOD AutoEncoder / DeepSVDD epochs
NN_QUICK_EPOCHS = 1
CONTAMINATION = 0.1  # only sets PyOD thresholds; AUROC/AP use the raw scores

# Ablations: name -> MCODConfig field changes, of the config named by "base" ("scratch"
# where none is named). A bench config file may override or add to them ([ablations]
# table); an unknown field fails at once.
ABLATIONS: dict[str, dict[str, Any]] = {
    # what the head adds to the frozen encoder's features (the default)
    "memory-score": {"base": "default", "reference_trim": 0.0},  # no whitened reference
    "no-shrink": {"base": "default", "reference_shrink": 0.0},
    "one-member": {"base": "default", "members": 1},
    "memory-10": {"base": "default", "n_memory": 10},
    # what each part of the from-scratch training adds
    "no-read": {"read_weight": 0.0},
    "no-cluster": {"cluster_weight": 0.0},
    "no-instance": {"instance_weight": 0.0},
    "no-erase": {"erase": False},
    "no-trim": {"read_trim": 0.0},
    "jitter-0.3": {"color_jitter": 0.3},
    "no-consolidate": {"consolidate": False},
    "no-consolidate-trim": {"consolidate_trim": 0.0},
    "score-read": {"score": "read"},  # the method's read score instead of the nearest item
    "no-swa": {"average_weights_from": None},
    "rotation": {"rotation_weight": 1.0},
    "rotation-scored": {"rotation_weight": 1.0, "score_rotations": True},
}


@dataclass(frozen=True)
class DetectorSpec:
    """How to build one detector and what input it takes."""

    name: str
    family: Literal["mcod", "ablation", "baseline"]
    input: Literal["image", "flat", "table"]  # table: (N, D) tables only
    build: Callable[[int, bool], Any]
    epochs: Callable[[bool], int | None]  # training epochs (None: not an epoch-based model)
    tables: bool = False  # also takes (N, D) tables (standardised features)
    features: bool = False  # reads pretrained encoder features: encoded once per dataset
    novelty: bool = False  # told its fit data hold no outliers: the oneclass protocol only


# --------------------------------------------------------------------------- PCA baseline


class PCAReconstruction:
    """Squared PCA reconstruction error with the components explaining ``variance`` of the
    (centred, unscaled) data.

    Written here rather than using ``pyod.models.pca.PCA``: PyOD's score is a sum of distances
    to the selected eigenvectors divided by their explained-variance ratios (not a
    reconstruction error), and with ``standardization``/near-zero-variance components that
    division can blow up. Constant pixels simply contribute nothing here.
    """

    def __init__(self, variance: float = 0.9, contamination: float = CONTAMINATION) -> None:
        self.variance = variance
        self.contamination = contamination

    def fit(self, X: np.ndarray, y: object = None) -> PCAReconstruction:
        from sklearn.decomposition import PCA

        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        if float(X.var(axis=0).sum()) == 0.0:  # all samples identical: nothing to explain
            self.pca_ = None
        else:
            self.pca_ = PCA(n_components=self.variance, svd_solver="full").fit(X)
        self.decision_scores_ = self.decision_function(X)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.pca_ is None:
            return np.sum((X - self.mean_) ** 2, axis=1)
        recon = self.pca_.inverse_transform(self.pca_.transform(X))
        return np.sum((X - recon) ** 2, axis=1)


# --------------------------------------------------------------------------- factories


def _mcod(config: Any, novelty: bool = False) -> Callable[[int, bool], Any]:
    def build(seed: int, quick: bool) -> Any:
        from mcod.detector import MCOD

        return MCOD(
            contamination=CONTAMINATION,
            config=config,
            epochs=MCOD_QUICK_EPOCHS if quick else None,
            random_state=seed,
            verbose=False,  # the runner prints its own progress
            novelty=novelty,
        )

    return build


def _mcod_epochs(config: Any) -> Callable[[bool], int | None]:
    def epochs(quick: bool) -> int | None:
        from mcod.config import get_config

        return MCOD_QUICK_EPOCHS if quick else get_config(config).epochs

    return epochs


def ablation_base(changes: Mapping[str, Any]) -> str:
    """The config an ablation changes."""
    return str(changes.get("base", "scratch"))


def ablation_config(name: str, changes: Mapping[str, Any]) -> Any:
    from mcod.config import get_config

    fields = {k: v for k, v in changes.items() if k != "base"}
    try:
        base = ablation_base(changes)
        return get_config(base).replace(name=f"{base}-{name}", **fields)
    except (TypeError, ValueError) as error:  # a misspelt field or base in [ablations]
        raise ValueError(f"ablation {name!r}: {error}") from None


def _iforest(seed: int, quick: bool) -> Any:
    from pyod.models.iforest import IForest

    return IForest(n_estimators=100, random_state=seed, contamination=CONTAMINATION)


def _knn(seed: int, quick: bool) -> Any:
    from pyod.models.knn import KNN

    return KNN(n_neighbors=10, method="mean", contamination=CONTAMINATION)


def _lof(seed: int, quick: bool) -> Any:
    from pyod.models.lof import LOF

    return LOF(n_neighbors=20, contamination=CONTAMINATION)


def _ocsvm(seed: int, quick: bool) -> Any:
    from pyod.models.ocsvm import OCSVM

    # PyOD's default gamma is 'auto' (1/d); sklearn's 'scale' (1/(d·var X)) suits [0,1] pixels.
    return OCSVM(kernel="rbf", gamma="scale", contamination=CONTAMINATION)


def _ecod(seed: int, quick: bool) -> Any:
    from pyod.models.ecod import ECOD

    return ECOD(contamination=CONTAMINATION)


def _copod(seed: int, quick: bool) -> Any:
    from pyod.models.copod import COPOD

    return COPOD(contamination=CONTAMINATION)


def _hbos(seed: int, quick: bool) -> Any:
    from pyod.models.hbos import HBOS

    return HBOS(n_bins=10, contamination=CONTAMINATION)


def _pca(seed: int, quick: bool) -> Any:
    return PCAReconstruction(variance=0.9)


def _nn_epochs(quick: bool) -> int:
    return NN_QUICK_EPOCHS if quick else NN_EPOCHS


def _autoencoder(seed: int, quick: bool) -> Any:
    from pyod.models.auto_encoder import AutoEncoder

    return AutoEncoder(
        contamination=CONTAMINATION,
        epoch_num=_nn_epochs(quick),
        random_state=seed,
        verbose=0,
    )


class _DeepSVDD:
    """PyOD's DeepSVDD needs ``n_features`` at construction; build it at fit time."""

    def __init__(self, seed: int, epochs: int) -> None:
        self.seed, self.epochs = seed, epochs

    def fit(self, X: np.ndarray, y: object = None) -> _DeepSVDD:
        from pyod.models.deep_svdd import DeepSVDD

        self.model_ = DeepSVDD(
            n_features=X.shape[1],
            epochs=self.epochs,
            random_state=self.seed,
            verbose=0,
            contamination=CONTAMINATION,
        )
        self.model_.fit(X)
        self.decision_scores_ = self.model_.decision_scores_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model_.decision_function(X)


def _deepsvdd(seed: int, quick: bool) -> Any:
    return _DeepSVDD(seed, _nn_epochs(quick))


def _none(quick: bool) -> None:
    return None


# mcod's named image configs, in the order the results show them.
MCOD_DETECTORS: tuple[str, ...] = (
    "mcod-default", "mcod-novelty", "mcod-scratch", "mcod-release")

# Cheap first: the order runs are executed in when a group name is used.
BASELINES: tuple[str, ...] = (
    "ecod", "pca", "iforest", "knn", "lof", "ocsvm", "autoencoder", "deepsvdd"
)

# Tables (the ODDS protocol): every image baseline plus COPOD and HBOS, cheap first.
TABLE_BASELINES: tuple[str, ...] = (
    "ecod", "copod", "hbos", "pca", "iforest", "knn", "lof", "ocsvm", "autoencoder", "deepsvdd"
)

# name -> (factory, epochs); every baseline takes flattened pixels and standardised tables.
_BASELINE_FACTORIES: dict[str, tuple[Callable[[int, bool], Any], Callable[[bool], Any]]] = {
    "ecod": (_ecod, _none),
    "copod": (_copod, _none),
    "hbos": (_hbos, _none),
    "pca": (_pca, _none),
    "iforest": (_iforest, _none),
    "knn": (_knn, _none),
    "lof": (_lof, _none),
    "ocsvm": (_ocsvm, _none),
    "autoencoder": (_autoencoder, _nn_epochs),
    "deepsvdd": (_deepsvdd, _nn_epochs),
}
_BASELINE_SPECS: dict[str, DetectorSpec] = {
    name: DetectorSpec(name, "baseline", "flat", build, epochs, tables=True)
    for name, (build, epochs) in _BASELINE_FACTORIES.items()
}


# Baselines on the default config's frozen features, raw-pixel settings kept.
ON_FEATURES: tuple[str, ...] = ("knn", "lof", "iforest", "ocsvm")


def _on_features(name: str) -> Callable[[int, bool], Any]:
    def build(seed: int, quick: bool) -> Any:
        from mcod.bench.on_features import OnPretrainedFeatures, PretrainedKNN

        if name == "knn":  # cosine, k = 50: issue #18's figure, fixed before these runs
            return PretrainedKNN()
        return OnPretrainedFeatures(_BASELINE_FACTORIES[name][0](seed, quick))

    return build


def _mcod_spec(name: str, config: str, input: Literal["image", "table"],
               novelty: bool = False) -> DetectorSpec:
    from mcod.config import get_config

    return DetectorSpec(name, "mcod", input, _mcod(config, novelty), _mcod_epochs(config),
                        features=bool(get_config(config).encoder), novelty=novelty)


def registry(
    ablations: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, DetectorSpec]:
    """All detectors by name. ``ablations`` overrides/extends ``ABLATIONS``."""
    specs: dict[str, DetectorSpec] = {
        "mcod-default": _mcod_spec("mcod-default", "default", "image"),
        # the default told that the training class is clean, as the oneclass protocol's is
        "mcod-novelty": _mcod_spec("mcod-novelty", "default", "image", novelty=True),
        "mcod-scratch": _mcod_spec("mcod-scratch", "scratch", "image"),
        "mcod-release": _mcod_spec("mcod-release", "release", "image"),
        "mcod-tabular": _mcod_spec("mcod-tabular", "tabular", "table"),
    }
    merged = {**ABLATIONS, **(ablations or {})}
    for ab, changes in merged.items():
        name = f"mcod-{ab}"

        def build(seed: int, quick: bool, _ab: str = ab, _ch: Any = changes) -> Any:
            return _mcod(ablation_config(_ab, _ch))(seed, quick)

        base = ablation_base(changes)
        specs[name] = DetectorSpec(name, "ablation", "image", build, _mcod_epochs(base),
                                   features=base == "default")
    specs.update(_BASELINE_SPECS)
    for base in ON_FEATURES:
        specs[f"{base}-pretrained"] = DetectorSpec(f"{base}-pretrained", "baseline", "image",
                                                   _on_features(base), _none, features=True)
    return specs


def groups(ablations: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Group names usable in --detectors."""
    merged = {**ABLATIONS, **(ablations or {})}
    by_base = {base: [f"mcod-{a}" for a, ch in merged.items() if ablation_base(ch) == base]
               for base in ("default", "scratch")}
    return {
        "baselines": list(BASELINES),
        "mcod": ["mcod-default", "mcod-scratch", "mcod-release"],
        "ablations": ["mcod-scratch", *by_base["scratch"]],
        "head-ablations": ["mcod-default", *by_base["default"]],
        "all": ["mcod-default", "mcod-scratch", "mcod-release", *BASELINES],
        "table-baselines": list(TABLE_BASELINES),
        "odds": ["mcod-tabular", *TABLE_BASELINES],
        "pretrained": ["mcod-default", *(f"{b}-pretrained" for b in ON_FEATURES)],
    }


def resolve(names: list[str], ablations: Mapping[str, Any] | None = None) -> list[str]:
    """Expand groups, check names, keep the first occurrence of each, in the given order."""
    specs, grp = registry(ablations), groups(ablations)
    out: list[str] = []
    for name in names:
        for n in grp.get(name, [name]):
            if n not in specs:
                raise ValueError(
                    f"unknown detector {n!r}; known: {', '.join(specs)}; groups: {', '.join(grp)}"
                )
            if n not in out:
                out.append(n)
    return out


def get(name: str, ablations: Mapping[str, Any] | None = None) -> DetectorSpec:
    return registry(ablations)[resolve([name], ablations)[0]]


def takes(spec: DetectorSpec, table: bool) -> bool:
    """Whether the detector takes tables (``table``) or images (not ``table``)."""
    return (spec.input == "table" or spec.tables) if table else spec.input != "table"


def standardise(X: np.ndarray, fitted_on: np.ndarray | None = None) -> np.ndarray:
    """Features scaled to mean 0, sd 1 (constant features: 0) by a StandardScaler fitted on
    the unlabeled rows the detector is fitted on: ``fitted_on``, else ``X`` itself."""
    from sklearn.preprocessing import StandardScaler

    rows = np.asarray(X if fitted_on is None else fitted_on, dtype=np.float64)
    scaler = StandardScaler().fit(rows)
    return scaler.transform(np.asarray(X, dtype=np.float64)).astype(np.float32)


def prepare_input(
    spec: DetectorSpec, images: np.ndarray, fitted_on: np.ndarray | None = None
) -> np.ndarray:
    """The array a detector is fitted/scored on: images as-is, or flattened pixels in [0, 1];
    a 2-D table standardised (see :func:`standardise`; ``fitted_on``: the fit rows, when
    ``images`` are rows to score)."""
    table = images.ndim == 2
    if not takes(spec, table):
        kind = "tables" if table else "images"
        raise ValueError(f"detector {spec.name!r} does not take {kind}")
    if table:
        return standardise(images, fitted_on)
    if spec.input == "image":
        return images
    flat = images.reshape(len(images), -1).astype(np.float32)
    return flat / 255.0 if images.dtype == np.uint8 else flat
