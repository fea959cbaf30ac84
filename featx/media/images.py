"""Still image files: decoding to RGB, and their size read from the header alone."""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from featx.media.arrays import bgr_to_rgb
from featx.media.errors import media_error

__all__ = ["IMAGE_EXTENSIONS", "image_size", "read_image"]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".bmp",
    ".jpeg",
    ".jpg",
    ".png",
    ".tif",
    ".tiff",
    ".webp",
)


def read_image(path: str) -> np.ndarray:
    """Decode an image file to ``HxWx3`` RGB ``uint8``.

    Decoding from bytes behaves like ``cv2.imread(path, IMREAD_UNCHANGED)`` (EXIF orientation is
    not applied) but also works for non-ASCII paths on every platform.

    Raises
    ------
    MediaError
        The file is missing, unreadable, empty or does not decode; the message names it.

    Examples
    --------
    >>> read_image("/no/such/photo.jpg")
    Traceback (most recent call last):
    ...
    featx.media.errors.MediaError: /no/such/photo.jpg: file not found
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise media_error(path, "file not found") from None
    except OSError as err:
        raise media_error(path, f"cannot read file ({err.strerror or err})") from err
    if data.size == 0:
        raise media_error(path, "cannot decode image (file is empty)")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise media_error(path, "cannot decode image")
    return bgr_to_rgb(image, path)


def image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of an image file, from its header when it can be parsed.

    The header is read with Pillow (a dependency of matplotlib and scikit-image), which does not
    decode the pixels; its size is the stored one, as :func:`read_image` returns it (EXIF
    orientation is not applied by either). A file Pillow cannot parse (an unusual format, a
    corrupt header, more pixels than Pillow's decompression-bomb limit) is decoded with
    :func:`read_image` instead, so a file that neither reads raises the same
    :class:`~featx.media.MediaError` as decoding it would. A file whose header parses but whose
    pixels are damaged is only found out when it is decoded.

    Raises
    ------
    MediaError
        The file is missing, or its header does not parse and it does not decode.

    Examples
    --------
    >>> import os, tempfile
    >>> import cv2, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "wide.png")
    >>> cv2.imwrite(path, np.zeros((20, 30, 3), np.uint8))
    True
    >>> image_size(path)
    (30, 20)
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
        if width > 0 and height > 0:
            return int(width), int(height)
    except FileNotFoundError:
        raise media_error(path, "file not found") from None
    except Exception:  # any header Pillow cannot parse: let OpenCV decide below
        pass
    height, width = read_image(path).shape[:2]
    return width, height
