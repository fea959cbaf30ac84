"""img2pose: face detection and 6DoF head pose in one two-stage network (Albiero et al. 2021).

A Faster R-CNN whose second stage regresses a head pose per proposal instead of a box:

1. :func:`featx.nn.ops.rcnn_transform` normalises, resizes (shorter side ``min_size``, longer at
   most ``max_size``) and pads the RGB [0, 1] images;
2. a ResNet-18 with frozen BatchNorm and a feature pyramid (levels ``0, 1, 2, 3, pool``);
3. the region proposal network (:func:`anchors`, :func:`decode_boxes`, :func:`select_proposals`:
   per-level top-k, clipping, per-level NMS);
4. RoIAlign over levels ``0..3`` (:func:`multiscale_roi_align`) feeding two heads: a pose head
   (6 numbers per class) and a face/background classifier;
5. :func:`postprocess_detections`: the pose, relative to its proposal, becomes a pose in the
   image's camera (:func:`local_to_global`), and the face box is the projection of 68 3D
   reference points (:func:`project_boxes`).

:meth:`Img2Pose.detect` runs 1-5; :func:`detect_faces` adds Py-Feat Detectorv1's last step
(:func:`detector_postprocess`) and returns boxes, scores and the head pose in featx's signs on
RGB uint8 frames. The module keeps the key names of the published ``py-feat/img2pose`` file;
the constructor settings, pose statistics and reference points come from its ``config.json``
(:class:`Img2PoseConfig`).

Example
-------
>>> net = Img2Pose().eval()
>>> objectness, deltas = net(torch.rand(1, 3, 60, 80))
>>> objectness.shape[1] == deltas.shape[1], deltas.shape[2]
(True, 4)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featx.nn import ops
from featx.nn.pose_mlp import to_featx_pose

#: ImageNet statistics of the [0, 1] RGB input, and the padding multiple.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
SIZE_DIVISIBLE = 32
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
#: Detections with a side shorter than this (pixels) are dropped before the pose step.
MIN_DETECTION_SIDE = 1e-2
#: Py-Feat Detectorv1's own pass over the model's detections.
NMS_INCLUSION_THRESHOLD = 0.05
DETECTOR_NMS_IOU = 0.3
DETECTION_THRESHOLD = 0.5
#: Names of forward's outputs, in order.
OUTPUTS = ("rpn_objectness", "rpn_deltas")

_BODY_CHANNELS = (64, 128, 256, 512)
_FPN_CHANNELS = 256
_NUM_CLASSES = 2
_POSE_REQUIRED = ("pose_mean", "pose_stddev", "threed_points")


@dataclass(frozen=True)
class Img2PoseConfig:
    """Settings of one img2pose model: sizes, proposal and detection limits, pose statistics.

    The defaults are Py-Feat's; ``pose_mean``, ``pose_stddev`` (6 each: rotation vector, then
    translation) and the 68 ``threed_points`` (x, y, z) have none and come from the model's
    ``config.json`` (:meth:`from_dict`). Without them the network runs but cannot detect.

    Examples
    --------
    >>> cfg = Img2PoseConfig.from_dict(
    ...     {"min_size": 400, "pose_mean": [0] * 6, "pose_stddev": [1] * 6,
    ...      "threed_points": [[0.0, 0.0, 0.0]] * 68, "notes": "ignored"})
    >>> cfg.min_size, cfg.max_size, len(cfg.threed_points)
    (400, 1400, 68)
    """

    min_size: int = 400
    max_size: int = 1400
    rpn_pre_nms_top_n_test: int = 6000
    rpn_post_nms_top_n_test: int = 1000
    rpn_nms_thresh: float = 0.4
    rpn_min_box_size: float = 1e-3
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 1000
    bbox_x_factor: float = 1.1
    bbox_y_factor: float = 1.1
    expand_forehead: float = 0.3
    pose_mean: tuple[float, ...] | None = None
    pose_stddev: tuple[float, ...] | None = None
    threed_points: tuple[tuple[float, float, float], ...] | None = None

    @classmethod
    def from_dict(cls, values: Mapping) -> Img2PoseConfig:
        """The config of a ``config.json`` mapping; other keys are ignored.

        ``pose_mean``, ``pose_stddev`` and ``threed_points`` are required; a missing one or a
        value of the wrong shape raises ``ValueError`` naming it.
        """
        missing = [k for k in _POSE_REQUIRED if k not in values]
        if missing:
            raise ValueError(f"img2pose config lacks {', '.join(missing)}")
        kwargs = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            if f.name in ("pose_mean", "pose_stddev"):
                value = _float_array(value, (6,), f.name)
                kwargs[f.name] = tuple(value.tolist())
            elif f.name == "threed_points":
                value = _float_array(value, (68, 3), f.name)
                kwargs[f.name] = tuple(tuple(p) for p in value.tolist())
            else:
                kwargs[f.name] = type(f.default)(value)
        return cls(**kwargs)


def _float_array(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape or not np.isfinite(array).all():
        raise ValueError(
            f"img2pose config {name} must be {shape} finite numbers, got {array.shape}"
        )
    return array


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


class Img2Pose(nn.Module):
    """The img2pose network (``FasterDoFRCNN`` key layout) and its detection pipeline.

    ``forward(images (B, 3, H, W) RGB in [0, 1])`` returns the region proposal outputs
    ``(rpn_objectness (B, A), rpn_deltas (B, A, 4))`` for the anchors of :func:`anchors`;
    :meth:`detect` returns faces with their pose.

    Parameters
    ----------
    config : sizes, limits and pose statistics (:class:`Img2PoseConfig`; its defaults when
        omitted, which cannot detect).
    """

    def __init__(self, config: Img2PoseConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else Img2PoseConfig()
        self.backbone = nn.ModuleDict({"body": ResNet18Body(), "fpn": FPN()})
        self.rpn = nn.ModuleDict({"head": RPNHead()})
        dof_pred = nn.Sequential(
            nn.Linear(1024, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 6 * _NUM_CLASSES)
        )
        self.roi_heads = nn.ModuleDict(
            {
                "box_head": TwoMLPHead(),
                "box_predictor": nn.ModuleDict({"dof_pred": dof_pred}),
                "class_head": TwoMLPHead(),
                "class_predictor": nn.ModuleDict({"cls_score": nn.Linear(1024, _NUM_CLASSES)}),
            }
        )

    def transform(self, images) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """The padded, normalised batch and each image's resized size (before padding)."""
        return ops.rcnn_transform(
            images,
            self.config.min_size,
            self.config.max_size,
            IMAGE_MEAN,
            IMAGE_STD,
            SIZE_DIVISIBLE,
        )

    def features(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Pyramid levels ``0, 1, 2, 3, pool`` (256 channels) of a transformed batch."""
        return self.backbone["fpn"](self.backbone["body"](batch))

    def forward(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        batch, _ = self.transform(images)
        return self.rpn["head"](self.features(batch))

    def roi_outputs(
        self,
        features: list[torch.Tensor],
        proposals: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (N, 2) and pose regression (N, 12: 6 per class) of all proposals.

        ``features`` are the pyramid levels (at least ``0..3``), ``proposals`` one (K_i, 4)
        tensor per image in resized-image pixels, ``image_sizes`` the resized sizes.
        """
        pooled = multiscale_roi_align(features[: len(ROI_LEVELS)], proposals, image_sizes)
        heads = self.roi_heads
        dofs = heads["box_predictor"]["dof_pred"](heads["box_head"](pooled))
        logits = heads["class_predictor"]["cls_score"](heads["class_head"](pooled))
        return logits, dofs

    def detect(self, images) -> list[dict[str, torch.Tensor]]:
        """Faces and poses in a batch of RGB [0, 1] images (the network's own output).

        Parameters
        ----------
        images : (B, 3, H, W) tensor or a sequence of (3, H, W) tensors, on the model's device.

        Returns
        -------
        One dict per image: ``boxes`` (N, 4) x1, y1, x2, y2 in input pixels, ``scores`` (N,),
        ``dofs`` (N, 6) global rotation vector (radians) and translation in the resized image's
        camera, ``labels`` (N,) all 1; by descending score.
        """
        if any(getattr(self.config, k) is None for k in _POSE_REQUIRED):
            raise ValueError(
                "img2pose needs pose_mean, pose_stddev and threed_points to detect: load it with "
                "hub.card('img2pose').load() (reads config.json) or pass an Img2PoseConfig"
            )
        originals = [tuple(im.shape[-2:]) for im in images]
        batch, sizes = self.transform(images)
        feats = self.features(batch)
        objectness, deltas = self.rpn["head"](feats)
        anchor_boxes, counts = anchors(tuple(batch.shape[-2:]), [f.shape[-2:] for f in feats])
        boxes = decode_boxes(deltas, anchor_boxes.to(deltas.device))
        proposals = select_proposals(objectness, boxes, counts, sizes, self.config)
        logits, dofs = self.roi_outputs(feats, proposals, sizes)
        results = []
        per_image = [len(p) for p in proposals]
        parts = zip(proposals, logits.split(per_image), dofs.split(per_image), strict=True)
        for (props, lg, dof), size, original in zip(parts, sizes, originals, strict=True):
            found = postprocess_detections(lg, dof, props, size, self.config)
            found["boxes"] = rescale_boxes(found["boxes"], size, original)
            results.append(found)
        return results


def rename_legacy_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Older torchvision's FPN key spelling ``backbone.fpn.{inner,layer}_blocks.{i}.{weight,
    bias}`` renamed to the current ``...blocks.{i}.0.{weight,bias}``; other keys unchanged.

    >>> list(rename_legacy_keys({"backbone.fpn.inner_blocks.2.bias": 0}))
    ['backbone.fpn.inner_blocks.2.0.bias']
    """
    out = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if (
            len(parts) == 5
            and parts[:2] == ["backbone", "fpn"]
            and parts[2] in ("inner_blocks", "layer_blocks")
            and parts[4] in ("weight", "bias")
        ):
            key = ".".join([*parts[:4], "0", parts[4]])
        out[key] = value
    return out


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


def _large_enough(boxes: torch.Tensor, side: float) -> torch.Tensor:
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
        ok = _large_enough(box, config.rpn_min_box_size)
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


# ---------------------------------------------------------------------------------------------
# Pose: local -> global, projection of the reference points, Euler angles


def rotvec_to_matrix(rvec: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (Rodrigues' formula).

    >>> rotvec_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2])).round().tolist()
    [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    theta = torch.linalg.vector_norm(rvec, dim=-1, keepdim=True)
    axis = rvec / theta.clamp(min=torch.finfo(rvec.dtype).tiny)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*x.shape, 3, 3)
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device)
    sin, cos = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def matrix_to_rotvec(m: torch.Tensor) -> torch.Tensor:
    """Rotation vectors (..., 3) of 3x3 matrices (..., 3, 3), img2pose's recipe.

    The matrices need not be orthonormal: ``theta = acos((trace - 1) / 2)`` (clamped) and
    ``s = (m21 - m12, m02 - m20, m10 - m01)`` give ``s / 2`` for theta < 1e-6,
    ``s / (2 sin theta) * theta`` in general, and near pi (theta > pi - 0.05) the normalised
    column of ``(m + I) / 2`` with the largest diagonal entry, signed like ``s``, times theta.

    >>> matrix_to_rotvec(rotvec_to_matrix(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)))
    tensor([ 0.1000, -0.2000,  0.3000], dtype=torch.float64)
    """
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    theta = torch.acos(((trace - 1) / 2).clamp(-1, 1))[..., None]
    s = torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]],
        dim=-1,
    )
    general = s / (2 * torch.sin(theta)) * theta
    half = (m + torch.eye(3, dtype=m.dtype, device=m.device)) / 2
    column = torch.diagonal(half, dim1=-2, dim2=-1).argmax(-1)
    axis = torch.take_along_dim(half, column[..., None, None].expand(*column.shape, 3, 1), -1)
    axis = axis[..., 0] / torch.linalg.vector_norm(axis[..., 0], dim=-1, keepdim=True)
    axis = torch.where((axis * s).sum(-1, keepdim=True) < 0, -axis, axis)
    out = torch.where(theta > math.pi - 0.05, axis * theta, general)
    return torch.where(theta < 1e-6, s / 2, out)


def _camera(size: tuple[int, int], dtype: torch.dtype, device) -> torch.Tensor:
    """Intrinsics of the resized image: focal ``w + h``, principal point ``(w // 2, h // 2)``."""
    height, width = size
    k = [[width + height, 0, width // 2], [0, width + height, height // 2], [0, 0, 1]]
    return torch.tensor(k, dtype=torch.float32, device=device).to(dtype)


def local_to_global(dofs: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Poses relative to their boxes (N, 6) -> poses in the camera of the whole image (N, 6).

    With ``K`` the image's intrinsics (:func:`_camera`) and ``K_b`` the same with the box
    centre as principal point: ``t_z`` is scaled by ``(w + h) / (box width + box height)``,
    ``t = K^-1 K_b t`` and the rotation becomes :func:`matrix_to_rotvec` of
    ``K^-1 K_b R(rvec)``. Computed in the dtype of ``dofs``.
    """
    k = _camera(size, dofs.dtype, dofs.device)
    k_box = k.expand(len(boxes), 3, 3).clone()
    k_box[:, 0, 2] = (boxes[:, 0] + boxes[:, 2]) / 2
    k_box[:, 1, 2] = (boxes[:, 1] + boxes[:, 3]) / 2
    to_image = torch.linalg.inv(k) @ k_box
    box_sides = (boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])
    t = dofs[:, 3:].clone()
    t[:, 2] = t[:, 2] * sum(size) / box_sides
    t = (to_image @ t[:, :, None])[..., 0]
    r = matrix_to_rotvec(to_image @ rotvec_to_matrix(dofs[:, :3]))
    return torch.cat([r, t], dim=1)


def project_boxes(
    dofs: torch.Tensor, size: tuple[int, int], config: Img2PoseConfig
) -> torch.Tensor:
    """Face boxes (N, 4) from global poses (N, 6): the reference points projected and framed.

    The 68 ``threed_points`` are rotated and translated by each pose and projected with the
    image's intrinsics; the box is their extent scaled by ``bbox_x_factor``/``bbox_y_factor``
    (sizes truncated to integers) about its centre, extended by ``expand_forehead`` times the
    extent on the forehead side chosen by the rotation vector's z component (|z| > 2.5: bottom,
    z > 1: right, z < -1: left, else top), truncated to integers and clamped to the image.
    """
    points = torch.as_tensor(config.threed_points, dtype=dofs.dtype, device=dofs.device)
    k = _camera(size, dofs.dtype, dofs.device)
    placed = points @ rotvec_to_matrix(dofs[:, :3]).transpose(1, 2) + dofs[:, None, 3:]
    projected = placed @ k.T
    uv = projected[..., :2] / projected[..., 2:]
    low, high = uv.min(dim=1).values, uv.max(dim=1).values
    extent = high - low
    factors = torch.tensor([config.bbox_x_factor, config.bbox_y_factor], dtype=dofs.dtype)
    half = torch.trunc(extent * factors.to(dofs.device)) / 2
    centre = (low + high) / 2
    box = torch.cat([centre - half, centre + half], dim=1)
    grow = config.expand_forehead * extent
    roll = dofs[:, 2]
    bottom = roll.abs() > 2.5
    right = ~bottom & (roll > 1)
    left = ~bottom & ~right & (roll < -1)
    top = ~bottom & ~right & ~left
    box[:, 3] += torch.where(bottom, grow[:, 1], 0)
    box[:, 2] += torch.where(right, grow[:, 0], 0)
    box[:, 0] -= torch.where(left, grow[:, 0], 0)
    box[:, 1] -= torch.where(top, grow[:, 1], 0)
    return clip_boxes(torch.trunc(box), size)


def postprocess_detections(
    class_logits: torch.Tensor,
    dof_regression: torch.Tensor,
    proposals: torch.Tensor,
    size: tuple[int, int],
    config: Img2PoseConfig,
) -> dict[str, torch.Tensor]:
    """Detections of one image from its head outputs, in resized-image pixels.

    Proposals clipped to the image; face score ``softmax(class_logits)[:, 1]`` above
    ``box_score_thresh``; sides of at least 0.01 px; the face class's 6 numbers times
    ``pose_stddev`` plus ``pose_mean`` give the pose relative to the proposal, turned into the
    image's pose (:func:`local_to_global`, float64) whose projection is the new box
    (:func:`project_boxes`); NMS at ``box_nms_thresh``; at most ``box_detections_per_img``.

    Returns
    -------
    ``boxes`` (N, 4), ``scores`` (N,), ``dofs`` (N, 6), ``labels`` (N,) all 1, by descending
    score, in the dtype of the inputs.
    """
    dtype = class_logits.dtype
    boxes = clip_boxes(proposals, size)
    scores = torch.softmax(class_logits, dim=-1)[:, 1]
    raw = dof_regression.reshape(len(dof_regression), _NUM_CLASSES, 6)[:, 1]
    keep = torch.nonzero(scores > config.box_score_thresh).flatten()
    keep = keep[_large_enough(boxes[keep], MIN_DETECTION_SIDE)]
    boxes, scores, raw = boxes[keep], scores[keep], raw[keep]
    mean = torch.tensor(config.pose_mean, dtype=torch.float32, device=raw.device)
    std = torch.tensor(config.pose_stddev, dtype=torch.float32, device=raw.device)
    local = (raw * std + mean).double()
    dofs = local_to_global(local, boxes.double(), size)
    boxes = project_boxes(dofs, size, config).to(dtype)
    keep = ops.nms(boxes, scores, config.box_nms_thresh)[: config.box_detections_per_img]
    return {
        "boxes": boxes[keep],
        "scores": scores[keep],
        "dofs": dofs[keep].to(dtype),
        "labels": torch.ones(len(keep), dtype=torch.int64, device=boxes.device),
    }


def rescale_boxes(
    boxes: torch.Tensor, size: tuple[int, int], original: tuple[int, int]
) -> torch.Tensor:
    """Boxes in a resized image of ``size`` mapped back to the ``original`` (height, width).

    >>> rescale_boxes(torch.tensor([[10.0, 20.0, 30.0, 40.0]]), (200, 100), (100, 50))
    tensor([[ 5., 10., 15., 20.]])
    """
    ratio_h = torch.tensor(original[0], dtype=torch.float32) / torch.tensor(size[0])
    ratio_w = torch.tensor(original[1], dtype=torch.float32) / torch.tensor(size[1])
    ratios = torch.stack([ratio_w, ratio_h, ratio_w, ratio_h]).to(boxes.device, boxes.dtype)
    return boxes * ratios


def rotvec_to_euler(rvec: torch.Tensor) -> torch.Tensor:
    """Angles (a, b, c) in radians (..., 3) with ``R(rvec) = Rz(c) Ry(b) Rx(a)``.

    a rotates about x, b = asin(-R20) about y, c about z (scipy's ``as_euler("ZYX")``
    reversed). Computed in float64, returned in the dtype of ``rvec``.

    >>> rotvec_to_euler(torch.tensor([0.0, 0.4, 0.0]))
    tensor([0.0000, 0.4000, 0.0000])
    """
    r = rotvec_to_matrix(rvec.double())
    a = torch.atan2(r[..., 2, 1], r[..., 2, 2])
    b = torch.asin((-r[..., 2, 0]).clamp(-1, 1))
    c = torch.atan2(r[..., 1, 0], r[..., 0, 0])
    return torch.stack([a, b, c], dim=-1).to(rvec.dtype)


def detector_postprocess(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    dofs: torch.Tensor,
    *,
    inclusion_threshold: float = NMS_INCLUSION_THRESHOLD,
    nms_iou: float = DETECTOR_NMS_IOU,
    threshold: float = DETECTION_THRESHOLD,
) -> dict[str, torch.Tensor]:
    """Py-Feat Detectorv1's pass over one image's detections (:meth:`Img2Pose.detect`).

    Scores above ``inclusion_threshold``, by descending score; NMS at ``nms_iou``; scores of
    at least ``threshold``; rotation vectors turned into Euler angles (:func:`rotvec_to_euler`).

    Returns
    -------
    ``boxes`` (K, 4), ``scores`` (K,), ``dofs`` (K, 6) = a, b, c (radians), then the
    translation; by descending score.
    """
    keep = torch.nonzero(scores > inclusion_threshold).flatten()
    keep = keep[torch.argsort(scores[keep], descending=True, stable=True)]
    keep = keep[ops.nms(boxes[keep], scores[keep], nms_iou)]
    keep = keep[scores[keep] >= threshold]
    euler = torch.cat([rotvec_to_euler(dofs[keep, :3]), dofs[keep, 3:]], dim=1)
    return {"boxes": boxes[keep], "scores": scores[keep], "dofs": euler}


@torch.no_grad()
def detect_faces(
    model: Img2Pose,
    images: Sequence[np.ndarray],
    *,
    threshold: float = DETECTION_THRESHOLD,
    inclusion_threshold: float = NMS_INCLUSION_THRESHOLD,
    nms_iou: float = DETECTOR_NMS_IOU,
) -> list[dict[str, np.ndarray]]:
    """Faces and head poses in RGB uint8 frames, as Py-Feat Detectorv1 reports them.

    Frames run through ``model`` (on its device) divided by 255, one batch per group of
    equally sized frames (so a frame's result never depends on the others), then
    :func:`detector_postprocess`.

    Parameters
    ----------
    model : Img2Pose
        With real weights and config (``hub.card("img2pose").load()``), in eval mode.
    images : sequence of (H, W, 3) uint8 RGB arrays.
    threshold, inclusion_threshold, nms_iou
        As :func:`detector_postprocess`.

    Returns
    -------
    One dict per frame, in input order, faces by descending score: ``boxes`` (K, 4) float32
    x1, y1, x2, y2 pixels; ``scores`` (K,); ``head_pose`` (K, 3) pitch, roll, yaw in degrees,
    featx signs (pitch = -a, roll = -c, yaw = +b of :func:`rotvec_to_euler`);
    ``head_translation`` (K, 3) x, y, z in img2pose's camera units of the resized image.

    Example
    -------
    >>> cfg = Img2PoseConfig(pose_mean=(0.0,) * 6, pose_stddev=(1.0,) * 6,
    ...                      threed_points=((0.0, 0.0, 0.0),) * 68)
    >>> faces = detect_faces(Img2Pose(cfg).eval(), [np.zeros((48, 64, 3), np.uint8)])
    >>> sorted(faces[0])
    ['boxes', 'head_pose', 'head_translation', 'scores']
    """
    ops.check_frames(images)
    device = next(model.parameters()).device
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.shape[:2], []).append(i)
    results: list[dict[str, np.ndarray]] = [{} for _ in images]
    for members in groups.values():
        frames = np.stack([images[i] for i in members])
        x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 255
        for i, found in zip(members, model.detect(x), strict=True):
            det = detector_postprocess(
                found["boxes"],
                found["scores"],
                found["dofs"],
                inclusion_threshold=inclusion_threshold,
                nms_iou=nms_iou,
                threshold=threshold,
            )
            pose = to_featx_pose(det["dofs"]).float().cpu().numpy()
            results[i] = {
                "boxes": det["boxes"].float().cpu().numpy(),
                "scores": det["scores"].float().cpu().numpy(),
                "head_pose": np.degrees(pose[:, :3]),
                "head_translation": pose[:, 3:],
            }
    return results


# ---------------------------------------------------------------------------------------------
# Model card loader (``featx.hub`` imports it when the card is used)


def load(card, paths: dict) -> Img2Pose:
    """The ``img2pose`` card's loader: ``config.json`` (sizes, limits, pose statistics, 3D
    points) and the flat state dict, loaded strictly; older torchvision's FPN key spelling is
    accepted."""
    import json

    from featx.nn.weights import WeightsError, load_into, read_state_dict

    weights, config_path = paths[card.files[0]], paths[card.files[1]]
    try:
        config = Img2PoseConfig.from_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"cannot read img2pose config {config_path}: {e}") from e
    state = rename_legacy_keys(read_state_dict(weights))
    return load_into(Img2Pose(config), state, strict=True, path=weights)
