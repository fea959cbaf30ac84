"""img2pose's Faster R-CNN parts: ResNet-18 + FPN body, region proposals, RoI pooling.

The first two stages of :class:`featx.nn.img2pose.Img2Pose` (which holds them under the key
names of the published file): a ResNet-18 with frozen BatchNorm (:class:`ResNet18Body`), a
feature pyramid with levels ``0, 1, 2, 3, pool`` (:class:`FPN`), the region proposal head and
its anchors, box decoding and per-level filtering (:func:`anchors`, :func:`decode_boxes`,
:func:`select_proposals`), and RoIAlign of each proposal on its pyramid level
(:func:`multiscale_roi_align`) feeding the two :class:`TwoMLPHead` heads. Everything here is
importable from :mod:`featx.nn.img2pose` as well.

Example
-------
>>> body, fpn = ResNet18Body().eval(), FPN().eval()
>>> levels = fpn(body(torch.rand(1, 3, 64, 64)))
>>> [tuple(f.shape[-2:]) for f in levels]
[(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from featx.nn import ops

if TYPE_CHECKING:
    from featx.nn.img2pose import Img2PoseConfig

#: Anchor side per pyramid level (the sixth, 512, has no level and is never used) and ratios h/w.
ANCHOR_SIZES = (16, 32, 64, 128, 256, 512)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
#: Largest log-scale change a box delta may apply.
BOX_CODER_CLIP = math.log(1000.0 / 16)
#: RoIAlign of the heads: pyramid levels, bins, samples per bin, level mapping.
ROI_LEVELS = ("0", "1", "2", "3")
ROI_OUTPUT_SIZE = 7
ROI_SAMPLING_RATIO = 2
ROI_ALIGNED = False
CANONICAL_SCALE = 224
CANONICAL_LEVEL = 4
#: Classes of the RoI heads: background, face.
NUM_CLASSES = 2

_BODY_CHANNELS = (64, 128, 256, 512)
_FPN_CHANNELS = 256


# ---------------------------------------------------------------------------------------------
# Network


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine terms (buffers, no ``num_batches_tracked``)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[:, None, None] + shift[:, None, None]


class BasicBlock(nn.Module):
    """ResNet basic block with frozen BatchNorm; a strided 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = FrozenBatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), FrozenBatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)), inplace=True)


class ResNet18Body(nn.Module):
    """ResNet-18 without pooling head; returns layer1..layer4 (strides 4, 8, 16, 32)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        cin = 64
        for i, width in enumerate(_BODY_CHANNELS):
            stride = 1 if i == 0 else 2
            layer = nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width))
            setattr(self, f"layer{i + 1}", layer)
            cin = width

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x)), inplace=True), 3, 2, 1)
        out = []
        for i in range(len(_BODY_CHANNELS)):
            x = getattr(self, f"layer{i + 1}")(x)
            out.append(x)
        return out


class FPN(nn.Module):
    """Feature pyramid: 1x1 laterals, top-down nearest upsampling, 3x3 output convs, and an
    extra ``pool`` level (stride-2 subsampling of the coarsest output)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, _FPN_CHANNELS, 1)) for c in _BODY_CHANNELS
        )
        self.layer_blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(_FPN_CHANNELS, _FPN_CHANNELS, 3, padding=1))
            for _ in _BODY_CHANNELS
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        merged = self.inner_blocks[-1](features[-1])
        out = [self.layer_blocks[-1](merged)]
        for i in range(len(features) - 2, -1, -1):
            lateral = self.inner_blocks[i](features[i])
            merged = lateral + F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
            out.insert(0, self.layer_blocks[i](merged))
        return [*out, F.max_pool2d(out[-1], 1, 2, 0)]


class RPNHead(nn.Module):
    """Shared 3x3 conv + ReLU, then objectness (3 anchors) and box deltas (4 per anchor)."""

    def __init__(self) -> None:
        super().__init__()
        anchors = len(ASPECT_RATIOS)
        self.conv = nn.Conv2d(_FPN_CHANNELS, _FPN_CHANNELS, 3, padding=1)
        self.cls_logits = nn.Conv2d(_FPN_CHANNELS, anchors, 1)
        self.bbox_pred = nn.Conv2d(_FPN_CHANNELS, anchors * 4, 1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Objectness logits (B, A) and deltas (B, A, 4), anchors in level, row, column,
        ratio order (as :func:`anchors`)."""
        logits, deltas = [], []
        for f in features:
            t = F.relu(self.conv(f), inplace=True)
            b = f.shape[0]
            logits.append(self.cls_logits(t).permute(0, 2, 3, 1).reshape(b, -1))
            d = self.bbox_pred(t)
            d = d.reshape(b, -1, 4, *d.shape[-2:]).permute(0, 3, 4, 1, 2)
            deltas.append(d.reshape(b, -1, 4))
        return torch.cat(logits, dim=1), torch.cat(deltas, dim=1)


class TwoMLPHead(nn.Module):
    """Flattened RoI features -> fc6 -> ReLU -> fc7 -> ReLU."""

    def __init__(self, cin: int = _FPN_CHANNELS * ROI_OUTPUT_SIZE**2, width: int = 1024):
        super().__init__()
        self.fc6 = nn.Linear(cin, width)
        self.fc7 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)), inplace=True)), inplace=True)


# ---------------------------------------------------------------------------------------------
# Region proposals


def anchors(
    image_size: tuple[int, int], grid_sizes: Sequence[tuple[int, int]]
) -> tuple[torch.Tensor, list[int]]:
    """Anchor boxes (A, 4) of a padded batch, and the number of anchors per pyramid level.

    Level ``l`` (grid ``h x w``) uses side ``ANCHOR_SIZES[l]`` and the three
    :data:`ASPECT_RATIOS` r = h/w: base box ``round([-w_r S, -h_r S, w_r S, h_r S] / 2)`` with
    ``h_r = sqrt(r)``, ``w_r = 1 / h_r``, shifted by the cell position times the stride
    ``image_size // grid`` (per axis). Order: level, row, column, ratio.

    >>> boxes, counts = anchors((64, 64), [(16, 16), (8, 8)])
    >>> counts, boxes[0].tolist()
    ([768, 192], [-11.0, -6.0, 11.0, 6.0])
    """
    ratios = torch.tensor(ASPECT_RATIOS, dtype=torch.float32)
    h_ratio = torch.sqrt(ratios)
    w_ratio = 1 / h_ratio
    levels = []
    for (grid_h, grid_w), size in zip(grid_sizes, ANCHOR_SIZES, strict=False):
        ws, hs = w_ratio * size, h_ratio * size
        base = (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()
        stride_h, stride_w = image_size[0] // int(grid_h), image_size[1] // int(grid_w)
        ys = torch.arange(int(grid_h)) * stride_h
        xs = torch.arange(int(grid_w)) * stride_w
        shift_y, shift_x = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([shift_x, shift_y, shift_x, shift_y], dim=-1).reshape(-1, 1, 4)
        levels.append((shifts + base[None]).reshape(-1, 4))
    return torch.cat(levels), [len(level) for level in levels]


def decode_boxes(deltas: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Apply (dx, dy, dw, dh) deltas (..., A, 4) to reference boxes (A, 4) x1, y1, x2, y2.

    Centre moves by ``d * size``; size scales by ``exp(min(d, log(1000/16)))``.

    >>> decode_boxes(torch.tensor([[0.5, 0.0, 0.0, math.log(2)]]), torch.tensor([[0.0, 0, 10, 10]]))
    tensor([[ 5., -5., 15., 15.]])
    """
    width = reference[:, 2] - reference[:, 0]
    height = reference[:, 3] - reference[:, 1]
    cx = reference[:, 0] + 0.5 * width
    cy = reference[:, 1] + 0.5 * height
    dw = deltas[..., 2].clamp(max=BOX_CODER_CLIP)
    dh = deltas[..., 3].clamp(max=BOX_CODER_CLIP)
    px = deltas[..., 0] * width + cx
    py = deltas[..., 1] * height + cy
    pw = torch.exp(dw) * width
    ph = torch.exp(dh) * height
    return torch.stack([px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph], dim=-1)


def clip_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Boxes clamped into an image of ``size`` = (height, width): x in [0, w], y in [0, h]."""
    height, width = size
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def large_enough(boxes: torch.Tensor, side: float) -> torch.Tensor:
    """True for each box (N, 4) whose width and height are both at least ``side``."""
    return ((boxes[:, 2] - boxes[:, 0]) >= side) & ((boxes[:, 3] - boxes[:, 1]) >= side)


def select_proposals(
    objectness: torch.Tensor,
    boxes: torch.Tensor,
    level_counts: Sequence[int],
    image_sizes: Sequence[tuple[int, int]],
    config: Img2PoseConfig,
) -> list[torch.Tensor]:
    """Proposals per image from the decoded anchor boxes, img2pose's region proposal filter.

    On raw logits (no sigmoid, no score cut): per level the ``rpn_pre_nms_top_n_test``
    best anchors; boxes clipped to the resized image; boxes with a side under
    ``rpn_min_box_size`` dropped; NMS at ``rpn_nms_thresh`` within each level
    (:func:`featx.nn.ops.nms`); the ``rpn_post_nms_top_n_test`` best kept.

    Parameters
    ----------
    objectness : (B, A) logits.
    boxes : (B, A, 4) decoded boxes (:func:`decode_boxes`).
    level_counts : anchors per level, as :func:`anchors` returns.
    image_sizes : (height, width) of each resized image.
    config : the thresholds.

    Returns
    -------
    One (K_i, 4) tensor per image, by descending objectness.
    """
    top = []
    offset = 0
    for count in level_counts:
        k = min(config.rpn_pre_nms_top_n_test, count)
        top.append(objectness[:, offset : offset + count].topk(k, dim=1).indices + offset)
        offset += count
    index = torch.cat(top, dim=1)
    level = torch.repeat_interleave(
        torch.arange(len(top), device=index.device),
        torch.tensor([t.shape[1] for t in top], device=index.device),
    )
    proposals = []
    for i, size in enumerate(image_sizes):
        score = objectness[i, index[i]]
        box = clip_boxes(boxes[i, index[i]], size)
        ok = large_enough(box, config.rpn_min_box_size)
        box, score, lvl = box[ok], score[ok], level[ok]
        kept = []
        for value in torch.unique(lvl):
            members = torch.nonzero(lvl == value).flatten()
            kept.append(members[ops.nms(box[members], score[members], config.rpn_nms_thresh)])
        keep = torch.cat(kept) if kept else lvl.new_zeros(0)
        keep = keep[torch.argsort(score[keep], descending=True, stable=True)]
        proposals.append(box[keep[: config.rpn_post_nms_top_n_test]])
    return proposals


# ---------------------------------------------------------------------------------------------
# RoI heads


def roi_levels(boxes: torch.Tensor, k_min: int, k_max: int) -> torch.Tensor:
    """Pyramid level (0 = ``k_min``) of each box: ``floor(4 + log2(sqrt(area) / 224) + 1e-6)``
    clamped to ``[k_min, k_max]``, minus ``k_min``.

    >>> roi_levels(torch.tensor([[0.0, 0, 224, 224], [0, 0, 20, 20]]), 2, 5).tolist()
    [2, 0]
    """
    side = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    eps = torch.tensor(1e-6, dtype=side.dtype, device=side.device)
    level = torch.floor(CANONICAL_LEVEL + torch.log2(side / CANONICAL_SCALE) + eps)
    return (level.clamp(k_min, k_max).to(torch.int64) - k_min).to(torch.int64)


def multiscale_roi_align(
    features: Sequence[torch.Tensor],
    boxes: Sequence[torch.Tensor],
    image_sizes: Sequence[tuple[int, int]],
) -> torch.Tensor:
    """RoIAlign of each box on its pyramid level (:func:`roi_levels`), (N, C, 7, 7).

    A level's scale is ``2 ** round(log2(feature height / largest resized image height))``;
    boxes are in resized-image pixels, one (K_i, 4) tensor per image, and the result follows
    their order (image by image).
    """
    largest = max(h for h, _ in image_sizes), max(w for _, w in image_sizes)
    scales = []
    for f in features:
        per_axis = [2.0 ** round(math.log2(f.shape[-2 + a] / largest[a])) for a in (0, 1)]
        if per_axis[0] != per_axis[1]:
            raise ValueError(f"feature map {tuple(f.shape[-2:])} has unequal strides")
        scales.append(per_axis[0])
    k_min, k_max = round(-math.log2(scales[0])), round(-math.log2(scales[-1]))
    rois = torch.cat(
        [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
    )
    levels = roi_levels(rois[:, 1:], k_min, k_max)
    out = rois.new_zeros((len(rois), features[0].shape[1], ROI_OUTPUT_SIZE, ROI_OUTPUT_SIZE))
    for level, (f, scale) in enumerate(zip(features, scales, strict=True)):
        members = torch.nonzero(levels == level).flatten()
        out[members] = ops.roi_align(
            f, rois[members], ROI_OUTPUT_SIZE, scale, ROI_SAMPLING_RATIO, ROI_ALIGNED
        )
    return out
