"""Image resampling: every bilinear sampler of featx, each bit-exact to a different upstream.

featx reproduces each upstream pipeline's model input, and bilinear sampling is where they
differ most: the same formula computed in another order, precision or pixel convention moves
the result by a few ulps (float) or grey levels (uint8), and the models' reference tensors see
it. So there is one sampler per upstream, all here, and no other module samples pixels itself.

=========================  ==================  ====================================================
function                   used by             matches, and what sets it apart
=========================  ==================  ====================================================
:func:`sample_u8`          MediaPipe detector  MediaPipe's CPU image-to-tensor (OpenCV's fixed
                           and mesh crops      point): coordinates rounded to 1/32 px, integer
                           (``featx.detectors  weights, ``(s + 512) >> 10``; zero or replicated
                           .mp_image``)        border. uint8 in, uint8 out.
:func:`resize_linear_u8`   mini-Xception       ``cv2.resize(INTER_LINEAR)`` on uint8 (fer's crop):
                           (fer's crop)        11-bit weights, the horizontal pass clamps the
                                               position, rows blended as OpenCV's vector kernel.
:func:`bilinear_zero_np`   HOG alignment       Py-Feat Detectorv1's HOG face alignment: NumPy,
                           (``featx.classic    float64, the four taps weighted ``(1 - wy)(1 - wx)``
                           .hog.warp``)        etc. and summed; taps outside read 0.
:func:`bilinear_zero`      ArcFace five-point  ``skimage.transform.warp(order=1)`` of a float32
                           alignment           image (Py-Feat's evaluation runner): torch, in the
                           (``ops.align_       dtype of the coordinates, lerp along x then y; taps
                           faces``)            outside read 0.
:func:`grid_sample_boxes`  Detectorv1 box      Py-Feat's ``grid_sample(align_corners=False,
                           crops (``ops.       zeros)`` with the legacy ``2 x / (W - 1) - 1``
                           crop_boxes``)       normalisation: samples at ``x W / (W - 1) - 0.5``.
:func:`grid_sample_chips`  Detectorv2 chips    Py-Feat Detectorv2's ``grid_sample(align_corners=
                           (``multitask.       False, reflection)`` with ``2 (x + 0.5) / W - 1``:
                           square_crops``)     samples exactly at ``x``, reflecting about the
                                               pixel edges -0.5 and W - 0.5.
=========================  ==================  ====================================================

Pixel centres are on integer coordinates in every function (``x = 0`` is the centre of the
first column). Plain resizes that are one torch call (``F.interpolate`` in
:func:`featx.nn.ops.rcnn_transform` and :func:`featx.nn.multitask.preprocess`) stay with
their callers.

:func:`sample_u8` is the one function here that calls OpenCV (a core dependency, imported
when it is first called): its fixed-point ``remap`` computes exactly the integer arithmetic
above about nine times faster than the same arithmetic in NumPy.

Examples
--------
The centre of a 2 x 2 image, in uint8 fixed point and in float:

>>> img = np.array([[0, 100], [200, 255]], np.uint8)
>>> int(sample_u8(img[:, :, None], np.array([[0.5]]), np.array([[0.5]]))[0, 0, 0])
139
>>> bilinear_zero(torch.from_numpy(img[None]).double(), torch.tensor([0.5]).double(),
...               torch.tensor([0.5]).double())
tensor([[138.7500]], dtype=torch.float64)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: Sub-pixel resolution of OpenCV's fixed-point bilinear interpolation (1/32 pixel).
REMAP_FRACTION_BITS = 5
#: OpenCV's INTER_RESIZE_COEF_SCALE (11 fractional bits) of its uint8 bilinear resize.
RESIZE_COEF_SCALE = 2048
#: Borders of :func:`sample_u8`.
U8_BORDERS = ("replicate", "zero")


# ---------------------------------------------------------------------------------------------
# uint8, OpenCV's fixed point


def sample_u8(image: np.ndarray, x: np.ndarray, y: np.ndarray, border: str = "zero") -> np.ndarray:
    """Bilinear samples of a uint8 image at source pixel coordinates, OpenCV fixed point.

    Pixel ``(u, v)`` has its centre at integer ``(u, v)``. Each coordinate is rounded half to
    even to 1/32 pixel; the four neighbours get integer weights ``(32 - ax)(32 - ay)`` etc. and
    the sum is rounded (``(s + 512) >> 10``). Neighbours outside the image read 0 (``"zero"``) or
    the nearest edge pixel (``"replicate"``). OpenCV's own ``warpAffine``/``warpPerspective`` no
    longer use that arithmetic (OpenCV 5 differs by up to a few grey levels), so the positions
    are computed here and handed to ``cv2.remap`` as fixed-point maps.

    Parameters
    ----------
    image : (H, W, C) uint8.
    x, y : (h, w) float source coordinates of every output pixel (float64 recommended).
    border : ``"zero"`` or ``"replicate"``.

    Returns
    -------
    (h, w, C) uint8.

    Examples
    --------
    >>> img = np.array([[0, 100], [200, 255]], np.uint8)[:, :, None]
    >>> sample_u8(img, np.array([[0.5, 1.0]]), np.array([[0.5, 2.0]]))[..., 0].tolist()
    [[139, 0]]
    """
    import cv2

    if border not in U8_BORDERS:
        raise ValueError(f"border must be one of {sorted(U8_BORDERS)}, got {border!r}")
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(
            f"sample_u8 needs an (H, W, C) uint8 image, got {image.shape} {image.dtype}"
        )
    scale = 1 << REMAP_FRACTION_BITS
    fx = np.rint(np.asarray(x, dtype=np.float64) * scale)
    fy = np.rint(np.asarray(y, dtype=np.float64) * scale)
    limit = np.iinfo(np.int16).max
    if max(np.abs(fx).max(), np.abs(fy).max()) / scale >= limit:
        raise ValueError(f"sample coordinates must lie within +-{limit} pixels")
    fx, fy = fx.astype(np.int64), fy.astype(np.int64)
    whole = np.stack([fx >> REMAP_FRACTION_BITS, fy >> REMAP_FRACTION_BITS], axis=-1)
    whole = whole.astype(np.int16)
    mask = scale - 1
    fraction = ((fy & mask) * scale + (fx & mask)).astype(np.uint16)
    mode = cv2.BORDER_CONSTANT if border == "zero" else cv2.BORDER_REPLICATE
    out = cv2.remap(image, whole, fraction, cv2.INTER_LINEAR, borderMode=mode)
    return out.reshape(*whole.shape[:2], image.shape[2])


def _linear_taps(n_src: int, n_dst: int, clamp_position: bool):
    """Source indices and 11-bit weights of OpenCV's bilinear resize along one axis."""
    scale = 1.0 / (n_dst / n_src)
    pos = ((np.arange(n_dst) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0.astype(np.float32)
    if clamp_position:  # columns: a sample outside the image takes the edge pixel alone
        frac = np.where((i0 < 0) | (i0 >= n_src - 1), np.float32(0), frac)
        i0 = np.clip(i0, 0, n_src - 1)
    w0 = np.rint((np.float32(1) - frac) * RESIZE_COEF_SCALE).astype(np.int64)
    w1 = np.rint(frac * RESIZE_COEF_SCALE).astype(np.int64)
    return np.clip(i0, 0, n_src - 1), np.clip(i0 + 1, 0, n_src - 1), w0, w1


def resize_linear_u8(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a grey uint8 (H, W) image to (size, size) exactly as ``cv2.resize`` INTER_LINEAR.

    OpenCV's 8-bit path: weights in 11-bit fixed point; the horizontal pass clamps the sample
    position to the image, the vertical pass only the row index; rows are blended as OpenCV's
    vector kernel does, ``((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16)``, rounded ``(+2) >> 2``.
    No antialiasing on downscale.

    Examples
    --------
    >>> resize_linear_u8(np.array([[0, 255]], np.uint8), 4).tolist()[0]
    [0, 64, 191, 255]
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8 or 0 in image.shape:
        raise ValueError(
            f"expected a non-empty (H, W) uint8 image, got {image.dtype} {image.shape}"
        )
    x0, x1, a0, a1 = _linear_taps(image.shape[1], size, clamp_position=True)
    y0, y1, b0, b1 = _linear_taps(image.shape[0], size, clamp_position=False)
    px = image.astype(np.int64)
    rows = px[:, x0] * a0 + px[:, x1] * a1
    blended = ((rows[y0] >> 4) * b0[:, None] >> 16) + ((rows[y1] >> 4) * b1[:, None] >> 16)
    return np.clip((blended + 2) >> 2, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Float, taps outside read 0


def bilinear_zero_np(images: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of each image at its own coordinates, NumPy float64, zero taps.

    Parameters
    ----------
    images : (N, C, H, W) float images.
    x, y : (N, h, w) float64 source coordinates of image n's output pixels.

    Returns
    -------
    (N, h, w, C) float64: ``sum over the four taps of weight * inside * pixel``, weights
    ``(1 - wy)(1 - wx)``, ``(1 - wy) wx``, ``wy (1 - wx)``, ``wy wx`` in that order, a tap
    outside the image reading 0.

    Examples
    --------
    >>> ramp = np.arange(4.0).reshape(1, 1, 1, 4)
    >>> bilinear_zero_np(ramp, np.array([[[0.25, 3.5]]]), np.zeros((1, 1, 2)))[0, 0, :, 0]
    array([0.25, 1.5 ])
    """
    n, channels, height, width = images.shape
    x0, y0 = np.floor(x), np.floor(y)
    wx, wy = x - x0, y - y0
    pixels = images.transpose(0, 2, 3, 1).reshape(n * height * width, channels)
    first = (np.arange(n) * height * width)[:, None, None]
    out = np.zeros((*x.shape, channels))
    for dy, dx, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                           (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):  # fmt: skip
        xs, ys = x0.astype(np.int64) + dx, y0.astype(np.int64) + dy
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        taps = pixels[first + ys.clip(0, height - 1) * width + xs.clip(0, width - 1)]
        out += (weight * inside)[..., None] * taps
    return out


def bilinear_zero(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` (C, H, W) at pixel coordinates ``x``, ``y`` (any shape).

    Each of the four taps outside the image reads 0; computed in the dtype of ``x`` as
    ``(1 - fy) * ((1 - fx) * p00 + fx * p01) + fy * ((1 - fx) * p10 + fx * p11)``.

    Returns
    -------
    (C, *x.shape) in the dtype of ``x``.

    Examples
    --------
    >>> ramp = torch.arange(4.0).reshape(1, 1, 4)
    >>> bilinear_zero(ramp, torch.tensor([0.25, 3.5]), torch.zeros(2))
    tensor([[0.2500, 1.5000]])
    """
    channels, height, width = image.shape
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0

    def tap(dy: int, dx: int) -> torch.Tensor:
        xi, yi = (x0 + dx).long(), (y0 + dy).long()
        inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
        values = image[:, yi.clamp(0, height - 1), xi.clamp(0, width - 1)].to(x.dtype)
        return values * inside

    top = (1 - fx) * tap(0, 0) + fx * tap(0, 1)
    bottom = (1 - fx) * tap(1, 0) + fx * tap(1, 1)
    return (1 - fy) * top + fy * bottom


# ---------------------------------------------------------------------------------------------
# Axis-aligned crops through torch's grid_sample (Py-Feat's own calls)


def _grid_sample(image: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor, padding: str):
    """``grid_sample`` of one (C, H, W) image on N separable grids: normalised x per column
    (N, w) and y per row (N, h), one batch of N * h rows; returns (N, C, h, w)."""
    channels = image.shape[0]
    n, rows, cols = gx.shape[0], gy.shape[1], gx.shape[1]
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    out = F.grid_sample(
        image[None],
        grid.reshape(1, n * rows, cols, 2),
        mode="bilinear",
        padding_mode=padding,
        align_corners=False,
    )
    return out.reshape(channels, n, rows, cols).transpose(0, 1)


def grid_sample_boxes(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Py-Feat Detectorv1's crop sampling: legacy normalisation, zero padding.

    ``x`` (N, w) per column and ``y`` (N, h) per row are normalised as ``2 x / (W - 1) - 1``
    and passed to ``grid_sample(align_corners=False)``, so the sample lands at
    ``x W / (W - 1) - 0.5`` in pixel-centre coordinates; taps outside read 0.

    Parameters
    ----------
    image : (C, H, W) float tensor, H and W at least 2.
    x, y : (N, w) and (N, h) in the dtype and on the device of ``image``.

    Returns
    -------
    (N, C, h, w), not contiguous.

    Examples
    --------
    On a 3-wide image x = 1/3, 1, 5/3 land on the columns 0, 1, 2 (x W / (W - 1) - 0.5):

    >>> image = torch.arange(3.0).expand(1, 2, 3)  # column values 0, 1, 2
    >>> x, y = torch.tensor([[1 / 3, 1.0, 5 / 3]]), torch.tensor([[0.5]])
    >>> grid_sample_boxes(image, x, y)[0, 0, 0].round(decimals=4)
    tensor([0., 1., 2.])
    """
    _, height, width = image.shape
    return _grid_sample(image, 2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1, "zeros")


def grid_sample_chips(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Py-Feat Detectorv2's chip sampling: exact pixel-centre positions, reflection padding.

    ``x`` (N, w) per column and ``y`` (N, h) per row are normalised as ``2 (x + 0.5) / W - 1``
    and passed to ``grid_sample(align_corners=False, padding_mode="reflection")``: the sample
    lands exactly at ``x``, reflected about the frame's edges -0.5 and W - 0.5; no antialiasing.

    Returns
    -------
    (N, C, h, w), not contiguous.

    Examples
    --------
    >>> image = torch.arange(3.0).expand(1, 2, 3)  # columns 0, 1, 2
    >>> grid_sample_chips(image, torch.tensor([[-1.0, 0.5, 3.0]]), torch.zeros(1, 1))[0, 0, 0]
    tensor([0.0000, 0.5000, 2.0000])
    """
    _, height, width = image.shape
    gx, gy = 2 * (x + 0.5) / width - 1, 2 * (y + 0.5) / height - 1
    return _grid_sample(image, gx, gy, "reflection")
