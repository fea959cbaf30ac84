"""ConvNeXt V2-Tiny as a feature extractor (Woo et al., "ConvNeXt V2", CVPR 2023).

The backbone of :class:`featx.nn.multitask.FaceMultitask`, in timm's ``features_only`` key
layout (``stem_0``, ``stem_1``, ``stages_0`` ... ``stages_3``, each stage's ``downsample`` and
``blocks``): a 4x4/4 stem, four stages of :class:`ConvNeXtV2Block` (depths 3, 3, 9, 3; widths
96, 192, 384, 768) with global response normalisation (:class:`GRN`) and no layer scale, and no
final norm or head. :class:`ConvNeXtV2Features` returns the stride-16 and stride-32 outputs.

Example
-------
>>> f16, f32 = ConvNeXtV2Features().eval()(torch.rand(1, 3, 64, 64))
>>> tuple(f16.shape), tuple(f32.shape)
((1, 384, 4, 4), (1, 768, 2, 2))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Blocks per stage and channels per stage of ConvNeXt V2-Tiny.
DEPTHS = (3, 3, 9, 3)
DIMS = (96, 192, 384, 768)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each pixel of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps
        )
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global response normalisation on NHWC: ``x + bias + weight * x * n``, where ``n`` is each
    channel's L2 norm over H, W divided by its mean over channels (+ eps)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
        n = g / (g.mean(dim=-1, keepdim=True) + self.eps)
        return x + self.bias + self.weight * (x * n)


class GRNMlp(nn.Module):
    """fc1 (C -> 4C) -> GELU -> GRN -> fc2 (4C -> C), on NHWC."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.grn(F.gelu(self.fc1(x))))


class ConvNeXtV2Block(nn.Module):
    """Depthwise 7x7 conv -> LayerNorm -> GRN MLP, plus the input (no layer scale)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = GRNMlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1)))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtStage(nn.Module):
    """Optional downsample (LayerNorm2d, 2x2 stride-2 conv), then the blocks."""

    def __init__(self, cin: int, cout: int, depth: int) -> None:
        super().__init__()
        self.downsample = (
            nn.Sequential(LayerNorm2d(cin, eps=1e-6), nn.Conv2d(cin, cout, 2, stride=2))
            if cin != cout
            else nn.Identity()
        )
        self.blocks = nn.Sequential(*(ConvNeXtV2Block(cout) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXtV2Features(nn.Module):
    """ConvNeXt V2-Tiny without norm or head; ``forward`` returns the stride-16 and stride-32
    stage outputs (B, 384, H/16, W/16) and (B, 768, H/32, W/32).

    Examples
    --------
    >>> net = ConvNeXtV2Features().eval()  # the backbone of FaceMultitask
    >>> sum(p.numel() for p in net.parameters())
    27864960
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem_0 = nn.Conv2d(3, DIMS[0], 4, stride=4)
        self.stem_1 = LayerNorm2d(DIMS[0], eps=1e-6)
        cin = DIMS[0]
        for i, (dim, depth) in enumerate(zip(DIMS, DEPTHS, strict=True)):
            setattr(self, f"stages_{i}", ConvNeXtStage(cin, dim, depth))
            cin = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stride-16 (N, 384, H/16, W/16) and stride-32 (N, 768, H/32, W/32) feature maps.

        Examples
        --------
        >>> import torch
        >>> net = ConvNeXtV2Features().eval()
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 3, 64, 64))]
        [(1, 384, 4, 4), (1, 768, 2, 2)]
        """
        x = self.stages_1(self.stages_0(self.stem_1(self.stem_0(x))))
        f16 = self.stages_2(x)
        return f16, self.stages_3(f16)
