"""Box geometry shared by every model, tracker and detector.

Two layouts: ``xyxy`` (left, top, right, bottom), the models' native form, and ``xywh``
(x, y, width, height), the Dataset's ``face_rect``. Every function takes NumPy arrays or torch
tensors (..., 4) and answers in the same type and dtype; torch is never imported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def _clip0(x: Any) -> Any:
    return x.clamp(min=0) if _is_torch(x) else np.clip(x, 0, None)


def _concat(parts: list, axis: int = -1) -> Any:
    if _is_torch(parts[0]):
        import torch

        return torch.cat(parts, dim=axis)
    return np.concatenate(parts, axis=axis)


def xyxy_to_xywh(boxes: Any) -> Any:
    """(..., 4) left, top, right, bottom -> x, y, width, height.

    Examples
    --------
    >>> xyxy_to_xywh(np.array([[1.0, 2, 4, 6]]))
    array([[1., 2., 3., 4.]])
    """
    return _concat([boxes[..., :2], boxes[..., 2:] - boxes[..., :2]])


def xywh_to_xyxy(boxes: Any) -> Any:
    """(..., 4) x, y, width, height -> left, top, right, bottom.

    Examples
    --------
    >>> xywh_to_xyxy(np.array([[1.0, 2, 3, 4]]))
    array([[1., 2., 4., 6.]])
    """
    return _concat([boxes[..., :2], boxes[..., :2] + boxes[..., 2:]])


def iou(a: Any, b: Any) -> Any:
    """Intersection over union of every xyxy box in ``a`` (N, 4) with every box in ``b`` (M, 4).

    Widths and heights are ``right - left`` (no +1), clipped at 0; computed in the inputs' dtype.
    A pair whose union is 0 or not finite (an empty or NaN box) has IoU 0.

    Examples
    --------
    >>> iou(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 1, 3, 3], [5, 5, 6, 6]]))
    array([[0.14285714, 0.        ]])
    """
    if _is_torch(a):
        import torch

        maximum, minimum, where = torch.maximum, torch.minimum, torch.where
        isfinite, zeros = torch.isfinite, torch.zeros_like
    else:
        a, b = np.asarray(a), np.asarray(b)
        maximum, minimum, where = np.maximum, np.minimum, np.where
        isfinite, zeros = np.isfinite, np.zeros_like
    a, b = a.reshape(-1, 4), b.reshape(-1, 4)
    area_a = _clip0(a[:, 2] - a[:, 0]) * _clip0(a[:, 3] - a[:, 1])
    area_b = _clip0(b[:, 2] - b[:, 0]) * _clip0(b[:, 3] - b[:, 1])
    top_left = maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = _clip0(bottom_right - top_left)
    inter = overlap[..., 0] * overlap[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    ok = isfinite(union) & (union > 0) & isfinite(inter)
    return where(ok, inter / where(ok, union, zeros(union) + 1), zeros(inter))


def rect_iou(a: Any, b: Any) -> Any:
    """:func:`iou` of xywh rects (the Dataset's ``face_rect``); NaN rects have IoU 0.

    Examples
    --------
    >>> rect_iou(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 1, 2, 2], [5, 5, 1, 1]]))
    array([[0.14285714, 0.        ]])
    """
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    return iou(xywh_to_xyxy(a), xywh_to_xyxy(b))
