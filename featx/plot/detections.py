"""What a detector found in one frame, drawn over that frame, with AU and emotion bars beside it.

The frame image is read back from the Dataset's ``source`` / ``source_frame`` coordinates with
:func:`featx.media.read_frame`. When the file is gone (or the frames came from an in-memory
array), the overlays are drawn on a blank panel that says why, a warning is issued, and the bar
panels draw as usual.

Head pose follows the featx signs (+pitch = head up, +yaw = toward the subject's right, +roll =
tilt toward the subject's right) and is drawn as three axes: red toward the viewer's right of
the face, green up, blue out of the face. Gaze is an arrow from between the eyes.

Examples
--------
>>> from featx.plot import plot_detections
>>> fig = plot_detections(ds, frame=0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Rectangle

from featx.analysis._core import check_dataset
from featx.plot.face import FACE_LINES, _asset
from featx.plot.timeseries import _at_frame, _legend_size, _present_slots, face_colors, plot_bars

__all__ = ["draw_frame", "head_pose_axes", "plot_detections"]

_POINT_VARS = ("face_rect", "landmarks", "mesh", "keypoints")
_BAR_VARS = ("aus", "emotions")


def head_pose_axes(pitch: float, roll: float, yaw: float) -> np.ndarray:
    """The face's right, up and forward axes projected into the image (x right, y down).

    Parameters
    ----------
    pitch, roll, yaw
        Degrees, featx signs: +pitch = head up, +roll = tilt toward the subject's right,
        +yaw = turn toward the subject's right (the viewer's left in a frontal image).

    Returns
    -------
    numpy.ndarray
        ``(3, 2)``: unit-length axes (viewer's right of the face, up, out of the face toward
        the camera) dropped onto the image plane (orthographic).

    Examples
    --------
    >>> head_pose_axes(0, 0, 0).round(3).tolist()
    [[1.0, 0.0], [0.0, -1.0], [0.0, 0.0]]
    >>> bool(head_pose_axes(0, 0, 30)[2, 0] < 0)  # turned to the subject's right: nose points left
    True
    """
    p, r, y = np.deg2rad([pitch, roll, yaw])
    # Camera frame: x right, y down, z away from the camera.
    yaw_m = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    pitch_m = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    roll_m = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    rest = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # right, up, toward the camera
    return (yaw_m @ pitch_m @ roll_m @ rest.T).T[:, :2]


def _gaze_vector(pitch: float, yaw: float) -> np.ndarray:
    """Image-plane gaze direction (x right, y down), featx signs."""
    p, y = np.deg2rad([pitch, yaw])
    return np.array([-np.sin(y) * np.cos(p), -np.sin(p)])


def _frame_image(ds: xr.Dataset, frame: int) -> tuple[np.ndarray | None, str]:
    row = ds.sel(frame=frame)
    return _read_picture(str(row["source"].values), int(row["source_frame"].values))


def _read_picture(source: str, index: int) -> tuple[np.ndarray | None, str]:
    """One frame of a file, or None and why it cannot be read."""
    from featx import media  # on first use: importing featx.plot loads no video reader

    try:
        return media.read_frame(source, index), ""
    except (media.MediaError, ValueError, IndexError) as e:
        return None, str(e)


def _face_points(row: xr.Dataset, slot: int) -> dict[str, np.ndarray]:
    """The drawable geometry of one face slot in one frame (NaN entries dropped)."""
    out = {}
    for name in _POINT_VARS:
        if name in row:
            values = row[name].sel(face=slot).values.astype(float)
            if np.isfinite(values).all():
                out[name] = values
    return out


def _extent(geometry: list[dict[str, np.ndarray]]) -> np.ndarray | None:
    points = []
    for g in geometry:
        if "face_rect" in g:
            x, y, w, h = g["face_rect"]
            points += [(x, y), (x + w, y + h)]
        for name in ("landmarks", "mesh", "keypoints"):
            if name in g:
                points += [tuple(p[:2]) for p in g[name]]
    return np.array(points) if points else None


def _box(g: dict[str, np.ndarray]) -> tuple[float, float, float, float]:
    """x, y, width, height of the face: its rect, else the bounds of its points."""
    if "face_rect" in g:
        return tuple(g["face_rect"])
    pts = np.concatenate([g[n][:, :2] for n in ("landmarks", "mesh", "keypoints") if n in g])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]


def _eyes_centre(g: dict[str, np.ndarray]) -> np.ndarray:
    if "landmarks" in g:
        return g["landmarks"][36:48].mean(axis=0)
    if "mesh" in g:
        return g["mesh"][[468, 473], :2].mean(axis=0)
    x, y, w, h = _box(g)
    return np.array([x + w / 2, y + 0.4 * h])


def _face_centre(g: dict[str, np.ndarray]) -> np.ndarray:
    if "landmarks" in g:
        return g["landmarks"][30]  # nose tip
    if "mesh" in g:
        return g["mesh"][1, :2]
    x, y, w, h = _box(g)
    return np.array([x + w / 2, y + h / 2])


def _draw_face(
    ax: Axes,
    row: xr.Dataset,
    slot: int,
    g: dict[str, np.ndarray],
    color,
    points: str,
    pose: bool,
    gaze: bool,
) -> None:
    x, y, w, h = _box(g)
    size = max(w, h, 1.0)
    if "face_rect" in g:
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=2, gid="box"))
    label = f"face {slot}"
    if "identity" in row and int(row["identity"].sel(face=slot)) >= 0:
        label = f"identity {int(row['identity'].sel(face=slot))}"
    ax.text(x, y - 0.02 * size, label, color="white", fontsize=8, va="bottom", gid="label",
            bbox={"facecolor": color, "edgecolor": "none", "pad": 1.5})  # fmt: skip

    use = points if points != "auto" else ("landmarks" if "landmarks" in g else "mesh")
    if use == "landmarks" and "landmarks" in g:
        pts = g["landmarks"]
        segments = [pts[list(line)] for line in FACE_LINES]
        ax.add_collection(LineCollection(segments, colors=[color], linewidths=1.2, gid="landmarks"))
    elif use == "mesh" and "mesh" in g:
        pts = g["mesh"][:, :2]
        pairs = np.asarray(_asset("mp_face_connections.json")["FACE_LANDMARKS_CONTOURS"])
        ax.add_collection(LineCollection(pts[pairs], colors=[color], linewidths=0.8, gid="mesh"))
    if points != "none" and "keypoints" in g:
        kp = g["keypoints"]
        ax.scatter(kp[:, 0], kp[:, 1], s=12, color=[color], edgecolors="white", gid="keypoints")

    if pose and "head_pose" in row:
        angles = row["head_pose"].sel(face=slot)
        if bool(angles.notnull().all()):
            pitch, roll, yaw = (float(angles.sel(angle=a)) for a in ("pitch", "roll", "yaw"))
            origin = _face_centre(g)
            for axis, c in zip(
                head_pose_axes(pitch, roll, yaw), ("red", "green", "blue"), strict=True
            ):
                end = origin + 0.5 * size * axis
                ax.plot(*zip(origin, end, strict=True), color=c, linewidth=2, gid="head_pose")
    if gaze and "gaze" in row:
        angles = row["gaze"].sel(face=slot)
        if bool(angles.notnull().all()):
            d = 0.8 * size * _gaze_vector(float(angles.sel(gaze_angle="pitch")),
                                          float(angles.sel(gaze_angle="yaw")))  # fmt: skip
            origin = _eyes_centre(g)
            ax.add_patch(FancyArrow(*origin, *d, width=0.015 * size, color="gold", gid="gaze"))


def draw_frame(
    ax: Axes,
    row: xr.Dataset,
    slots: Sequence[int],
    picture: np.ndarray | None,
    reason: str = "",
    *,
    points: str = "auto",
    pose: bool = True,
    gaze: bool = True,
) -> None:
    """Draw one frame and the faces in ``slots`` over it, into ``ax``.

    The building block of :func:`plot_detections` and of the :mod:`featx.widgets` viewer.
    Overlay artists carry a gid (``box``, ``label``, ``landmarks``, ``mesh``, ``keypoints``,
    ``head_pose``, ``gaze``) so a caller can hide each kind.

    Parameters
    ----------
    ax
        Axes to draw into.
    row
        One frame of a featx Dataset (``ds.sel(frame=k)``).
    slots
        Face slots to draw; slots without geometry in this frame are skipped.
    picture
        The frame, ``HxWx3`` RGB, or None for a blank panel that shows ``reason``.
    reason
        Why there is no picture.
    points, pose, gaze
        As for :func:`plot_detections`.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> draw_frame(ax, ds.sel(frame=0), [0], None, "no file")  # doctest: +SKIP
    """
    geometry = {s: _face_points(row, s) for s in slots}
    if picture is not None:
        ax.imshow(picture)
    else:
        ax.set_facecolor("0.92")
        ax.text(0.5, 0.02, f"image not available: {reason}", transform=ax.transAxes,
                ha="center", va="bottom", fontsize=7, wrap=True, gid="no_image")  # fmt: skip
        extent = _extent(list(geometry.values()))
        if extent is not None:
            lo, hi = extent.min(axis=0), extent.max(axis=0)
            pad = 0.2 * max(*(hi - lo), 1.0)
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(hi[1] + pad, lo[1] - pad)
        else:
            ax.invert_yaxis()
        ax.set_aspect("equal")
    colors = face_colors(row.sizes["face"])
    for slot in slots:
        if geometry[slot]:
            _draw_face(
                ax, row, slot, geometry[slot], colors[slot % len(colors)], points, pose, gaze
            )
    ax.set_xticks([])
    ax.set_yticks([])


def plot_detections(
    ds: xr.Dataset,
    frame: int,
    *,
    faces: Sequence[int] | None = None,
    points: str = "auto",
    pose: bool = True,
    gaze: bool = True,
    bars: bool = True,
    image: bool = True,
) -> Figure:
    """One frame with its faces: image, boxes, landmarks or mesh, head pose, gaze, AU bars.

    Parameters
    ----------
    ds
        A featx Dataset (from a detector or a reader; every variable is optional).
    frame
        The ``frame`` coordinate value to show.
    faces
        Face slots to draw (default: every slot holding a face in that frame).
    points
        ``"auto"`` (68 landmarks if present, else the mesh), ``"landmarks"``, ``"mesh"`` or
        ``"none"``; detector keypoints are marked too unless ``"none"``.
    pose, gaze
        Draw head-pose axes and the gaze arrow when the Dataset has them.
    bars
        Add a bar panel for ``aus`` and one for ``emotions`` when present (see
        :func:`~featx.plot.timeseries.plot_bars`), coloured like the faces.
    image
        Show the frame read back from ``source``; a missing file gives a warning and a blank
        panel that says so.

    Returns
    -------
    matplotlib.figure.Figure
        Panels: the frame, then the bar panels.

    Examples
    --------
    >>> fig = plot_detections(ds, frame=10, points="mesh")  # doctest: +SKIP
    """
    if points not in ("auto", "landmarks", "mesh", "none"):
        raise ValueError(f"points must be 'auto', 'landmarks', 'mesh' or 'none', got {points!r}")
    check_dataset(ds, frame_order=False)
    drawable = [n for n in (*_POINT_VARS, *_BAR_VARS) if n in ds]
    if not drawable:
        raise ValueError(
            f"nothing to draw: the Dataset has none of {list(_POINT_VARS + _BAR_VARS)}; "
            f"it has {list(ds.data_vars)}"
        )
    _at_frame(ds["frame"], frame)  # a clear error when the frame is not there
    row = ds.sel(frame=frame)
    if faces is not None:
        slots = _present_slots(row[drawable[0]], faces)
    else:
        slots = sorted({s for n in drawable for s in _present_slots(row[n], None)})
    bar_vars = [n for n in _BAR_VARS if n in ds] if bars else []

    picture, reason = _frame_image(ds, frame) if image else (None, "image=False")
    aspect = picture.shape[1] / picture.shape[0] if picture is not None else 1.0
    legend = _legend_size([f"face {s}" for s in slots])[0] if len(slots) > 1 else 0.0
    widths = [4.2 * float(np.clip(aspect, 0.6, 2.5))] + [2.8 + legend] * len(bar_vars)
    fig, axes = plt.subplots(
        1, len(widths), figsize=(sum(widths), 4.5), squeeze=False,
        gridspec_kw={"width_ratios": widths}, layout="constrained",
    )  # fmt: skip
    axes = list(axes[0])
    img_ax = axes[0]
    if picture is None and image:
        warnings.warn(
            f"frame {frame}: cannot show the image ({reason}); drawing the detections without it",
            UserWarning,
            stacklevel=2,
        )
    draw_frame(img_ax, row, slots, picture, reason, points=points, pose=pose, gaze=gaze)
    img_ax.set_title(f"{os.path.basename(str(row['source'].values))} · frame {frame}", fontsize=9)
    for bar_ax, name in zip(axes[1:], bar_vars, strict=True):
        plot_bars(ds, frame, name, faces=slots, ax=bar_ax)
    return fig
