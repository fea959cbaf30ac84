"""Faces predicted from values: the linear face maps and AU / emotion / blendshape → face.

Every face map is a linear model, ``face = values @ coef + intercept`` (a PLS regression with
its matrices folded in), that turns a vector of AU intensities (or emotion probabilities, or
MediaPipe blendshapes) into a face: the 478 MediaPipe mesh vertices or the 68 dlib landmarks.
The maps are model cards of :mod:`featx.hub` (task ``"render"``, listed by
``featx.list_models()`` and ``featx.licenses()``) read into a
``featx.classic.face_map.FaceMap``. The AU → mesh map fit by Py-Feat on Detectorv2 v2.4
outputs (``au_to_mesh_v4``, MIT) ships with featx; the newer maps are downloaded from the
Hugging Face hub on first use (see :data:`FACE_MAPS`). The hub is imported only when a map is
loaded, so ``import featx.plot`` stays light.

Mesh frame: x grows toward the viewer's right, **y up**, z out of the face, in pixel-like units
of a 224-pixel face chip. Landmarks (68 points) are returned in image-like coordinates (y down),
like the ``landmarks`` variable of a Dataset.

Examples
--------
>>> predict_face_mesh({"AU12": 1.0}).shape
(478, 3)
>>> sorted(FACE_MAPS)[:2]
['au_to_landmarks_v2', 'au_to_mesh_v4']
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from featx import schema

if TYPE_CHECKING:  # pragma: no cover
    from featx.classic.face_map import FaceMap
    from featx.hub import ModelCard

__all__ = [
    "DLIB68_FROM_MP478",
    "FACE_MAPS",
    "FaceMap",
    "load_face_map",
    "predict_face_mesh",
    "predict_landmarks",
]

#: The MediaPipe mesh vertex closest to each of the 68 dlib/iBUG landmarks (0..67).
DLIB68_FROM_MP478: tuple[int, ...] = (
    127, 234, 93, 132, 58, 172, 136, 150, 176, 148, 152, 377, 400, 379, 365, 397, 356, 70, 63,
    105, 66, 107, 336, 296, 334, 293, 300, 168, 6, 195, 4, 240, 75, 1, 305, 460, 33, 160, 158,
    133, 153, 144, 362, 385, 387, 263, 373, 380, 61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84,
    181, 78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip

# Landmarks on the face's midline and the left/right mirror pairs, for symmetrising.
_MIDLINE = (27, 28, 29, 30, 33, 51, 62, 66, 57, 8)
_MIRROR = (
    (0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9), (17, 26), (18, 25),
    (19, 24), (20, 23), (21, 22), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (31, 35), (32, 34), (48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63),
    (67, 65),
)  # fmt: skip
_LABEL_DIMS = {schema.label_dim(v): v for v in ("aus", "emotions", "blendshapes")}
_DEFAULT_MAP = {
    "au": "au_to_mesh_v4",
    "emotion": "emotion_to_mesh_v6",
    "blendshape": "bs_to_mesh_v6",
}


# ---------------------------------------------------------------------------------------------
# Face maps


class _FaceMapCards(Mapping):
    """The face-map cards of :data:`featx.hub.FACE_MAPS`, read from the hub on first use."""

    @staticmethod
    def _cards() -> Mapping[str, ModelCard]:
        from featx import hub

        return hub.FACE_MAPS

    def __getitem__(self, key: str) -> ModelCard:
        return self._cards()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cards())

    def __len__(self) -> int:
        return len(self._cards())

    def __repr__(self) -> str:
        return f"FACE_MAPS({', '.join(self)})"


#: Linear face maps as model cards (a read-only view of ``featx.hub.FACE_MAPS``).
#: ``au_to_mesh_v4`` is bundled; the others come from the hub (or from ``model_dir=`` /
#: ``FEATX_MODEL_DIR``) on first use.
FACE_MAPS: Mapping[str, ModelCard] = _FaceMapCards()


def __getattr__(name: str) -> Any:
    if name == "FaceMap":  # defined in featx.classic.face_map, imported when asked for
        from featx.classic.face_map import FaceMap

        return FaceMap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_face_map(name: str | FaceMap, model_dir: str | os.PathLike | None = None) -> FaceMap:
    """A face map from :data:`FACE_MAPS` (bundled, ``model_dir``/``FEATX_MODEL_DIR`` or hub).

    The same as ``featx.hub.card(name).load(model_dir)``, for the face maps only.

    Parameters
    ----------
    name
        A key of :data:`FACE_MAPS`, or a ``FaceMap`` (returned
        as is).
    model_dir
        Folder holding the map's ``.npz`` file, instead of downloading it.

    Raises
    ------
    featx.ModelNotFoundError
        A hub map is neither in ``model_dir`` nor downloadable.
    featx.WeightsError
        The file is unreadable or not a face map.

    Examples
    --------
    >>> load_face_map("au_to_mesh_v4").columns[:3]
    ('AU01', 'AU02', 'AU04')
    """
    from featx import hub
    from featx.classic.face_map import FaceMap

    if isinstance(name, FaceMap):
        return name
    if name not in hub.FACE_MAPS:
        raise ValueError(f"Unknown face map {name!r}. Valid choices: {', '.join(hub.FACE_MAPS)}")
    return hub.card(name).load(model_dir)


# ---------------------------------------------------------------------------------------------
# Predictions


def predict_face_mesh(
    aus: Any = None,
    *,
    emotions: Any = None,
    blendshapes: Any = None,
    model: str | FaceMap | None = None,
    model_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """The 478-vertex face mesh a linear map predicts from AUs, emotions or blendshapes.

    Parameters
    ----------
    aus, emotions, blendshapes
        At most one: named values (mapping, Series, DataArray with an ``au``/``emotion``/
        ``blendshape`` dim; missing names are 0) or an array in the map's column order (one
        face, or several along leading axes). Nothing given: the neutral face (all AUs 0).
    model
        A :data:`FACE_MAPS` name or a ``FaceMap``; default ``au_to_mesh_v4`` (bundled)
        for AUs, ``emotion_to_mesh_v6`` and ``bs_to_mesh_v6`` (hub) for the others.
    model_dir
        Folder with the map's file, for hub maps used offline.

    Returns
    -------
    numpy.ndarray
        ``(..., 478, 3)`` float32 in the mesh frame (x to the viewer's right, y up, z out).

    Examples
    --------
    >>> mesh = predict_face_mesh({"AU12": 1.0})
    >>> bool(mesh[291, 0] > predict_face_mesh()[291, 0])  # a smile pulls the lip corner out
    True
    """
    inputs, values = _which_input(aus, emotions, blendshapes)
    face_map = load_face_map(model or _DEFAULT_MAP[inputs], model_dir)
    if face_map.inputs != inputs or face_map.shape != (schema.N_VERTICES, 3):
        raise ValueError(f"face map {face_map.name!r} does not map {inputs} values to a mesh")
    return face_map.predict(values)


def _which_input(aus: Any, emotions: Any, blendshapes: Any) -> tuple[str, Any]:
    given = {
        k: v
        for k, v in (("au", aus), ("emotion", emotions), ("blendshape", blendshapes))
        if v is not None
    }
    if len(given) > 1:
        raise ValueError(f"give one of aus=, emotions=, blendshapes=; got {', '.join(given)}")
    return next(iter(given.items()), ("au", None))


def predict_landmarks(
    aus: Any = None,
    *,
    model: str | FaceMap | None = None,
    model_dir: str | os.PathLike | None = None,
    symmetrize: bool = True,
) -> np.ndarray:
    """The 68 dlib landmarks of the face predicted from AU values, in image-like coordinates.

    Parameters
    ----------
    aus
        AU values as for :func:`predict_face_mesh` (None: the neutral face).
    model
        None: the 68 dlib points of the bundled AU → mesh map (``DLIB68_FROM_MP478``, y
        flipped to point down); ``"au_to_landmarks_v2"`` (hub) or an AU → mesh map name.
    symmetrize
        Average each left/right landmark pair about the midline (the linear maps leave a few
        per cent of asymmetry).

    Returns
    -------
    numpy.ndarray
        ``(..., 68, 2)`` x, y with y growing downward.

    Examples
    --------
    >>> predict_landmarks({"AU26": 1.0}).shape
    (68, 2)
    """
    face_map = load_face_map(model or _DEFAULT_MAP["au"], model_dir)
    if face_map.inputs != "au":
        raise ValueError(f"face map {face_map.name!r} does not take AU values")
    points = face_map.predict(aus)
    if face_map.shape == (schema.N_VERTICES, 3):
        points = points[..., DLIB68_FROM_MP478, :2] * np.array([1.0, -1.0], np.float32)
    return _symmetrize(points) if symmetrize else points


def _symmetrize(points: np.ndarray) -> np.ndarray:
    out = np.array(points, dtype=np.float32, copy=True)
    x, y = out[..., 0], out[..., 1]
    mid = x[..., _MIDLINE].mean(axis=-1, keepdims=True)
    x[..., _MIDLINE] = mid
    left, right = (np.array(side) for side in zip(*_MIRROR, strict=True))
    x_left = (x[..., left] + 2 * mid - x[..., right]) / 2
    y_pair = (y[..., left] + y[..., right]) / 2
    x[..., left], x[..., right] = x_left, 2 * mid - x_left
    y[..., left] = y[..., right] = y_pair
    return out
