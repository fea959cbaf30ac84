"""Pixel conversion to ``HxWx3`` RGB ``uint8``, and NumPy arrays / torch tensors as frame batches.

PyTorch is never imported here: a tensor is recognised by the module its type comes from.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from featx.media.errors import media_error

__all__ = [
    "ARRAY_SOURCE",
    "TENSOR_SOURCE",
    "array_batch",
    "bgr_to_rgb",
    "is_tensor",
    "tensor_batch",
    "tensor_frame",
    "to_rgb_uint8",
]

#: The ``source`` of frames that came from a NumPy array.
ARRAY_SOURCE = "<array>"
#: The ``source`` of frames that came from a torch tensor.
TENSOR_SOURCE = "<tensor>"


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
        raise media_error(name, f"image is empty (shape {img.shape})")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise media_error(
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
            raise media_error(name, f"float pixels must lie in [0, 1], got range [{lo}, {hi}]")
        img = np.rint(img.astype(np.float32) * 255).astype(np.uint8)
    else:
        raise media_error(
            name, f"unsupported pixel type {img.dtype}; expected uint8, uint16 or float in [0, 1]"
        )

    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img)


def bgr_to_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """Reorder an OpenCV BGR / BGRA image to RGB / RGBA, then :func:`to_rgb_uint8`.

    Examples
    --------
    >>> import numpy as np
    >>> bgr_to_rgb(np.array([[[255, 0, 0]]], np.uint8), "blue.png").tolist()
    [[[0, 0, 255]]]
    """
    swap = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}.get(
        image.shape[2] if image.ndim == 3 else 0
    )
    if swap is not None and image.dtype in (np.uint8, np.uint16, np.float32):
        image = cv2.cvtColor(image, swap)  # the same channel swap, 40x faster than numpy's copy
    elif swap is not None:
        image = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    return to_rgb_uint8(image, name)


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch.

    Examples
    --------
    >>> import numpy as np
    >>> is_tensor(np.zeros(3))
    False
    """
    return type(x).__module__.startswith("torch")


def array_batch(arr: np.ndarray) -> np.ndarray:
    """View an array input as ``NxHxW[xC]``.

    Examples
    --------
    >>> import numpy as np
    >>> array_batch(np.zeros((4, 5, 3))).shape
    (1, 4, 5, 3)
    """
    if arr.ndim in (2, 3):
        return arr[None]
    if arr.ndim == 4:
        return arr
    raise media_error(
        ARRAY_SOURCE,
        f"expected HxW, HxWxC or NxHxWxC (channel-last), got shape {tuple(arr.shape)}",
    )


def tensor_batch(t: Any) -> Any:
    """View a tensor input as ``NxCxHxW``.

    Examples
    --------
    >>> import torch
    >>> tuple(tensor_batch(torch.zeros(3, 4, 5)).shape)
    (1, 3, 4, 5)
    """
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] not in (1, 3, 4):
        raise media_error(
            TENSOR_SOURCE,
            "expected a channel-first CxHxW or NxCxHxW tensor with 1, 3 or 4 channels, "
            f"got shape {tuple(t.shape)}",
        )
    return t


def tensor_frame(t: Any, k: int) -> np.ndarray:
    """Frame ``k`` of an ``NxCxHxW`` tensor as ``HxWx3`` RGB ``uint8``.

    Examples
    --------
    >>> import torch
    >>> tensor_frame(torch.ones(2, 1, 1, 2), 1).tolist()
    [[[255, 255, 255], [255, 255, 255]]]
    """
    x = t[k].detach()
    if x.is_floating_point():
        x = x.float()
    return to_rgb_uint8(x.cpu().permute(1, 2, 0).numpy(), f"{TENSOR_SOURCE}[{k}]")
