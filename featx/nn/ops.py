"""Tensor operations shared by several models, in plain torch (no torchvision).

Boxes are ``(N, 4)`` tensors in ``x1, y1, x2, y2`` order unless a function says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from featx.nn.resampling import bilinear_zero, grid_sample_boxes


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    max_kept: int | None = None,
) -> torch.Tensor:
    """Greedy non-maximum suppression; indices of the kept boxes by descending score.

    Boxes are visited by descending score (ties: lower index first); each kept box removes
    every later box whose IoU with it (:func:`featx.boxes.iou`: no +1 on widths, float32) is
    **greater than** ``iou_threshold``. The semantics of ``torchvision.ops.nms``. The loop
    over kept boxes runs in NumPy on the CPU, each box's area computed once; ``max_kept``
    stops it after that many kept boxes (the first ``max_kept`` of the full result: a later
    box never removes an earlier one).

    Examples
    --------
    >>> boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]])
    >>> nms(boxes, torch.tensor([0.8, 0.9, 0.7]), 0.5)
    tensor([1, 2])
    >>> nms(boxes, torch.tensor([0.8, 0.9, 0.7]), 0.5, max_kept=1)
    tensor([1])
    """
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order].detach().to("cpu", torch.float32).numpy().reshape(-1, 4)
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))
    limit = len(order) if max_kept is None else max(int(max_kept), 0)
    alive = np.ones(len(order), bool)
    kept: list[int] = []
    with np.errstate(all="ignore"):  # NaN, infinite or empty boxes: IoU 0, kept
        area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        for i in range(len(order)):
            if len(kept) >= limit:
                break
            if not alive[i]:
                continue
            kept.append(i)
            rest = slice(i + 1, None)
            w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
            h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
            inter = w * h
            union = area[i] + area[rest] - inter
            ok = np.isfinite(union) & (union > 0) & np.isfinite(inter)
            alive[rest] &= ~(ok & (inter / np.where(ok, union, 1) > iou_threshold))
    return order[torch.tensor(kept, dtype=torch.int64, device=order.device)]


# ---------------------------------------------------------------------------------------------
# Face crops (Py-Feat Detectorv1): box expansion, the sampling grid, and the whole crop step


def expand_boxes(boxes: torch.Tensor, factor: float) -> torch.Tensor:
    """Scale each box's width and height by ``factor`` about its centre.

    Width and height are scaled independently: the box is neither squared nor clamped to the
    frame. The result keeps the dtype of ``boxes``.

    Examples
    --------
    >>> expand_boxes(torch.tensor([[10.0, 20.0, 30.0, 60.0]]), 1.5)
    tensor([[ 5., 10., 35., 70.]])
    """
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * factor / 2
    return torch.cat([centre - half, centre + half], dim=1)


def crop_boxes(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear ``size`` x ``size`` samples of ``image`` inside each box, Py-Feat's grid.

    Output pixel (row r, col c) samples the frame at ``x = x1 + (c + 0.5) / size * (x2 - x1)``,
    ``y = y1 + (r + 0.5) / size * (y2 - y1)``, normalised as ``2 x / (W - 1) - 1`` (the legacy
    convention) and passed to ``grid_sample(align_corners=False)`` with zero padding, exactly
    as Py-Feat does (:func:`featx.nn.resampling.grid_sample_boxes`). The net effect is a sample
    at ``x W / (W - 1) - 0.5`` (pixel centres on integers); taps outside the frame read 0, so
    boxes may hang over the edge.

    Parameters
    ----------
    image : (C, H, W) float tensor, H and W at least 2.
    boxes : (N, 4) float tensor of x1, y1, x2, y2 in pixels, on the device of ``image``.
    size : side of the square crop; non-square boxes are stretched.

    Returns
    -------
    (N, C, size, size) tensor in the dtype of ``image``.

    Examples
    --------
    >>> crop_boxes(torch.ones(3, 20, 30), torch.tensor([[5.0, 5.0, 15.0, 15.0]]), 8).shape
    torch.Size([1, 3, 8, 8])
    """
    steps = (torch.arange(size, dtype=image.dtype, device=image.device) + 0.5) / size
    boxes = boxes.to(image.dtype)
    gx = boxes[:, 0:1] + steps * (boxes[:, 2:3] - boxes[:, 0:1])  # (N, size): per column
    gy = boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])  # (N, size): per row
    return grid_sample_boxes(image, gx, gy)


def face_crops(image, boxes, size: int, factor: float = 1.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Py-Feat's Detectorv1 face crops of one RGB frame, and the boxes they stand for.

    Each detector box is expanded by ``factor`` (:func:`expand_boxes`), sampled into a
    ``size`` x ``size`` crop of the frame scaled to [0, 1] (:func:`crop_boxes`), and rounded
    half-to-even to integer pixels. Models read the crop; the rounded box is the one Py-Feat
    maps crop coordinates back with and reports as the face box. Landmark models use
    ``size`` 112 (224 for mobilenet); arcface, facenet and the HOG models reuse the 112 crop.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB frame (numpy array or tensor).
    boxes : (N, 4) x1, y1, x2, y2 detector boxes in pixels (array or tensor); the crops are
        computed on the device of ``boxes`` when it is a tensor.
    size : side of the square crops.
    factor : expansion of width and height about the box centre.

    Returns
    -------
    crops : (N, 3, size, size) float32 in [0, 1].
    rounded : (N, 4) int64 expanded boxes, rounded half-to-even.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.zeros((100, 80, 3), np.uint8)
    >>> crops, rounded = face_crops(frame, [[10.0, 20.0, 50.0, 70.0]], size=112)
    >>> crops.shape, rounded.tolist()
    (torch.Size([1, 3, 112, 112]), [[6, 15, 54, 75]])
    """
    device = boxes.device if torch.is_tensor(boxes) else None
    frame = torch.as_tensor(image, device=device)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8:
        raise ValueError(
            f"face_crops needs an (H, W, 3) uint8 RGB frame, got {tuple(frame.shape)} {frame.dtype}"
        )
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(
            f"face_crops needs a frame of at least 2x2 pixels, got {tuple(frame.shape)}"
        )
    boxes = torch.as_tensor(boxes, dtype=torch.float32, device=frame.device)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"face_crops needs (N, 4) boxes x1, y1, x2, y2, got {tuple(boxes.shape)}")
    expanded = expand_boxes(boxes, factor)
    crops = crop_boxes(frame.permute(2, 0, 1).to(torch.float32) / 255, expanded, size)
    return crops, torch.round(expanded).to(torch.int64)


# ---------------------------------------------------------------------------------------------
# Five-point similarity alignment (the ArcFace template), an alternative to the box crop


def similarity_transform(src, dst) -> torch.Tensor:
    """Least-squares similarity transform (rotation, uniform scale, translation) from ``src``
    points to ``dst`` points (Umeyama 1991, without reflection).

    Parameters
    ----------
    src : (..., K, 2) points x, y (array or tensor), K >= 2 and not all equal.
    dst : (K, 2) or (..., K, 2) target points.

    Returns
    -------
    (..., 3, 3) float64 tensor ``M`` with ``dst ≈ M @ [x, y, 1]``.

    Examples
    --------
    >>> square = torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1]])
    >>> similarity_transform(square, 2 * square + 5)[:2]
    tensor([[2., 0., 5.],
            [0., 2., 5.]], dtype=torch.float64)
    """
    src = torch.as_tensor(np.asarray(src) if not torch.is_tensor(src) else src).double()
    dst = torch.as_tensor(np.asarray(dst) if not torch.is_tensor(dst) else dst).double()
    dst = dst.to(src.device).expand_as(src)
    mean_src, mean_dst = src.mean(-2, keepdim=True), dst.mean(-2, keepdim=True)
    s, d = src - mean_src, dst - mean_dst
    cov = d.transpose(-1, -2) @ s / src.shape[-2]
    u, sv, vt = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(u) * torch.linalg.det(vt))
    flip = torch.stack([torch.ones_like(sign), sign], dim=-1)  # no reflections
    rotation = u @ torch.diag_embed(flip) @ vt
    scale = (sv * flip).sum(-1) / s.pow(2).sum((-2, -1)) * src.shape[-2]
    linear = scale[..., None, None] * rotation
    shift = mean_dst.transpose(-1, -2) - linear @ mean_src.transpose(-1, -2)
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=src.device)
    return torch.cat([torch.cat([linear, shift], -1), bottom.expand(*linear.shape[:-2], 1, 3)], -2)


def align_faces(image, points, template, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces warped so their five keypoints land on ``template`` (e.g. ArcFace's 112x112).

    The similarity from each face's points to the template (:func:`similarity_transform`) is
    inverted to sample the frame bilinearly at every output pixel (pixel centres on integer
    coordinates, taps outside the frame read 0; :func:`featx.nn.resampling.bilinear_zero`). As
    in Py-Feat's evaluation runner the result goes through 8-bit:
    ``floor(clip(255 v, 0, 255)) / 255``.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB frame (array or tensor), H and W at least 2.
    points : (N, K, 2) keypoints x, y in pixels, in the template's order (RetinaFace's five
        points match ArcFace's template: eyes, nose, mouth corners, image-left first).
    template : (K, 2) target positions in the output crop.
    size : side of the square output.

    Returns
    -------
    crops : (N, 3, size, size) float32 in [0, 1], on the device of ``points`` when a tensor.
    matrices : (N, 3, 3) float64 similarity transforms, frame -> crop.

    Examples
    --------
    >>> frame = np.zeros((100, 80, 3), np.uint8)
    >>> pts = [[[30.0, 40], [50, 40], [40, 50], [32, 60], [48, 60]]]
    >>> crops, m = align_faces(frame, pts, pts[0], size=112)
    >>> crops.shape, bool(torch.allclose(m[0], torch.eye(3, dtype=torch.float64)))
    (torch.Size([1, 3, 112, 112]), True)
    """
    device = points.device if torch.is_tensor(points) else None
    frame = torch.as_tensor(image, device=device)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8:
        raise ValueError(
            f"align_faces needs an (H, W, 3) uint8 RGB frame, got {tuple(frame.shape)} "
            f"{frame.dtype}"
        )
    height, width = frame.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"align_faces needs a frame of at least 2x2 pixels, got {height}x{width}")
    points = torch.as_tensor(np.asarray(points) if not torch.is_tensor(points) else points)
    if points.ndim != 3 or points.shape[-1] != 2 or points.shape[1] != len(template):
        raise ValueError(
            f"align_faces needs (N, {len(template)}, 2) points, got {tuple(points.shape)}"
        )
    matrices = similarity_transform(points.to(frame.device), template)
    # Float32 coordinates and frame, float64 interpolation: the numerics of skimage's warp of a
    # float32 image, which reproduce the reference crops of Py-Feat's runner bit for bit.
    inverse = torch.linalg.inv(matrices).to(torch.float32)
    steps = torch.arange(size, dtype=torch.float32, device=frame.device)
    rows, cols = torch.meshgrid(steps, steps, indexing="ij")
    x = inverse[:, 0, 0, None, None] * cols + inverse[:, 0, 1, None, None] * rows
    y = inverse[:, 1, 0, None, None] * cols + inverse[:, 1, 1, None, None] * rows
    x, y = x + inverse[:, 0, 2, None, None], y + inverse[:, 1, 2, None, None]
    picture = frame.permute(2, 0, 1).to(torch.float32) / 255
    sampled = bilinear_zero(picture, x.double(), y.double()).to(torch.float32)  # (3, N, S, S)
    crops = torch.floor((sampled * 255).clamp(0, 255)) / 255
    return crops.transpose(0, 1).contiguous(), matrices


# ---------------------------------------------------------------------------------------------
# Two-stage (R-CNN) detectors: the image transform and RoIAlign, torchvision's semantics


def rcnn_transform(
    images,
    min_size: int,
    max_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    size_divisible: int = 32,
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Normalise, resize and batch images as torchvision's ``GeneralizedRCNNTransform`` (eval).

    Per image: ``(x - mean) / std`` per channel; then a bilinear resize (``align_corners=False``,
    no antialias) by ``s = min(min_size / min(H, W), max_size / max(H, W))`` to
    ``floor(H s) x floor(W s)``; then every image is zero-padded at the bottom and right to the
    largest height and width of the batch, each rounded up to a multiple of ``size_divisible``.

    Parameters
    ----------
    images : (B, C, H, W) float tensor, or a sequence of (C, H, W) float tensors of any sizes.
    min_size, max_size : target length of the shorter side, and cap on the longer side.
    mean, std : per-channel statistics, in the scale of ``images``.
    size_divisible : the padded height and width are multiples of this.

    Returns
    -------
    batch : (B, C, Hp, Wp) tensor in the dtype of the images.
    sizes : (height, width) of each resized image before padding.

    Examples
    --------
    >>> batch, sizes = rcnn_transform(torch.rand(1, 3, 300, 340), 400, 1400, [0.5] * 3, [0.2] * 3)
    >>> tuple(batch.shape), sizes
    ((1, 3, 416, 480), [(400, 453)])
    """
    resized = []
    for i, image in enumerate(images):
        if image.ndim != 3 or image.shape[0] != len(mean) or min(image.shape[1:]) < 1:
            raise ValueError(
                f"image {i}: expected a ({len(mean)}, H, W) tensor, got {tuple(image.shape)}"
            )
        m = torch.as_tensor(mean, dtype=image.dtype, device=image.device)[:, None, None]
        s = torch.as_tensor(std, dtype=image.dtype, device=image.device)[:, None, None]
        height, width = image.shape[1:]
        scale = min(min_size / min(height, width), max_size / max(height, width))
        size = (math.floor(height * scale), math.floor(width * scale))
        x = (image - m) / s
        resized.append(F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0])
    if not resized:
        raise ValueError("rcnn_transform needs at least one image")
    sizes = [(int(x.shape[1]), int(x.shape[2])) for x in resized]
    pad_h = math.ceil(max(h for h, _ in sizes) / size_divisible) * size_divisible
    pad_w = math.ceil(max(w for _, w in sizes) / size_divisible) * size_divisible
    batch = resized[0].new_zeros((len(resized), resized[0].shape[0], pad_h, pad_w))
    for b, x in zip(batch, resized, strict=True):
        b[:, : x.shape[1], : x.shape[2]] = x
    return batch, sizes


def roi_align(
    features: torch.Tensor,
    boxes,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """Average of bilinear samples of ``features`` in a grid of bins over each box (RoIAlign).

    The semantics of ``torchvision.ops.roi_align``: box corners are scaled by
    ``spatial_scale`` (minus half a cell when ``aligned``; without ``aligned`` a box is at least
    1 x 1); each of the ``output_size`` bins averages a ``sampling_ratio`` x ``sampling_ratio``
    grid of evenly spaced samples (``sampling_ratio <= 0``: ``ceil(box side / bins)`` per axis,
    per box). A sample more than one cell outside the map reads 0; otherwise its coordinates
    are clamped into the map and interpolated between the four neighbouring cells (cell
    centres on integers).

    Parameters
    ----------
    features : (B, C, H, W) float tensor.
    boxes : a list of B (K_i, 4) tensors of x1, y1, x2, y2 (one per image), or one (K, 5)
        tensor whose first column is the image index.
    output_size : bins per box, ``int`` or ``(height, width)``.
    spatial_scale : feature-map cells per box unit (1 / stride).
    sampling_ratio : samples per bin along each axis; ``<= 0`` adapts to the box size.
    aligned : shift box corners by -0.5 cell (pixel-exact alignment).

    Returns
    -------
    (K, C, out_h, out_w) tensor in the dtype of ``features``, boxes in input order.

    Notes
    -----
    Interpolation and averaging are linear, so each box's output is ``A_y F A_x^T`` per
    channel, with ``A_y`` (out_h x rows) and ``A_x`` (out_w x columns) the summed sample
    weights over the window of cells the box touches: one gather of that window and two
    batched matrix products per group of boxes, instead of four taps per sample.

    Examples
    --------
    >>> ramp = torch.arange(16.0).reshape(1, 1, 4, 4)  # value = 4 y + x
    >>> roi_align(ramp, [torch.tensor([[1.0, 1.0, 3.0, 3.0]])], 1, sampling_ratio=1)
    tensor([[[[10.]]]])
    """
    if isinstance(boxes, (list, tuple)):
        rois = torch.cat(
            [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
        )
    else:
        rois = boxes
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(
            f"roi_align needs (K, 5) rois or a list of (K_i, 4) boxes, got {tuple(rois.shape)}"
        )
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    channels, height, width = features.shape[1:]
    rois = rois.to(features.device, features.dtype)
    out = features.new_zeros((len(rois), channels, out_h, out_w))
    if len(rois) == 0:
        return out
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, k] * spatial_scale - offset for k in (1, 2, 3, 4))
    box_w, box_h = x2 - x1, y2 - y1
    if not aligned:
        box_w, box_h = box_w.clamp(min=1.0), box_h.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full_like(box_w, sampling_ratio)
    else:
        grid_h, grid_w = torch.ceil(box_h / out_h), torch.ceil(box_w / out_w)
    weights_y, top, rows = _roi_weights(y1, box_h / out_h, grid_h, out_h, height)
    weights_x, left, cols = _roi_weights(x1, box_w / out_w, grid_w, out_w, width)
    hwc = features.permute(0, 2, 3, 1).contiguous()  # a window is gathered as C-vectors
    image = rois[:, 0].to(torch.int64)
    # Groups of boxes with similar windows, each gathering about 2**22 values at most.
    order = torch.argsort(rows * cols)
    heights, widths = rows[order].tolist(), cols[order].tolist()
    start = 0
    while start < len(order):
        stop, most_h, most_w = start, 1, 1
        while stop < len(order):
            h, w = max(most_h, heights[stop]), max(most_w, widths[stop])
            if stop > start and (stop - start + 1) * h * w * channels > 2**22:
                break
            stop, most_h, most_w = stop + 1, h, w
        part = order[start:stop]
        r = (top[part, None] + torch.arange(most_h, device=rois.device)).clamp(max=height - 1)
        c = (left[part, None] + torch.arange(most_w, device=rois.device)).clamp(max=width - 1)
        window = hwc[image[part, None, None], r[:, :, None], c[:, None, :]]  # (n, h, w, C)
        mixed = torch.einsum("nph,nhwc->npwc", weights_y[part, :, :most_h], window)
        out[part] = torch.einsum("nqw,npwc->ncpq", weights_x[part, :, :most_w], mixed)
        start = stop
    return out


def _roi_weights(start, bin_size, grid, bins: int, length: int):
    """Per box along one axis: the (K, bins, L) matrix of summed bilinear sample weights over
    a window of cells (divided by the box's grid size), the window's first cell (K,) and its
    length (K,); L is the longest window.

    Samples more than one cell outside the map, or beyond the box's own grid size, weigh 0;
    the others are clamped into the map, RoIAlign's edge rule."""
    g = max(int(grid.max()), 1)
    steps = torch.arange(g, dtype=start.dtype, device=start.device)
    bin_index = torch.arange(bins, dtype=start.dtype, device=start.device)
    bin_start = start[:, None, None] + bin_index[None, :, None] * bin_size[:, None, None]
    grid_or_1 = grid.clamp(min=1)[:, None, None]  # an empty grid (aligned, size 0) has no samples
    pos = bin_start + (steps + 0.5) * bin_size[:, None, None] / grid_or_1  # (K, bins, g)
    counted = (steps < grid[:, None, None]) & (pos >= -1.0) & (pos <= length)
    pos = pos.clamp(0, length - 1)
    low = pos.to(torch.int64)
    high = (low + 1).clamp(max=length - 1)
    w_high = pos - low
    scale = counted / grid_or_1
    first = torch.where(counted, low, length).flatten(1).min(1).values.clamp(max=length - 1)
    last = torch.where(counted, high, 0).flatten(1).max(1).values
    size = (last - first + 1).clamp(min=1)
    longest = int(size.max())
    weights = start.new_zeros((len(start), bins, longest))
    weights.scatter_add_(
        2, (low - first[:, None, None]).clamp(0, longest - 1), (1 - w_high) * scale
    )
    weights.scatter_add_(2, (high - first[:, None, None]).clamp(0, longest - 1), w_high * scale)
    return weights, first, size


def check_frames(images: Sequence[np.ndarray]) -> None:
    """Raise ValueError naming the first frame that is not an RGB uint8 (H, W, 3) array."""
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3:
            got = f"{type(im).__name__} {getattr(im, 'dtype', '')} {getattr(im, 'shape', '')}"
            raise ValueError(f"frame {i}: expected an RGB uint8 array (H, W, 3), got {got}")
        if im.shape[2] != 3:
            raise ValueError(f"frame {i}: expected 3 channels (RGB), got shape {im.shape}")
