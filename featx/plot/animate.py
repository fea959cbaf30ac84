"""Animations of a face easing from one set of AU values to another (``.gif`` or ``.mp4``).

Examples
--------
>>> from featx.plot import animate_face
>>> animate_face({}, {"AU12": 1, "AU06": 0.8}, "smile.gif")  # doctest: +SKIP
PosixPath('smile.gif')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from featx.plot.face import _set_limits, plot_face, plot_face_mesh
from featx.plot.face_model import _DEFAULT_MAP, load_face_map, predict_landmarks

if TYPE_CHECKING:  # pragma: no cover
    from featx.classic.face_map import FaceMap

__all__ = ["animate_face"]


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
