"""Faces drawn from values alone: a 68-point line face or the face mesh, from AUs and more.

The faces come from the linear face maps of :mod:`featx.plot.face_model` (AU / emotion /
blendshape → mesh or landmarks); :mod:`featx.plot.animate` writes them as animations.

Examples
--------
>>> from featx.plot import plot_face
>>> ax = plot_face(aus={"AU12": 1.0, "AU06": 0.8})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.patches import Circle, FancyArrow, Polygon

from featx.plot.face_model import (
    _DEFAULT_MAP,
    _LABEL_DIMS,
    DLIB68_FROM_MP478,
    FACE_MAPS,
    _which_input,
    load_face_map,
    predict_face_mesh,
    predict_landmarks,
)

if TYPE_CHECKING:  # pragma: no cover
    from featx.classic.face_map import FaceMap

__all__ = [
    "DLIB68_FROM_MP478",
    "FACE_LINES",
    "FACE_MAPS",
    "load_face_map",
    "plot_face",
    "plot_face_mesh",
    "predict_face_mesh",
    "predict_landmarks",
]

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
_IRIS = ((468, (469, 470, 471, 472)), (473, (474, 475, 476, 477)))
_EYE_CORNERS = (33, 263)
_IRIS_COLOR = "#b08868"


@lru_cache(maxsize=8)
def _asset(name: str) -> dict:
    """A bundled JSON asset (mesh connections, tessellation, region maps), read once."""
    from featx import hub

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


def __getattr__(name: str) -> Any:
    # Names that moved: imported when asked for, so importing this module stays light.
    if name == "animate_face":
        from featx.plot.animate import animate_face

        return animate_face
    if name == "FaceMap":
        from featx.classic.face_map import FaceMap

        return FaceMap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
