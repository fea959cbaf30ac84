"""Face boxes given to ``detect(..., face_boxes=...)`` instead of the face detector's.

:func:`per_frame` turns what the user passed into one (K, 5) float32 array per output frame
(x1, y1, x2, y2, score), checking it once before any frame is decoded; :func:`as_found` gives a
batch's boxes the form the face detectors return, so every later stage runs on them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Score of a given box that has none (a 4-column array).
DEFAULT_SCORE = 1.0

_FORMS = (
    "one (K, 4) or (K, 5) array of x1, y1, x2, y2[, score] for every frame, a sequence with one "
    "such array per frame, or a featx Dataset whose face_rect gives the boxes"
)


def _one(value: Any, where: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"face_boxes{where}: not a (K, 4) or (K, 5) array of numbers (all boxes of a frame "
            f"need the same number of columns): {e}"
        ) from None
    if a.size == 0:
        return np.zeros((0, 5), np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] not in (4, 5):
        raise ValueError(
            f"face_boxes{where} has shape {np.shape(value)}; each box must be [x1, y1, x2, y2] "
            f"or [x1, y1, x2, y2, score] (K boxes: shape (K, 4) or (K, 5))"
        )
    if not np.isfinite(a).all():
        raise ValueError(f"face_boxes{where} holds NaN or infinite values")
    if a.shape[1] == 4:
        a = np.concatenate([a, np.full((len(a), 1), DEFAULT_SCORE)], axis=1)
    bad = (a[:, 2] <= a[:, 0]) | (a[:, 3] <= a[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"face_boxes{where}: box {i} {a[i, :4].tolist()} is not x1 < x2 and y1 < y2 "
            f"(boxes are x1, y1, x2, y2 in frame pixels, not x, y, width, height)"
        )
    if ((a[:, 4] < 0) | (a[:, 4] > 1)).any():
        raise ValueError(f"face_boxes{where}: scores (5th column) must lie in [0, 1]")
    return a.astype(np.float32)


def _from_dataset(ds: Any) -> list[np.ndarray]:
    rect = np.asarray(ds["face_rect"].transpose("frame", "face", "rect").values, np.float64)
    if "face_score" in ds:
        score = np.asarray(ds["face_score"].transpose("frame", "face").values, np.float64)
    else:
        score = np.full(rect.shape[:2], DEFAULT_SCORE)
    out = []
    for r, s in zip(rect, score, strict=True):
        ok = np.isfinite(r).all(-1)
        s = np.where(np.isfinite(s[ok]), s[ok], DEFAULT_SCORE)
        xyxy = np.concatenate([r[ok, :2], r[ok, :2] + r[ok, 2:]], axis=1)
        out.append(np.concatenate([xyxy, s[:, None]], axis=1).astype(np.float32))
    return out


class GivenBoxes:
    """The boxes of every output frame: ``take(start, n)`` gives frames start .. start+n-1."""

    def __init__(self, frames: Sequence[np.ndarray] | None, every: np.ndarray | None) -> None:
        self.frames, self.every = frames, every

    def take(self, start: int, n: int) -> list[np.ndarray]:
        if self.every is not None:
            return [self.every] * n
        assert self.frames is not None
        if start + n > len(self.frames):
            raise ValueError(
                f"face_boxes has {len(self.frames)} entries but the input has more frames "
                f"(frame {len(self.frames)} was decoded); give one entry per frame"
            )
        return list(self.frames[start : start + n])

    def check_count(self, n_frames: int, exact: bool) -> None:
        """Refuse a per-frame form whose length is not ``n_frames`` (``exact``: the count is
        known, e.g. no video, whose container may announce more frames than it holds)."""
        if self.frames is None or not exact or len(self.frames) == n_frames:
            return
        raise ValueError(
            f"face_boxes has {len(self.frames)} entries but the input has {n_frames} frames; "
            f"give one entry per frame (an empty one for a frame without faces), or one array "
            f"for every frame"
        )

    def digest(self) -> str:
        """A hash of the boxes (recorded by ``output=`` runs, which resume only on the same)."""
        import hashlib

        h = hashlib.sha256()
        for a in [self.every] if self.every is not None else self.frames:
            h.update(np.ascontiguousarray(a).tobytes() + b"|")
        return ("every:" if self.every is not None else "frames:") + h.hexdigest()


def per_frame(face_boxes: Any) -> GivenBoxes:
    """Check ``face_boxes`` and hold it as (K, 5) float32 x1, y1, x2, y2, score arrays.

    Parameters
    ----------
    face_boxes
        - one array-like (K, 4) or (K, 5): the same K boxes in every frame (a fixed camera);
        - a list or tuple with one 2-D (K_i, 4) or (K_i, 5) array-like per output frame (or a
          (frames, K, 4|5) array), in the Dataset's frame order (sources in order, after
          ``skip_frames``); an empty entry means no face in that frame;
        - an ``xarray.Dataset`` from a featx detector (``face_rect``, ``face_score``): the faces
          of its frame ``i`` are the boxes of frame ``i``.

        Coordinates are frame pixels; a missing score is :data:`DEFAULT_SCORE`.

    Examples
    --------
    >>> per_frame([[10, 20, 50, 70]]).take(0, 2)[1]
    array([[10., 20., 50., 70.,  1.]], dtype=float32)
    >>> per_frame([[[10, 20, 50, 70, 0.9]], []]).take(1, 1)[0].shape
    (0, 5)
    >>> per_frame([[10, 20, 5, 70]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: face_boxes: box 0 [10.0, 20.0, 5.0, 70.0] is not x1 < x2 and y1 < y2 (...)
    """
    if isinstance(face_boxes, Mapping) and "face_rect" in face_boxes:  # an xarray Dataset
        frames = _from_dataset(face_boxes)
    elif hasattr(face_boxes, "columns"):
        raise ValueError(
            f"face_boxes must be {_FORMS}; a table is ambiguous: split it by frame first"
        )
    elif isinstance(face_boxes, np.ndarray) and face_boxes.ndim == 3:
        frames = [_one(f, f"[{i}]") for i, f in enumerate(face_boxes)]
    elif isinstance(face_boxes, (list, tuple)) and any(
        not np.isscalar(f) and (np.ndim(f) != 1 or len(f) == 0) for f in face_boxes
    ):
        for i, f in enumerate(face_boxes):
            if np.isscalar(f) or (np.ndim(f) == 1 and len(f)):
                raise ValueError(
                    f"face_boxes[{i}] is {f!r}, not a 2-D array of boxes, but other entries are "
                    f"per frame: give each frame's boxes as a 2-D (K, 4) or (K, 5) array, "
                    f"e.g. [[x1, y1, x2, y2]]"
                )
        frames = [_one(f, f"[{i}]") for i, f in enumerate(face_boxes)]
    elif isinstance(face_boxes, (list, tuple, np.ndarray)) or hasattr(face_boxes, "__array__"):
        return GivenBoxes(None, _one(face_boxes, ""))
    else:
        raise ValueError(f"face_boxes must be {_FORMS}; got {type(face_boxes).__name__}")
    return GivenBoxes(frames, None)


def as_found(boxes: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Per-frame dicts shaped like a face detector's output; keypoints are NaN (unknown).

    >>> as_found([np.array([[0, 0, 4, 4, 0.5]], np.float32)])[0]["keypoints"].shape
    (1, 5, 2)
    """
    return [
        {
            "boxes": np.ascontiguousarray(b[:, :4]),
            "scores": np.ascontiguousarray(b[:, 4]),
            "keypoints": np.full((len(b), 5, 2), np.nan, np.float32),
        }
        for b in boxes
    ]
