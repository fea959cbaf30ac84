"""Video files through OpenCV: what a video holds, its frames one at a time, one frame by index."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator

import cv2
import numpy as np

from featx.media.arrays import bgr_to_rgb
from featx.media.errors import MediaError, MediaWarning, ReadReport, media_error

__all__ = [
    "VIDEO_EXTENSIONS",
    "Frame",
    "frame_time",
    "is_short",
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


def frame_time(cap: cv2.VideoCapture, k: int, fps: float) -> float:
    """Seconds from the start of the video to frame ``k``, the one just read or grabbed.

    The frame's presentation timestamp from the container (``CAP_PROP_POS_MSEC``), so a
    variable-frame-rate video gets each frame's own time; ``k / fps`` where the backend reports
    no timestamp (0 past the first frame).
    """
    ms = cap.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(ms) and (ms > 0 or k == 0):
        return ms / 1000.0
    return k / fps


def is_short(n_decoded: int, last_time: float, n_announced: int, fps: float) -> bool:
    """Whether a video that gave ``n_decoded`` frames, the last at ``last_time`` s, is cut short.

    It is when fewer frames decoded than the container announces and, where the rate is known,
    the last frame ends (its time plus one average frame) more than half a frame before the
    announced length ``n_announced / fps``. The second test keeps a variable-rate Matroska or
    WebM file, whose count is only estimated from its duration times its rate, from warning.

    Examples
    --------
    >>> is_short(17, 1.6, 30, 10.0), is_short(20, 5.5, 56, 10.0), is_short(30, 2.9, 30, 10.0)
    (True, False, False)
    """
    if not 0 < n_decoded < n_announced:
        return False
    if math.isnan(fps) or math.isnan(last_time):
        return True
    return n_announced - (last_time * fps + 1) > 0.5


def video_frames(
    path: str, skip: int, excluded: set[tuple[str, int]], report: ReadReport | None = None
) -> Iterator[Frame]:
    """Frames ``0, skip, 2 * skip, ...`` of a video, minus the ``(path, k)`` pairs in ``excluded``.

    Frames not kept are grabbed (advanced over) without being decoded to an image. Each frame's
    time is its timestamp in the container (:func:`frame_time`). Read to its end, the video's
    frame count goes into ``report.n_decoded`` and, if it is short of what the container
    announces (:func:`is_short`), a :class:`MediaWarning` names the file and both counts.

    Raises
    ------
    MediaError
        The video does not open or has no frames.
    """
    cap = open_video(path)
    try:
        fps = video_fps(cap)
        k, last_time = 0, math.nan
        while True:
            keep = k % skip == 0 and (path, k) not in excluded
            if keep:
                ok, frame = cap.read()
                ok = ok and frame is not None
            else:
                ok = cap.grab()  # advance without decoding to an image
            if not ok:
                break
            last_time = frame_time(cap, k, fps)
            if keep:
                yield bgr_to_rgb(frame, path), path, k, last_time
            k += 1
        if k == 0:
            raise _no_frames(path, cap)
        if report is not None:
            report.n_decoded[path] = k
        announced = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if is_short(k, last_time, announced, fps):
            warnings.warn(
                MediaWarning(
                    f"{path}: decoded {k} of the {announced} frames the container announces "
                    "(the file may be truncated or damaged)"
                ),
                stacklevel=2,
            )
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
