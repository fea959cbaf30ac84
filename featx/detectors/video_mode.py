"""Video mode, ``detect(video, face_every=k)``: the face detector on every k-th frame of a
video, each face's box carried from the previous frame's landmarks in between.

On a detection frame each face's detector box is stored relative to the bounding box of its 68
landmarks (``featx.detectors.mp_tracking.relative_box``, the rule MPDetector carries its boxes
with); on the next frame that relative box, placed on this frame's landmarks, is the face's box
(``carried_box``) and the detection's score is kept. A face whose landmarks are not finite or
mostly outside the frame, or whose carried box is narrower or shorter than :data:`MIN_SIDE`,
is lost: that frame is analysed again with the face detector and the count to the next
detection starts over. A new source, or a gap in the frames (an excluded frame of a resumed
run), also detects. Still images always detect. Neither Detector nor Detectorv2 gives a
per-face confidence after the face detector, so no score threshold applies to tracked faces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from featx.detectors.mp_tracking import carried_box, relative_box

#: A carried box narrower or shorter than this many pixels is degenerate: the face is lost.
MIN_SIDE = 4.0
#: A face with less than this share of its landmarks inside the frame has left it.
INSIDE = 0.5


def next_boxes(
    faces: Mapping[str, np.ndarray], rel_boxes: np.ndarray | None, shape: Sequence[int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each face's box for the next frame (K, 5: x1, y1, x2, y2, score) and its box relative to
    its landmarks, from one frame's results; None when a face is lost (or there are no
    landmarks to track with).

    ``rel_boxes`` (K, 4) are the faces' relative boxes; None on a detection frame (they are
    then measured from this frame's ``face_rect``). ``shape`` is the frame's height, width.

    Examples
    --------
    >>> lm = np.array([[[10.0, 10], [30, 40]]])
    >>> faces = {"face_rect": np.array([[5.0, 5, 30, 40]]), "landmarks": lm,
    ...          "face_score": np.array([0.9])}
    >>> boxes, rel = next_boxes(faces, None, (100, 100))
    >>> boxes.round(2).tolist()
    [[5.0, 5.0, 35.0, 45.0, 0.9]]
    >>> next_boxes({**faces, "landmarks": lm + 95}, rel, (100, 100)) is None  # left the frame
    True
    """
    landmarks = faces.get("landmarks")
    if landmarks is None:
        return None
    rects = np.asarray(faces["face_rect"], np.float64).reshape(-1, 4)
    if rel_boxes is None:
        rel_boxes = np.array([relative_box(r, lm) for r, lm in zip(rects, landmarks, strict=True)])
    rel_boxes = np.asarray(rel_boxes, np.float64).reshape(-1, 4)
    h, w = shape[:2]
    boxes = []
    for rel, lm in zip(rel_boxes, landmarks, strict=True):
        lm = np.asarray(lm, np.float64)
        if not np.isfinite(lm).all():
            return None
        inside = (lm[:, 0] >= 0) & (lm[:, 0] < w) & (lm[:, 1] >= 0) & (lm[:, 1] < h)
        box = carried_box(rel, lm)
        if inside.mean() < INSIDE or not (box[2] >= MIN_SIDE and box[3] >= MIN_SIDE):
            return None
        boxes.append([box[0], box[1], box[0] + box[2], box[1] + box[3]])
    scores = np.asarray(faces["face_score"], np.float64).reshape(-1, 1)
    return np.concatenate([np.reshape(boxes, (-1, 4)), scores], axis=1), rel_boxes


class VideoMode:
    """Which frames of a run get the face detector, and the boxes of the others.

    Parameters
    ----------
    every
        Run the face detector on every this many frames of a video (while faces are tracked).
    step
        The run's ``skip_frames``: consecutive output frames of a video are this far apart.
    kinds
        Source path -> kind (``"video"``, ``"image"``, ...); only videos are tracked.
    """

    def __init__(self, every: int, step: int, kinds: Mapping[str, str]) -> None:
        self.every, self.step, self.kinds = every, step, dict(kinds)
        self.source: str | None = None
        self.frame = -1
        self.since = 0
        self.boxes: np.ndarray | None = None  # next frame's boxes; None: detect it
        self.rel_boxes: np.ndarray | None = None
        #: Frames on which the face detector ran (this process; not part of the state).
        self.detections = 0

    def process(self, detector: Any, images: Sequence[np.ndarray], sources, frames) -> list:
        """One result per frame, the frames in order (``detector.process_batch`` per frame)."""
        out = []
        for image, source, frame in zip(images, sources, frames, strict=True):
            frame = int(frame)
            follows = source == self.source and frame == self.frame + self.step
            tracked = self.kinds.get(source) == "video" and follows and self.boxes is not None
            result = None
            if tracked and self.since + 1 < self.every:
                given = self.boxes.astype(np.float32)
                result = detector.process_batch([image], [given])[0]
                carried = next_boxes(result, self.rel_boxes, image.shape)
                if carried is not None:
                    self.since += 1
                    self.boxes, self.rel_boxes = carried
            if result is None or carried is None:
                result = detector.process_batch([image])[0]
                self.detections += 1
                self.since = 0
                carried = next_boxes(result, None, image.shape)
                self.boxes, self.rel_boxes = (None, None) if carried is None else carried
            self.source, self.frame = source, frame
            out.append(result)
        return out

    def state(self) -> dict:
        """What the next frame needs, JSON-able (floats round-trip exactly)."""
        tracked = self.boxes is not None
        return {
            "source": self.source,
            "frame": self.frame,
            "since": self.since,
            "boxes": self.boxes.tolist() if tracked else None,
            "rel_boxes": self.rel_boxes.tolist() if tracked else None,
        }

    def restore(self, state: Mapping | None) -> None:
        """Take back what :meth:`state` returned (None: start afresh)."""

        if not state:
            return
        self.source, self.frame, self.since = state["source"], state["frame"], state["since"]
        if state["boxes"] is not None:
            self.boxes = np.array(state["boxes"], np.float64).reshape(-1, 5)
            self.rel_boxes = np.array(state["rel_boxes"], np.float64).reshape(-1, 4)
