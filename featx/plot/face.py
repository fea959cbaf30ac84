"""Faces drawn from values alone: linear AU / emotion / blendshape → face maps and their pictures.

Every face map is a linear model, ``face = values @ coef + intercept`` (a PLS regression with
its matrices folded in), that turns a vector of AU intensities (or emotion probabilities, or
MediaPipe blendshapes) into a face: the 478 MediaPipe mesh vertices or the 68 dlib landmarks.
The AU → mesh map fit by Py-Feat on Detectorv2 v2.4 outputs (``au_to_mesh_v4``, MIT) ships with
featx; the newer maps are downloaded from the Hugging Face hub through :mod:`featx.hub` on first
use (see :data:`FACE_MAPS`).

Mesh frame: x grows toward the viewer's right, **y up**, z out of the face, in pixel-like units
of a 224-pixel face chip. Landmarks (68 points) are returned in image-like coordinates (y down),
like the ``landmarks`` variable of a Dataset.

Examples
--------
>>> from featx.plot import predict_face_mesh, plot_face
>>> predict_face_mesh({"AU12": 1.0}).shape
(478, 3)
>>> ax = plot_face(aus={"AU12": 1.0, "AU06": 0.8})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.patches import Circle, FancyArrow, Polygon

from featx import hub, schema

__all__ = [
    "DLIB68_FROM_MP478",
    "FACE_MAPS",
    "FaceMap",
    "animate_face",
    "load_face_map",
    "plot_face",
    "plot_face_mesh",
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

# Polylines of the 68-point line drawing (closed ones repeat their first point).
FACE_LINES: tuple[tuple[int, ...], ...] = (
    tuple(range(0, 17)),  # jaw
    tuple(range(17, 22)),  # brows
    tuple(range(22, 27)),
    tuple(range(27, 31)),  # nose bridge
    tuple(range(31, 36)),  # nostrils
    (*range(36, 42), 36),  # eyes
    (*range(42, 48), 42),
    (*range(48, 55), 64, 63, 62, 61, 60, 48),  # upper lip
    (48, 60, 67, 66, 65, 64, *range(54, 60), 48),  # lower lip
)
# Landmarks on the face's midline and the left/right mirror pairs, for symmetrising.
_MIDLINE = (27, 28, 29, 30, 33, 51, 62, 66, 57, 8)
_MIRROR = (
    (0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9), (17, 26), (18, 25),
    (19, 24), (20, 23), (21, 22), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (31, 35), (32, 34), (48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63),
    (67, 65),
)  # fmt: skip
_IRIS = ((468, (469, 470, 471, 472)), (473, (474, 475, 476, 477)))
_EYE_CORNERS = (33, 263)
_IRIS_COLOR = "#b08868"
_LABEL_DIMS = {"au": "aus", "emotion": "emotions", "blendshape": "blendshapes"}


# ---------------------------------------------------------------------------------------------
# Face maps


#: Where each face map lives (hub repo, None = bundled), its file, what it takes and makes.
_MAP_SPECS: dict[str, tuple[str | None, str, str, str]] = {
    "au_to_mesh_v4": (None, "au_to_mesh_pls_v4.npz", "au", "mesh"),
    "au_to_mesh_v6": ("py-feat/au_to_mesh", "au_to_mesh_pls_v6.npz", "au", "mesh"),
    "au_to_landmarks_v2": (
        "py-feat/au_to_landmarks", "au_to_landmarks_pls_v2.npz", "au", "landmarks"
    ),
    "emotion_to_mesh_v6": (
        "py-feat/emotion_to_mesh", "emotion_to_mesh_pls_v6.npz", "emotion", "mesh"
    ),
    "bs_to_mesh_v6": ("py-feat/bs_to_mesh", "bs_to_mesh_pls_v6.npz", "blendshape", "mesh"),
}  # fmt: skip


def _load_map(card: hub.ModelCard, paths: dict[str, Path]) -> FaceMap:
    return _read_map(str(paths[card.files[0]]), card.id, _MAP_SPECS[card.id][2])


#: Linear face maps as model cards. ``au_to_mesh_v4`` is bundled; the others come from the hub
#: (or from ``model_dir=`` / ``FEATX_MODEL_DIR``) on first use.
FACE_MAPS: dict[str, hub.ModelCard] = {
    id: hub.ModelCard(
        id=id,
        task="render",
        name=id,
        repo=repo,
        files=(filename,),
        file_format="npz",
        license="MIT (Py-Feat); fit on CelebV-HQ frames, whose terms are non-commercial "
        "(featx/assets/NOTICE-rendering.md)",
        non_commercial=True,
        paper='Cheong et al., "Py-Feat: Python Facial Expression Analysis Toolbox", '
        "Affective Science 2023",
        input_spec=f"{inputs} values, named or in the file's column order; pose held at zero",
        outputs=(output,),
        loader=_load_map,
    )
    for id, (repo, filename, inputs, output) in _MAP_SPECS.items()
}
_DEFAULT_MAP = {
    "au": "au_to_mesh_v4",
    "emotion": "emotion_to_mesh_v6",
    "blendshape": "bs_to_mesh_v6",
}


@dataclass(frozen=True, eq=False)
class FaceMap:
    """A linear map from named values to a face (478 mesh vertices or 68 landmarks).

    Attributes
    ----------
    name : str
        The :data:`FACE_MAPS` key.
    inputs : str
        ``"au"``, ``"emotion"`` or ``"blendshape"``.
    columns : tuple of str
        Input names, in the order of the rows of ``coef``.
    coef, intercept : numpy.ndarray
        ``(len(columns), K)`` and ``(K,)``; K = 1434 (mesh) or 136 (landmarks), axis-major.
    clip_max : numpy.ndarray or None
        Upper clip per input (the 99th percentile the map was fit on), if the file has one.
    unsupported : tuple of str
        Inputs the map was not fit to move; values above 0.02 draw a warning.
    path : str
        The file the map was read from.
    """

    name: str
    inputs: str
    columns: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    clip_max: np.ndarray | None
    unsupported: tuple[str, ...]
    path: str

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one predicted face: ``(478, 3)`` or ``(68, 2)``."""
        return (schema.N_VERTICES, 3) if self.intercept.size == 1434 else (schema.N_LANDMARKS, 2)

    def vector(self, values: Any) -> np.ndarray:
        """Values as an array ``(..., len(columns))`` in this map's column order.

        ``values`` may be None (all zeros), a mapping or pandas Series (by name, missing = 0),
        a DataFrame (columns by name), an xarray DataArray with an ``au`` / ``emotion`` /
        ``blendshape`` dim (by label), or an array whose last axis follows :attr:`columns`.
        Names the map does not know are ignored with a warning.
        """
        k = len(self.columns)
        if values is None:
            return np.zeros(k, np.float32)
        if isinstance(values, xr.DataArray):
            dim = next((d for d in _LABEL_DIMS if d in values.dims), None)
            if dim is None:
                raise ValueError(
                    f"{self.name}: a DataArray of {self.inputs} values needs a dim named "
                    f"{self.inputs!r}; got dims {values.dims}"
                )
            labels = [str(v) for v in values[dim].values]
            self._check_names(labels)
            values = values.transpose(..., dim).reindex({dim: list(self.columns)}, fill_value=0)
            return np.asarray(values.values, dtype=np.float32)
        if isinstance(values, pd.DataFrame):
            self._check_names([str(c) for c in values.columns])
            return values.reindex(columns=list(self.columns), fill_value=0).to_numpy(np.float32)
        if isinstance(values, Mapping | pd.Series):
            named = {str(n): v for n, v in values.items()}
            self._check_names(list(named))
            return np.asarray([named.get(c, 0.0) for c in self.columns], dtype=np.float32)
        arr = np.asarray(values, dtype=np.float32)
        if arr.ndim == 0 or arr.shape[-1] != k:
            raise ValueError(
                f"{self.name}: expected {k} {self.inputs} values in the order "
                f"{', '.join(self.columns)}; got an array of shape {arr.shape}"
            )
        return arr

    def _check_names(self, names: Sequence[str]) -> None:
        extra = [n for n in names if n not in self.columns]
        if extra and len(extra) == len(names):
            raise ValueError(
                f"{self.name}: none of the names {extra[:5]} is a model input; "
                f"expected some of {', '.join(self.columns)}"
            )
        if extra:
            warnings.warn(
                f"{self.name}: ignoring {extra} (not inputs of this map)", UserWarning, stacklevel=4
            )

    def predict(self, values: Any) -> np.ndarray:
        """The face for ``values`` (see :meth:`vector`): ``(..., 478, 3)`` or ``(..., 68, 2)``."""
        x = self.vector(values)
        if self.clip_max is not None:
            x = np.clip(x, 0.0, self.clip_max)
        if self.unsupported:
            idx = [self.columns.index(n) for n in self.unsupported]
            loud = np.nan_to_num(x[..., idx]).max(axis=tuple(range(x.ndim - 1))) > 0.02
            if np.any(loud):
                warnings.warn(
                    f"{self.name}: the map was not fit to move "
                    f"{[self.unsupported[i] for i in np.flatnonzero(loud)]}; they have no effect",
                    UserWarning,
                    stacklevel=3,
                )
        flat = x @ self.coef + self.intercept
        n_points, n_axes = self.shape
        return np.swapaxes(flat.reshape(*x.shape[:-1], n_axes, n_points), -1, -2)


def _known_labels(inputs: str) -> tuple[str, ...] | None:
    return {"emotion": schema.EMOTIONS, "blendshape": schema.BLENDSHAPES}.get(inputs)


@lru_cache(maxsize=16)
def _read_map(path: str, name: str, inputs: str) -> FaceMap:
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise hub.WeightsError(f"cannot read face map {path}: {type(e).__name__}: {e}") from e
    key = "au_columns" if "au_columns" in data else "feature_columns"
    missing = [k for k in ("coef", "intercept", key) if k not in data]
    if missing:
        raise hub.WeightsError(f"face map {path} lacks the arrays {missing}; has {sorted(data)}")
    columns = tuple(str(c) for c in data[key])
    coef, intercept = data["coef"].astype(np.float32), data["intercept"].astype(np.float32)
    known = _known_labels(inputs)
    bad = [c for c in columns if (c not in known if known else not c.startswith("AU"))]
    if bad:
        raise hub.WeightsError(f"face map {path}: {key} has unknown {inputs} names {bad[:5]}")
    if (
        coef.ndim != 2
        or intercept.shape != (coef.shape[1],)
        or coef.shape[1] not in (1434, 136)
        or coef.shape[0] < len(columns)
    ):
        raise hub.WeightsError(
            f"face map {path}: coef {coef.shape} and intercept {intercept.shape} do not make a "
            f"map from {len(columns)} inputs to 478x3 or 68x2 points"
        )
    clip_max = data["feature_p99"].astype(np.float32) if "feature_p99" in data else None
    unsupported = tuple(str(c) for c in data.get("unsupported_features", ()))
    return FaceMap(
        name=name,
        inputs=inputs,
        columns=columns,
        coef=coef[: len(columns)],  # the pose rows that follow are held at zero
        intercept=intercept,
        clip_max=clip_max,
        unsupported=tuple(c for c in unsupported if c in columns),
        path=path,
    )


def load_face_map(name: str | FaceMap, model_dir: str | os.PathLike | None = None) -> FaceMap:
    """A face map from :data:`FACE_MAPS` (bundled, ``model_dir``/``FEATX_MODEL_DIR`` or hub).

    Parameters
    ----------
    name
        A key of :data:`FACE_MAPS`, or a :class:`FaceMap` (returned as is).
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
    if isinstance(name, FaceMap):
        return name
    if name not in FACE_MAPS:
        raise ValueError(f"Unknown face map {name!r}. Valid choices: {', '.join(FACE_MAPS)}")
    return FACE_MAPS[name].load(model_dir)


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
        A :data:`FACE_MAPS` name or a :class:`FaceMap`; default ``au_to_mesh_v4`` (bundled)
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
        None: the 68 dlib points of the bundled AU → mesh map (:data:`DLIB68_FROM_MP478`, y
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


# ---------------------------------------------------------------------------------------------
# Drawing


@lru_cache(maxsize=8)
def _asset(name: str) -> dict:
    return json.loads((hub.ASSETS_DIR / name).read_text())


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _region_collections(
    ax: Axes, xy: np.ndarray, regions: Mapping[str, dict], values: Mapping[str, float], cmap
) -> None:
    cmap = plt.get_cmap(cmap)
    tessellation = np.asarray(_asset("canonical_face_tessellation.json")["triangles"])
    active = [
        (float(np.clip(v, 0, 1)), name)
        for name, v in values.items()
        if name in regions and np.isfinite(v) and v > 0
    ]
    for v, name in sorted(active):
        triangles = xy[tessellation[regions[name]["triangles"]]]
        coll = PolyCollection(
            triangles, facecolors=[cmap(v)], edgecolors="face", linewidths=0.2, alpha=0.9
        )
        coll.set_gid(f"region:{name}")
        ax.add_collection(coll)


def _named(face_map: FaceMap, values: Any) -> dict[str, float]:
    vec = face_map.vector(values)
    if vec.ndim != 1:
        raise ValueError(f"plot one face at a time; got values of shape {vec.shape}")
    return dict(zip(face_map.columns, vec.tolist(), strict=True))


def plot_face_mesh(
    aus: Any = None,
    *,
    emotions: Any = None,
    blendshapes: Any = None,
    model: str | FaceMap | None = None,
    model_dir: str | os.PathLike | None = None,
    mode: str = "contours",
    regions: bool = True,
    gaze: Sequence[float] | None = None,
    cmap: str = "Reds",
    color: str = "k",
    linewidth: float = 0.6,
    ax: Axes | None = None,
) -> Axes:
    """Draw the face mesh predicted from AUs, emotions or blendshapes (front view).

    Parameters
    ----------
    aus, emotions, blendshapes, model, model_dir
        As for :func:`predict_face_mesh` (one face).
    mode
        ``"contours"`` (124 MediaPipe contour edges) or ``"tessellation"`` (all 2556 edges).
    regions
        Fill the face region each AU (or blendshape) acts on, coloured by its value with
        ``cmap`` (regions at 0 stay blank). Emotions have no regions.
    gaze
        ``(pitch, yaw)`` in degrees (+pitch up, +yaw toward the subject's right): moves the
        pupils and draws a gaze arrow from between the eyes.
    ax
        Axes to draw into (a new figure by default).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_face_mesh(aus={"AU12": 1.0, "AU06": 0.7}, mode="tessellation")
    """
    if mode not in ("contours", "tessellation"):
        raise ValueError(f"mode must be 'contours' or 'tessellation', got {mode!r}")
    inputs, values = _which_input(aus, emotions, blendshapes)
    face_map = load_face_map(model or _DEFAULT_MAP[inputs], model_dir)
    named = _named(face_map, values)
    mesh = predict_face_mesh(**{_LABEL_DIMS[inputs]: named}, model=face_map)
    xy = mesh[:, :2]
    ax = _new_axes(ax, (4, 5))

    region_map = {"au": "au_region_map.json", "blendshape": "blendshape_region_map.json"}
    if regions and inputs in region_map:
        _region_collections(ax, xy, _asset(region_map[inputs])["regions"], named, cmap)
    key = "FACE_LANDMARKS_CONTOURS" if mode == "contours" else "FACE_LANDMARKS_TESSELATION"
    edges = xy[np.asarray(_asset("mp_face_connections.json")[key])]
    wire = LineCollection(edges, colors=color, linewidths=linewidth)
    wire.set_gid("mesh")
    ax.add_collection(wire)
    _draw_mesh_eyes(ax, xy, gaze)
    _set_limits(ax, xy, y_down=False)
    return ax


def _set_limits(ax: Axes, points: np.ndarray, y_down: bool) -> None:
    """Equal-aspect limits around ``points`` (any leading shape, last axis x, y)."""
    pts = np.asarray(points).reshape(-1, 2)
    lo, hi = np.nanmin(pts, axis=0), np.nanmax(pts, axis=0)
    pad_x, pad_top, pad_bottom = 0.15 * (hi - lo)[0], 0.25 * (hi - lo)[1], 0.15 * (hi - lo)[1]
    ax.set_xlim(lo[0] - pad_x, hi[0] + pad_x)
    if y_down:  # image-like: the forehead (small y) at the top
        ax.set_ylim(hi[1] + pad_bottom, lo[1] - pad_top)
    else:
        ax.set_ylim(lo[1] - pad_bottom, hi[1] + pad_top)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _gaze_direction(gaze: Sequence[float]) -> np.ndarray:
    """Unit 2-D gaze direction with x to the viewer's right and y up."""
    pitch, yaw = np.deg2rad(np.asarray(gaze, dtype=float))
    return np.array([-np.sin(yaw) * np.cos(pitch), np.sin(pitch)])


def _draw_mesh_eyes(ax: Axes, xy: np.ndarray, gaze: Sequence[float] | None) -> None:
    shift = np.zeros(2) if gaze is None else _gaze_direction(gaze)
    for centre, ring in _IRIS:
        radius = float(np.linalg.norm(xy[list(ring)] - xy[centre], axis=1).mean())
        ax.add_patch(Polygon(xy[list(ring)], closed=True, facecolor=_IRIS_COLOR, edgecolor="none"))
        pupil = xy[centre] + 0.45 * radius * shift
        ax.add_patch(Circle(pupil, 0.5 * radius, facecolor="k", edgecolor="none"))
    if gaze is not None:
        origin = xy[list(_EYE_CORNERS)].mean(axis=0)
        length = 0.3 * float(np.ptp(xy[:, 1]))
        d = length * _gaze_direction(gaze)
        arrow = FancyArrow(*origin, *d, width=length * 0.02, color="gold", zorder=5)
        arrow.set_gid("gaze")
        ax.add_patch(arrow)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale, rotation, translation) taking 2-D ``src`` onto ``dst``."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    p, q = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(q.T @ p)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, d]) @ vt
    scale = (s[0] + d * s[1]) / (p**2).sum()
    return scale, rotation, dst_mean - scale * rotation @ src_mean


def plot_face(
    aus: Any = None,
    *,
    model: str | FaceMap | None = None,
    model_dir: str | os.PathLike | None = None,
    muscles: bool = True,
    symmetrize: bool = True,
    gaze: Sequence[float] | None = None,
    cmap: str = "Blues",
    color: str = "k",
    linewidth: float = 1.5,
    ax: Axes | None = None,
) -> Axes:
    """Draw a 68-point line face from AU values, muscles coloured by the AUs they produce.

    Parameters
    ----------
    aus, model, model_dir, symmetrize
        As for :func:`predict_landmarks` (one face).
    muscles
        Fill the muscle region of each AU with ``cmap`` at the AU's value (regions at 0 stay
        blank). The regions come from the FACS muscle map on the bundled AU → mesh model,
        aligned onto the 68 points drawn.
    gaze
        ``(pitch, yaw)`` in degrees (+pitch up, +yaw toward the subject's right): moves the
        pupils and draws a red gaze arrow from each.
    ax
        Axes to draw into (a new figure by default).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_face(aus={"AU01": 0.8, "AU02": 0.6, "AU26": 1.0})
    """
    face_map = load_face_map(model or _DEFAULT_MAP["au"], model_dir)
    named = _named(face_map, aus)
    pts = predict_landmarks(named, model=face_map, symmetrize=symmetrize)
    ax = _new_axes(ax, (4, 5))
    if muscles:
        mesh_xy = predict_face_mesh(named)[:, :2] * np.array([1.0, -1.0], np.float32)
        scale, rotation, shift = _similarity(mesh_xy[list(DLIB68_FROM_MP478)], pts)
        regions = _asset("au_region_map.json")["regions"]
        _region_collections(ax, scale * mesh_xy @ rotation.T + shift, regions, named, cmap)
    for line in FACE_LINES:
        ax.plot(pts[list(line), 0], pts[list(line), 1], color=color, linewidth=linewidth)
    _draw_pupils(ax, pts, gaze, color)
    _set_limits(ax, pts, y_down=True)
    return ax


def _draw_pupils(ax: Axes, pts: np.ndarray, gaze: Sequence[float] | None, color: str) -> None:
    for corners, lid_top, lid_bottom in (
        ((36, 39), (37, 38), (40, 41)),
        ((42, 45), (43, 44), (46, 47)),
    ):
        centre = pts[[*lid_top, *lid_bottom]].mean(axis=0)
        width = abs(pts[corners[1], 0] - pts[corners[0], 0])
        opening = pts[list(lid_bottom), 1].sum() - pts[list(lid_top), 1].sum()
        radius = float(np.clip(opening / 5, 0.0, 0.15 * width))  # a closed eye has no pupil
        if gaze is not None:
            d = _gaze_direction(gaze) * np.array([1.0, -1.0])  # y down in landmark space
            centre = centre + 0.25 * width * d
            arrow = FancyArrow(*centre, *(1.5 * width * d), width=0.04 * width, color="red")
            arrow.set_gid("gaze")
            ax.add_patch(arrow)
        ax.add_patch(Circle(centre, radius, facecolor=color, edgecolor="none"))


def _ease(t: np.ndarray) -> np.ndarray:
    """Cubic ease-in-out on [0, 1]."""
    return np.where(t < 0.5, 4 * t**3, 1 - (-2 * t + 2) ** 3 / 2)


def animate_face(
    start: Any,
    end: Any,
    path: str | os.PathLike,
    *,
    n_frames: int = 15,
    fps: int = 15,
    include_reverse: bool = True,
    kind: str = "face",
    model: str | FaceMap | None = None,
    model_dir: str | os.PathLike | None = None,
    dpi: int = 80,
    **plot_kwargs: Any,
) -> Path:
    """Write an animation of a face easing from one set of AU values to another.

    Parameters
    ----------
    start, end
        AU values (as for :func:`predict_face_mesh`); each AU eases independently with a
        cubic ease-in-out over ``n_frames`` frames.
    path
        Output file: ``.gif`` (matplotlib's Pillow writer) or ``.mp4`` (OpenCV, mp4v codec).
    n_frames, fps
        Frames from start to end, and playback rate.
    include_reverse
        Append the frames back to ``start`` (a loop).
    kind
        ``"face"`` (:func:`plot_face`) or ``"mesh"`` (:func:`plot_face_mesh`).
    **plot_kwargs
        Passed to the plotting function (e.g. ``muscles=False``, ``mode="tessellation"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> animate_face({}, {"AU12": 1, "AU06": 0.8}, "smile.gif")  # doctest: +SKIP
    PosixPath('smile.gif')
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{path}: animate_face writes .gif or .mp4 files, not {suffix!r}")
    if kind not in ("face", "mesh"):
        raise ValueError(f"kind must be 'face' or 'mesh', got {kind!r}")
    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2, got {n_frames}")
    face_map = load_face_map(model or _DEFAULT_MAP["au"], model_dir)
    a, b = face_map.vector(start), face_map.vector(end)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("start and end must each describe one face")
    eased = _ease(np.linspace(0.0, 1.0, n_frames))[:, None]
    frames = a + (b - a) * eased
    if include_reverse:
        frames = np.concatenate([frames, frames[-2:0:-1]])

    if kind == "face":
        draw = plot_face
        points, y_down = predict_landmarks(frames, model=face_map), True
    else:
        draw = plot_face_mesh
        points, y_down = face_map.predict(frames)[..., :2], False
    fig, ax = plt.subplots(figsize=(3, 3.75), dpi=dpi)
    writer = _write_gif if suffix == ".gif" else _write_mp4

    def render(values: np.ndarray) -> None:
        ax.clear()
        named = dict(zip(face_map.columns, values.tolist(), strict=True))
        draw(named, model=face_map, ax=ax, **plot_kwargs)
        _set_limits(ax, points, y_down)  # the same limits for every frame: no jumping

    try:
        writer(fig, frames, render, path, fps)
    finally:
        plt.close(fig)
    return path


def _write_gif(fig, frames, render, path, fps) -> None:
    from matplotlib.animation import PillowWriter

    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=fig.dpi):
        for values in frames:
            render(values)
            writer.grab_frame()


def _write_mp4(fig, frames, render, path, fps) -> None:
    import cv2

    from featx.media import MediaError

    fig.canvas.draw()
    height, width = np.asarray(fig.canvas.buffer_rgba()).shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise MediaError(f"{path}: OpenCV cannot open an mp4v video writer here", str(path))
    try:
        for values in frames:
            render(values)
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())
            writer.write(cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR))
    finally:
        writer.release()
