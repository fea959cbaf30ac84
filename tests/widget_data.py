"""A short synthetic video and a Dataset of made-up detections on it, for the viewer tests.

Shared by tests/test_widgets.py and the notebook that tests/test_widgets_browser.py runs in
JupyterLab (which imports this file from the tests folder).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from featx import schema
from featx.plot.face import predict_landmarks

FPS = 10.0
SIZE = (160, 120)  # width, height
ATTRS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}


def write_video(path: Path, n: int = 12, shade: int = 0) -> Path:
    """An MJPG video whose frames differ: a bright square moving right over a ramp."""
    width, height = SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for k in range(n):
        bgr = np.zeros((height, width, 3), np.uint8)
        bgr[..., 1] = np.linspace(0, 200, width, dtype=np.uint8)
        bgr[..., 2] = shade
        x = 10 + 8 * k
        bgr[30:90, x : x + 40] = 255
        writer.write(bgr)
    writer.release()
    return path


def box(k: int, slot: int) -> np.ndarray:
    """Face box of slot 0 (moves with the square) or slot 1 (still), in frame ``k``."""
    return np.array([10.0 + 8 * k, 30.0, 40.0, 60.0]) if slot == 0 else np.array([5, 5, 30, 36.0])


def _landmarks(b: np.ndarray) -> np.ndarray:
    pts = predict_landmarks()
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return b[:2] + (pts - lo) / (hi - lo) * b[2:]


def face_values(k: int, slot: int, mesh: bool = False) -> dict[str, np.ndarray]:
    """Every per-face variable of one face in frame ``k``, with values that change over time."""
    rng = np.random.default_rng(100 * k + slot)
    b = box(k, slot)
    out = {
        "face_rect": b,
        "face_score": np.array(0.9),
        "keypoints": b[:2] + rng.uniform(0.2, 0.8, (5, 2)) * b[2:],
        "landmarks": _landmarks(b),
        "head_pose": np.array([5.0 * k, -3.0, 40.0 - 6.0 * k]),
        "gaze": np.array([2.0 * k - 10, 15.0 - 3.0 * k]),
        "aus": rng.uniform(0, 1, 20),
        "emotions": rng.dirichlet(np.ones(7)),
        "identity": np.array(7 + slot),
    }
    if mesh:
        out["mesh"] = np.column_stack(
            [b[:2] + rng.uniform(0, 1, (478, 2)) * b[2:], rng.normal(0, 1, 478)]
        )
    return out


def dataset(video: Path, n: int = 12, *, keep=None, mesh: bool = False, frame_start: int = 0):
    """Detections on ``write_video(video, n)``: face 0 in every frame, face 1 from frame n//2.

    ``keep`` limits the variables (default: all).
    """
    frames = []
    for k in range(n):
        faces = [face_values(k, s, mesh) for s in ((0, 1) if k >= n // 2 else (0,))]
        frames.append(
            {
                name: np.stack([f[name] for f in faces])
                for name in faces[0]
                if keep is None or name in keep
            }
        )
    return schema.from_frames(
        frames,
        [str(video)] * n,
        list(range(n)),
        [k / FPS for k in range(n)],
        frame_start=frame_start,
        var_attrs=ATTRS,
    )
