"""MediaPipe Face Mesh v2 (the Face Landmarker's mesh model) and the geometry around it.

:class:`FaceMesh` maps a 256x256 RGB crop (NHWC, values in [0, 1]) to 478 landmarks
``(x, y, z)`` in crop pixels, a face-presence logit and a second, unused sigmoid score. The
functions place the crop in the image and bring the landmarks back:

- :func:`roi_from_detection` / :func:`roi_from_landmarks`: the rotated square region of interest
  ``(cx, cy, side, theta)`` in pixels from a BlazeFace detection, or from the previous frame's
  landmarks (video tracking);
- :func:`landmarks_to_image`: crop landmarks -> image pixels, with z in pixels of image width;
- ``DLIB68_FROM_MP478``: the 68 mesh vertices that stand for the iBUG/dlib points.

Example
-------
>>> import torch
>>> mesh, logit, score = FaceMesh().eval()(torch.rand(1, 256, 256, 3))
>>> mesh.shape, logit.shape, score.shape
(torch.Size([1, 1, 1, 1434]), torch.Size([1, 1, 1, 1]), torch.Size([1, 1]))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Side of the square model input, in pixels.
INPUT_SIZE = 256
NUM_LANDMARKS = 478
#: Scale of the ROI side over the longer side of the box (detection) or landmark extent.
ROI_SCALE = 1.5
#: Keypoints (detection) and landmarks (tracking) whose direction defines the ROI rotation:
#: the subject's right then left eye (centre for BlazeFace, outer corner for the mesh).
DETECTION_ROTATION_POINTS = (0, 1)
LANDMARK_ROTATION_POINTS = (33, 263)

#: Mesh vertex standing for each of the 68 iBUG/dlib points (jaw 0-16, brows, nose, eyes, lips).
DLIB68_FROM_MP478 = np.array(
    [127, 234, 93, 132, 58, 172, 136, 150, 176, 148, 152, 377, 400, 379, 365, 397, 356,
     70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
     168, 6, 195, 4, 240, 75, 1, 305, 460,
     33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
     61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87],
    dtype=np.int64,
)  # fmt: skip

# (block kind, input channels, hidden channels, output channels, repeats) after the stem;
# "down" halves the size (2x2 stride-2 conv, max-pool skip), "res" keeps it.
_STAGES = (
    ("res", 16, 8, 16, 4),
    ("down", 16, 16, 32, 1),
    ("res", 32, 16, 32, 4),
    ("down", 32, 32, 64, 1),
    ("res", 64, 32, 64, 4),
    ("down", 64, 64, 128, 1),
    ("res", 128, 64, 128, 4),
    ("down", 128, 64, 128, 1),
    ("res", 128, 64, 128, 4),
    ("down", 128, 64, 128, 1),
    ("res", 128, 64, 128, 4),
    ("down", 128, 64, 128, 1),
    ("res", 128, 64, 128, 4),
)


class _Block(nn.Module):
    """Residual bottleneck: 1x1 (or 2x2 stride 2) conv, PReLU, 3x3 depthwise, 1x1, add, PReLU."""

    def __init__(self, c_in: int, hidden: int, c_out: int, down: bool) -> None:
        super().__init__()
        k = 2 if down else 1
        self.conv1 = nn.Conv2d(c_in, hidden, k, stride=k)
        self.act1 = nn.PReLU(hidden)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.conv2 = nn.Conv2d(hidden, c_out, 1)
        self.act2 = nn.PReLU(c_out)
        self.down = down
        self.pad_channels = c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.dw(self.act1(self.conv1(x))))
        if self.down:
            x = F.max_pool2d(x, 2)
        if self.pad_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.pad_channels))  # zeros after the last channel
        return self.act2(x + h)


class FaceMesh(nn.Module):
    """Face Mesh v2: ``forward(x) -> (Identity, Identity_1, Identity_2)``.

    ``x`` is (B,256,256,3) NHWC RGB in [0, 1]. ``Identity`` (B,1,1,1434) holds 478 x (x, y, z)
    in crop pixels (z: relative depth, smaller is closer); ``Identity_1`` (B,1,1,1) the
    face-presence logit; ``Identity_2`` (B,1) a second sigmoid score MediaPipe does not use.
    Names follow the TFLite graph's outputs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2)
        self.stem_act = nn.PReLU(16)
        self.blocks = nn.Sequential(
            *(
                _Block(c_in, hidden, c_out, kind == "down")
                for kind, c_in, hidden, c_out, repeats in _STAGES
                for _ in range(repeats)
            )
        )
        # Heads on the final 2x2 map, in graph order.
        self.score_head = nn.Conv2d(128, 1, 2)
        self.presence_head = nn.Conv2d(128, 1, 2)
        self.landmark_head = nn.Conv2d(128, 3 * NUM_LANDMARKS, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.permute(0, 3, 1, 2)
        x = self.stem_act(self.stem(F.pad(x, (0, 1, 0, 1))))  # TF SAME, stride 2
        x = self.blocks(x)
        landmarks = self.landmark_head(x).permute(0, 2, 3, 1)
        presence = self.presence_head(x).permute(0, 2, 3, 1)
        score = torch.sigmoid(self.score_head(x)).reshape(-1, 1)
        return landmarks, presence, score


# ---------------------------------------------------------------------------------------------
# Region of interest and projection back


def _rotation(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Angle that turns the vector start -> end (pixels, y down) to horizontal, in [-pi, pi)."""
    angle = -np.arctan2(-(end[..., 1] - start[..., 1]), end[..., 0] - start[..., 0])
    return angle - 2 * np.pi * np.floor((angle + np.pi) / (2 * np.pi))


def _roi(
    centre: np.ndarray,
    size: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    image_wh: np.ndarray,
    scale: float,
) -> np.ndarray:
    side = scale * np.max(size * image_wh, axis=-1)
    theta = _rotation(start * image_wh, end * image_wh)
    return np.concatenate([centre * image_wh, side[..., None], theta[..., None]], axis=-1)


def roi_from_detection(
    box: np.ndarray,
    keypoints: np.ndarray,
    image_wh: tuple[int, int],
    scale: float = ROI_SCALE,
    rotation_points: tuple[int, int] = DETECTION_ROTATION_POINTS,
) -> np.ndarray:
    """The mesh model's region of interest from a face detection.

    Parameters
    ----------
    box : (..., 4) xmin, ymin, xmax, ymax, image-normalised.
    keypoints : (..., K, 2) x, y, image-normalised (BlazeFace: 6 points).
    image_wh : image width and height in pixels.
    scale : side of the square ROI over the longer side of the box.
    rotation_points : keypoints whose direction (first -> second) sets the rotation.

    Returns
    -------
    (..., 4) float64 ``(cx, cy, side, theta)``: centre and side in pixels, rotation in radians
    (0 for an upright face, -a for a face turned counter-clockwise by a).

    Examples
    --------
    >>> kp = np.array([[0.4, 0.5], [0.6, 0.5]])
    >>> roi_from_detection(np.array([0.3, 0.4, 0.7, 0.8]), kp, (100, 200)).round(3)
    array([ 50., 120., 120.,   0.])
    """
    box = np.asarray(box, dtype=np.float64)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    wh = np.asarray(image_wh, dtype=np.float64)
    centre = (box[..., :2] + box[..., 2:]) / 2
    size = box[..., 2:] - box[..., :2]
    start, end = keypoints[..., rotation_points[0], :], keypoints[..., rotation_points[1], :]
    return _roi(centre, size, start, end, wh, scale)


def roi_from_landmarks(
    landmarks: np.ndarray,
    image_wh: tuple[int, int],
    scale: float = ROI_SCALE,
    rotation_points: tuple[int, int] = LANDMARK_ROTATION_POINTS,
) -> np.ndarray:
    """The next frame's region of interest from this frame's landmarks (video tracking).

    Parameters
    ----------
    landmarks : (..., 478, 2 or 3) image-normalised landmarks (only x, y are used); the bounding
        box of all of them gives the centre and size.
    image_wh, scale, rotation_points : as :func:`roi_from_detection` (the points are mesh
        vertices, by default the outer eye corners 33 and 263).

    Returns
    -------
    (..., 4) float64 ``(cx, cy, side, theta)``.

    Examples
    --------
    >>> pts = np.zeros((478, 2)); pts[:, 0] = np.linspace(0.2, 0.6, 478); pts[:, 1] = 0.5
    >>> roi_from_landmarks(pts, (100, 100)).round(3)
    array([40., 50., 60.,  0.])
    """
    xy = np.asarray(landmarks, dtype=np.float64)[..., :2]
    wh = np.asarray(image_wh, dtype=np.float64)
    lo, hi = xy.min(axis=-2), xy.max(axis=-2)
    start, end = xy[..., rotation_points[0], :], xy[..., rotation_points[1], :]
    return _roi((lo + hi) / 2, hi - lo, start, end, wh, scale)


def z_scale(roi: np.ndarray, image_wh: tuple[int, int]) -> np.ndarray:
    """Image-normalised length of one normalised crop unit along the crop's x axis.

    ``z_norm = z / 256 * z_scale``: MediaPipe's z (in units of image width) from the model's z.
    """
    roi = np.asarray(roi, dtype=np.float64)
    w, h = (float(v) for v in image_wh)
    side, theta = roi[..., 2], roi[..., 3]
    return np.hypot(np.cos(theta) * side / w, np.sin(theta) * side / h)


def landmarks_to_image(
    landmarks: np.ndarray,
    roi: np.ndarray,
    image_wh: tuple[int, int],
    input_size: int = INPUT_SIZE,
) -> np.ndarray:
    """Crop landmarks -> image pixels.

    Parameters
    ----------
    landmarks : (..., 478, 3) x, y, z in crop pixels (the model's ``Identity`` reshaped).
    roi : (..., 4) the ``(cx, cy, side, theta)`` the crop was made from.
    image_wh : image width and height in pixels.
    input_size : the crop's side in pixels.

    Returns
    -------
    (..., 478, 3) float64: x, y in image pixels and z in pixels of image width (MediaPipe's
    normalised landmarks are this divided by (W, H, W)). No clipping.

    Examples
    --------
    >>> landmarks_to_image(np.array([[128.0, 128.0, 0.0]]), np.array([50, 60, 40, 0.3]), (100, 100))
    array([[50., 60.,  0.]])
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    roi = np.asarray(roi, dtype=np.float64)[..., None, :]
    w = float(image_wh[0])
    cx, cy, side, theta = roi[..., 0], roi[..., 1], roi[..., 2], roi[..., 3]
    u = pts[..., 0] / input_size - 0.5
    v = pts[..., 1] / input_size - 0.5
    cos, sin = np.cos(theta), np.sin(theta)
    x = cx + (cos * u - sin * v) * side
    y = cy + (sin * u + cos * v) * side
    z = pts[..., 2] / input_size * z_scale(roi[..., 0, :], image_wh)[..., None] * w
    return np.stack([x, y, z], axis=-1)
