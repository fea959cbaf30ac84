"""The heads of face_multitask_v2 (:mod:`featx.nn.multitask`): MLPs, the ME-GraphAU-style AU
head (Luo et al., IJCAI 2022: AFG, FGG, the similarity classifier SC), blendshapes, emotions and
the two-eye gaze encoder. Key names and shapes are those of the published checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from featx.nn.ops import roi_align

_BS_LMK_DIM = 256
_EYE_CONV, _EYE_GROUPS = 256, 8


class MLPHead(nn.Module):
    """``mlp``: Linear -> GELU -> Linear -> GELU -> Linear."""

    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(cin, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class LandmarkFusion(nn.Module):
    """``[LN(backbone vector), LN(Linear(mesh x, y))]``: a pooled feature joined with the mesh."""

    def __init__(self, bb_dim: int, lmk_in: int, lmk_dim: int) -> None:
        super().__init__()
        self.proj_lmk = nn.Linear(lmk_in, lmk_dim)
        self.norm_bb = nn.LayerNorm(bb_dim)
        self.norm_lmk = nn.LayerNorm(lmk_dim)

    def forward(self, pooled: torch.Tensor, mesh_xy: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.norm_bb(pooled), self.norm_lmk(self.proj_lmk(mesh_xy))], dim=1)


class BlendshapeHead(LandmarkFusion):
    """The fused vector -> Linear -> GELU -> Linear -> sigmoid."""

    def __init__(self, bb_dim: int, lmk_in: int, n_out: int) -> None:
        super().__init__(bb_dim, lmk_in, _BS_LMK_DIM)
        self.mlp = nn.Sequential(
            nn.Linear(bb_dim + _BS_LMK_DIM, bb_dim), nn.GELU(), nn.Linear(bb_dim, n_out)
        )

    def forward(self, pooled: torch.Tensor, mesh_xy: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(super().forward(pooled, mesh_xy)))


class AFG(nn.Module):
    """AU-specific features: per AU a 1x1 conv (no bias) -> BatchNorm -> ReLU, then GAP."""

    def __init__(self, n_au: int, channels: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
            )
            for _ in range(n_au)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([head(x).mean(dim=(2, 3)) for head in self.heads], dim=1)


class FGG(nn.Module):
    """Facial graph: each AU node averages its ``k`` most similar other nodes (cosine), then
    ``ReLU(W_self v + A W v)``."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.W = nn.Linear(channels, channels, bias=False)
        self.W_self = nn.Linear(channels, channels, bias=False)
        self.k = k

    def adjacency(self, v: torch.Tensor) -> torch.Tensor:
        """(B, N, N) row-normalised: the top-(k+1) similar nodes of each row minus itself."""
        vn = F.normalize(v, dim=-1, eps=1e-12)
        similarity = vn @ vn.transpose(1, 2)
        top = similarity.topk(min(self.k + 1, v.shape[1]), dim=-1).indices
        a = torch.zeros_like(similarity).scatter_(-1, top, 1.0)
        a = a * (1 - torch.eye(v.shape[1], dtype=a.dtype, device=a.device))
        return a / a.sum(-1, keepdim=True).clamp(min=1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return F.relu(self.W_self(v) + self.adjacency(v) @ self.W(v))


class SC(nn.Module):
    """AU scores: cosine of each node with its learned prototype ``ReLU(s)``, clamped to [0, 1]."""

    def __init__(self, n_au: int, channels: int) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.zeros(n_au, channels))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h is already >= 0 (FGG ends in a ReLU), so ReLU(h) = h.
        prototypes = F.normalize(F.relu(self.s), dim=-1, eps=1e-12)
        return (F.normalize(h, dim=-1, eps=1e-12) * prototypes).sum(-1).clamp(0, 1)


class EmotionHead(nn.Module):
    """Emotion logits and tanh(valence, arousal) from the unified vector."""

    def __init__(self, dim: int, n_emotion: int) -> None:
        super().__init__()
        self.cls_head = nn.Linear(dim, n_emotion)
        self.va_head = nn.Linear(dim, 2)

    def forward(self, unified: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_head(unified), torch.tanh(self.va_head(unified))


class EyeROIEncoder(nn.Module):
    """roi_align of the stride-16 map in an eye box -> two conv/GroupNorm/GELU -> Linear -> LN."""

    def __init__(self, cin: int, dim: int, roi_size: int) -> None:
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(cin, _EYE_CONV, 3, padding=1, bias=False),
            nn.GroupNorm(_EYE_GROUPS, _EYE_CONV),
            nn.GELU(),
            nn.Conv2d(_EYE_CONV, _EYE_CONV, 3, padding=1, bias=False),
            nn.GroupNorm(_EYE_GROUPS, _EYE_CONV),
            nn.GELU(),
        )
        self.proj = nn.Linear(_EYE_CONV * roi_size * roi_size, dim)
        self.norm = nn.LayerNorm(dim)
        self.roi_size = roi_size

    def forward(self, f16: torch.Tensor, boxes: torch.Tensor, image_size: int) -> torch.Tensor:
        """Eye features (B, dim) for one xyxy box per image, in ``image_size`` input pixels."""
        index = torch.arange(len(boxes), dtype=boxes.dtype, device=boxes.device)[:, None]
        pooled = roi_align(
            f16,
            torch.cat([index, boxes], dim=1),
            self.roi_size,
            spatial_scale=f16.shape[-1] / image_size,
            sampling_ratio=-1,
            aligned=True,
        )
        return self.norm(self.proj(self.enc(pooled).flatten(1)))


class GazeHead(nn.Module):
    """One linear layer per eye side; the two sides' logits are averaged."""

    def __init__(self, dim: int, bins: int) -> None:
        super().__init__()
        self.left = nn.Linear(dim, 2 * bins)
        self.right = nn.Linear(dim, 2 * bins)
        self.bins = bins

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """(B, 2, bins) logits; axis 1 is (yaw, pitch)."""
        return (0.5 * (self.left(left) + self.right(right))).view(-1, 2, self.bins)
