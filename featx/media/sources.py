"""Resolving inputs (paths, folders, arrays, tensors) to sources, and :func:`probe`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from featx import validators
from featx.media.arrays import ARRAY_SOURCE, TENSOR_SOURCE, array_batch, is_tensor, tensor_batch
from featx.media.errors import ON_ERROR, MediaError, ReadReport, media_error, skip_source
from featx.media.images import IMAGE_EXTENSIONS, image_size
from featx.media.video import VIDEO_EXTENSIONS, video_info

__all__ = ["DATA_TYPES", "Source", "SourceInfo", "file_kind", "probe", "resolve"]

#: The values ``data_type`` may take.
DATA_TYPES = (None, "image", "video", "array", "tensor")


@dataclass(frozen=True)
class SourceInfo:
    """What :func:`probe` knows about one input source.

    Attributes
    ----------
    path : str
        Absolute path of the file, or ``"<array>"`` / ``"<tensor>"``.
    kind : str
        ``"image"``, ``"video"``, ``"array"`` or ``"tensor"``.
    fps : float
        Frames per second of a video; NaN for images, arrays and tensors (and
        for a video whose container does not say).
    width, height : int
        Frame size in pixels.
    n_frames : int
        Number of frames: 1 for an image, ``N`` for a batch, and for a video
        the count the container reports (counted by decoding if it reports none).

    Examples
    --------
    >>> import numpy as np
    >>> probe(np.zeros((3, 48, 64, 3), np.uint8))
    [SourceInfo(path='<array>', kind='array', fps=nan, width=64, height=48, n_frames=3)]
    """

    path: str
    kind: str
    fps: float
    width: int
    height: int
    n_frames: int


@dataclass(frozen=True)
class Source:
    """One input source before it is read: its kind, path, and the data of an in-memory one."""

    kind: str  # "image" | "video" | "array" | "tensor"
    path: str
    data: Any = None  # the array or tensor for in-memory sources


def file_kind(path: str, data_type: str | None) -> str:
    """``"image"`` or ``"video"`` for an existing file: ``data_type`` if given, else its suffix.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".MP4") as f:
    ...     file_kind(f.name, None)
    'video'
    """
    if not os.path.exists(path):
        raise media_error(path, "file not found")
    if data_type is not None:
        return data_type
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise media_error(
        path,
        f"unknown file type {suffix!r}; pass data_type='image' or data_type='video'",
    )


def _list_folder(folder: str, data_type: str | None) -> list[Source]:
    wanted = {
        None: IMAGE_EXTENSIONS + VIDEO_EXTENSIONS,
        "image": IMAGE_EXTENSIONS,
        "video": VIDEO_EXTENSIONS,
    }[data_type]
    sources = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        suffix = os.path.splitext(name)[1].lower()
        if suffix in wanted and os.path.isfile(path):
            kind = data_type or ("image" if suffix in IMAGE_EXTENSIONS else "video")
            sources.append(Source(kind, path))
    if not sources:
        what = {None: "image or video", "image": "image", "video": "video"}[data_type]
        raise media_error(folder, f"folder has no {what} files")
    return sources


def resolve(inputs: Any, data_type: str | None) -> list[Source]:
    """Turn ``inputs`` into a flat list of sources, checking what can be checked cheaply.

    Raises
    ------
    ValueError
        A bad ``data_type``, or one that does not fit the input, or an empty list.
    TypeError
        ``inputs`` is not a path, list of paths, array or tensor.
    MediaError
        A file is missing or of unknown type, or a folder holds no media files.

    Examples
    --------
    >>> import numpy as np
    >>> resolve(np.zeros((2, 4, 4, 3)), None)[0].kind
    'array'
    """
    validators.choice("data_type", data_type, DATA_TYPES)

    if is_tensor(inputs) or isinstance(inputs, np.ndarray):
        kind = "tensor" if is_tensor(inputs) else "array"
        if data_type not in (None, kind):
            raise ValueError(f"data_type={data_type!r} does not fit a {kind} input")
        return [Source(kind, TENSOR_SOURCE if kind == "tensor" else ARRAY_SOURCE, inputs)]
    if data_type in ("array", "tensor"):
        raise ValueError(
            f"data_type={data_type!r} needs a numpy array or torch tensor, "
            f"got {type(inputs).__name__}"
        )

    if isinstance(inputs, (str, bytes, os.PathLike)):
        items = [inputs]
    elif isinstance(inputs, (list, tuple)):
        items = list(inputs)
        if not items:
            raise ValueError("no inputs given (empty list)")
    else:
        raise TypeError(
            "inputs must be a path, a list of paths, a folder, a numpy array or a torch "
            f"tensor; got {type(inputs).__name__}"
        )

    sources: list[Source] = []
    for item in items:
        if not isinstance(item, (str, bytes, os.PathLike)):
            raise TypeError(f"a list of inputs must hold paths, got {type(item).__name__}")
        path = os.path.abspath(os.fsdecode(item))
        if os.path.isdir(path):
            sources.extend(_list_folder(path, data_type))
        else:
            sources.append(Source(file_kind(path, data_type), path))
    return sources


def probe(
    inputs: Any,
    data_type: str | None = None,
    *,
    on_error: str = "raise",
    report: ReadReport | None = None,
) -> list[SourceInfo]:
    """Describe each source of ``inputs`` without iterating over all of it.

    An image's size is read from its file header, without decoding its pixels (a file whose
    header does not parse is decoded instead, so a corrupt image raises here); a video is opened
    and its first frame read, to make sure there is one.

    Parameters
    ----------
    inputs : path, list of paths, folder, numpy.ndarray or torch.Tensor
        As for :func:`~featx.media.iter_frames`.
    data_type : {None, "image", "video", "array", "tensor"}
        Force how ``inputs`` is read; by default from the file suffix or type.
    on_error : {"raise", "skip"}
        What a source that cannot be read does when ``inputs`` has several: raise, or be left
        out and recorded in ``report.failed`` (a :class:`~featx.media.MediaWarning` when no
        ``report`` is given). A single source always raises.
    report : ReadReport, optional
        Where skipped sources are recorded.

    Returns
    -------
    list of SourceInfo
        One per source read, in input order.

    Raises
    ------
    MediaError
        A file is missing, unreadable, of unknown type, or a video has no frames.

    Examples
    --------
    >>> import numpy as np
    >>> probe(np.zeros((5, 48, 64, 3), np.uint8))[0]
    SourceInfo(path='<array>', kind='array', fps=nan, width=64, height=48, n_frames=5)
    >>> probe("clip.mp4")[0].fps  # doctest: +SKIP
    30.0
    """
    validators.choice("on_error", on_error, ON_ERROR)
    sources = resolve(inputs, data_type)
    infos = []
    for src in sources:
        try:
            infos.append(_probe_one(src))
        except MediaError as err:
            if on_error == "raise" or len(sources) == 1:
                raise
            skip_source(err, src.path, report)
    return infos


def _probe_one(src: Source) -> SourceInfo:
    if src.kind == "image":
        w, h = image_size(src.path)
        return SourceInfo(src.path, "image", math.nan, w, h, 1)
    if src.kind == "video":
        fps, w, h, n = video_info(src.path)
        return SourceInfo(src.path, "video", fps, w, h, n)
    if src.kind == "array":
        arr = array_batch(src.data)
        return SourceInfo(src.path, "array", math.nan, arr.shape[2], arr.shape[1], arr.shape[0])
    t = tensor_batch(src.data)
    return SourceInfo(src.path, "tensor", math.nan, t.shape[3], t.shape[2], t.shape[0])
