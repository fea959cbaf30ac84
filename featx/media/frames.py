"""Frames out of any source: :func:`iter_frames` in batches, :func:`read_frame` one by name."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from featx import validators
from featx.media import images, video
from featx.media.arrays import (
    ARRAY_SOURCE,
    TENSOR_SOURCE,
    array_batch,
    tensor_batch,
    tensor_frame,
    to_rgb_uint8,
)
from featx.media.errors import ON_ERROR, MediaError, ReadReport, media_error, skip_source
from featx.media.sources import Source, file_kind, resolve
from featx.media.video import Frame

__all__ = ["FrameBatch", "iter_frames", "read_frame"]


@dataclass
class FrameBatch:
    """Up to ``batch_size`` frames, possibly from several sources.

    Attributes
    ----------
    images : list of numpy.ndarray
        RGB ``uint8`` frames, ``HxWx3`` each; sizes may differ between frames.
    source : list of str
        the ``path`` of the :class:`SourceInfo` of each frame's source.
    source_frame : numpy.ndarray
        ``int64`` index of each frame within its source.
    time : numpy.ndarray
        ``float64`` seconds from the start of the video: each frame's presentation timestamp
        in the container (right for variable frame rates too; ``source_frame / fps`` where the
        backend gives none); NaN for still images, arrays and tensors.

    Examples
    --------
    >>> import numpy as np
    >>> batch = next(iter_frames(np.zeros((2, 4, 4, 3), np.uint8), batch_size=2))
    >>> len(batch), batch.source, batch.source_frame.tolist()
    (2, ['<array>', '<array>'], [0, 1])
    """

    images: list[np.ndarray]
    source: list[str]
    source_frame: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def iter_frames(
    inputs: Any,
    *,
    batch_size: int = 1,
    skip_frames: int = 1,
    data_type: str | None = None,
    exclude: Collection[tuple[str, int]] = (),
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> Iterator[FrameBatch]:
    """Yield the frames of ``inputs`` in batches of RGB ``uint8`` images.

    Frames come out in input order. A batch holds at most ``batch_size``
    frames and may mix sources (a folder of images is batched across files);
    only the last batch may be shorter. Videos are decoded one frame at a
    time, so memory use depends on ``batch_size``, not on video length.
    Each image file is decoded once, when its frame is yielded.

    Arguments are checked and paths resolved when this is called (missing
    files and unknown suffixes raise at once); decoding errors are raised
    when the iteration reaches the file, or, with ``on_error="skip"``, end
    that source and the iteration goes on with the next one.

    Parameters
    ----------
    inputs : path, list of paths, folder, numpy.ndarray or torch.Tensor
        A path to an image or a video; a list or tuple of paths (folders in
        it are expanded); a folder (its image and video files, sorted by name,
        not recursive); a channel-last RGB array ``HxW``, ``HxWxC`` or
        ``NxHxWxC``; or a channel-first tensor ``CxHxW`` or ``NxCxHxW``
        (``uint8`` or float in ``[0, 1]``).
    batch_size : int
        Most frames per batch, at least 1.
    skip_frames : int
        Keep frames ``0, n, 2n, ...`` of each video and of each array or
        tensor batch. It does not apply across a list or folder of still
        images: every image is its own frame 0 and is always kept.
    data_type : {None, "image", "video", "array", "tensor"}
        Force how ``inputs`` is read, e.g. a video with an unusual suffix. For
        a folder, ``"image"`` or ``"video"`` also limits which files are taken.
    exclude : collection of (str, int)
        ``(source, source_frame)`` pairs not to yield, e.g. frames already
        processed by an interrupted run. Sources are compared as absolute
        paths (or ``"<array>"`` / ``"<tensor>"``).
    on_error : {"raise", "skip"}
        What a source that fails to decode does when ``inputs`` has several:
        raise, or end (frames it gave before stay yielded), be recorded in
        ``report.failed`` (a :class:`~featx.media.MediaWarning` when no
        ``report`` is given), and the next source is read. A single source
        always raises. Missing files and unknown suffixes raise either way.
    report : ReadReport, optional
        Filled as the iteration goes: skipped sources in ``failed`` (sources
        already there are not read again), and each video read to its end in
        ``n_decoded``. A video that ends short of the frame count its container
        announces gives a :class:`~featx.media.MediaWarning` either way.

    Yields
    ------
    FrameBatch

    Raises
    ------
    ValueError
        ``batch_size`` or ``skip_frames`` below 1, or a bad ``data_type``.
    MediaError
        A file is missing, unreadable, of unknown type, a folder holds no
        media files, or a video has no frames (with ``on_error="skip"`` and
        several sources, decoding errors are skipped instead).

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.zeros((5, 8, 8, 3), np.uint8)
    >>> [b.source_frame.tolist() for b in iter_frames(frames, batch_size=2, skip_frames=2)]
    [[0, 2], [4]]
    >>> for batch in iter_frames("videos/", batch_size=16):  # doctest: +SKIP
    ...     faces = detector(batch.images)
    """
    batch_size = validators.integer("batch_size", batch_size)
    skip_frames = validators.integer("skip_frames", skip_frames)
    validators.choice("on_error", on_error, ON_ERROR)
    sources = resolve(inputs, data_type)
    excluded = {_exclude_key(s, f) for s, f in exclude}
    if len(sources) == 1:
        on_error = "raise"  # nothing else to keep
    return _batched(_frames(sources, skip_frames, excluded, on_error, report), batch_size)


def _exclude_key(source: Any, frame: Any) -> tuple[str, int]:
    source = os.fsdecode(source)
    if source not in (ARRAY_SOURCE, TENSOR_SOURCE):
        source = os.path.abspath(source)
    return source, int(frame)


def _frames(
    sources: list[Source],
    skip: int,
    excluded: set[tuple[str, int]],
    on_error: str,
    report: ReadReport | None,
) -> Iterator[Frame]:
    for src in sources:
        if report is not None and src.path in report.failed:
            continue
        try:
            yield from _source_frames(src, skip, excluded, report)
        except MediaError as err:
            if on_error == "raise":
                raise
            skip_source(err, src.path, report)


def _source_frames(
    src: Source, skip: int, excluded: set[tuple[str, int]], report: ReadReport | None
) -> Iterator[Frame]:
    if src.kind == "image":
        if (src.path, 0) not in excluded:
            yield images.read_image(src.path), src.path, 0, math.nan
    elif src.kind == "video":
        yield from video.video_frames(src.path, skip, excluded, report)
    elif src.kind == "array":
        arr = array_batch(src.data)
        for k in range(0, arr.shape[0], skip):
            if (src.path, k) not in excluded:
                yield to_rgb_uint8(arr[k], f"{src.path}[{k}]"), src.path, k, math.nan
    else:
        t = tensor_batch(src.data)
        for k in range(0, t.shape[0], skip):
            if (src.path, k) not in excluded:
                yield tensor_frame(t, k), src.path, k, math.nan


def _batched(frames: Iterable[Frame], batch_size: int) -> Iterator[FrameBatch]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield _make_batch(batch)
            batch = []
    if batch:
        yield _make_batch(batch)


def _make_batch(frames: list[Frame]) -> FrameBatch:
    return FrameBatch(
        images=[f[0] for f in frames],
        source=[f[1] for f in frames],
        source_frame=np.array([f[2] for f in frames], dtype=np.int64),
        time=np.array([f[3] for f in frames], dtype=np.float64),
    )


def read_frame(source: str, source_frame: int, *, data_type: str | None = None) -> np.ndarray:
    """Read one frame back from an image or video file.

    Meant for going back to a frame named in results (``source``,
    ``source_frame``), e.g. to draw on it. Videos are positioned with the
    backend's seek (``CAP_PROP_POS_FRAMES``).

    Parameters
    ----------
    source : str or path
        The image or video file.
    source_frame : int
        Index of the frame in the video; 0 for an image.
    data_type : {None, "image", "video"}
        Force the file type, as for :func:`iter_frames`.

    Returns
    -------
    numpy.ndarray
        The frame, ``HxWx3`` RGB ``uint8``.

    Raises
    ------
    MediaError
        The file is missing or unreadable, or the frame cannot be decoded.
    IndexError
        ``source_frame`` is negative, not 0 for an image, or beyond the
        frame count a video reports.
    ValueError
        ``source`` is ``"<array>"`` / ``"<tensor>"``: in-memory inputs cannot be
        read back.

    Examples
    --------
    >>> import os, tempfile
    >>> import cv2, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "grey.png")
    >>> cv2.imwrite(path, np.full((4, 6), 128, np.uint8))
    True
    >>> read_frame(path, 0).shape
    (4, 6, 3)
    >>> read_frame("clip.mp4", 120).shape  # doctest: +SKIP
    (720, 1280, 3)
    """
    if source in (ARRAY_SOURCE, TENSOR_SOURCE):
        raise ValueError(f"{source} inputs cannot be read back; index the array or tensor instead")
    if data_type not in (None, "image", "video"):
        raise ValueError(f"data_type must be None, 'image' or 'video', got {data_type!r}")
    path = os.path.abspath(os.fsdecode(source))
    k = int(source_frame)
    if k < 0:
        raise IndexError(f"{path}: frame index must be >= 0, got {k}")
    if os.path.isdir(path):
        raise media_error(path, "is a folder, not an image or video file")
    kind = file_kind(path, data_type)

    if kind == "image":
        if k != 0:
            raise IndexError(f"{path}: a still image has only frame 0, asked for {k}")
        return images.read_image(path)
    return video.read_video_frame(path, k)
