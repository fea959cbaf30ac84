"""Residual Masking Network (Pham, Vu & Tran, ICPR 2020): Py-Feat's default emotion model.

A ResNet-34 trunk (torchvision's layout and key names); after each of its four stages a small
U-Net of residual blocks (:class:`MaskingBlock`, depth 4, 3, 2, 1) makes a soft attention map
``m`` (softmax over channels) and the stage output becomes ``x * (1 + m)``. Average pooling,
dropout and a linear layer give 7 FER2013 logits, in featx's emotion order (anger, disgust,
fear, happiness, sadness, surprise, neutral).

The module keeps the key names of Py-Feat's checkpoint ``ResMaskNet_Z_resmasking_dropout1_rot30
.pth`` (state dict under ``"net"``), including its aliases: inside each masking block the
projection shortcut of ``convJ`` is also registered as ``downsampleJ``, so the state dict holds
both names for one module; ``convJ.downsample`` is registered later and its values are the ones
loaded last, as in Py-Feat.

The input is the 224 x 224 RGB crop of the detector box expanded x1.1, values in [0, 1], no
normalisation (:func:`predict` builds it with :func:`featx.nn.ops.face_crops`).

Example
-------
>>> import numpy as np, torch
>>> net = ResMasking().eval()
>>> frame = np.zeros((120, 100, 3), np.uint8)
>>> probs = predict(net, [frame], [torch.tensor([[20.0, 30.0, 80.0, 100.0]])])
>>> probs[0].shape, round(float(probs[0].sum()), 5)
(torch.Size([1, 7]), 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from featx.nn import ops

#: Py-Feat's expansion of the detector box for this model's crop, and the crop's side.
EXPAND = 1.1
CROP_SIZE = 224
N_CLASSES = 7
#: Widths of the four ResNet-34 stages, their numbers of blocks, and the masking depths.
STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
MASK_DEPTHS = (4, 3, 2, 1)


def _projection(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet basic block: 3x3 conv, BN, ReLU, 3x3 conv, BN, + shortcut, ReLU."""

    def __init__(
        self, cin: int, cout: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class MaskingBlock(nn.Module):
    """U-Net of residual blocks on ``channels`` channels, ending in a softmax over channels.

    Encoder ``conv1 .. conv{depth}`` doubles the width at each level (max-pool 2 between
    levels); decoder ``up_pool{j}`` (transposed conv 2x2 stride 2 with bias, BN, ReLU) then
    ``conv{j}`` on [upsampled, skip] for each level back up; ``conv{2 depth}`` returns to
    ``channels``. Every block has a projection shortcut, registered also as ``downsample{j}``.
    """

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        widths = [channels * 2**i for i in range(depth + 1)]  # widths[i]: level i's output
        encoder = [(widths[i], widths[i + 1]) for i in range(depth)]
        decoder = [(widths[i + 1], widths[i]) for i in reversed(range(depth))]
        # Registration order = the checkpoint's key order: encoder shortcuts, encoder blocks,
        # decoder shortcuts, then each up-pool with its block, then the last block.
        for j, (cin, cout) in enumerate(encoder, 1):
            setattr(self, f"downsample{j}", _projection(cin, cout))
        for j, (cin, cout) in enumerate(encoder, 1):
            setattr(self, f"conv{j}", BasicBlock(cin, cout, downsample=self._down(j)))
        for j, (cin, cout) in enumerate(decoder, depth + 1):
            cin = cin if j == 2 * depth else 2 * cout  # decoder blocks read [up, skip]
            setattr(self, f"downsample{j}", _projection(cin, cout))
        for j, (cin, cout) in enumerate(decoder, depth + 1):
            if j < 2 * depth:
                up = nn.Sequential(
                    nn.ConvTranspose2d(cin, cout, 2, 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
                )
                setattr(self, f"up_pool{j}", up)
                cin = 2 * cout
            setattr(self, f"conv{j}", BasicBlock(cin, cout, downsample=self._down(j)))
        self.pool = nn.MaxPool2d(2)

    def _down(self, j: int) -> nn.Module:
        return getattr(self, f"downsample{j}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for j in range(1, self.depth + 1):
            x = getattr(self, f"conv{j}")(x if j == 1 else self.pool(x))
            skips.append(x)
        for j in range(self.depth + 1, 2 * self.depth):
            up = getattr(self, f"up_pool{j}")(x)
            x = getattr(self, f"conv{j}")(torch.cat([up, skips[2 * self.depth - j - 1]], dim=1))
        x = getattr(self, f"conv{2 * self.depth}")(x)
        return torch.softmax(x, dim=1)


class ResMasking(nn.Module):
    """ResNet-34 with four masking blocks: ``forward(x (N, 3, 224, 224) in [0, 1]) -> logits
    (N, 7)``; ``featx.nn.resmasknet.predict`` applies the softmax.

    Parameters
    ----------
    in_channels : image channels (the checkpoint's ``config.json``: 3).
    num_classes : outputs (7 FER2013 emotions).

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("resmasknet").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, ResMasking), sum(p.numel() for p in net.parameters())
    (True, 137796423)
    """

    def __init__(self, in_channels: int = 3, num_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks) in enumerate(STAGES, 1):
            stride = 1 if i == 1 else 2
            down = _projection(cin, width, stride) if stride != 1 or cin != width else None
            layer = [BasicBlock(cin, width, stride, down)]
            layer += [BasicBlock(width, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Dropout(0.4), nn.Linear(512, num_classes))
        for i, ((width, _), depth) in enumerate(zip(STAGES, MASK_DEPTHS, strict=True), 1):
            setattr(self, f"mask{i}", MaskingBlock(width, depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Emotion logits (N, 7) of (N, 3, H, W) crops in [0, 1].

        Examples
        --------
        >>> import torch
        >>> net = ResMasking().eval()
        >>> tuple(net(torch.zeros(1, 3, 64, 64)).shape)  # the card's crops are 224 px
        (1, 7)
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            x = x * (1 + getattr(self, f"mask{i}")(x))
        return self.fc(self.avgpool(x).flatten(1))


@torch.no_grad()
def predict(
    model: nn.Module, frames: Sequence, boxes: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Emotion probabilities (softmax over the 7 classes) for the faces of several frames.

    Parameters
    ----------
    model : :class:`ResMasking` in eval mode, with weights.
    frames : RGB uint8 frames (H, W, 3), numpy arrays or tensors; sizes may differ.
    boxes : per frame, an (n_i, 4) tensor of detector boxes x1, y1, x2, y2 in pixels.

    Returns
    -------
    per frame, an (n_i, 7) float32 tensor on the model's device, featx's emotion order.
    """
    if len(frames) != len(boxes):
        raise ValueError(f"predict got {len(frames)} frames but {len(boxes)} box sets")
    device = next(model.parameters()).device
    crops = [
        ops.face_crops(frame, torch.as_tensor(b, device=device).reshape(-1, 4), CROP_SIZE, EXPAND)[
            0
        ]
        for frame, b in zip(frames, boxes, strict=True)
    ]
    batch = torch.cat(crops)
    probs = torch.softmax(model(batch), dim=1) if len(batch) else batch.new_zeros((0, N_CLASSES))
    return list(probs.split([len(c) for c in crops]))


# ---------------------------------------------------------------------------------------------
# Model card loader (``featx.hub`` imports it when the card is used)


def load(card, paths: dict) -> ResMasking:
    """The ``resmasknet`` card's loader: ``config.json`` (in_channels, num_classes) and the
    ``.pth`` whose ``"net"`` holds the state dict, loaded strictly."""
    import json

    from featx.nn.weights import WeightsError, load_into, read_state_dict

    config_path, weights = paths["config.json"], paths[card.files[1]]
    try:
        config = json.loads(config_path.read_text())
        in_channels = int(config.get("in_channels", 3))
        num_classes = int(config.get("num_classes", N_CLASSES))
    except (ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"cannot read resmasknet config {config_path}: {e!r}") from e
    if num_classes != N_CLASSES:
        raise WeightsError(
            f"{config_path} says num_classes={num_classes}; featx maps the {N_CLASSES} FER2013 "
            "emotions of resmasknet"
        )
    model = ResMasking(in_channels=in_channels, num_classes=num_classes)
    return load_into(model, read_state_dict(weights), strict=True, path=weights)
