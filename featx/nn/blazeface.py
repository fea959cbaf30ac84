"""MediaPipe BlazeFace face detectors (short range 128x128, full range 192x192) and their decoding.

Both graphs take an NHWC RGB tensor with values in [-1, 1] (the letterboxed image, see
:mod:`featx.detectors.mp_image`) and return ``(raw_boxes, raw_scores)``: per anchor 16
regression values (box centre offset, size, then six keypoints, in tensor pixels) and one face
logit. The functions turn these into detections:

- :func:`ssd_anchors`: MediaPipe's SSD anchor grid from its generator options;
- :func:`decode_boxes`: anchors + regressions -> boxes ``(xmin, ymin, xmax, ymax)`` and keypoints
  in tensor-normalised units;
- :func:`sigmoid_scores`: logits -> scores, with MediaPipe's score clipping;
- :func:`weighted_nms`: score threshold and MediaPipe's weighted ("blending") NMS;
- :func:`remove_letterbox`: tensor-normalised -> image-normalised coordinates.

The keypoints are, in order, the subject's right eye, left eye, nose tip, mouth centre, right ear
tragion and left ear tragion (:data:`KEYPOINTS`).

Example
-------
>>> import torch
>>> net = BlazeFaceShort().eval()
>>> raw_boxes, raw_scores = net(torch.zeros(1, 128, 128, 3))
>>> anchors = ssd_anchors(ANCHOR_OPTIONS["blazeface_short"])
>>> boxes, keypoints = decode_boxes(raw_boxes[0], anchors, 128)
>>> boxes.shape, keypoints.shape
(torch.Size([896, 4]), torch.Size([896, 6, 2]))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featx.boxes import iou

KEYPOINTS = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)
#: Side of each graph's square input tensor; boxes are decoded with this scale.
INPUT_SIZE = {"blazeface_short": 128, "blazeface_full": 192}
#: MediaPipe's SSD anchor options of each graph (names as in its anchor calculator).
ANCHOR_OPTIONS: dict[str, dict[str, Any]] = {
    "blazeface_short": {
        "num_layers": 4,
        "min_scale": 0.1484375,
        "max_scale": 0.75,
        "input_size_height": 128,
        "input_size_width": 128,
        "anchor_offset_x": 0.5,
        "anchor_offset_y": 0.5,
        "strides": [8, 16, 16, 16],
        "aspect_ratios": [1.0],
        "interpolated_scale_aspect_ratio": 1.0,
        "fixed_anchor_size": True,
    },
    "blazeface_full": {
        "num_layers": 1,
        "min_scale": 0.1484375,
        "max_scale": 0.75,
        "input_size_height": 192,
        "input_size_width": 192,
        "anchor_offset_x": 0.5,
        "anchor_offset_y": 0.5,
        "strides": [4],
        "aspect_ratios": [1.0],
        "interpolated_scale_aspect_ratio": 0.0,
        "fixed_anchor_size": True,
    },
}
#: Logits are clamped to +-this before the sigmoid.
SCORE_CLIP = 100.0


# ---------------------------------------------------------------------------------------------
# Graphs


def _dw(channels: int, stride: int) -> nn.Conv2d:
    """A 3x3 depthwise convolution without padding (padding is explicit, as in the graph)."""
    return nn.Conv2d(channels, channels, 3, stride=stride, groups=channels)


def _pw(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1)


def _to_rows(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, A*k, H, W) -> (N, H*W*A, k) rows in NHWC order (row, column, anchor)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, k)


class _BlazeBlock(nn.Module):
    """Short-range block: ``relu(pw(dw(x)) + skip(x))``; TF SAME padding on the depthwise conv.

    The skip is ``x`` (stride 1) or a 2x2 max-pool (stride 2), zero-padded at the end of the
    channel axis when the block widens.
    """

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, cout - cin
        self.dw = _dw(cin, stride)
        self.pw = _pw(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TF SAME for 3x3: stride 1 pads 1 everywhere; stride 2 on even sizes pads bottom/right 1.
        pad = (1, 1, 1, 1) if self.stride == 1 else (0, 1, 0, 1)
        h = self.pw(self.dw(F.pad(x, pad)))
        skip = x if self.stride == 1 else F.max_pool2d(x, 2)
        if self.extra:
            skip = F.pad(skip, (0, 0, 0, 0, 0, self.extra))
        return F.relu(h + skip)


class BlazeFaceShort(nn.Module):
    """BlazeFace short range: ``forward((N, 128, 128, 3) NHWC in [-1, 1])``.

    Returns ``raw_boxes`` (N, 896, 16) and ``raw_scores`` (N, 896, 1) (logits); rows 0..511 are
    the 16x16 level (2 anchors per cell), rows 512..895 the 8x8 level (6 per cell).

    Examples
    --------
    >>> [t.shape for t in BlazeFaceShort().eval()(torch.zeros(1, 128, 128, 3))]
    [torch.Size([1, 896, 16]), torch.Size([1, 896, 1])]
    >>> from featx import hub
    >>> net = hub.card("blazeface_short").build()  # bundled: .load() reads its real weights offline
    >>> isinstance(net, BlazeFaceShort), sum(p.numel() for p in net.parameters())
    (True, 101390)
    """

    #: (cin, cout, stride) of the 16 blocks after the 5x5 stem.
    BLOCKS = (
        (24, 24, 1),
        (24, 28, 1),
        (28, 32, 2),
        (32, 36, 1),
        (36, 42, 1),
        (42, 48, 2),
        (48, 56, 1),
        (56, 64, 1),
        (64, 72, 1),
        (72, 80, 1),
        (80, 88, 1),
        (88, 96, 2),
        (96, 96, 1),
        (96, 96, 1),
        (96, 96, 1),
        (96, 96, 1),
    )
    #: The stride-8 heads (16x16 map) read the output of this block.
    STRIDE8_BLOCK = 10

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 5, stride=2)
        self.blocks = nn.ModuleList(_BlazeBlock(*b) for b in self.BLOCKS)
        # Heads named by the stride of the map they read (8: 16x16, 16: 8x8), registered in
        # graph order (the converter relies on it).
        self.cls8 = _pw(88, 2)
        self.cls16 = _pw(96, 6)
        self.reg8 = _pw(88, 32)
        self.reg16 = _pw(96, 96)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box and keypoint regressions (N, 896, 16) and score logits (N, 896, 1), one per anchor.

        Examples
        --------
        >>> import torch
        >>> net = BlazeFaceShort().eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 128, 128, 3))]
        [(1, 896, 16), (1, 896, 1)]
        """
        x = F.relu(self.stem(F.pad(x.permute(0, 3, 1, 2), (1, 2, 1, 2))))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.STRIDE8_BLOCK:
                fine = x
        raw_boxes = torch.cat([_to_rows(self.reg8(fine), 16), _to_rows(self.reg16(x), 16)], 1)
        raw_scores = torch.cat([_to_rows(self.cls8(fine), 1), _to_rows(self.cls16(x), 1)], 1)
        return raw_boxes, raw_scores


class _DoubleBlock(nn.Module):
    """Full-range block: ``dw -> pw(cin->mid) + relu -> dw -> pw(mid->cout)``, each 3x3 depthwise
    conv on a 1-pixel zero pad. Stride 1 adds the input (residual); stride 2 has no skip.
    Both end in a ReLU."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.residual = stride == 1
        self.dw1 = _dw(cin, stride)
        self.pw1 = _pw(cin, mid)
        self.dw2 = _dw(mid, 1)
        self.pw2 = _pw(mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.pw1(self.dw1(F.pad(x, (1, 1, 1, 1)))))
        h = self.pw2(self.dw2(F.pad(h, (1, 1, 1, 1))))
        return F.relu(x + h if self.residual else h)


def _residuals(channels: int, mid: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(_DoubleBlock(channels, mid, channels) for _ in range(count)))


def _project(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(_pw(cin, cout), nn.ReLU())


def _depth_to_space(x: torch.Tensor) -> torch.Tensor:
    """TFLite DEPTH_TO_SPACE(2) in NCHW: ``out[c, 2y+i, 2x+j] = in[(2i+j)*C + c, y, x]``."""
    n, c4, h, w = x.shape
    c = c4 // 4
    return x.view(n, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, 2 * h, 2 * w)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    """RESIZE_BILINEAR x2 with half-pixel centres."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class BlazeFaceFull(nn.Module):
    """BlazeFace full range: ``forward((N, 192, 192, 3) NHWC in [-1, 1])``.

    A backbone down to 6x6, a top-down path with lateral projections back to 48x48, and two
    heads that predict at 24x24 and rearrange to one anchor per cell of the 48x48 grid.
    Returns ``raw_boxes`` (N, 2304, 16) and ``raw_scores`` (N, 2304, 1) (logits).

    Examples
    --------
    >>> [t.shape for t in BlazeFaceFull().eval()(torch.zeros(1, 192, 192, 3))]
    [torch.Size([1, 2304, 16]), torch.Size([1, 2304, 1])]
    >>> from featx import hub
    >>> net = hub.card("blazeface_full").build()  # bundled: .load() reads its real weights offline
    >>> isinstance(net, BlazeFaceFull), sum(p.numel() for p in net.parameters())
    (True, 508308)
    """

    def __init__(self) -> None:
        super().__init__()
        # Modules are registered in graph order (the converter relies on it).
        self.stem = nn.Conv2d(3, 32, 3, stride=2)
        self.res96 = _residuals(32, 8, 2)
        self.down48 = _DoubleBlock(32, 16, 64, stride=2)
        self.res48 = _residuals(64, 16, 2)
        self.lateral48 = _project(64, 48)
        self.down24 = _DoubleBlock(64, 32, 128, stride=2)
        self.res24 = _residuals(128, 32, 2)
        self.lateral24 = _project(128, 64)
        self.down12 = _DoubleBlock(128, 48, 192, stride=2)
        self.res12 = _residuals(192, 48, 2)
        self.lateral12 = _project(192, 96)
        self.down6 = _DoubleBlock(192, 96, 384, stride=2)
        self.res6 = _residuals(384, 96, 3)
        self.top6 = _project(384, 96)
        self.up12 = _residuals(96, 48, 2)
        self.top12 = _project(96, 64)
        self.up24 = _residuals(64, 32, 2)
        self.top24 = _project(64, 48)
        self.up48 = _residuals(48, 24, 1)
        self.cls = _pw(48, 4)
        self.cls_dw = _dw(4, 2)
        self.reg = _pw(48, 64)
        self.reg_dw = _dw(64, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box and keypoint regressions (N, 2304, 16) and score logits (N, 2304, 1), one per anchor.

        Examples
        --------
        >>> import torch
        >>> net = BlazeFaceFull().eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 192, 192, 3))]
        [(1, 2304, 16), (1, 2304, 1)]
        """
        x = F.relu(self.stem(F.pad(x.permute(0, 3, 1, 2), (1, 1, 1, 1))))
        f48 = self.res48(self.down48(self.res96(x)))
        f24 = self.res24(self.down24(f48))
        f12 = self.res12(self.down12(f24))
        f6 = self.res6(self.down6(f12))
        x = self.up12(self.lateral12(f12) + _upsample(self.top6(f6)))
        x = self.up24(self.lateral24(f24) + _upsample(self.top12(x)))
        x = self.up48(self.lateral48(f48) + _upsample(self.top24(x)))
        scores = _depth_to_space(self.cls_dw(F.pad(self.cls(x), (1, 1, 1, 1))))
        boxes = _depth_to_space(self.reg_dw(F.pad(self.reg(x), (1, 1, 1, 1))))
        return _to_rows(boxes, 16), _to_rows(scores, 1)


# ---------------------------------------------------------------------------------------------
# Anchors, decoding, scores, weighted NMS, letterbox removal


def ssd_anchors(options: Mapping[str, Any]) -> np.ndarray:
    """MediaPipe's SSD anchors ``(x_center, y_center, w, h)``, tensor-normalised, float32.

    Consecutive layers with the same stride share one feature map of side
    ``ceil(input / stride)``; each of its cells gets one anchor per aspect ratio and layer, plus
    one more per layer when ``interpolated_scale_aspect_ratio > 0``. Cells are walked by row,
    then column, then anchor. Only fixed-size anchors (``w = h = 1``) are supported, the setting
    of every BlazeFace graph.

    Parameters
    ----------
    options : the anchor calculator options (keys as in :data:`ANCHOR_OPTIONS`).

    Examples
    --------
    >>> ssd_anchors(ANCHOR_OPTIONS["blazeface_short"]).shape
    (896, 4)
    """
    if not options.get("fixed_anchor_size", False) or options.get(
        "reduce_boxes_in_lowest_layer", False
    ):
        raise ValueError(
            "ssd_anchors supports fixed_anchor_size=True without reduce_boxes_in_lowest_layer "
            f"only, got {dict(options)}"
        )
    strides = list(options["strides"])
    if len(strides) != options["num_layers"]:
        raise ValueError(f"{len(strides)} strides for {options['num_layers']} layers")
    per_layer = len(options["aspect_ratios"]) + (options["interpolated_scale_aspect_ratio"] > 0)
    anchors = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        group = 0
        while layer < len(strides) and strides[layer] == stride:
            group, layer = group + 1, layer + 1
        fh = math.ceil(options["input_size_height"] / stride)
        fw = math.ceil(options["input_size_width"] / stride)
        y, x = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = (x + options["anchor_offset_x"]) / fw
        cy = (y + options["anchor_offset_y"]) / fh
        centres = np.stack([cx.ravel(), cy.ravel()], axis=1)
        anchors.append(np.repeat(centres, group * per_layer, axis=0))
    centres = np.concatenate(anchors)
    return np.concatenate([centres, np.ones_like(centres)], axis=1).astype(np.float32)


def decode_boxes(
    raw_boxes: torch.Tensor | np.ndarray,
    anchors: torch.Tensor | np.ndarray,
    scale: float | Sequence[float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes and keypoints from the regression output (x before y), tensor-normalised.

    ``centre = r[0:2] / scale * anchor_size + anchor_centre``, ``size = r[2:4] / scale *
    anchor_size`` (linear, no exp), keypoint k = ``r[4+2k : 6+2k] / scale * anchor_size +
    anchor_centre``.

    Parameters
    ----------
    raw_boxes : (..., A, 4 + 2K) regressions.
    anchors : (A, 4) ``(x_center, y_center, w, h)`` from :func:`ssd_anchors`.
    scale : x, y, w, h scales (one number for all four): the input side in pixels.

    Returns
    -------
    boxes : (..., A, 4) ``xmin, ymin, xmax, ymax``.
    keypoints : (..., A, K, 2) ``x, y``.

    Examples
    --------
    >>> boxes, kps = decode_boxes(torch.tensor([[64.0, 0, 32, 64, 0, 0]]),
    ...                           torch.tensor([[0.5, 0.5, 1, 1]]), 128)
    >>> boxes.tolist(), kps.tolist()
    ([[0.875, 0.25, 1.125, 0.75]], [[[0.5, 0.5]]])
    """
    raw = torch.as_tensor(raw_boxes, dtype=torch.float32)
    a = torch.as_tensor(anchors, dtype=torch.float32, device=raw.device)
    sx, sy, sw, sh = np.broadcast_to(np.asarray(scale, dtype=np.float64), (4,)).tolist()
    cx = raw[..., 0] / sx * a[:, 2] + a[:, 0]
    cy = raw[..., 1] / sy * a[:, 3] + a[:, 1]
    w = raw[..., 2] / sw * a[:, 2]
    h = raw[..., 3] / sh * a[:, 3]
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    kps = raw[..., 4:].unflatten(-1, (-1, 2))
    size = torch.stack([a[:, 2], a[:, 3]], dim=-1)[:, None, :]
    div = torch.tensor([sx, sy], dtype=torch.float32, device=raw.device)
    keypoints = kps / div * size + a[:, None, :2]
    return boxes, keypoints


def sigmoid_scores(logits: torch.Tensor | np.ndarray, clip: float = SCORE_CLIP) -> torch.Tensor:
    """``sigmoid(clamp(logit, -clip, clip))`` with the trailing class axis of size 1 dropped.

    Examples
    --------
    >>> sigmoid_scores(torch.tensor([[0.0], [1000.0]])).tolist()
    [0.5, 1.0]
    """
    x = torch.as_tensor(logits, dtype=torch.float32)
    if x.shape[-1:] == (1,):
        x = x[..., 0]
    return torch.sigmoid(x.clamp(-clip, clip))


class Detections(NamedTuple):
    """Weighted-NMS output of one image (K detections, best first)."""

    #: (K, 4) ``xmin, ymin, xmax, ymax``, the score-weighted mean over the cluster.
    boxes: torch.Tensor
    #: (K, P, 2) keypoints, the score-weighted mean over the cluster.
    keypoints: torch.Tensor
    #: (K,) the seed's score.
    scores: torch.Tensor
    #: (K,) index of the seed anchor.
    anchor: torch.Tensor
    #: (K,) how many anchors were blended into each detection.
    num_merged: torch.Tensor


def weighted_nms(
    boxes: torch.Tensor,
    keypoints: torch.Tensor,
    scores: torch.Tensor,
    min_score: float,
    iou_threshold: float,
    max_detections: int | None = None,
) -> Detections:
    """MediaPipe's weighted non-maximum suppression ("blending") of one image's anchors.

    Anchors with ``score >= min_score`` are sorted by descending score (stable). The first
    remaining one seeds a cluster of every remaining anchor whose IoU with it is
    ``> iou_threshold`` (the seed included); the cluster yields one detection with the seed's
    score and the score-weighted mean of the boxes' corners and keypoints, and leaves the pool.
    This repeats until no anchor remains or ``max_detections`` are found. A seed of zero area
    (IoU 0 with itself) is emitted unchanged and ends the search.

    Parameters
    ----------
    boxes : (A, 4) decoded boxes (:func:`decode_boxes`), tensor-normalised.
    keypoints : (A, P, 2) decoded keypoints.
    scores : (A,) scores (:func:`sigmoid_scores`).
    min_score : keep anchors scoring at least this.
    iou_threshold : overlap above which an anchor joins the seed's cluster.
    max_detections : stop after this many detections (None: no limit).

    Examples
    --------
    >>> boxes = torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 0.9], [2, 2, 3, 3]])
    >>> det = weighted_nms(boxes, torch.zeros(3, 1, 2), torch.tensor([0.9, 0.6, 0.7]), 0.5, 0.3)
    >>> det.anchor.tolist(), det.num_merged.tolist()
    ([0, 2], [2, 1])
    """
    scores = torch.as_tensor(scores, dtype=torch.float32)
    boxes = torch.as_tensor(boxes, dtype=torch.float32, device=scores.device)
    keypoints = torch.as_tensor(keypoints, dtype=torch.float32, device=scores.device)
    candidates = torch.nonzero(scores >= min_score).flatten()
    remaining = candidates[torch.argsort(scores[candidates], descending=True, stable=True)]
    found: list[tuple[torch.Tensor, ...]] = []
    while remaining.numel() and (max_detections is None or len(found) < max_detections):
        seed = remaining[0]
        in_cluster = iou(boxes[seed][None], boxes[remaining])[0] > iou_threshold
        cluster = remaining[in_cluster]
        if not cluster.numel():
            found.append((boxes[seed], keypoints[seed], seed, torch.ones_like(seed)))
            break
        weights = scores[cluster] / scores[cluster].sum()
        box = (boxes[cluster] * weights[:, None]).sum(0)
        kps = (keypoints[cluster] * weights[:, None, None]).sum(0)
        found.append((box, kps, seed, torch.tensor(cluster.numel(), device=scores.device)))
        remaining = remaining[~in_cluster]
    if not found:
        none = candidates[:0]
        return Detections(boxes[none], keypoints[none], scores[none], none, none)
    box, kps, seed, merged = (torch.stack(v) for v in zip(*found, strict=True))
    return Detections(box, kps, scores[seed], seed, merged)


def remove_letterbox(coords: torch.Tensor | np.ndarray, letterbox: Sequence[float]) -> torch.Tensor:
    """Tensor-normalised ``x, y`` (last axis: x, y, x, y, ...) -> image-normalised.

    ``x_img = (x - pad_x) / (1 - 2 pad_x)``, likewise for y; no clipping. Multiply by the image
    width and height for pixels.

    Parameters
    ----------
    coords : (..., 2k) interleaved x, y values: boxes ``(xmin, ymin, xmax, ymax)`` or points.
    letterbox : ``(pad_x, pad_y)``, the fraction of the tensor each side that is padding.

    Examples
    --------
    >>> remove_letterbox(torch.tensor([0.25, 0.25, 0.75, 0.75]), (0.0, 0.25)).tolist()
    [0.25, 0.0, 0.75, 1.0]
    """
    xy = torch.as_tensor(coords, dtype=torch.float32)
    pad = torch.tensor([float(letterbox[0]), float(letterbox[1])], device=xy.device)
    points = xy.unflatten(-1, (-1, 2))
    return ((points - pad) / (1 - 2 * pad)).flatten(-2)
