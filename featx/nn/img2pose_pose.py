"""img2pose's pose post-processing: proposal-relative poses -> image poses and face boxes.

The last stage of :meth:`featx.nn.img2pose.Img2Pose.detect`: :func:`postprocess_detections`
turns each face proposal's pose (relative to its box) into a pose in the image's camera
(:func:`local_to_global`), projects the 68 3D reference points with it into the face box
(:func:`project_boxes`), and :func:`rescale_boxes` maps boxes back to the input image. The
rotation maths is :mod:`featx.nn.rotations`. Everything here is importable from
:mod:`featx.nn.img2pose` as well.

Example
-------
>>> dofs = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 10.0]], dtype=torch.float64)
>>> box = torch.tensor([[40.0, 30.0, 60.0, 50.0]], dtype=torch.float64)  # centred, 20 x 20
>>> local_to_global(dofs, box, (80, 100))  # t_z scaled by (80 + 100) / (20 + 20)
tensor([[ 0.,  0.,  0.,  0.,  0., 45.]], dtype=torch.float64)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from featx.nn import ops
from featx.nn.img2pose_rcnn import NUM_CLASSES, clip_boxes, large_enough
from featx.nn.rotations import matrix_to_rotvec, rotvec_to_matrix

if TYPE_CHECKING:
    from featx.nn.img2pose import Img2PoseConfig

#: Detections with a side shorter than this (pixels) are dropped before the pose step.
MIN_DETECTION_SIDE = 1e-2


def _camera(size: tuple[int, int], dtype: torch.dtype, device) -> torch.Tensor:
    """Intrinsics of the resized image: focal ``w + h``, principal point ``(w // 2, h // 2)``."""
    height, width = size
    k = [[width + height, 0, width // 2], [0, width + height, height // 2], [0, 0, 1]]
    return torch.tensor(k, dtype=torch.float32, device=device).to(dtype)


def local_to_global(dofs: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Poses relative to their boxes (N, 6) -> poses in the camera of the whole image (N, 6).

    With ``K`` the image's intrinsics (:func:`_camera`) and ``K_b`` the same with the box
    centre as principal point: ``t_z`` is scaled by ``(w + h) / (box width + box height)``,
    ``t = K^-1 K_b t`` and the rotation becomes :func:`matrix_to_rotvec` of
    ``K^-1 K_b R(rvec)``. Computed in the dtype of ``dofs``.
    """
    k = _camera(size, dofs.dtype, dofs.device)
    k_box = k.expand(len(boxes), 3, 3).clone()
    k_box[:, 0, 2] = (boxes[:, 0] + boxes[:, 2]) / 2
    k_box[:, 1, 2] = (boxes[:, 1] + boxes[:, 3]) / 2
    to_image = torch.linalg.inv(k) @ k_box
    box_sides = (boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])
    t = dofs[:, 3:].clone()
    t[:, 2] = t[:, 2] * sum(size) / box_sides
    t = (to_image @ t[:, :, None])[..., 0]
    r = matrix_to_rotvec(to_image @ rotvec_to_matrix(dofs[:, :3]))
    return torch.cat([r, t], dim=1)


def project_boxes(
    dofs: torch.Tensor, size: tuple[int, int], config: Img2PoseConfig
) -> torch.Tensor:
    """Face boxes (N, 4) from global poses (N, 6): the reference points projected and framed.

    The 68 ``threed_points`` are rotated and translated by each pose and projected with the
    image's intrinsics; the box is their extent scaled by ``bbox_x_factor``/``bbox_y_factor``
    (sizes truncated to integers) about its centre, extended by ``expand_forehead`` times the
    extent on the forehead side chosen by the rotation vector's z component (|z| > 2.5: bottom,
    z > 1: right, z < -1: left, else top), truncated to integers and clamped to the image.
    """
    points = torch.as_tensor(config.threed_points, dtype=dofs.dtype, device=dofs.device)
    k = _camera(size, dofs.dtype, dofs.device)
    placed = points @ rotvec_to_matrix(dofs[:, :3]).transpose(1, 2) + dofs[:, None, 3:]
    projected = placed @ k.T
    uv = projected[..., :2] / projected[..., 2:]
    low, high = uv.min(dim=1).values, uv.max(dim=1).values
    extent = high - low
    factors = torch.tensor([config.bbox_x_factor, config.bbox_y_factor], dtype=dofs.dtype)
    half = torch.trunc(extent * factors.to(dofs.device)) / 2
    centre = (low + high) / 2
    box = torch.cat([centre - half, centre + half], dim=1)
    grow = config.expand_forehead * extent
    roll = dofs[:, 2]
    bottom = roll.abs() > 2.5
    right = ~bottom & (roll > 1)
    left = ~bottom & ~right & (roll < -1)
    top = ~bottom & ~right & ~left
    box[:, 3] += torch.where(bottom, grow[:, 1], 0)
    box[:, 2] += torch.where(right, grow[:, 0], 0)
    box[:, 0] -= torch.where(left, grow[:, 0], 0)
    box[:, 1] -= torch.where(top, grow[:, 1], 0)
    return clip_boxes(torch.trunc(box), size)


def postprocess_detections(
    class_logits: torch.Tensor,
    dof_regression: torch.Tensor,
    proposals: torch.Tensor,
    size: tuple[int, int],
    config: Img2PoseConfig,
) -> dict[str, torch.Tensor]:
    """Detections of one image from its head outputs, in resized-image pixels.

    Proposals clipped to the image; face score ``softmax(class_logits)[:, 1]`` above
    ``box_score_thresh``; sides of at least 0.01 px; the face class's 6 numbers times
    ``pose_stddev`` plus ``pose_mean`` give the pose relative to the proposal, turned into the
    image's pose (:func:`local_to_global`, float64) whose projection is the new box
    (:func:`project_boxes`); NMS at ``box_nms_thresh``; at most ``box_detections_per_img``.

    Returns
    -------
    ``boxes`` (N, 4), ``scores`` (N,), ``dofs`` (N, 6), ``labels`` (N,) all 1, by descending
    score, in the dtype of the inputs.
    """
    dtype = class_logits.dtype
    boxes = clip_boxes(proposals, size)
    scores = torch.softmax(class_logits, dim=-1)[:, 1]
    raw = dof_regression.reshape(len(dof_regression), NUM_CLASSES, 6)[:, 1]
    keep = torch.nonzero(scores > config.box_score_thresh).flatten()
    keep = keep[large_enough(boxes[keep], MIN_DETECTION_SIDE)]
    boxes, scores, raw = boxes[keep], scores[keep], raw[keep]
    mean = torch.tensor(config.pose_mean, dtype=torch.float32, device=raw.device)
    std = torch.tensor(config.pose_stddev, dtype=torch.float32, device=raw.device)
    local = (raw * std + mean).double()
    dofs = local_to_global(local, boxes.double(), size)
    boxes = project_boxes(dofs, size, config).to(dtype)
    keep = ops.nms(boxes, scores, config.box_nms_thresh)[: config.box_detections_per_img]
    return {
        "boxes": boxes[keep],
        "scores": scores[keep],
        "dofs": dofs[keep].to(dtype),
        "labels": torch.ones(len(keep), dtype=torch.int64, device=boxes.device),
    }


def rescale_boxes(
    boxes: torch.Tensor, size: tuple[int, int], original: tuple[int, int]
) -> torch.Tensor:
    """Boxes in a resized image of ``size`` mapped back to the ``original`` (height, width).

    >>> rescale_boxes(torch.tensor([[10.0, 20.0, 30.0, 40.0]]), (200, 100), (100, 50))
    tensor([[ 5., 10., 15., 20.]])
    """
    ratio_h = torch.tensor(original[0], dtype=torch.float32) / torch.tensor(size[0])
    ratio_w = torch.tensor(original[1], dtype=torch.float32) / torch.tensor(size[1])
    ratios = torch.stack([ratio_w, ratio_h, ratio_w, ratio_h]).to(boxes.device, boxes.dtype)
    return boxes * ratios
