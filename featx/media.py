"""Reading images, videos, arrays and tensors as batches of RGB frames.

This module is standalone: it needs only NumPy and OpenCV. PyTorch is never
imported here; a tensor is recognised by the module its type comes from.

Every frame comes out as an ``HxWx3`` RGB ``uint8`` array, whatever the input:

* a path (``str`` or :class:`pathlib.Path`) to an image or a video;
* a list or tuple of such paths (folders inside it are expanded);
* a folder: its image and video files, sorted by name, not recursive;
* a NumPy array, channel-last and RGB: ``HxW``, ``HxWxC`` (one image) or
  ``NxHxWxC`` (a batch);
* a torch tensor, channel-first like torchvision: ``CxHxW`` or ``NxCxHxW``,
  ``uint8`` or float in ``[0, 1]``.

Videos are decoded one frame at a time, so memory does not grow with the
length of a video.

Examples
--------
>>> from featx.media import iter_frames
>>> for batch in iter_frames("clip.mp4", batch_size=8, skip_frames=5):  # doctest: +SKIP
...     print(len(batch), batch.source_frame, batch.time)
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameBatch",
    "MediaError",
    "SourceInfo",
    "iter_frames",
    "probe",
    "read_frame",
    "to_rgb_uint8",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".bmp",
    ".jpeg",
    ".jpg",
    ".png",
    ".tif",
    ".tiff",
    ".webp",
)
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

ARRAY_SOURCE = "<array>"
TENSOR_SOURCE = "<tensor>"
_DATA_TYPES = (None, "image", "video", "array", "tensor")


class MediaError(OSError):
    """A media input is missing, unreadable or empty.

    The message names the file (or ``<array>`` / ``<tensor>``) and what is
    wrong with it; the offending path is also kept in :attr:`path`.

    Examples
    --------
    >>> try:
    ...     probe("/no/such/file.png")
    ... except MediaError as err:
    ...     print(err)
    /no/such/file.png: file not found
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _error(path: str, what: str) -> MediaError:
    return MediaError(f"{path}: {what}", path)


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
    """

    path: str
    kind: str
    fps: float
    width: int
    height: int
    n_frames: int


@dataclass
class FrameBatch:
    """Up to ``batch_size`` frames, possibly from several sources.

    Attributes
    ----------
    images : list of numpy.ndarray
        RGB ``uint8`` frames, ``HxWx3`` each; sizes may differ between frames.
    source : list of str
        :attr:`SourceInfo.path` of each frame's source.
    source_frame : numpy.ndarray
        ``int64`` index of each frame within its source.
    time : numpy.ndarray
        ``float64`` seconds, ``source_frame / fps``; NaN for still images,
        arrays and tensors.

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


# --------------------------------------------------------------------------- conversion


def to_rgb_uint8(image: np.ndarray, name: str = ARRAY_SOURCE) -> np.ndarray:
    """Convert an RGB-ordered image to ``HxWx3`` ``uint8``.

    * grey (``HxW`` or ``HxWx1``) is repeated into three channels;
    * RGBA drops its alpha channel (no compositing);
    * ``uint16`` is scaled to 8 bits by ``round(x / 257)``, so 65535 maps to
      255 and a value ``257 * v`` maps back to exactly ``v``;
    * floating point must lie in ``[0, 1]`` and becomes ``round(x * 255)``.

    The channel order is not changed: pass RGB, get RGB.

    Parameters
    ----------
    image : numpy.ndarray
        The image, channel-last.
    name : str
        What to call the image in error messages (a file name, ``"<array>"``).

    Returns
    -------
    numpy.ndarray
        A C-contiguous ``HxWx3`` ``uint8`` array (the input itself when it
        already is one).

    Raises
    ------
    MediaError
        For an empty image, an unsupported shape or pixel type, or float
        values outside ``[0, 1]`` (NaN included).

    Examples
    --------
    >>> import numpy as np
    >>> to_rgb_uint8(np.array([[0.0, 1.0]])).tolist()
    [[[0, 0, 0], [255, 255, 255]]]
    >>> to_rgb_uint8(np.array([[65535]], np.uint16))[0, 0].tolist()
    [255, 255, 255]
    """
    img = np.asarray(image)
    if img.size == 0:
        raise _error(name, f"image is empty (shape {img.shape})")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise _error(
            name,
            f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {tuple(img.shape)}",
        )
    if img.shape[2] == 4:
        img = img[:, :, :3]

    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        lo, hi = img.min(), img.max()
        if not (lo >= 0 and hi <= 1):  # also catches NaN
            raise _error(name, f"float pixels must lie in [0, 1], got range [{lo}, {hi}]")
        img = np.rint(img.astype(np.float32) * 255).astype(np.uint8)
    else:
        raise _error(
            name, f"unsupported pixel type {img.dtype}; expected uint8, uint16 or float in [0, 1]"
        )

    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img)


def _bgr_to_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """Reorder an OpenCV BGR / BGRA image to RGB / RGBA, then :func:`to_rgb_uint8`."""
    swap = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}.get(
        image.shape[2] if image.ndim == 3 else 0
    )
    if swap is not None and image.dtype in (np.uint8, np.uint16, np.float32):
        image = cv2.cvtColor(image, swap)  # the same channel swap, 40x faster than numpy's copy
    elif swap is not None:
        image = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    return to_rgb_uint8(image, name)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    kind: str  # "image" | "video" | "array" | "tensor"
    path: str
    data: Any = None  # the array or tensor for in-memory sources


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _file_kind(path: str, data_type: str | None) -> str:
    if not os.path.exists(path):
        raise _error(path, "file not found")
    if data_type is not None:
        return data_type
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise _error(
        path,
        f"unknown file type {suffix!r}; pass data_type='image' or data_type='video'",
    )


def _list_folder(folder: str, data_type: str | None) -> list[_Source]:
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
            sources.append(_Source(kind, path))
    if not sources:
        what = {None: "image or video", "image": "image", "video": "video"}[data_type]
        raise _error(folder, f"folder has no {what} files")
    return sources


def _resolve(inputs: Any, data_type: str | None) -> list[_Source]:
    """Turn ``inputs`` into a flat list of sources, checking what can be checked cheaply."""
    if data_type not in _DATA_TYPES:
        raise ValueError(f"data_type must be one of {_DATA_TYPES}, got {data_type!r}")

    if _is_tensor(inputs) or isinstance(inputs, np.ndarray):
        kind = "tensor" if _is_tensor(inputs) else "array"
        if data_type not in (None, kind):
            raise ValueError(f"data_type={data_type!r} does not fit a {kind} input")
        return [_Source(kind, TENSOR_SOURCE if kind == "tensor" else ARRAY_SOURCE, inputs)]
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

    sources: list[_Source] = []
    for item in items:
        if not isinstance(item, (str, bytes, os.PathLike)):
            raise TypeError(f"a list of inputs must hold paths, got {type(item).__name__}")
        path = os.path.abspath(os.fsdecode(item))
        if os.path.isdir(path):
            sources.extend(_list_folder(path, data_type))
        else:
            sources.append(_Source(_file_kind(path, data_type), path))
    return sources


def _array_batch(arr: np.ndarray) -> np.ndarray:
    """View an array input as ``NxHxW[xC]``."""
    if arr.ndim in (2, 3):
        return arr[None]
    if arr.ndim == 4:
        return arr
    raise _error(
        ARRAY_SOURCE,
        f"expected HxW, HxWxC or NxHxWxC (channel-last), got shape {tuple(arr.shape)}",
    )


def _tensor_batch(t: Any) -> Any:
    """View a tensor input as ``NxCxHxW``."""
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] not in (1, 3, 4):
        raise _error(
            TENSOR_SOURCE,
            "expected a channel-first CxHxW or NxCxHxW tensor with 1, 3 or 4 channels, "
            f"got shape {tuple(t.shape)}",
        )
    return t


def _tensor_frame(t: Any, k: int) -> np.ndarray:
    x = t[k].detach()
    if x.is_floating_point():
        x = x.float()
    return to_rgb_uint8(x.cpu().permute(1, 2, 0).numpy(), f"{TENSOR_SOURCE}[{k}]")


def _read_image(path: str) -> np.ndarray:
    # Decoding from bytes behaves like cv2.imread(path, IMREAD_UNCHANGED) but also
    # works for non-ASCII paths on every platform.
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise _error(path, "file not found") from None
    except OSError as err:
        raise _error(path, f"cannot read file ({err.strerror or err})") from err
    if data.size == 0:
        raise _error(path, "cannot decode image (file is empty)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise _error(path, "cannot decode image")
    return _bgr_to_rgb(image, path)


def _open_video(path: str) -> cv2.VideoCapture:
    if not os.path.exists(path):
        raise _error(path, "file not found")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise _error(path, "cannot open video")
    return cap


def _video_fps(cap: cv2.VideoCapture) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps > 0 and math.isfinite(fps) else math.nan


def _no_frames(path: str, cap: cv2.VideoCapture) -> MediaError:
    if cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0:
        return _error(path, "cannot decode video frames")
    return _error(path, "video has no frames")


# --------------------------------------------------------------------------- public API


def probe(inputs: Any, data_type: str | None = None) -> list[SourceInfo]:
    """Describe each source of ``inputs`` without iterating over all of it.

    Images are decoded to learn their size; videos are opened and their first
    frame read (to make sure there is one).

    Parameters
    ----------
    inputs : path, list of paths, folder, numpy.ndarray or torch.Tensor
        As for :func:`iter_frames`.
    data_type : {None, "image", "video", "array", "tensor"}
        Force how ``inputs`` is read; by default from the file suffix or type.

    Returns
    -------
    list of SourceInfo
        One per source, in input order.

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
    infos = []
    for src in _resolve(inputs, data_type):
        if src.kind == "image":
            h, w = _read_image(src.path).shape[:2]
            infos.append(SourceInfo(src.path, "image", math.nan, w, h, 1))
        elif src.kind == "video":
            infos.append(_probe_video(src.path))
        elif src.kind == "array":
            arr = _array_batch(src.data)
            infos.append(
                SourceInfo(src.path, "array", math.nan, arr.shape[2], arr.shape[1], arr.shape[0])
            )
        else:
            t = _tensor_batch(src.data)
            infos.append(
                SourceInfo(src.path, "tensor", math.nan, t.shape[3], t.shape[2], t.shape[0])
            )
    return infos


def _probe_video(path: str) -> SourceInfo:
    cap = _open_video(path)
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
        return SourceInfo(path, "video", _video_fps(cap), width, height, n_frames)
    finally:
        cap.release()


def iter_frames(
    inputs: Any,
    *,
    batch_size: int = 1,
    skip_frames: int = 1,
    data_type: str | None = None,
    exclude: Collection[tuple[str, int]] = (),
) -> Iterator[FrameBatch]:
    """Yield the frames of ``inputs`` in batches of RGB ``uint8`` images.

    Frames come out in input order. A batch holds at most ``batch_size``
    frames and may mix sources (a folder of images is batched across files);
    only the last batch may be shorter. Videos are decoded one frame at a
    time, so memory use depends on ``batch_size``, not on video length.

    Arguments are checked and paths resolved when this is called (missing
    files and unknown suffixes raise at once); decoding errors are raised
    when the iteration reaches the file.

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

    Yields
    ------
    FrameBatch

    Raises
    ------
    ValueError
        ``batch_size`` or ``skip_frames`` below 1, or a bad ``data_type``.
    MediaError
        A file is missing, unreadable, of unknown type, a folder holds no
        media files, or a video has no frames.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.zeros((5, 8, 8, 3), np.uint8)
    >>> [b.source_frame.tolist() for b in iter_frames(frames, batch_size=2, skip_frames=2)]
    [[0, 2], [4]]
    >>> for batch in iter_frames("videos/", batch_size=16):  # doctest: +SKIP
    ...     faces = detector(batch.images)
    """
    for name, value in (("batch_size", batch_size), ("skip_frames", skip_frames)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    sources = _resolve(inputs, data_type)
    excluded = {_exclude_key(s, f) for s, f in exclude}
    return _batched(_frames(sources, int(skip_frames), excluded), int(batch_size))


def _exclude_key(source: Any, frame: Any) -> tuple[str, int]:
    source = os.fsdecode(source)
    if source not in (ARRAY_SOURCE, TENSOR_SOURCE):
        source = os.path.abspath(source)
    return source, int(frame)


_Frame = tuple[np.ndarray, str, int, float]


def _frames(sources: list[_Source], skip: int, excluded: set[tuple[str, int]]) -> Iterator[_Frame]:
    for src in sources:
        if src.kind == "image":
            if (src.path, 0) not in excluded:
                yield _read_image(src.path), src.path, 0, math.nan
        elif src.kind == "video":
            yield from _video_frames(src.path, skip, excluded)
        elif src.kind == "array":
            arr = _array_batch(src.data)
            for k in range(0, arr.shape[0], skip):
                if (src.path, k) not in excluded:
                    yield to_rgb_uint8(arr[k], f"{src.path}[{k}]"), src.path, k, math.nan
        else:
            t = _tensor_batch(src.data)
            for k in range(0, t.shape[0], skip):
                if (src.path, k) not in excluded:
                    yield _tensor_frame(t, k), src.path, k, math.nan


def _video_frames(path: str, skip: int, excluded: set[tuple[str, int]]) -> Iterator[_Frame]:
    cap = _open_video(path)
    try:
        fps = _video_fps(cap)
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
                yield _bgr_to_rgb(frame, path), path, k, k / fps
            k += 1
        if k == 0:
            raise _no_frames(path, cap)
    finally:
        cap.release()


def _batched(frames: Iterable[_Frame], batch_size: int) -> Iterator[FrameBatch]:
    batch: list[_Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield _make_batch(batch)
            batch = []
    if batch:
        yield _make_batch(batch)


def _make_batch(frames: list[_Frame]) -> FrameBatch:
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
    >>> frame = read_frame("clip.mp4", 120)  # doctest: +SKIP
    >>> frame.shape  # doctest: +SKIP
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
        raise _error(path, "is a folder, not an image or video file")
    kind = _file_kind(path, data_type)

    if kind == "image":
        if k != 0:
            raise IndexError(f"{path}: a still image has only frame 0, asked for {k}")
        return _read_image(path)

    cap = _open_video(path)
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
            raise _error(path, f"cannot read frame {k}")
        return _bgr_to_rgb(frame, path)
    finally:
        cap.release()
