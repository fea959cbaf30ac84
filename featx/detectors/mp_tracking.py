"""MPDetector's faces and their tracking state: one :class:`Face` per face and frame, one
:class:`SourceRun` per run of consecutive frames of a source, and the rule that tells when two
meshes are one face (:func:`same_face`, :func:`unique_faces`).

Two meshes are one face when their 478 points lie, on average, within
:data:`DUPLICATE_DISTANCE` face sizes of each other. The rule compares corresponding points
rather than bounding boxes: the same face meshed from two detections of different size gives
meshes whose boxes can overlap by less than half (intersection over union 0.47 on a group
photo where the short-range box was 156 px and the full-range box 117 px), while their points
lie 0.36 face sizes apart; neighbours in that photo are at least 1.23 face sizes apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

#: A new detection overlapping a tracked face's box by more than this IoU is that face.
TRACKED_IOU = 0.3
#: Two meshes whose corresponding points are on average closer than this many face sizes (the
#: mean of the two mesh boxes' square-root areas) are one face. Measured: 0.01-0.36 between
#: meshes of one face from different detections (astronaut compositions, a group photo), at
#: least 1.23 between different people.
DUPLICATE_DISTANCE = 0.5


@dataclass
class Face:
    """One face in one frame, from a detection or carried from the previous frame."""

    roi: np.ndarray  # (cx, cy, side, theta) the mesh crop was made from
    slot: int = -1
    box: np.ndarray | None = None  # detector box x, y, w, h in pixels (detection frames)
    score: float = np.nan
    keypoints: np.ndarray | None = None  # (6, 2) pixels (detection frames)
    rel_box: np.ndarray | None = None  # detector box relative to the mesh's bounding box
    mesh: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))
    presence: float = np.nan
    next_roi: np.ndarray | None = None  # the next frame's region, from this frame's mesh
    fallback: Face | None = None  # a less trusted detector's detection of the same face


@dataclass
class SourceRun:
    """Tracking state of one run of consecutive frames of one source."""

    source: str
    frame: int
    tracks: list[Face] = field(default_factory=list)
    since_detection: int = 0

    def to_json(self) -> dict:
        """What the next frame needs (each track's region, slot and box relative to its mesh),
        as JSON-able values; floats round-trip exactly."""
        tracks = [
            {
                "slot": t.slot,
                "next_roi": np.asarray(t.next_roi).tolist(),
                "rel_box": t.rel_box.tolist(),
            }
            for t in self.tracks
        ]
        return {
            "source": self.source,
            "frame": self.frame,
            "since_detection": self.since_detection,
            "tracks": tracks,
        }

    @classmethod
    def from_json(cls, state: dict) -> SourceRun:
        """The run :meth:`to_json` described, ready to track its next frame."""
        tracks = []
        for t in state["tracks"]:
            roi = np.array(t["next_roi"], float)
            tracks.append(Face(roi, int(t["slot"]), rel_box=np.array(t["rel_box"]), next_roi=roi))
        return cls(state["source"], int(state["frame"]), tracks, int(state["since_detection"]))


def mesh_box(mesh: np.ndarray) -> np.ndarray:
    """Bounding box x, y, w, h of a mesh's x, y.

    Examples
    --------
    >>> mesh_box(np.array([[1.0, 2, 0], [4, 8, 1]]))
    array([1., 2., 3., 6.])
    """
    lo, hi = mesh[:, :2].min(0), mesh[:, :2].max(0)
    return np.concatenate([lo, hi - lo])


def relative_box(box: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """A box x, y, w, h in units of the mesh's bounding box (origin at its top-left)."""
    x, y, w, h = mesh_box(mesh)
    return (box - (x, y, 0, 0)) / (w, h, w, h)


def carried_box(relative: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """The inverse of :func:`relative_box` on a later frame's mesh."""
    x, y, w, h = mesh_box(mesh)
    return relative * (w, h, w, h) + (x, y, 0, 0)


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance of two meshes' corresponding points (x, y) in face sizes: the mean of the
    square roots of the two mesh boxes' areas.

    Examples
    --------
    >>> square = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]])
    >>> face_distance(square, square + (5, 0, 0))
    0.5
    """
    sizes = [np.sqrt(np.prod(mesh_box(m)[2:])) for m in (a, b)]
    distance = np.linalg.norm(a[:, :2] - b[:, :2], axis=-1).mean()
    return float(distance / np.mean(sizes))


def same_face(a: Face, b: Face) -> bool:
    """Whether two faces' meshes are one face (:data:`DUPLICATE_DISTANCE`)."""
    return face_distance(a.mesh, b.mesh) < DUPLICATE_DISTANCE


def unique_faces(faces: Iterable[Face]) -> list[Face]:
    """The faces in the given order, less each that is the same face (:func:`same_face`) as one
    kept before it: put the face to keep first (the lower slot, the more trusted detector).
    """
    kept: list[Face] = []
    for face in faces:
        if not any(same_face(face, k) for k in kept):
            kept.append(face)
    return kept
