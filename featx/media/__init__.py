"""Reading images, videos, arrays and tensors as batches of RGB frames.

This package is standalone: it needs only NumPy, OpenCV and Pillow (for image headers; it comes
with matplotlib). PyTorch is never imported here; a tensor is recognised by the module its type
comes from.

Every frame comes out as an ``HxWx3`` RGB ``uint8`` array, whatever the input:

* a path (``str`` or :class:`pathlib.Path`) to an image or a video;
* a list or tuple of such paths (folders inside it are expanded);
* a folder: its image and video files, sorted by name, not recursive;
* a NumPy array, channel-last and RGB: ``HxW``, ``HxWxC`` (one image) or
  ``NxHxWxC`` (a batch);
* a torch tensor, channel-first like torchvision: ``CxHxW`` or ``NxCxHxW``,
  ``uint8`` or float in ``[0, 1]``.

Videos are decoded one frame at a time, so memory does not grow with the
length of a video; each image is decoded once (:func:`probe` reads its size
from the file header). A video frame's time is its presentation timestamp in
the container, so variable-frame-rate videos get true times. With
``on_error="skip"``, a source that cannot be read is skipped and recorded in
a :class:`ReadReport` instead of ending a run over many sources.

The parts: :mod:`~featx.media.errors` (:class:`MediaError`, :class:`MediaWarning`,
:class:`ReadReport`),
:mod:`~featx.media.arrays` (pixel conversion, arrays and tensors),
:mod:`~featx.media.images` (image files), :mod:`~featx.media.video` (video
files), :mod:`~featx.media.sources` (resolving inputs, :func:`probe`) and
:mod:`~featx.media.frames` (:func:`iter_frames`, :func:`read_frame`). Import
the public names from ``featx.media``.

Examples
--------
>>> from featx.media import iter_frames
>>> for batch in iter_frames("clip.mp4", batch_size=8, skip_frames=5):  # doctest: +SKIP
...     print(len(batch), batch.source_frame, batch.time)
"""

from __future__ import annotations

from featx.media.arrays import ARRAY_SOURCE, TENSOR_SOURCE, to_rgb_uint8
from featx.media.errors import MediaError, MediaWarning, ReadReport
from featx.media.frames import FrameBatch, iter_frames, read_frame
from featx.media.images import IMAGE_EXTENSIONS
from featx.media.sources import SourceInfo, probe
from featx.media.video import VIDEO_EXTENSIONS

__all__ = [
    "ARRAY_SOURCE",
    "IMAGE_EXTENSIONS",
    "TENSOR_SOURCE",
    "VIDEO_EXTENSIONS",
    "FrameBatch",
    "MediaError",
    "MediaWarning",
    "ReadReport",
    "SourceInfo",
    "iter_frames",
    "probe",
    "read_frame",
    "to_rgb_uint8",
]
