"""Video files through OpenCV: what a video holds, its frames one at a time, one frame by index."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import cv2
import numpy as np

from featx.media.arrays import bgr_to_rgb
from featx.media.errors import MediaError, media_error

__all__ = [
    "VIDEO_EXTENSIONS",
    "Frame",
    "open_video",
    "read_video_frame",
    "video_fps",
    "video_frames",
    "video_info",
]

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".avi",
    ".flv",
    ".m4v",
    ".mkv",
    ".mov",
    ".mp4",
    ".mpeg",
    ".mpg",
    ".webm",
    ".wmv",
)

#: One decoded frame: RGB image, source path, index within the source, time in seconds.
Frame = tuple[np.ndarray, str, int, float]


def open_video(path: str) -> cv2.VideoCapture:
    """An opened :class:`cv2.VideoCapture`; the caller releases it.

    Examples
    --------
    >>> open_video("/no/such/clip.mp4")
    Traceback (most recent call last):
    ...
    featx.media.errors.MediaError: /no/such/clip.mp4: file not found
    """
    if not os.path.exists(path):
        raise media_error(path, "file not found")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise media_error(path, "cannot open video")
    return cap


def video_fps(cap: cv2.VideoCapture) -> float:
    """Frames per second the container reports; NaN when it reports none."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps > 0 and math.isfinite(fps) else math.nan


def _no_frames(path: str, cap: cv2.VideoCapture) -> MediaError:
    if cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0:
        return media_error(path, "cannot decode video frames")
    return media_error(path, "video has no frames")


def video_info(path: str) -> tuple[float, int, int, int]:
    """``(fps, width, height, n_frames)`` of a video; its first frame is read to check there is one.

    ``n_frames`` is the count the container reports, counted by grabbing every frame when it
    reports none.

    Raises
    ------
    MediaError
        The file is missing, does not open, or has no decodable frame.
    """
    cap = open_video(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise _no_frames(path, cap)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or frame.shape[1]
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or frame.shape[0]
        n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n_frames <= 0:  # the container does not say: count by grabbing
            n_frames = 1
            while cap.grab():
                n_frames += 1
        return video_fps(cap), width, height, n_frames
    finally:
        cap.release()


def video_frames(path: str, skip: int, excluded: set[tuple[str, int]]) -> Iterator[Frame]:
    """Frames ``0, skip, 2 * skip, ...`` of a video, minus the ``(path, k)`` pairs in ``excluded``.

    Frames not kept are grabbed (advanced over) without being decoded to an image.

    Raises
    ------
    MediaError
        The video does not open or has no frames.
    """
    cap = open_video(path)
    try:
        fps = video_fps(cap)
        k = 0
        while True:
            keep = k % skip == 0 and (path, k) not in excluded
            if keep:
                ok, frame = cap.read()
                ok = ok and frame is not None
            else:
                ok = cap.grab()  # advance without decoding to an image
            if not ok:
                break
            if keep:
                yield bgr_to_rgb(frame, path), path, k, k / fps
            k += 1
        if k == 0:
            raise _no_frames(path, cap)
    finally:
        cap.release()


def read_video_frame(path: str, k: int) -> np.ndarray:
    """Frame ``k`` of a video as RGB ``uint8``, positioned with the backend's seek.

    Raises
    ------
    IndexError
        ``k`` is at or past the frame count the container reports.
    MediaError
        The video does not open or the frame does not decode.
    """
    cap = open_video(path)
    try:
        n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if 0 < n_frames <= k:
            raise IndexError(f"{path}: frame {k} is past the end (video has {n_frames} frames)")
        if k > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        ok, frame = cap.read()
        if not ok or frame is None:
            if k == 0:
                raise _no_frames(path, cap)
            raise media_error(path, f"cannot read frame {k}")
        return bgr_to_rgb(frame, path)
    finally:
        cap.release()
