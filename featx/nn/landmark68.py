"""68-point landmark regressors of Py-Feat's Detectorv1: MobileFaceNet, MobileNetV2-GDConv, PFLD.

Each network reads a square crop of the detector box expanded by :data:`EXPAND` (see
:func:`featx.nn.ops.face_crops`) and returns 136 numbers per face, interleaved
``x0, y0, x1, y1, ..., x67, y67`` in crop units (0 = left/top edge of the crop, 1 =
right/bottom), in the 68-point iBUG-300W / dlib order. :func:`to_image` maps them to pixels
through the rounded expanded box; :func:`predict` runs the whole step for a batch of frames.

The modules keep the exact state-dict keys and shapes of Py-Feat's published ``.pth.tar``
files, so those load with ``strict=True``. Each class records its preprocessing as class
attributes: ``crop_size`` and the per-channel ``mean``/``std`` (None: the [0, 1] crop as is).

Example
-------
>>> import numpy as np, torch
>>> net = PFLD().eval()
>>> frame = np.zeros((120, 100, 3), np.uint8)
>>> [pts.shape for pts in predict(net, [frame], [torch.tensor([[20.0, 30.0, 80.0, 100.0]])])]
[torch.Size([1, 68, 2])]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from featx.nn import ops

#: Py-Feat's Detectorv1 expansion of the detector box (width and height, about the centre).
EXPAND = 1.2
N_LANDMARKS = 68


class ConvBN(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d, optionally -> PReLU (keys ``conv``, ``bn``, ``prelu``)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        prelu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout) if prelu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


# ---------------------------------------------------------------------------------------------
# MobileFaceNet (Chen et al. 2018) with a 136-wide output used as a landmark regressor


class Bottleneck(nn.Module):
    """MobileFaceNet bottleneck: 1x1 expand, 3x3 depthwise (stride), 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv = ConvBN(cin, expand)
        self.conv_dw = ConvBN(expand, expand, 3, stride, 1, groups=expand)
        self.project = ConvBN(expand, cout, prelu=False)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    """``repeats`` residual bottlenecks of constant width (keys ``model.<i>``)."""

    def __init__(self, channels: int, expand: int, repeats: int) -> None:
        super().__init__()
        self.model = nn.Sequential(
            *(Bottleneck(channels, channels, expand, 1, residual=True) for _ in range(repeats))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GDConvHead(nn.Module):
    """Global depthwise 7x7 conv -> BN -> flatten -> Linear (no bias) -> BatchNorm1d."""

    def __init__(self, channels: int = 512, out: int = 2 * N_LANDMARKS) -> None:
        super().__init__()
        self.conv_6_dw = ConvBN(channels, channels, 7, groups=channels, prelu=False)
        self.linear = nn.Linear(channels, out, bias=False)
        self.bn = nn.BatchNorm1d(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.linear(self.conv_6_dw(x).flatten(1)))


class MobileFaceNet(nn.Module):
    """MobileFaceNet landmark regressor (Py-Feat's default ``landmark_model``).

    ``forward(x (N, 3, 112, 112) RGB in [0, 1]) -> (landmarks (N, 136), conv_features
    (N, 512, 7, 7))``; ``conv_features`` is the ``conv_6_sep`` output before the head.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("mobilefacenet").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, MobileFaceNet), sum(p.numel() for p in net.parameters())
    (True, 1007248)
    """

    crop_size = 112
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvBN(3, 64, 3, 2, 1)
        self.conv2_dw = ConvBN(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = Bottleneck(64, 64, 128, 2, residual=False)
        self.conv_3 = Residual(64, 128, 4)
        self.conv_34 = Bottleneck(64, 128, 256, 2, residual=False)
        self.conv_4 = Residual(128, 256, 6)
        self.conv_45 = Bottleneck(128, 128, 512, 2, residual=False)
        self.conv_5 = Residual(128, 256, 2)
        self.conv_6_sep = ConvBN(128, 512)
        self.output_layer = GDConvHead(512, 2 * N_LANDMARKS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 68 landmarks (N, 136) of (N, 3, 112, 112) crops, and the last feature map.

        Examples
        --------
        >>> import torch
        >>> net = MobileFaceNet().eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 3, 112, 112))]
        [(1, 136), (1, 512, 7, 7)]
        """
        x = self.conv_23(self.conv2_dw(self.conv1(x)))
        x = self.conv_34(self.conv_3(x))
        x = self.conv_45(self.conv_4(x))
        features = self.conv_6_sep(self.conv_5(x))
        return self.output_layer(features), features


# ---------------------------------------------------------------------------------------------
# MobileNetV2 (Sandler et al. 2018) features + GDConv head


def _conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand + ReLU6] -> 3x3 depthwise + ReLU6 -> 1x1 linear, + skip."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [_conv_bn_relu6(cin, hidden, 1)] if expand != 1 else []
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.skip else self.conv(x)


# (expansion t, channels c, repeats n, first stride s), Sandler et al. Table 2.
MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class MobileNetV2(nn.Module):
    """The modules of MobileNetV2 (width 1.0) under the keys of the ImageNet classifier.

    A container without a forward of its own: :class:`MobileNetGDConv` runs only ``features``;
    ``classifier`` exists so the published checkpoint (which stores it) loads strictly.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers = [_conv_bn_relu6(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in MOBILENET_V2_STAGES:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn_relu6(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))


class MobileNetGDConv(nn.Module):
    """MobileNetV2 features + global depthwise conv head (Py-Feat ``landmark_model="mobilenet"``).

    ``forward(x (N, 3, 224, 224) ImageNet-normalised RGB) -> landmarks (N, 136)``.

    The published state dict holds the backbone twice: ``pretrain_net.*`` (the whole ImageNet
    network) and ``base_net.0.*`` (its ``features``, the same tensors). Here ``base_net.0`` *is*
    ``pretrain_net.features``, so both key sets exist and share storage; the ``base_net`` values
    are loaded last and are the ones that count.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("mobilenet").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, MobileNetGDConv), sum(p.numel() for p in net.parameters())
    (True, 3744504)
    """

    crop_size = 224
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self) -> None:
        super().__init__()
        self.pretrain_net = MobileNetV2()
        self.base_net = nn.Sequential(self.pretrain_net.features)
        self.linear7 = ConvBN(1280, 1280, 7, groups=1280, prelu=False)
        self.linear1 = ConvBN(1280, 2 * N_LANDMARKS, prelu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The 68 landmarks (N, 136) of (N, 3, 224, 224) crops.

        Examples
        --------
        >>> import torch
        >>> net = MobileNetGDConv().eval()
        >>> tuple(net(torch.zeros(1, 3, 224, 224)).shape)
        (1, 136)
        """
        return self.linear1(self.linear7(self.base_net(x))).flatten(1)


# ---------------------------------------------------------------------------------------------
# PFLD (Guo et al. 2019), inference backbone only


class PFLDBlock(nn.Module):
    """PFLD inverted residual: 1x1 expand -> BN -> ReLU -> 3x3 depthwise -> BN -> ReLU -> 1x1 ->
    BN (keys ``conv.0 .. conv.7``), plus the input when ``residual``."""

    def __init__(self, cin: int, cout: int, stride: int, residual: bool, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class PFLD(nn.Module):
    """PFLD landmark regressor (Py-Feat ``landmark_model="pfld"``).

    ``forward(x (N, 3, 112, 112) RGB in [0, 1]) -> landmarks (N, 136)``: a fully connected
    layer on three multi-scale features (14x14 and 7x7 average pools, and a 7x7 conv).
    ``bn8`` is in the published state dict but Py-Feat's forward never applies it; it is kept
    only so the file loads strictly.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("pfld").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, PFLD), sum(p.numel() for p in net.parameters())
    (True, 730472)
    """

    crop_size = 112
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.dw_pool = nn.Conv2d(64, 64, 3, 1, 1, groups=64, bias=False)
        self.dw_bn = nn.BatchNorm2d(64)
        self.conv1_extra = nn.Conv2d(64, 64, 1, bias=False)
        self.conv3_1 = PFLDBlock(64, 64, 2, False, 1)
        self.block3_2 = PFLDBlock(64, 64, 1, True, 1)
        self.block3_3 = PFLDBlock(64, 64, 1, True, 1)
        self.block3_4 = PFLDBlock(64, 64, 1, True, 1)
        self.block3_5 = PFLDBlock(64, 64, 1, True, 1)
        self.conv4_1 = PFLDBlock(64, 128, 2, False, 1)
        self.conv5_1 = PFLDBlock(128, 128, 1, False, 2)
        self.block5_2 = PFLDBlock(128, 128, 1, True, 2)
        self.block5_3 = PFLDBlock(128, 128, 1, True, 2)
        self.block5_4 = PFLDBlock(128, 128, 1, True, 2)
        self.block5_5 = PFLDBlock(128, 128, 1, True, 2)
        self.block5_6 = PFLDBlock(128, 128, 1, True, 2)
        self.conv6_1 = PFLDBlock(128, 16, 1, False, 1)
        self.conv7 = nn.Sequential(
            nn.Conv2d(16, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True)
        )
        self.conv8 = nn.Conv2d(32, 128, 7)
        self.bn8 = nn.BatchNorm2d(128)  # unused in forward, as in Py-Feat
        self.fc = nn.Linear(16 + 32 + 128, 2 * N_LANDMARKS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The 68 landmarks (N, 136) of (N, 3, 112, 112) crops.

        Examples
        --------
        >>> import torch
        >>> net = PFLD().eval()
        >>> tuple(net(torch.zeros(1, 3, 112, 112)).shape)
        (1, 136)
        """
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.conv1_extra(self.dw_bn(self.dw_pool(x))))
        x = self.conv3_1(x)
        x = self.block3_5(self.block3_4(self.block3_3(self.block3_2(x))))
        x = self.conv5_1(self.conv4_1(x))
        x = self.block5_6(self.block5_5(self.block5_4(self.block5_3(self.block5_2(x)))))
        x = self.conv6_1(x)
        s1 = F.avg_pool2d(x, 14).flatten(1)
        x = self.conv7(x)
        s2 = F.avg_pool2d(x, 7).flatten(1)
        s3 = F.relu(self.conv8(x)).flatten(1)
        return self.fc(torch.cat([s1, s2, s3], dim=1))


#: Conformance id -> network class.
NETWORKS: dict[str, type[nn.Module]] = {
    "mobilefacenet": MobileFaceNet,
    "mobilenet": MobileNetGDConv,
    "pfld": PFLD,
}


# ---------------------------------------------------------------------------------------------
# Around the networks: input normalisation, mapping back to pixels, the whole step


def normalize(crops: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """The model input from [0, 1] crops: ``(crops - mean) / std`` when the model has them.

    Examples
    --------
    >>> normalize(torch.full((1, 3, 2, 2), 0.485), MobileNetGDConv())[0, 0, 0, 0].item()
    0.0
    """
    if model.mean is None:
        return crops
    mean = torch.tensor(model.mean, dtype=crops.dtype, device=crops.device)[:, None, None]
    std = torch.tensor(model.std, dtype=crops.dtype, device=crops.device)[:, None, None]
    return (crops - mean) / std


def to_image(landmarks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Map (N, 136) interleaved crop-unit landmarks to (N, 68, 2) pixels through ``boxes``.

    ``boxes`` are the rounded expanded boxes (x1, y1, x2, y2) that
    :func:`featx.nn.ops.face_crops` returns; x = u * (x2 - x1) + x1, likewise for y.

    Examples
    --------
    >>> to_image(torch.full((1, 136), 0.5), torch.tensor([[10, 20, 30, 60]]))[0, 0]
    tensor([20., 40.])
    """
    pts = landmarks.reshape(landmarks.shape[0], N_LANDMARKS, 2)
    boxes = boxes.to(pts)
    return pts * (boxes[:, None, 2:] - boxes[:, None, :2]) + boxes[:, None, :2]


@torch.no_grad()
def predict(
    model: nn.Module, frames: Sequence, boxes: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """68 landmarks in pixels for the faces of several frames, in one forward pass.

    Parameters
    ----------
    model : one of :data:`NETWORKS` (in eval mode, with weights).
    frames : RGB uint8 frames (H, W, 3), numpy arrays or tensors; sizes may differ.
    boxes : per frame, an (n_i, 4) tensor of detector boxes x1, y1, x2, y2 in pixels.

    Returns
    -------
    per frame, an (n_i, 68, 2) float32 tensor of x, y on the model's device.

    Examples
    --------
    >>> import numpy as np
    >>> frames = [np.zeros((120, 100, 3), np.uint8), np.zeros((60, 80, 3), np.uint8)]
    >>> boxes = [torch.tensor([[20.0, 30.0, 80.0, 100.0]]), torch.zeros(0, 4)]
    >>> [p.shape for p in predict(PFLD().eval(), frames, boxes)]
    [torch.Size([1, 68, 2]), torch.Size([0, 68, 2])]
    """
    if len(frames) != len(boxes):
        raise ValueError(f"predict got {len(frames)} frames but {len(boxes)} box sets")
    device = next(model.parameters()).device
    crops, rounded = [], []
    for frame, frame_boxes in zip(frames, boxes, strict=True):
        c, r = ops.face_crops(
            frame, torch.as_tensor(frame_boxes, device=device), model.crop_size, EXPAND
        )
        crops.append(c)
        rounded.append(r)
    crops_all = torch.cat(crops)
    if crops_all.shape[0] == 0:
        points = crops_all.new_zeros((0, N_LANDMARKS, 2))
    else:
        out = model(normalize(crops_all, model))
        landmarks = out[0] if isinstance(out, tuple) else out  # mobilefacenet: also features
        points = to_image(landmarks, torch.cat(rounded))
    return list(points.split([len(r) for r in rounded]))
