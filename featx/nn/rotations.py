"""Rotations and featx's head-pose angles: one home for every model that reports a head pose.

featx's convention (the ``head_pose`` variable: pitch, roll, yaw in degrees): +pitch = chin up,
+yaw = turned toward the subject's right, +roll = tilted toward the subject's right. Models give
their rotation in one of two cameras, and each has one function here:

========================  ================================  ===================================
camera                    models                            featx angles
========================  ================================  ===================================
y down (OpenCV: x right,  img2pose, face_multitask_v2,      :func:`to_featx_pose` of
y down, z into the        the img2pose pose MLP             ``(a, b, c)`` with
scene)                                                      ``R = Rz(c) Ry(b) Rx(a)``
                                                            (:func:`rotvec_to_euler`):
                                                            pitch = -a, roll = -c, yaw = +b
y up (OpenGL: x right,    MediaPipe's face geometry         :func:`y_up_to_featx_deg` of the
y up, z toward the        (``featx.nn.mesh_pose``)          unit rotation
viewer)                                                     (:func:`unit_rotation`)
========================  ================================  ===================================

The two agree: with ``F = diag(1, -1, -1)`` a y-down rotation ``R`` is ``F R F`` in the y-up
camera, whose angles are ``(a, -b, -c)``, so both rows give the same pitch, roll and yaw.

Examples
--------
>>> import torch
>>> rvec = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
>>> euler = rotvec_to_euler(rvec)
>>> pitch_roll_yaw = to_featx_pose(torch.cat([euler, torch.zeros(3, dtype=euler.dtype)]))[:3]
>>> flip = np.diag([1.0, -1.0, -1.0])
>>> y_up = flip @ rotvec_to_matrix(rvec).numpy() @ flip
>>> bool(np.allclose(np.degrees(pitch_roll_yaw.numpy()), y_up_to_featx_deg(y_up)))
True
"""

from __future__ import annotations

import math

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------
# Rotation vectors and matrices (torch)


def rotvec_to_matrix(rvec: torch.Tensor, min_angle: float | None = None) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (Rodrigues' formula).

    ``min_angle`` clamps the angle from below before it is used (face_multitask_v2's recipe,
    1e-8); without it only the axis division is guarded (img2pose's recipe). The two give the
    same matrices for any angle of at least ``min_angle``.

    >>> rotvec_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2])).round().tolist()
    [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    theta = torch.linalg.vector_norm(rvec, dim=-1, keepdim=True)
    if min_angle is not None:
        theta = theta.clamp(min=min_angle)
    axis = rvec / theta.clamp(min=torch.finfo(rvec.dtype).tiny)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*x.shape, 3, 3)
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device)
    sin, cos = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def matrix_to_rotvec(m: torch.Tensor) -> torch.Tensor:
    """Rotation vectors (..., 3) of 3x3 matrices (..., 3, 3), img2pose's recipe.

    The matrices need not be orthonormal: ``theta = acos((trace - 1) / 2)`` (clamped) and
    ``s = (m21 - m12, m02 - m20, m10 - m01)`` give ``s / 2`` for theta < 1e-6,
    ``s / (2 sin theta) * theta`` in general, and near pi (theta > pi - 0.05) the normalised
    column of ``(m + I) / 2`` with the largest diagonal entry, signed like ``s``, times theta.

    >>> matrix_to_rotvec(rotvec_to_matrix(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)))
    tensor([ 0.1000, -0.2000,  0.3000], dtype=torch.float64)
    """
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    theta = torch.acos(((trace - 1) / 2).clamp(-1, 1))[..., None]
    s = torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]],
        dim=-1,
    )
    general = s / (2 * torch.sin(theta)) * theta
    half = (m + torch.eye(3, dtype=m.dtype, device=m.device)) / 2
    column = torch.diagonal(half, dim1=-2, dim2=-1).argmax(-1)
    axis = torch.take_along_dim(half, column[..., None, None].expand(*column.shape, 3, 1), -1)
    axis = axis[..., 0] / torch.linalg.vector_norm(axis[..., 0], dim=-1, keepdim=True)
    axis = torch.where((axis * s).sum(-1, keepdim=True) < 0, -axis, axis)
    out = torch.where(theta > math.pi - 0.05, axis * theta, general)
    return torch.where(theta < 1e-6, s / 2, out)


# ---------------------------------------------------------------------------------------------
# Euler angles and featx's signs, y-down camera


def rotvec_to_euler(rvec: torch.Tensor) -> torch.Tensor:
    """Angles (a, b, c) in radians (..., 3) with ``R(rvec) = Rz(c) Ry(b) Rx(a)``.

    a rotates about x, b = asin(-R20) about y, c about z (scipy's ``as_euler("ZYX")``
    reversed). Computed in float64, returned in the dtype of ``rvec``.

    >>> rotvec_to_euler(torch.tensor([0.0, 0.4, 0.0]))
    tensor([0.0000, 0.4000, 0.0000])
    """
    r = rotvec_to_matrix(rvec.double())
    a = torch.atan2(r[..., 2, 1], r[..., 2, 2])
    b = torch.asin((-r[..., 2, 0]).clamp(-1, 1))
    c = torch.atan2(r[..., 1, 0], r[..., 0, 0])
    return torch.stack([a, b, c], dim=-1).to(rvec.dtype)


_RELABEL = [0, 2, 1, 3, 4, 5]
_SIGNS = [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


def to_featx_pose(pose):
    """Re-label a y-down camera's (a, b, c, X, Y, Z) into featx's (pitch, roll, yaw, X, Y, Z).

    pitch = -a, roll = -c, yaw = +b (a, b, c as :func:`rotvec_to_euler`); translation
    unchanged; angles stay in radians. Works on tensors and arrays of shape (..., 6).

    >>> to_featx_pose(np.array([0.1, 0.2, 0.3, 1.0, 2.0, 3.0])).tolist()
    [-0.1, -0.3, 0.2, 1.0, 2.0, 3.0]
    """
    if torch.is_tensor(pose):
        signs = torch.tensor(_SIGNS, dtype=pose.dtype, device=pose.device)
    else:
        pose = np.asarray(pose)
        signs = np.asarray(_SIGNS, dtype=pose.dtype)
    return pose[..., _RELABEL] * signs


# ---------------------------------------------------------------------------------------------
# y-up camera (MediaPipe's face geometry), NumPy


def unit_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation part ``[..., :3, :3]`` of pose matrices, columns scaled to unit length.

    Compute it once per pose and hand it to every user (:func:`y_up_to_featx_deg`, gaze).

    >>> unit_rotation(np.diag([2.0, 2.0, 2.0, 1.0])).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    m = np.asarray(matrix, dtype=np.float64)[..., :3, :3]
    return m / np.linalg.norm(m, axis=-2, keepdims=True)


def y_up_to_featx_deg(rotation: np.ndarray) -> np.ndarray:
    """Pitch, roll, yaw in degrees (featx signs) of unit rotations (..., 3, 3) in a y-up camera.

    Uses ``R = Rz(roll)·Ry(-yaw)·Rx(-pitch)``; ``rotation`` is used as given (see
    :func:`unit_rotation`).

    >>> y_up_to_featx_deg(np.eye(3))
    array([-0.,  0.,  0.])
    """
    r = np.asarray(rotation, dtype=np.float64)
    pitch = -np.arctan2(r[..., 2, 1], r[..., 2, 2])
    yaw = np.arctan2(r[..., 2, 0], np.hypot(r[..., 0, 0], r[..., 1, 0]))
    roll = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.degrees(np.stack([pitch, roll, yaw], axis=-1))
