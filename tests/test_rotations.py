"""featx.nn.rotations: one sign convention for every head pose, whichever camera it comes from."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from featx.detectors.mp_gaze import gaze_angles
from featx.nn import img2pose as ip
from featx.nn import mesh_pose, multitask, pose_mlp, rotations

FLIP = np.diag([1.0, -1.0, -1.0])  # y-down camera <-> y-up camera


def _rotvecs(n: int, seed: int) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_rotvec() * 0.6  # within +-100 degrees


def test_both_cameras_give_the_same_pitch_roll_yaw():
    rvec = torch.from_numpy(_rotvecs(200, 0))
    euler = rotations.rotvec_to_euler(rvec)
    y_down = rotations.to_featx_pose(torch.cat([euler, torch.zeros_like(euler)], dim=1))[:, :3]
    y_up = FLIP @ rotations.rotvec_to_matrix(rvec).numpy() @ FLIP
    np.testing.assert_allclose(
        np.degrees(y_down.numpy()), rotations.y_up_to_featx_deg(y_up), rtol=0, atol=1e-9
    )


def test_the_signs_follow_the_subject():
    # y-up camera, the subject facing it (face normal +z): chin up turns the normal toward +y,
    # a rotation about -x; turned toward the subject's right turns it toward the camera's
    # left (-x), a rotation about -y
    chin_up = Rotation.from_euler("x", -20, degrees=True).as_matrix()
    to_their_right = Rotation.from_euler("y", -20, degrees=True).as_matrix()
    np.testing.assert_allclose(rotations.y_up_to_featx_deg(chin_up), [20, 0, 0], atol=1e-9)
    np.testing.assert_allclose(rotations.y_up_to_featx_deg(to_their_right), [0, 0, 20], atol=1e-9)


def test_every_model_file_uses_the_one_definition():
    assert ip.rotvec_to_matrix is rotations.rotvec_to_matrix
    assert ip.matrix_to_rotvec is rotations.matrix_to_rotvec
    assert ip.rotvec_to_euler is rotations.rotvec_to_euler
    assert pose_mlp.to_featx_pose is rotations.to_featx_pose
    matrix = np.eye(4)
    matrix[:3, :3] = 1.1 * Rotation.from_rotvec(_rotvecs(1, 1)[0]).as_matrix()
    np.testing.assert_array_equal(
        mesh_pose.euler_featx_deg(matrix),
        rotations.y_up_to_featx_deg(rotations.unit_rotation(matrix)),
    )


def test_rotation_6d_is_the_first_two_columns():
    rvec = torch.from_numpy(_rotvecs(5, 2)).float()
    rvec[0] = 0.0  # the 1e-8 angle floor keeps the zero vector finite
    want = rotations.rotvec_to_matrix(rvec, min_angle=1e-8)[:, :, :2].reshape(-1, 6)
    torch.testing.assert_close(multitask.rotation_6d(rvec), want, rtol=0, atol=0)
    assert multitask.rotation_6d(rvec)[0].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def test_gaze_reuses_the_head_rotation_bit_for_bit():
    rng = np.random.default_rng(4)
    mesh = rng.uniform(100, 300, (3, 478, 3))
    matrix = np.tile(np.eye(4), (3, 1, 1))
    matrix[:, :3, :3] = [1.05 * Rotation.from_rotvec(r).as_matrix() for r in _rotvecs(3, 5)]
    matrix[:, :3, 3] = [[1.0, 2.0, -50.0], [-3.0, 1.0, -40.0], [0.0, 0.0, -60.0]]
    rotation = rotations.unit_rotation(matrix)
    np.testing.assert_array_equal(gaze_angles(mesh, matrix, rotation), gaze_angles(mesh, matrix))


# ---------------------------------------------------------------------------------------------
# Rotation vectors, matrices and Euler angles (moved here from test_img2pose with the code)


def test_rotation_conversions_round_trip():
    rng = np.random.default_rng(0)
    rvec = torch.from_numpy(Rotation.random(50, random_state=1).as_rotvec())
    matrices = ip.rotvec_to_matrix(rvec)
    np.testing.assert_allclose(
        matrices.numpy(), Rotation.from_rotvec(rvec.numpy()).as_matrix(), atol=1e-12
    )
    general = rvec.norm(dim=1) < math.pi - 0.05
    torch.testing.assert_close(ip.matrix_to_rotvec(matrices[general]), rvec[general])
    # Near pi the axis is a column of (R + I) / 2, exact at pi itself (and signed like the
    # antisymmetric part); near zero the vector is half the antisymmetric part.
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    for theta, tol in ((math.pi - 1e-7, 1e-6), (-(math.pi - 1e-7), 1e-6), (1e-8, 1e-12)):
        r = torch.from_numpy(axis * theta)
        got = ip.matrix_to_rotvec(ip.rotvec_to_matrix(r))
        torch.testing.assert_close(got, r, rtol=0, atol=tol)


def test_matrix_to_rotvec_of_a_sheared_matrix_follows_the_recipe():
    """Not orthonormal: theta from the trace, axis from the antisymmetric part (no
    orthonormalisation, unlike scipy)."""
    m = torch.tensor([[1.0, 0.2, 0.0], [0.0, 0.9, -0.3], [0.1, 0.3, 1.0]], dtype=torch.float64)
    theta = math.acos((m.trace().item() - 1) / 2)
    s = torch.tensor([0.3 - (-0.3), 0.0 - 0.1, 0.0 - 0.2], dtype=torch.float64)
    torch.testing.assert_close(ip.matrix_to_rotvec(m), s / (2 * math.sin(theta)) * theta)


def test_rotvec_to_euler_is_zyx_reversed():
    rvec = Rotation.random(50, random_state=2).as_rotvec()
    want = Rotation.from_rotvec(rvec).as_euler("ZYX")[:, ::-1]
    np.testing.assert_allclose(ip.rotvec_to_euler(torch.from_numpy(rvec)).numpy(), want, atol=1e-12)
    a, b, c = 0.3, -0.2, 0.5  # R = Rz(c) Ry(b) Rx(a)
    r = Rotation.from_euler("ZYX", [c, b, a]).as_rotvec()
    np.testing.assert_allclose(ip.rotvec_to_euler(torch.from_numpy(r)).numpy(), [a, b, c])
