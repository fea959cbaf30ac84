"""HOG features of Py-Feat's Detectorv1 AU and emotion classifiers.

Per face, on the 112 x 112 crop of the detector box expanded x1.2 (the crop the 112-pixel
landmark models read, :func:`featx.nn.ops.face_crops`), with 68 landmarks in crop pixels:

1. :func:`alignment_affine`: rotate the eye line level and scale the box around five anchors
   (eye centres, nose tip, mouth corners), enlarged x2.5, onto the 112 x 112 output;
2. :func:`warp`: bilinear warp with zero padding, then the constant 128 wherever the source
   point falls outside the crop (a Py-Feat quirk kept on purpose: the crop is in [0, 1]);
3. :func:`aligned_landmarks`: the landmarks through the affine, truncated toward zero;
4. :func:`face_mask`: the convex hull of those landmarks (boundary included) plus the forehead
   box above the jaw's end points;
5. :func:`hog`: scikit-image's HOG (8 orientations, 8 x 8 cells, 2 x 2 blocks, L2-Hys) with hard
   binning and a per-pixel choice of the strongest channel, on the masked face: 5408 values.

:func:`hog_features` runs steps 1-5 on crops; :func:`frame_features` starts from frames, detector
boxes and landmarks in frame pixels (from any landmark model, whatever its own crop size).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> crops = rng.random((1, 3, 112, 112), dtype=np.float32)
>>> pts = np.stack([rng.uniform(20, 90, 68), rng.uniform(20, 90, 68)], axis=1)[None]
>>> features, landmark_features = hog_features(crops, pts)
>>> features.shape, landmark_features.shape
((1, 5408), (1, 136))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from featx.nn.resampling import bilinear_zero_np

#: Side of the face crop and of the aligned face.
CROP_SIZE = 112
#: Expansion of the detector box (width and height, about its centre) for the crop.
CROP_EXPAND = 1.2
#: The anchors' bounding box is enlarged by this factor before it is scaled onto the output.
BOX_ENLARGE = 2.5
#: Value of every channel of an aligned pixel whose source lies outside the crop.
OUTSIDE_FILL = 128.0
ORIENTATIONS = 8
PIXELS_PER_CELL = 8
CELLS_PER_BLOCK = 2
#: L2-Hys: squared epsilon of both normalisations, and the clip between them.
L2HYS_EPS2 = 1e-10
L2HYS_CLIP = 0.2
#: Length of the HOG vector of a 112 x 112 face: 13 x 13 blocks of 2 x 2 cells x 8 bins.
N_HOG = 5408
N_LANDMARKS = 68


def alignment_affine(landmarks) -> np.ndarray:
    """The affine (source crop pixel -> aligned pixel) of each face, float64.

    Parameters
    ----------
    landmarks : (N, 68, 2) x, y in crop pixels (iBUG/dlib order, 0-based).

    Returns
    -------
    (N, 2, 3) float64 ``M`` with ``aligned = M @ [x, y, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.zeros((1, 68, 2)); pts[0, 36:42] = [30, 40]; pts[0, 42:48] = [70, 40]
    >>> pts[0, 30] = [50, 60]; pts[0, 48] = [35, 80]; pts[0, 54] = [65, 80]
    >>> (alignment_affine(pts).round(3) + 0.0).tolist()  # level eyes: scale 55.5 / 50 only
    [[[1.11, 0.0, 0.0], [0.0, 1.11, -11.1]]]
    """
    pts = _points(landmarks, "landmarks")
    anchors = np.stack(
        [pts[:, 36:42].mean(1), pts[:, 42:48].mean(1), pts[:, 30], pts[:, 48], pts[:, 54]], axis=1
    )
    eye_line = anchors[:, 1] - anchors[:, 0]
    length = np.sqrt((eye_line**2).sum(-1))
    c, s = eye_line[:, 0] / length, eye_line[:, 1] / length
    rx = c[:, None] * anchors[..., 0] + s[:, None] * anchors[..., 1]
    ry = -s[:, None] * anchors[..., 0] + c[:, None] * anchors[..., 1]
    cx, cy = (rx.min(1) + rx.max(1)) / 2, (ry.min(1) + ry.max(1)) / 2
    half = 0.5 * BOX_ENLARGE * np.maximum(rx.max(1) - rx.min(1), ry.max(1) - ry.min(1))
    k = (CROP_SIZE - 1) / 2 / half
    return np.stack(
        [
            np.stack([k * c, k * s, k * (half - cx)], axis=1),
            np.stack([-k * s, k * c, k * (half - cy)], axis=1),
        ],
        axis=1,
    )


def warp(crops, affine, size: int = CROP_SIZE) -> np.ndarray:
    """Warp each crop through its affine onto a ``size`` x ``size`` aligned face.

    The affine is first rounded to float32. Output pixel (u = column, v = row) reads the crop at
    ``M⁻¹ (u, v, 1)`` (integer pixel centres), bilinearly, with taps outside the crop reading 0
    (:func:`featx.nn.resampling.bilinear_zero_np`);
    where that point lies outside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` every channel is
    :data:`OUTSIDE_FILL`.

    Parameters
    ----------
    crops : (N, C, H, W) float images.
    affine : (N, 2, 3) from :func:`alignment_affine`.

    Returns
    -------
    (N, C, size, size) float32.

    Examples
    --------
    >>> import numpy as np
    >>> shift = np.array([[[1.0, 0, -2], [0, 1, 0]]])  # aligned x = source x - 2
    >>> out = warp(np.ones((1, 1, 4, 4), np.float32), shift, size=4)
    >>> out[0, 0, 0].tolist()
    [1.0, 1.0, 128.0, 128.0]
    """
    crops = np.asarray(crops, np.float32)
    if crops.ndim != 4:
        raise ValueError(f"warp needs (N, C, H, W) crops, got shape {crops.shape}")
    n, channels, height, width = crops.shape
    m = np.asarray(affine, np.float32).astype(np.float64)
    if m.shape != (n, 2, 3):
        raise ValueError(f"warp needs ({n}, 2, 3) affines for {n} crops, got {m.shape}")
    inverse = np.linalg.inv(m[:, :, :2])
    v, u = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size), indexing="ij")
    du, dv = u[None] - m[:, 0, 2, None, None], v[None] - m[:, 1, 2, None, None]
    sx = inverse[:, 0, 0, None, None] * du + inverse[:, 0, 1, None, None] * dv
    sy = inverse[:, 1, 0, None, None] * du + inverse[:, 1, 1, None, None] * dv
    out = bilinear_zero_np(crops, sx, sy)
    outside = (sx < -0.5) | (sx > width - 0.5) | (sy < -0.5) | (sy > height - 0.5)
    out[outside] = OUTSIDE_FILL
    return out.transpose(0, 3, 1, 2).astype(np.float32)


def aligned_landmarks(landmarks, affine) -> np.ndarray:
    """The landmarks through the (float64) affine, truncated toward zero to integers.

    Returns
    -------
    (N, 68, 2) int64 x, y in aligned pixels.

    Examples
    --------
    >>> import numpy as np
    >>> shift = np.array([[[1.0, 0, -2], [0, 1, 0.5]]])
    >>> aligned_landmarks([[[1.5, 2.7], [3.0, -0.9]]], shift).tolist()
    [[[0, 3], [1, 0]]]
    """
    pts = _points(landmarks, "landmarks", n_points=None)
    m = np.asarray(affine, np.float64)
    moved = np.einsum("nij,nkj->nki", m[:, :, :2], pts) + m[:, None, :, 2]
    return np.trunc(moved).astype(np.int64)


def face_mask(points, size: int = CROP_SIZE) -> np.ndarray:
    """The face region of each aligned face: convex hull plus forehead box.

    Pixel (row r, col c) is in the hull when the point (x = c, y = r) lies inside or on the
    boundary of the convex hull of the 68 integer landmarks (exact integer arithmetic). The
    forehead box is ``mask[0 : min(y0, y16), x0 : x16] = True`` with numpy's slice rules
    (a negative bound counts from the end, a reversed range is empty), as Py-Feat does.

    Parameters
    ----------
    points : (N, 68, 2) integer aligned landmarks (:func:`aligned_landmarks`).

    Returns
    -------
    (N, size, size) bool.

    Examples
    --------
    >>> import numpy as np
    >>> square = np.zeros((1, 68, 2), np.int64); square[0, 1:] = [4, 4]; square[0, 16] = [4, 2]
    >>> square[0, 8] = [2, 4]; square[0, 30] = [4, 4]; square[0, 0] = [2, 2]
    >>> face_mask(square, size=6)[0].astype(int).tolist()[1:5]
    [[0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 0]]
    """
    pts = np.asarray(points)
    if pts.ndim != 3 or pts.shape[1:] != (N_LANDMARKS, 2):
        raise ValueError(f"face_mask needs (N, 68, 2) integer landmarks, got shape {pts.shape}")
    pts = pts.astype(np.int32)  # int32 products stay exact for any plausible coordinate
    grid = np.arange(size, dtype=np.int32)
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    masks = np.zeros((len(pts), size, size), bool)
    for mask, face in zip(masks, pts, strict=True):
        try:
            hull = face[ConvexHull(face).vertices]  # counter-clockwise in (x, y)
        except QhullError:  # all points on one line: no area to fill
            hull = None
        if hull is not None:
            edge = np.roll(hull, -1, axis=0) - hull
            cross = edge[:, 0, None, None] * (rows - hull[:, 1, None, None]) - edge[
                :, 1, None, None
            ] * (cols - hull[:, 0, None, None])
            mask |= (cross >= 0).all(axis=0)
        top = int(min(face[0, 1], face[16, 1]))
        mask[0:top, int(face[0, 0]) : int(face[16, 0])] = True
    return masks


def hog(images) -> np.ndarray:
    """HOG descriptor with scikit-image's layout, as Py-Feat's HOG layer computes it.

    Central differences per channel (zero on the border rows/columns), at each pixel the channel
    with the largest magnitude (first on ties), unsigned angle in float32 degrees binned hard
    into :data:`ORIENTATIONS` bins of 22.5°, cell histograms as the mean over the cell's pixels,
    2 x 2-cell blocks at a one-cell stride normalised with L2-Hys, flattened as (block row,
    block column, cell row, cell column, orientation).

    Parameters
    ----------
    images : (N, C, H, W) float images (H and W multiples of 8 to use every pixel).

    Returns
    -------
    (N, D) float32; D = 5408 for 112 x 112.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.tile(np.arange(16, dtype=np.float32), (1, 3, 16, 1))
    >>> hog(ramp).reshape(32)[:8].round(3).tolist()  # horizontal gradient: all in bin 0
    [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    img = np.asarray(images, np.float32)
    if img.ndim != 4:
        raise ValueError(f"hog needs (N, C, H, W) images, got shape {img.shape}")
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[..., 1:-1] = img[..., 2:] - img[..., :-2]
    gy[..., 1:-1, :] = img[..., 2:, :] - img[..., :-2, :]
    magnitude = np.sqrt(gx * gx + gy * gy)
    best = magnitude.argmax(axis=1)[:, None]
    mag = np.take_along_axis(magnitude, best, axis=1)[:, 0]
    gx, gy = np.take_along_axis(gx, best, axis=1)[:, 0], np.take_along_axis(gy, best, axis=1)[:, 0]
    angle = np.mod(np.arctan2(gy, gx) * np.float32(180 / np.pi), np.float32(180))
    width = np.float32(180 / ORIENTATIONS)
    bins = np.clip(np.floor(angle / width), 0, ORIENTATIONS - 1).astype(np.int64)

    n, height, width_px = mag.shape
    cells_r, cells_c = height // PIXELS_PER_CELL, width_px // PIXELS_PER_CELL
    used = (slice(None), slice(0, cells_r * PIXELS_PER_CELL), slice(0, cells_c * PIXELS_PER_CELL))
    r = np.arange(cells_r * PIXELS_PER_CELL) // PIXELS_PER_CELL
    c = np.arange(cells_c * PIXELS_PER_CELL) // PIXELS_PER_CELL
    cell = (np.arange(n)[:, None, None] * cells_r + r[None, :, None]) * cells_c + c[None, None, :]
    index = cell * ORIENTATIONS + bins[used]
    hist = np.bincount(
        index.ravel(), weights=mag[used].ravel(), minlength=n * cells_r * cells_c * ORIENTATIONS
    ).reshape(n, cells_r, cells_c, ORIENTATIONS) / (PIXELS_PER_CELL * PIXELS_PER_CELL)

    b = CELLS_PER_BLOCK
    blocks_r, blocks_c = cells_r - b + 1, cells_c - b + 1
    blocks = np.stack(
        [hist[:, i : i + blocks_r, j : j + blocks_c] for i in range(b) for j in range(b)], axis=3
    ).reshape(n, blocks_r, blocks_c, b * b * ORIENTATIONS)
    blocks = blocks / np.sqrt((blocks**2).sum(-1, keepdims=True) + L2HYS_EPS2)
    blocks = np.minimum(blocks, L2HYS_CLIP)
    blocks = blocks / np.sqrt((blocks**2).sum(-1, keepdims=True) + L2HYS_EPS2)
    return blocks.reshape(n, blocks_r * blocks_c * b * b * ORIENTATIONS).astype(np.float32)


def hog_features(crops, landmarks) -> tuple[np.ndarray, np.ndarray]:
    """HOG of the aligned, masked faces and their integer aligned landmarks.

    Parameters
    ----------
    crops : (N, 3, 112, 112) float RGB face crops in [0, 1].
    landmarks : (N, 68, 2) x, y in crop pixels.

    Returns
    -------
    hog : (N, 5408) float32.
    landmark_features : (N, 136) int64 aligned landmarks, interleaved x0, y0, x1, y1, ...
    """
    crops = np.asarray(crops, np.float32)
    pts = _points(landmarks, "landmarks")
    if crops.shape != (len(pts), 3, CROP_SIZE, CROP_SIZE):
        raise ValueError(
            f"hog_features needs ({len(pts)}, 3, {CROP_SIZE}, {CROP_SIZE}) crops for "
            f"{len(pts)} faces, got shape {crops.shape}"
        )
    affine = alignment_affine(pts)
    aligned = aligned_landmarks(pts, affine)
    masked = warp(crops, affine) * face_mask(aligned)[:, None]
    return hog(masked), aligned.reshape(len(pts), 2 * N_LANDMARKS)


def frame_features(
    frames: Sequence, boxes: Sequence, landmarks: Sequence
) -> tuple[np.ndarray, np.ndarray]:
    """HOG features of every face of several frames, from frame-pixel landmarks.

    The 112 crop of each detector box is taken as the landmark models take it
    (:func:`featx.nn.ops.face_crops`, box expanded x1.2), and the landmarks are mapped into it
    through the same rounded box Py-Feat maps them out with. The features are therefore the ones
    Py-Feat computes with a 112-pixel landmark model, whichever model produced the landmarks
    (Py-Feat itself cannot run the HOG models after ``mobilenet``'s 224 crop).

    Parameters
    ----------
    frames : RGB uint8 frames (H, W, 3), numpy arrays or tensors.
    boxes : per frame, (n_i, 4) detector boxes x1, y1, x2, y2 in pixels.
    landmarks : per frame, (n_i, 68, 2) x, y in frame pixels.

    Returns
    -------
    The :func:`hog_features` of all faces, frame after frame: (sum n_i, 5408) and
    (sum n_i, 136).

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.zeros((120, 100, 3), np.uint8)
    >>> pts = np.stack([np.linspace(30, 70, 68), 40 + 30 * np.sin(np.arange(68))], axis=1)
    >>> hog_vec, lm = frame_features([frame], [[[25.0, 30, 75, 90]]], [pts[None]])
    >>> hog_vec.shape, lm.shape
    ((1, 5408), (1, 136))
    """
    import torch

    from featx.nn import ops

    if not len(frames) == len(boxes) == len(landmarks):
        raise ValueError(
            f"frame_features got {len(frames)} frames, {len(boxes)} box sets and "
            f"{len(landmarks)} landmark sets"
        )
    crops = [np.zeros((0, 3, CROP_SIZE, CROP_SIZE), np.float32)]
    points = [np.zeros((0, N_LANDMARKS, 2))]
    for frame, frame_boxes, frame_points in zip(frames, boxes, landmarks, strict=True):
        frame_boxes = torch.as_tensor(frame_boxes, dtype=torch.float32).cpu().reshape(-1, 4)
        if len(frame_boxes) == 0:
            continue
        pts = torch.as_tensor(frame_points).cpu().numpy().astype(np.float64)
        pts = pts.reshape(len(frame_boxes), N_LANDMARKS, 2)
        crop, rounded = ops.face_crops(frame, frame_boxes, CROP_SIZE, CROP_EXPAND)
        box = rounded.numpy().astype(np.float64)[:, None]
        crops.append(crop.numpy())
        points.append((pts - box[..., :2]) / (box[..., 2:] - box[..., :2]) * CROP_SIZE)
    return hog_features(np.concatenate(crops), np.concatenate(points))


def _points(landmarks, what: str, n_points: int | None = N_LANDMARKS) -> np.ndarray:
    pts = np.asarray(landmarks, np.float64)
    if pts.ndim != 3 or pts.shape[2] != 2 or (n_points and pts.shape[1] != n_points):
        want = f"(N, {n_points or 'P'}, 2)"
        raise ValueError(f"{what} must have shape {want} (x, y in pixels), got {pts.shape}")
    if not np.isfinite(pts).all():
        bad = np.flatnonzero(~np.isfinite(pts).all(axis=(1, 2))).tolist()
        raise ValueError(f"{what} of faces {bad} are not finite")
    return pts
