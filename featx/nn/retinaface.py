"""RetinaFace with a ResNet-34 body: network, priors, decoding and post-processing.

The network (:class:`RetinaFace`) keeps the key names and shapes of Py-Feat's
``py-feat/retinaface_r34`` file, so it loads with strict matching. Its input is an RGB image in
0..255 minus the per-channel mean (:func:`preprocess`) at native size; its outputs are the raw
head outputs for every prior (anchor): box offsets ``loc`` (B, A, 4), class logits (B, A, 2;
index 1 = face) and keypoint offsets ``landms`` (B, A, 10).

:func:`priors` lays the anchors out for an image size, :func:`decode_boxes` and
:func:`decode_keypoints` turn offsets into pixels, :func:`postprocess` applies the thresholds
and non-maximum suppression, and :func:`detect_faces` runs all of it on RGB uint8 frames.

Example
-------
>>> import numpy as np
>>> net = RetinaFace().eval()
>>> faces = detect_faces(net, [np.zeros((64, 80, 3), np.uint8)])
>>> faces[0]["boxes"].shape[1], faces[0]["keypoints"].shape[1:]
(4, (5, 2))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featx.nn.ops import check_frames, nms

#: Per-channel mean (R, G, B) subtracted from the 0..255 input; no division by a std.
RGB_MEAN = (123.0, 117.0, 104.0)
#: Anchor sizes in pixels per pyramid level (strides 8, 16, 32), two anchors per location.
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
#: Scales of the centre and of the log-size offsets.
VARIANCE = (0.1, 0.2)
# Py-Feat's post-processing defaults (the Retinaface wrapper of Detectorv1).
CONFIDENCE_THRESHOLD = 0.02
NMS_IOU = 0.4
TOP_K = 5000
KEEP_TOP_K = 750
DETECTION_THRESHOLD = 0.5
#: Frames per forward pass on the CPU: batching does not speed RetinaFace up there, and each
#: 640x360 frame holds ~60 MB of float32 activations, so larger batches only raise the peak.
FORWARD_FRAMES = 4
#: Names of forward's outputs, in order.
OUTPUTS = ("loc", "class_logits", "landms")

_BODY_CHANNELS = (128, 256, 512)  # layer2, layer3, layer4
_OUT_CHANNELS = 128
_ANCHORS = 2


# ---------------------------------------------------------------------------------------------
# Network


def _conv_bn(cin: int, cout: int, k: int, relu: bool) -> nn.Sequential:
    """Conv (k x k, stride 1, same padding, no bias) -> BatchNorm [-> ReLU]."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN pairs and a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class ResNet34Body(nn.Module):
    """ResNet-34 without its classifier; returns the layer2, layer3 and layer4 features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, depths = (64, 128, 256, 512), (3, 4, 6, 3)
        cin = 64
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(cin, width, stride)]
            blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = width

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        c2 = self.layer2(self.layer1(x))
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c2, c3, c4]


class FPN(nn.Module):
    """Feature pyramid: 1x1 lateral convs, nearest upsampling, 3x3 merge convs (top-down)."""

    def __init__(self, in_channels: Sequence[int] = _BODY_CHANNELS, out: int = _OUT_CHANNELS):
        super().__init__()
        self.output1 = _conv_bn(in_channels[0], out, 1, relu=True)
        self.output2 = _conv_bn(in_channels[1], out, 1, relu=True)
        self.output3 = _conv_bn(in_channels[2], out, 1, relu=True)
        self.merge1 = _conv_bn(out, out, 3, relu=True)
        self.merge2 = _conv_bn(out, out, 3, relu=True)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p1, p2, p3 = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Context module: 3x3, 5x5 and 7x7 receptive fields (stacked 3x3 convs), concatenated."""

    def __init__(self, channels: int = _OUT_CHANNELS) -> None:
        super().__init__()
        half, quarter = channels // 2, channels // 4
        self.conv3X3 = _conv_bn(channels, half, 3, relu=False)
        self.conv5X5_1 = _conv_bn(channels, quarter, 3, relu=True)
        self.conv5X5_2 = _conv_bn(quarter, quarter, 3, relu=False)
        self.conv7X7_2 = _conv_bn(quarter, quarter, 3, relu=True)
        self.conv7x7_3 = _conv_bn(quarter, quarter, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.conv5X5_1(x)
        branches = [self.conv3X3(x), self.conv5X5_2(t), self.conv7x7_3(self.conv7X7_2(t))]
        return F.relu(torch.cat(branches, dim=1))


class Head(nn.Module):
    """One 1x1 conv per pyramid level; outputs (B, sum of H*W*anchors, per_anchor)."""

    def __init__(self, per_anchor: int, levels: int = 3, channels: int = _OUT_CHANNELS) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self._convs = nn.ModuleList(
            nn.Conv2d(channels, _ANCHORS * per_anchor, 1) for _ in range(levels)
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        outs = [
            conv(f).permute(0, 2, 3, 1).reshape(f.shape[0], -1, self.per_anchor)
            for conv, f in zip(self._convs, features, strict=True)
        ]
        return torch.cat(outs, dim=1)


class RetinaFace(nn.Module):
    """RetinaFace (ResNet-34, FPN, SSH, class/box/keypoint heads).

    ``forward(x (B, 3, H, W))`` with ``x`` from ``featx.nn.retinaface.preprocess`` returns
    ``(loc, class_logits, landms)`` of shapes (B, A, 4), (B, A, 2), (B, A, 10), anchors ordered
    as ``featx.nn.retinaface.priors``.
    Face probability is ``softmax(class_logits, -1)[..., 1]``.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("retinaface").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, RetinaFace), sum(p.numel() for p in net.parameters())
    (True, 22123808)
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = ResNet34Body()
        self.fpn = FPN()
        self.ssh1, self.ssh2, self.ssh3 = SSH(), SSH(), SSH()
        self.ClassHead = Head(2)
        self.BboxHead = Head(4)
        self.LandmarkHead = Head(10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Box offsets (N, P, 4), class logits (N, P, 2), keypoint offsets (N, P, 10) per prior.

        Examples
        --------
        >>> import torch
        >>> net = RetinaFace().eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 3, 64, 64))]
        [(1, 168, 4), (1, 168, 2), (1, 168, 10)]
        """
        p1, p2, p3 = self.fpn(self.body(x))
        features = [self.ssh1(p1), self.ssh2(p2), self.ssh3(p3)]
        return self.BboxHead(features), self.ClassHead(features), self.LandmarkHead(features)


# ---------------------------------------------------------------------------------------------
# Pre-processing, priors, decoding


def preprocess(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack RGB uint8 frames of one size into the network input (B, 3, H, W) float32.

    The frames stay RGB at native size; :data:`RGB_MEAN` is subtracted per channel.

    >>> preprocess([np.full((2, 3, 3), 123, np.uint8)]).shape
    torch.Size([1, 3, 2, 3])
    """
    batch = torch.from_numpy(np.stack([np.asarray(im) for im in images])).to(torch.float32)
    batch = batch - torch.tensor(RGB_MEAN)
    return batch.permute(0, 3, 1, 2).contiguous()


def priors(height: int, width: int) -> torch.Tensor:
    """Anchors (A, 4) as (cx, cy, w, h), normalised by the image size, in head-output order.

    Level by level (strides :data:`STEPS`), row by row, column by column, then the level's
    :data:`MIN_SIZES`. Feature maps are ``ceil(size / stride)`` wide; nothing is clipped.

    >>> priors(300, 340).shape
    torch.Size([4324, 4])
    """
    levels = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy = (torch.arange(rows, dtype=torch.float64) + 0.5) * step / height
        cx = (torch.arange(cols, dtype=torch.float64) + 0.5) * step / width
        n = len(sizes)
        grid_y, grid_x = torch.meshgrid(cy, cx, indexing="ij")
        sw = torch.tensor(sizes, dtype=torch.float64) / width
        sh = torch.tensor(sizes, dtype=torch.float64) / height
        level = torch.stack(
            [
                grid_x[..., None].expand(rows, cols, n),
                grid_y[..., None].expand(rows, cols, n),
                sw.expand(rows, cols, n),
                sh.expand(rows, cols, n),
            ],
            dim=-1,
        )
        levels.append(level.reshape(-1, 4))
    return torch.cat(levels).to(torch.float32)


def _pixel_scale(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([width, height], dtype=like.dtype, device=like.device)


def decode_boxes(loc: torch.Tensor, prior: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Box offsets (..., A, 4) -> boxes (..., A, 4) as x1, y1, x2, y2 in pixels.

    centre = prior centre + loc[:2] * 0.1 * prior size; size = prior size * exp(loc[2:] * 0.2).

    >>> decode_boxes(torch.zeros(1, 4), torch.tensor([[0.5, 0.5, 0.25, 0.125]]), 80, 200)
    tensor([[ 75.,  35., 125.,  45.]])
    """
    centre = prior[..., :2] + loc[..., :2] * VARIANCE[0] * prior[..., 2:]
    size = prior[..., 2:] * torch.exp(loc[..., 2:] * VARIANCE[1])
    top_left = centre - size / 2
    scale = _pixel_scale(height, width, loc).repeat(2)
    return torch.cat([top_left, top_left + size], dim=-1) * scale


def decode_keypoints(
    landms: torch.Tensor, prior: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Keypoint offsets (..., A, 10) -> 5 keypoints (..., A, 5, 2) as x, y in pixels.

    point = prior centre + offset * 0.1 * prior size. Order: two eyes, nose tip, two mouth
    corners (the labels of ``featx.schema.KEYPOINTS_RETINAFACE``).

    >>> decode_keypoints(torch.zeros(1, 10), torch.tensor([[0.5, 0.5, 0.2, 0.1]]), 100, 200)[0, 0]
    tensor([100.,  50.])
    """
    offsets = landms.reshape(*landms.shape[:-1], 5, 2)
    points = prior[..., None, :2] + offsets * VARIANCE[0] * prior[..., None, 2:]
    return points * _pixel_scale(height, width, landms)


# ---------------------------------------------------------------------------------------------
# Post-processing


def postprocess(
    loc: torch.Tensor,
    conf: torch.Tensor,
    landms: torch.Tensor,
    height: int,
    width: int,
    *,
    confidence_threshold: float = CONFIDENCE_THRESHOLD,
    nms_iou: float = NMS_IOU,
    top_k: int = TOP_K,
    keep_top_k: int = KEEP_TOP_K,
    detection_threshold: float = DETECTION_THRESHOLD,
) -> list[dict[str, torch.Tensor]]:
    """Faces per image from the head outputs of a batch of (H, W) images.

    Parameters
    ----------
    loc, conf, landms : (B, A, 4), (B, A, 2), (B, A, 10)
        Box offsets, class *probabilities* (softmax of the logits; column 1 = face) and
        keypoint offsets.
    height, width : int
        Size of the images the network saw.
    confidence_threshold, nms_iou, top_k, keep_top_k, detection_threshold
        Py-Feat's steps, per image: keep priors with score > ``confidence_threshold``; keep the
        ``top_k`` highest; greedy NMS suppressing IoU > ``nms_iou`` (:func:`featx.nn.ops.nms`);
        keep score >= ``detection_threshold``; at most ``keep_top_k`` faces.

    Returns
    -------
    One dict per image: ``boxes`` (K, 4) x1, y1, x2, y2 pixels, ``scores`` (K,), ``keypoints``
    (K, 5, 2) pixels and ``index`` (K,) the prior of each face, by descending score.

    Notes
    -----
    Greedy NMS visits boxes by descending score, so the faces scoring at least
    ``detection_threshold`` are decided by higher-scoring boxes only: candidates below it are
    dropped before NMS, with the same result and much less work. Py-Feat applies ``top_k`` to
    the whole batch (``top_k * B``); here it applies per image, so a frame's faces never depend
    on the other frames of its batch (the same result for one image).

    Example
    -------
    >>> loc, landms = torch.zeros(1, 4324, 4), torch.zeros(1, 4324, 10)
    >>> conf = torch.zeros(1, 4324, 2)
    >>> conf[0, 7, 1] = 0.9
    >>> postprocess(loc, conf, landms, 300, 340)[0]["index"]
    tensor([7])
    """
    anchors = priors(height, width).to(loc.device)
    results = []
    for i in range(loc.shape[0]):
        score = conf[i, :, 1]
        keep = (score > confidence_threshold) & (score >= detection_threshold)
        index = torch.nonzero(keep).flatten()
        index = index[torch.argsort(score[index], descending=True, stable=True)[:top_k]]
        boxes = decode_boxes(loc[i, index], anchors[index], height, width)
        kept = nms(boxes, score[index], nms_iou, max_kept=keep_top_k)
        index = index[kept]
        results.append(
            {
                "boxes": boxes[kept],
                "scores": score[index],
                "keypoints": decode_keypoints(landms[i, index], anchors[index], height, width),
                "index": index,
            }
        )
    return results


@torch.no_grad()
def detect_faces(
    model: RetinaFace,
    images: Sequence[np.ndarray],
    *,
    threshold: float = DETECTION_THRESHOLD,
    **postprocess_kwargs,
) -> list[dict[str, np.ndarray]]:
    """Faces in RGB uint8 frames: boxes, scores and 5 keypoints in pixels.

    Frames run through ``model`` (on its own device) at native size, one forward pass per
    group of equally sized frames, on the CPU per :data:`FORWARD_FRAMES` of them (no padding
    or resizing, so a frame's result does not depend on the others).

    Parameters
    ----------
    model : RetinaFace
        With real weights (``hub.card("retinaface").load()``), in eval mode.
    images : sequence of (H, W, 3) uint8 RGB arrays
    threshold : float
        Minimum face probability (``detection_threshold`` of :func:`postprocess`). Py-Feat cuts
        at 0.5 inside its RetinaFace wrapper and then at its ``face_detection_threshold``, so
        there a value below 0.5 acts as 0.5; here it lowers the cut.
    **postprocess_kwargs
        Other parameters of :func:`postprocess`.

    Returns
    -------
    One dict per frame, in input order: ``boxes`` (K, 4) float32 x1, y1, x2, y2; ``scores``
    (K,) float32; ``keypoints`` (K, 5, 2) float32 x, y; faces by descending score.

    Example
    -------
    >>> net = RetinaFace().eval()
    >>> frames = [np.zeros((40, 40, 3), np.uint8), np.zeros((60, 80, 3), np.uint8)]
    >>> faces = detect_faces(net, frames)
    >>> len(faces), sorted(faces[1])
    (2, ['boxes', 'keypoints', 'scores'])
    """
    check_frames(images)
    device = next(model.parameters()).device
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.shape[:2], []).append(i)
    results: list[dict[str, np.ndarray]] = [{} for _ in images]
    step = FORWARD_FRAMES if device.type == "cpu" else len(images)  # a GPU gains from batches
    chunks = [
        (size, members[a : a + step])
        for size, members in groups.items()
        for a in range(0, len(members), step)
    ]
    for (height, width), members in chunks:
        x = preprocess([images[i] for i in members]).to(device)
        loc, logits, landms = model(x)
        faces = postprocess(
            loc,
            torch.softmax(logits, dim=-1),
            landms,
            height,
            width,
            detection_threshold=threshold,
            **postprocess_kwargs,
        )
        for i, found in zip(members, faces, strict=True):
            results[i] = {
                k: found[k].float().cpu().numpy() for k in ("boxes", "scores", "keypoints")
            }
    return results
