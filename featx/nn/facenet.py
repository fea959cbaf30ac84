"""FaceNet identity embeddings: Inception-ResNet-v1 trained on VGGFace2.

Schroff et al., "FaceNet: A Unified Embedding for Face Recognition and Clustering", CVPR 2015;
the network is Inception-ResNet-v1 (Szegedy et al., AAAI 2017) with D. Sandberg's VGGFace2
weights (``20180402-114759``). The module keeps the key names and shapes of Py-Feat's
``facenet_20180402_114759_vggface2.pth``, including the unused 8631-way classifier ``logits``
(present so the file loads strictly).

Py-Feat's Detectorv1 feeds it the 112x112 RGB face crop in [0, 1] as is (no resize to 160, no
standardisation); the output is L2-normalised.

Example
-------
>>> import torch
>>> net = FaceNet().eval()
>>> emb = net(net.preprocess(torch.rand(2, 3, 112, 112)))
>>> emb.shape, torch.allclose(emb.norm(dim=1), torch.ones(2))
(torch.Size([2, 512]), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING_SIZE = 512
#: Classes of the VGGFace2 classifier head stored in the file (unused).
N_CLASSES = 8631
#: BatchNorm epsilon of every layer (TensorFlow's default in the original model).
BN_EPS = 1e-3


class BasicConv2d(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d (eps 1e-3) -> ReLU (keys ``conv``, ``bn``)."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A on 256 channels: three branches, 1x1 back to 256, scaled residual."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1))
        self.branch2 = nn.Sequential(
            BasicConv2d(256, 32, 1),
            BasicConv2d(32, 32, 3, padding=1),
            BasicConv2d(32, 32, 3, padding=1),
        )
        self.conv2d = nn.Conv2d(96, 256, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], dim=1)
        return F.relu(x + self.scale * self.conv2d(out))


class Block17(nn.Module):
    """Inception-ResNet-B on 896 channels: 1x1 and 1x7/7x1 branches, scaled residual."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = nn.Sequential(
            BasicConv2d(896, 128, 1),
            BasicConv2d(128, 128, (1, 7), padding=(0, 3)),
            BasicConv2d(128, 128, (7, 1), padding=(3, 0)),
        )
        self.conv2d = nn.Conv2d(256, 896, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x)], dim=1)
        return F.relu(x + self.scale * self.conv2d(out))


class Block8(nn.Module):
    """Inception-ResNet-C on 1792 channels: 1x1 and 1x3/3x1 branches, scaled residual.

    The last block of the network (``relu=False``) has no ReLU after the addition.
    """

    def __init__(self, scale: float, relu: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.relu = relu
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = nn.Sequential(
            BasicConv2d(1792, 192, 1),
            BasicConv2d(192, 192, (1, 3), padding=(0, 1)),
            BasicConv2d(192, 192, (3, 1), padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(384, 1792, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.conv2d(torch.cat([self.branch0(x), self.branch1(x)], dim=1))
        return F.relu(out) if self.relu else out


class Mixed6a(nn.Module):
    """Reduction-A: 256 -> 384 + 256 + 256 = 896 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, 1),
            BasicConv2d(192, 192, 3, padding=1),
            BasicConv2d(192, 256, 3, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.max_pool2d(x, 3, stride=2)
        return torch.cat([self.branch0(x), self.branch1(x), pooled], dim=1)


class Mixed7a(nn.Module):
    """Reduction-B: 896 -> 384 + 256 + 256 + 896 = 1792 channels, stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2))
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, 1),
            BasicConv2d(256, 256, 3, padding=1),
            BasicConv2d(256, 256, 3, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.max_pool2d(x, 3, stride=2)
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), pooled], dim=1)


class FaceNet(nn.Module):
    """Inception-ResNet-v1: ``forward(x (N, 3, H, W) RGB) -> (N, 512)`` with unit L2 norm.

    Stem, 5 x Block35 (scale 0.17), Mixed6a, 10 x Block17 (0.10), Mixed7a, 5 x Block8 (0.20),
    a last Block8 (scale 1, no ReLU), global average pool, Linear 1792 -> 512 (no bias),
    BatchNorm1d (``last_bn``) and L2 normalisation. ``logits`` is never applied.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("facenet").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, FaceNet), sum(p.numel() for p in net.parameters())
    (True, 27910327)
    """

    l2_normalized = True

    def __init__(self) -> None:
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2)
        self.repeat_1 = nn.Sequential(*(Block35(0.17) for _ in range(5)))
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*(Block17(0.10) for _ in range(10)))
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*(Block8(0.20) for _ in range(5)))
        self.block8 = Block8(1.0, relu=False)
        self.last_linear = nn.Linear(1792, EMBEDDING_SIZE, bias=False)
        self.last_bn = nn.BatchNorm1d(EMBEDDING_SIZE, eps=BN_EPS)
        self.logits = nn.Linear(EMBEDDING_SIZE, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (N, 512) of (N, 3, H, W) RGB crops.

        Examples
        --------
        >>> import torch
        >>> with torch.no_grad():
        ...     out = FaceNet().eval()(torch.rand(1, 3, 112, 112))
        >>> tuple(out.shape), round(float(out.norm()), 4)
        ((1, 512), 1.0)
        """
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(x)))
        x = self.repeat_2(self.mixed_6a(self.repeat_1(x)))
        x = self.block8(self.repeat_3(self.mixed_7a(x)))
        x = self.last_bn(self.last_linear(x.mean(dim=(2, 3))))
        return F.normalize(x, p=2, dim=1, eps=1e-12)

    @staticmethod
    def preprocess(crops: torch.Tensor) -> torch.Tensor:
        """RGB crops in [0, 1] -> the network input: unchanged, as Py-Feat's Detectorv1 feeds it.

        Examples
        --------
        >>> FaceNet.preprocess(torch.ones(1, 3, 112, 112)).max()
        tensor(1.)
        """
        return crops
