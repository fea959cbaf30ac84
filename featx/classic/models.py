"""Py-Feat's Detectorv1 HOG classifiers: ``xgb_au``, ``svm_au`` and ``svm_emo``.

Each hub file (a skops archive, read as data by :func:`featx.classic.skops.read_skops`) holds a
StandardScaler and a PCA per face region (``upper``, ``lower``, ``full``) fitted on the 5408 HOG
values, and one binary classifier per label. A label's features are the PCA scores of its
region followed by the 136 aligned integer landmarks (:mod:`featx.classic.hog`):

- ``xgb_au``: XGBoost boosters; the output is ``predict_proba[:, 1]`` (the sigmoid of the
  margin for ``binary:logistic``, exactly 0 or 1 for AU07's ``binary:hinge``);
- ``svm_au``, ``svm_emo``: linear SVMs (``LinearSVC``); the output is the hard label
  ``classes_[decision > 0]``, 0 or 1. A kernel ``SVC`` is evaluated with its kernel.

Which region feeds which label differs between the models (:data:`ROUTING`). Outputs are in
featx's labels and order: AUs zero-padded (``AU1`` -> ``AU01``) by AU number, emotions in
:data:`EMOTION_COLUMNS` order with Py-Feat's short keys spelled out (``happ`` -> ``happiness``).

Example
-------
>>> import numpy as np
>>> clf = load_classifier("tests/conformance/svm_emo/fixtures/svm_emo_classifier.skops",
...                       "svm_emo")
>>> clf.columns[:4], clf.kind
(('anger', 'disgust', 'fear', 'happiness'), 'binary')
>>> clf.predict(np.zeros((2, 5408), np.float32), np.zeros((2, 136))).shape
(2, 7)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from featx.classic.hog import frame_features
from featx.classic.skops import SkopsError, SkopsObject, read_skops

REGIONS = ("upper", "lower", "full")
N_LANDMARK_FEATURES = 136
#: Py-Feat's emotion keys -> featx's emotion labels, in output order.
EMOTION_COLUMNS: dict[str, str] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happ": "happiness",
    "sad": "sadness",
    "sur": "surprise",
    "neutral": "neutral",
}
#: The face region whose PCA scores feed each classifier key, per model. A key no region lists
#: goes to the model's :data:`DEFAULT_REGION` (xgb: "all other AUs" use ``full``); a model
#: without one (svm) rejects it.
ROUTING: dict[str, dict[str, tuple[str, ...]]] = {
    "xgb_au": {
        "upper": ("AU1", "AU2", "AU7"),
        "lower": ("AU11", "AU14", "AU17", "AU23", "AU24", "AU26"),
    },
    "svm_au": {
        "upper": ("AU1", "AU4", "AU6"),
        "lower": ("AU11", "AU12", "AU17"),
        "full": tuple("AU2 AU5 AU7 AU9 AU10 AU14 AU15 AU20 AU23 AU24 AU25 AU26 AU28 AU43".split()),
    },
    "svm_emo": {"full": tuple(EMOTION_COLUMNS)},
}
DEFAULT_REGION: dict[str, str] = {"xgb_au": "full"}
#: The ``kind`` attr each model gives its ``aus`` or ``emotions`` output.
KINDS = {"xgb_au": "probability", "svm_au": "binary", "svm_emo": "binary"}


@dataclass(frozen=True)
class Projection:
    """StandardScaler then PCA: 5408 HOG values -> the region's PCA scores (float64)."""

    scaler_mean: np.ndarray | None
    scaler_scale: np.ndarray | None
    pca_mean: np.ndarray
    components: np.ndarray
    whiten: np.ndarray | None = None

    @property
    def n_in(self) -> int:
        return self.components.shape[1]

    def __call__(self, hog: np.ndarray) -> np.ndarray:
        z = np.asarray(hog, np.float64)
        if self.scaler_mean is not None:
            z = z - self.scaler_mean
        if self.scaler_scale is not None:
            z = z / self.scaler_scale
        scores = (z - self.pca_mean) @ self.components.T
        return scores / self.whiten if self.whiten is not None else scores


class BoosterModel:
    """An XGBoost binary classifier: ``scores`` = margins, ``outputs`` = ``predict_proba[:, 1]``."""

    def __init__(self, booster) -> None:
        self.booster = booster
        best = booster.attr("best_iteration")  # the sklearn wrapper predicts up to it
        self.iteration_range = (0, int(best) + 1) if best is not None else (0, 0)
        self.n_features = booster.num_features()

    def _predict(self, x: np.ndarray, kind: str) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        return self.booster.inplace_predict(
            x, iteration_range=self.iteration_range, predict_type=kind, validate_features=False
        )

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self._predict(x, "margin").astype(np.float64)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self._predict(x, "value").astype(np.float64)


class SVMModel:
    """A binary SVM: ``scores`` = ``decision_function``, ``outputs`` = ``classes_[scores > 0]``.

    Linear (``coef_``, ``intercept_``) or kernel (``support_vectors_``, ``dual_coef_``,
    ``intercept_`` and the kernel's ``_gamma``, ``degree``, ``coef0``), sklearn's sign
    conventions for two classes.
    """

    def __init__(self, attrs: Mapping, where: str) -> None:
        classes = np.asarray(attrs.get("classes_"))
        if classes.shape != (2,):
            raise SkopsError(f"{where}: a binary classifier needs 2 classes_, got {classes}")
        self.classes = classes.astype(np.float64)
        self.intercept = float(np.asarray(attrs["intercept_"]).reshape(-1)[0])
        self.kernel = str(attrs.get("kernel", "linear")) if "support_vectors_" in attrs else None
        if self.kernel is None:
            self.coef = np.asarray(attrs["coef_"], np.float64).reshape(-1)
            self.n_features = self.coef.size
            return
        if self.kernel not in ("linear", "rbf", "poly", "sigmoid"):
            raise SkopsError(f"{where}: SVC kernel {self.kernel!r} is not supported")
        self.support = np.asarray(attrs["support_vectors_"], np.float64)
        self.dual = np.asarray(attrs["dual_coef_"], np.float64).reshape(-1)
        self.gamma = float(attrs.get("_gamma", 1.0))
        self.degree = float(attrs.get("degree", 3))
        self.coef0 = float(attrs.get("coef0", 0.0))
        self.n_features = self.support.shape[1]

    def scores(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.kernel is None:
            return x @ self.coef + self.intercept
        dot = x @ self.support.T
        if self.kernel == "linear":
            k = dot
        elif self.kernel == "rbf":
            sq = (x**2).sum(1)[:, None] + (self.support**2).sum(1)[None] - 2 * dot
            k = np.exp(-self.gamma * np.maximum(sq, 0))
        elif self.kernel == "poly":
            k = (self.gamma * dot + self.coef0) ** self.degree
        else:
            k = np.tanh(self.gamma * dot + self.coef0)
        return k @ self.dual + self.intercept

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.classes[(self.scores(x) > 0).astype(np.int64)]


@dataclass(frozen=True)
class Target:
    """One output column: the file's key, featx's label, its region and its classifier."""

    key: str
    column: str
    region: str
    model: BoosterModel | SVMModel


class HogClassifier:
    """Labels (AUs or emotions) from HOG features and aligned landmarks.

    Attributes
    ----------
    columns : featx labels of the output columns, in order.
    kind : ``"probability"`` (xgb) or ``"binary"`` (svm): the Dataset variable's ``kind``.
    routing : region -> the file's keys it feeds.
    source : the file the model was read from.
    """

    def __init__(
        self,
        projections: Mapping[str, Projection],
        targets: Sequence[Target],
        kind: str,
        source: str = "",
    ) -> None:
        self.projections = dict(projections)
        self.targets = tuple(targets)
        self.kind = kind
        self.source = source
        self.columns = tuple(t.column for t in self.targets)
        self.routing = {
            r: tuple(t.key for t in self.targets if t.region == r)
            for r in REGIONS
            if any(t.region == r for t in self.targets)
        }

    def __repr__(self) -> str:
        return f"HogClassifier({len(self.columns)} {self.kind} outputs, from {self.source})"

    def features(self, hog, landmark_features) -> dict[str, np.ndarray]:
        """Classifier inputs per region: PCA scores then the 136 landmarks, float32.

        Parameters
        ----------
        hog : (N, 5408) HOG values (:func:`featx.classic.hog.hog_features`).
        landmark_features : (N, 136) aligned integer landmarks, interleaved x, y.
        """
        hog = np.asarray(hog)
        lm = np.asarray(landmark_features, np.float64)
        n_in = next(iter(self.projections.values())).n_in
        if hog.ndim != 2 or hog.shape[1] != n_in:
            raise ValueError(
                f"{self.source}: the classifier needs (N, {n_in}) HOG features (the 112-pixel "
                f"aligned face), got shape {hog.shape}"
            )
        if lm.shape != (len(hog), N_LANDMARK_FEATURES):
            raise ValueError(
                f"{self.source}: needs ({len(hog)}, {N_LANDMARK_FEATURES}) landmark features, "
                f"got shape {lm.shape}"
            )
        return {
            region: np.concatenate([p(hog), lm], axis=1).astype(np.float32)
            for region, p in self.projections.items()
        }

    def scores(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, K) raw scores: tree margins (xgb) or SVM decision values (svm)."""
        return self._each(features, "scores")

    def predict_features(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, K) float32 outputs from per-region features (:meth:`features`)."""
        return self._each(features, "outputs").astype(np.float32)

    def predict(self, hog, landmark_features) -> np.ndarray:
        """(N, K) float32 outputs in :attr:`columns` order from HOG and landmark features."""
        return self.predict_features(self.features(hog, landmark_features))

    def _each(self, features: Mapping[str, np.ndarray], method: str) -> np.ndarray:
        n = len(next(iter(features.values())))
        out = np.empty((n, len(self.targets)))
        for j, t in enumerate(self.targets):
            out[:, j] = getattr(t.model, method)(features[t.region])
        return out


def predict(
    classifier: HogClassifier, frames: Sequence, boxes: Sequence, landmarks: Sequence
) -> list[np.ndarray]:
    """Per frame, the (n_i, K) outputs of ``classifier`` for its faces.

    Frames, detector boxes and frame-pixel landmarks as :func:`featx.classic.hog.frame_features`
    takes them (any landmark model). To run several HOG classifiers on the same faces, compute
    ``frame_features`` once and call each classifier's :meth:`HogClassifier.predict`.

    Examples
    --------
    >>> import numpy as np
    >>> clf = load_classifier("tests/conformance/svm_au/fixtures/svm_au_classifier_v2.skops",
    ...                       "svm_au")
    >>> frames = [np.zeros((120, 100, 3), np.uint8)] * 2
    >>> pts = np.stack([np.linspace(30, 70, 68), 40 + 30 * np.sin(np.arange(68))], axis=1)
    >>> out = predict(clf, frames, [[[25.0, 30, 75, 90]], np.zeros((0, 4))], [pts[None], []])
    >>> [o.shape for o in out]
    [(1, 20), (0, 20)]
    """
    counts = [len(np.asarray(b).reshape(-1, 4)) for b in boxes]
    hog, lm = frame_features(frames, boxes, landmarks)
    out = classifier.predict(hog, lm)
    return np.split(out, np.cumsum(counts)[:-1])


# ---------------------------------------------------------------------------------------------
# Reading the hub files


def load_classifier(path: str | os.PathLike, model_id: str) -> HogClassifier:
    """Read a ``.skops`` file of ``model_id`` (``xgb_au``, ``svm_au`` or ``svm_emo``).

    Raises :class:`~featx.classic.skops.SkopsError` naming the file when it lacks a scaler,
    PCA or classifier the model needs, or when their sizes disagree.
    """
    if model_id not in ROUTING:
        raise ValueError(f"unknown HOG model {model_id!r}; valid: {', '.join(ROUTING)}")
    path = Path(path)
    root = read_skops(path)
    if not isinstance(root, SkopsObject):
        raise SkopsError(f"{path}: the archive holds a {type(root).__name__}, not a model object")
    classifiers = root.attrs.get("classifiers")
    if not isinstance(classifiers, dict) or not classifiers:
        raise SkopsError(f"{path}: no `classifiers` dict in {root.type_name}")
    targets = [
        Target(key, column, region, _classifier(classifiers[key], f"{path}: classifiers[{key!r}]"))
        for key, column, region in _layout(model_id, list(classifiers), path)
    ]
    projections = {
        r: _projection(root.attrs, r, path) for r in REGIONS if any(t.region == r for t in targets)
    }
    for t in targets:
        want = projections[t.region].components.shape[0] + N_LANDMARK_FEATURES
        if t.model.n_features != want:
            raise SkopsError(
                f"{path}: classifier {t.key!r} takes {t.model.n_features} features, but the "
                f"{t.region} PCA gives {want - N_LANDMARK_FEATURES} scores + 136 landmarks"
            )
    return HogClassifier(projections, targets, KINDS[model_id], source=str(path))


def _layout(model_id: str, keys: list[str], path: Path) -> list[tuple[str, str, str]]:
    """(key, column, region) of each output, in output order."""
    region_of = {k: r for r, ks in ROUTING[model_id].items() for k in ks}
    if model_id == "svm_emo":
        missing = [k for k in EMOTION_COLUMNS if k not in keys]
        if missing:
            raise SkopsError(f"{path}: emotion classifiers {missing} are missing")
        return [(k, EMOTION_COLUMNS[k], region_of[k]) for k in EMOTION_COLUMNS]
    layout = []
    for key in keys:
        match = re.fullmatch(r"AU(\d+)", key)
        region = region_of.get(key, DEFAULT_REGION.get(model_id))
        if match is None or region is None:
            raise SkopsError(f"{path}: no region routes classifier key {key!r} ({model_id})")
        layout.append((int(match.group(1)), key, f"AU{int(match.group(1)):02d}", region))
    return [(key, column, region) for _, key, column, region in sorted(layout)]


def _classifier(obj, where: str) -> BoosterModel | SVMModel:
    if not isinstance(obj, SkopsObject):
        raise SkopsError(f"{where} is a {type(obj).__name__}, not a classifier object")
    if "_Booster" in obj.attrs:
        return BoosterModel(_booster(obj.attrs["_Booster"], where))
    if "coef_" in obj.attrs or "support_vectors_" in obj.attrs:
        return SVMModel(obj.attrs, where)
    raise SkopsError(f"{where}: {obj.type_name} is neither an XGBoost model nor an SVM")


def _booster(obj, where: str):
    import xgboost

    handle = obj.attrs.get("handle") if isinstance(obj, SkopsObject) else None
    if not isinstance(handle, bytes):
        raise SkopsError(f"{where}: the booster has no serialised buffer")
    booster = xgboost.Booster()
    try:  # the pickled-state format ({"Config", "Model"}), not load_model's
        booster.__setstate__({"handle": bytearray(handle)})
    except xgboost.core.XGBoostError as e:
        raise SkopsError(f"{where}: xgboost cannot read the booster: {e}") from e
    return booster


def _projection(attrs: Mapping, region: str, path: Path) -> Projection:
    scaler, pca = attrs.get(f"scaler_{region}"), attrs.get(f"pca_model_{region}")
    for name, obj, needed in (
        (f"scaler_{region}", scaler, ()),
        (f"pca_model_{region}", pca, ("mean_", "components_")),
    ):
        if not isinstance(obj, SkopsObject) or any(a not in obj.attrs for a in needed):
            raise SkopsError(f"{path}: {name} is missing or lacks {needed}")
    s = scaler.attrs

    def vector(key: str, use: bool) -> np.ndarray | None:
        value = s.get(key)
        return np.asarray(value, np.float64) if use and value is not None else None

    whiten = None
    if pca.attrs.get("whiten"):
        whiten = np.sqrt(np.asarray(pca.attrs["explained_variance_"], np.float64))
    projection = Projection(
        scaler_mean=vector("mean_", s.get("with_mean", True)),
        scaler_scale=vector("scale_", s.get("with_std", True)),
        pca_mean=np.asarray(pca.attrs["mean_"], np.float64),
        components=np.asarray(pca.attrs["components_"], np.float64),
        whiten=whiten,
    )
    sizes = {
        v.shape[-1]
        for v in (
            projection.scaler_mean,
            projection.scaler_scale,
            projection.pca_mean,
            projection.components,
        )  # fmt: skip
        if v is not None
    }
    if len(sizes) != 1 or projection.components.ndim != 2:
        raise SkopsError(f"{path}: scaler_{region} and pca_model_{region} sizes disagree: {sizes}")
    return projection


def load(card, paths: dict) -> HogClassifier:
    """The loader of the ``xgb_au``, ``svm_au`` and ``svm_emo`` cards: the skops archive read as
    data into a :class:`HogClassifier`; a bad archive is a :class:`~featx.nn.weights.WeightsError`
    naming the file."""
    from featx.nn.weights import WeightsError

    try:
        return load_classifier(paths[card.files[0]], card.id)
    except SkopsError as e:
        raise WeightsError(str(e)) from e
