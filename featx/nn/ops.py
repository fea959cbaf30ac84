"""Tensor operations shared by several models, in plain torch (no torchvision).

Boxes are ``(N, 4)`` tensors in ``x1, y1, x2, y2`` order unless a function says otherwise.
"""

from __future__ import annotations

import torch


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4).

    Examples
    --------
    >>> box_iou(torch.tensor([[0., 0, 2, 2]]), torch.tensor([[1., 1, 3, 3]]))
    tensor([[0.1429]])
    """
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(inter))
