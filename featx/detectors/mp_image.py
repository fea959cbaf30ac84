"""Images -> MediaPipe model tensors, resampled exactly as MediaPipe's CPU image-to-tensor step.

MediaPipe samples the source with OpenCV's fixed-point bilinear interpolation on uint8 pixels
(coordinates rounded to 1/32 pixel, integer weights, rounded result); these functions reproduce
its tensors bit for bit. OpenCV's own ``warpAffine``/``warpPerspective`` no longer use that
arithmetic (OpenCV 5 differs by up to a few grey levels), so the sampling positions are computed
here and sampled by :func:`featx.nn.resampling.sample_u8`.

- :func:`letterbox_pads`: the padding fractions of the square detector tensor;
- :func:`sample_u8` (from :mod:`featx.nn.resampling`, importable here too): bilinear samples
  of an image at given source coordinates;
- :func:`detector_tensor`: a whole image -> the BlazeFace input tensor (letterboxed, [-1, 1]).

Example
-------
>>> import numpy as np
>>> tensor, pads = detector_tensor(np.zeros((300, 512, 3), np.uint8), 128)
>>> tensor.shape, pads
((1, 128, 128, 3), (0.0, 0.20703125))
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from featx.media import ARRAY_SOURCE, to_rgb_uint8
from featx.nn.resampling import sample_u8


def letterbox_pads(height: int, width: int) -> tuple[float, float]:
    """Fractions ``(pad_x, pad_y)`` of a square tensor, per side, that lie outside the image.

    The image is centred in a square of side ``S = max(width, height)``:
    ``pad_x = (S - width) / (2 S)``, ``pad_y = (S - height) / (2 S)``.

    Examples
    --------
    >>> letterbox_pads(300, 512)
    (0.0, 0.20703125)
    """
    side = max(height, width)
    return (side - width) / (2 * side), (side - height) / (2 * side)


def detector_tensor(
    image: np.ndarray, size: int, name: str = ARRAY_SOURCE
) -> tuple[np.ndarray, tuple[float, float]]:
    """The BlazeFace input for a whole image: letterboxed, resampled, scaled to [-1, 1].

    The region of interest is the image centred in a square of side ``S = max(W, H)`` (zero
    padding). Output pixel ``(col j, row i)`` samples the source at
    ``(W/2 + (j/size - 1/2) S, H/2 + (i/size - 1/2) S)`` with :func:`sample_u8`; the tensor is
    ``u8 * 2/255 - 1`` in float32.

    Parameters
    ----------
    image : RGB image (grey, RGBA and 16-bit are converted by :func:`featx.media.to_rgb_uint8`).
    size : side of the square tensor (128 short range, 192 full range).
    name : what to call the image in error messages.

    Returns
    -------
    tensor : (1, size, size, 3) float32 NHWC.
    pads : ``(pad_x, pad_y)`` from :func:`letterbox_pads`, for
        :func:`featx.nn.blazeface.remove_letterbox`.

    Raises
    ------
    featx.media.MediaError
        When ``image`` is not an image.

    Examples
    --------
    >>> tensor, pads = detector_tensor(np.full((512, 512, 3), 255, np.uint8), 128)
    >>> float(tensor.min()), float(tensor.max()), pads
    (1.0, 1.0, (0.0, 0.0))
    """
    rgb = to_rgb_uint8(image, name)
    height, width = rgb.shape[:2]
    side = max(height, width)
    steps = np.arange(size, dtype=np.float64) / size - 0.5
    x, y = np.meshgrid(width / 2 + steps * side, height / 2 + steps * side)
    u8 = sample_u8(rgb, x, y, border="zero")
    tensor = u8.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    return tensor[None], letterbox_pads(height, width)


@functools.lru_cache(maxsize=4)
def _pixel_grid(size: int) -> np.ndarray:
    """(column, row, 1) of every pixel of a size x size crop, shape (3, size**2), read-only."""
    cols, rows = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    grid = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)])
    grid.flags.writeable = False
    return grid


def mesh_crop(
    image: np.ndarray, roi: np.ndarray, size: int = 256, name: str = ARRAY_SOURCE
) -> tuple[np.ndarray, np.ndarray]:
    """The Face Mesh input crop of a rotated square region (REPLICATE border), as uint8.

    The image -> crop matrix is solved, like MediaPipe's, from the float32 corners of OpenCV's
    rotated rectangle (``cv2.boxPoints``) to the crop corners (0, n), (0, 0), (n, 0), (n, n);
    every crop pixel samples the image at its inverse image with :func:`sample_u8`.

    Parameters
    ----------
    image : RGB image (grey, RGBA and 16-bit are converted by :func:`featx.media.to_rgb_uint8`).
    roi : ``(cx, cy, side, theta)`` in pixels and radians (``featx.nn.facemesh.roi_from_*``).
    size : side of the crop in pixels.
    name : what to call the image in error messages.

    Returns
    -------
    crop : (size, size, 3) uint8; the model input is ``crop / 255`` in float32.
    matrix : (3, 3) float64 map from image pixels to crop pixels.

    Examples
    --------
    >>> crop, matrix = mesh_crop(np.zeros((480, 640, 3), np.uint8), np.array([320, 240, 200, 0.1]))
    >>> crop.shape, matrix.shape
    ((256, 256, 3), (3, 3))
    """
    rgb = to_rgb_uint8(image, name)
    cx, cy, side, theta = (float(v) for v in roi)
    corners = cv2.boxPoints(((cx, cy), (side, side), np.degrees(theta)))
    target = np.array([[0, size], [0, 0], [size, 0], [size, size]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    src = np.linalg.inv(matrix) @ _pixel_grid(size)
    x, y = (src[:2] / src[2]).reshape(2, size, size)
    return sample_u8(rgb, x, y, border="replicate"), matrix
