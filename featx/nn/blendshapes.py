"""MediaPipe face blendshapes: an MLP-Mixer from 146 mesh landmarks to 52 scores in [0, 1].

The input is the (x, y) of :data:`LANDMARK_SUBSET` (146 of the 478 Face Mesh landmarks) in
**image pixels** (:func:`blendshape_input`); the network centres them and divides by their mean
distance to the centre, so it ignores where the face is and how large it is (not its rotation).
The output order is MediaPipe's, the same as ``featx.schema.BLENDSHAPES``.

Example
-------
>>> import torch
>>> net = Blendshapes().eval()
>>> net(blendshape_input(np.random.rand(478, 3) * 300)).shape
torch.Size([1, 52])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: The 146 mesh landmarks the network reads, in its input order.
LANDMARK_SUBSET = np.array(
    [0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65,
     66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136,
     144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168,
     172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276,
     282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318,
     321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380,
     381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466,
     468, 469, 470, 471, 472, 473, 474, 475, 476, 477],
    dtype=np.int64,
)  # fmt: skip
NUM_BLENDSHAPES = 52
# Graph constants (float16 in the source file; the asset stores them as (1,) buffers).
POINTS_SCALE = 0.5
LAYER_NORM_EPS = 1.0132789611816406e-06


def blendshape_input(landmarks: np.ndarray) -> torch.Tensor:
    """The network input from full landmark sets.

    Parameters
    ----------
    landmarks : (478, 2 or 3) or (B, 478, 2 or 3) landmarks with x, y in image pixels.

    Returns
    -------
    (B, 146, 2) float32 tensor: x, y of :data:`LANDMARK_SUBSET`.

    Examples
    --------
    >>> blendshape_input(np.zeros((478, 3))).shape
    torch.Size([1, 146, 2])
    """
    pts = np.asarray(landmarks, dtype=np.float32)
    if pts.ndim == 2:
        pts = pts[None]
    return torch.from_numpy(np.ascontiguousarray(pts[:, LANDMARK_SUBSET, :2]))


class _MixerBlock(nn.Module):
    """Token mixing then channel mixing, each after a scale-only LayerNorm, with residuals."""

    def __init__(self, tokens: int, channels: int, token_hidden: int, channel_hidden: int):
        super().__init__()
        self.norm1 = nn.Parameter(torch.ones(channels))
        self.token_fc1 = nn.Linear(tokens, token_hidden)
        self.token_fc2 = nn.Linear(token_hidden, tokens)
        self.norm2 = nn.Parameter(torch.ones(channels))
        self.channel_fc1 = nn.Linear(channels, channel_hidden)
        self.channel_fc2 = nn.Linear(channel_hidden, channels)

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        y = _layer_norm(x, self.norm1, eps).transpose(1, 2)
        x = x + self.token_fc2(torch.relu(self.token_fc1(y))).transpose(1, 2)
        y = _layer_norm(x, self.norm2, eps)
        return x + self.channel_fc2(torch.relu(self.channel_fc1(y)))


def _layer_norm(x: torch.Tensor, scale: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = (x - mean).square().mean(dim=-1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps) * scale


class Blendshapes(nn.Module):
    """The blendshape MLP-Mixer: ``forward(points (B,146,2) image px) -> (B,52)`` in [0, 1].

    Parameters
    ----------
    num_points, tokens, channels, token_hidden, channel_hidden, num_blocks, num_outputs :
        sizes of MediaPipe's network (the defaults).

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("mp_blendshapes").build()  # bundled: .load() reads its real weights offline
    >>> isinstance(net, Blendshapes), sum(p.numel() for p in net.parameters())
    (True, 450520)
    """

    def __init__(
        self,
        num_points: int = len(LANDMARK_SUBSET),
        tokens: int = 96,
        channels: int = 64,
        token_hidden: int = 384,
        channel_hidden: int = 256,
        num_blocks: int = 4,
        num_outputs: int = NUM_BLENDSHAPES,
    ) -> None:
        super().__init__()
        self.register_buffer("points_scale", torch.tensor([POINTS_SCALE]))
        self.token_projection = nn.Linear(num_points, tokens)
        self.embedding = nn.Linear(2, channels)
        self.extra_token = nn.Parameter(torch.zeros(channels))
        self.register_buffer("eps", torch.tensor([LAYER_NORM_EPS]))
        self.blocks = nn.ModuleList(
            _MixerBlock(tokens + 1, channels, token_hidden, channel_hidden)
            for _ in range(num_blocks)
        )
        self.head = nn.Linear(channels, num_outputs)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """The 52 blendshape scores (B, 52) in [0, 1] of 146 mesh points (B, 146, 2), image px.

        Examples
        --------
        >>> import torch
        >>> net = Blendshapes().eval()
        >>> tuple(net(torch.rand(1, 146, 2) * 256).shape)
        (1, 52)
        """
        q = points - points.mean(dim=1, keepdim=True)
        spread = torch.linalg.vector_norm(q, dim=-1).mean(dim=1)
        q = q / spread[:, None, None] * self.points_scale
        tokens = self.token_projection(q.transpose(1, 2)).transpose(1, 2)  # (B, 96, 2)
        x = self.embedding(tokens)
        x = torch.cat([self.extra_token.expand(len(x), 1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x, self.eps)
        return torch.sigmoid(self.head(x[:, 0]))
