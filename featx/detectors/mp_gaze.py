"""Gaze from the Face Mesh irises: a geometric estimate (:func:`gaze_angles`)."""

from __future__ import annotations

import numpy as np

from featx.nn import rotations

#: Mesh points of each eye: outer corner, inner corner, iris centre (subject's right, left).
EYES = ((33, 133, 468), (263, 362, 473))
#: Eyeball radius as a fraction of the eye's corner-to-corner width (about 12 mm over 30 mm in
#: adults): the iris moves by this radius times the sine of the eye's rotation.
EYEBALL_RADIUS = 0.4


def _line_of_sight(translation: np.ndarray) -> np.ndarray:
    """Rotations taking the camera's +z axis to the direction from each face to the camera."""
    v = -np.asarray(translation, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    kx, ky, c = -v[..., 1], v[..., 0], v[..., 2]  # axis z x v (unnormalised), cos = v_z
    k = np.zeros((*v.shape[:-1], 3, 3))
    k[..., 0, 2], k[..., 1, 2], k[..., 2, 0], k[..., 2, 1] = ky, -kx, -ky, kx
    return np.eye(3) + k + k @ k / (1 + c)[..., None, None]


def gaze_angles(
    mesh: np.ndarray, matrix: np.ndarray, rotation: np.ndarray | None = None
) -> np.ndarray:
    """Gaze pitch and yaw in degrees (featx signs), a geometric estimate from the irises.

    Each iris centre (468, 473) is measured from the midpoint of its eye's corners (33/133,
    263/362) in the head's own frame: the mesh is turned back by the head rotation as the
    camera sees it (the pose of ``matrix`` relative to the line of sight to the face). The
    offset over the eyeball radius (:data:`EYEBALL_RADIUS` x eye width), averaged over both eyes,
    is the sine of the eyes' rotation in the head; the gaze direction so found is turned by the
    head pose into camera coordinates. +pitch = looking up, +yaw = toward the subject's right;
    (0, 0) = along the camera's axis, so a face away from the image centre that looks into the
    camera has a small non-zero gaze.

    Parameters
    ----------
    mesh : (N, 478, 3) x, y in image pixels (y down), z in the same units (smaller is closer).
    matrix : (N, 4, 4) head-pose matrices (:func:`featx.nn.mesh_pose.head_pose_matrix`).
    rotation : their unit rotations (:func:`featx.nn.rotations.unit_rotation`), when the caller
        has them already.

    Returns
    -------
    (N, 2) float64 pitch, yaw.

    Examples
    --------
    >>> mesh = np.zeros((1, 478, 3))
    >>> mesh[0, [33, 133, 263, 362], 0] = [-30, -10, 30, 10]  # eye corners, 20 px wide eyes
    >>> mesh[0, [468, 473], 0] = -20 - 4, 20 - 4  # irises 4 px toward the image left
    >>> pose = np.eye(4); pose[2, 3] = -50.0  # frontal, 50 cm in front of the camera
    >>> gaze_angles(mesh, pose[None]).round(1)  # looking to the subject's right
    array([[ 0., 30.]])
    """
    mesh = np.asarray(mesh, dtype=np.float64)
    rotation = rotations.unit_rotation(matrix) if rotation is None else rotation
    seen = np.swapaxes(_line_of_sight(np.asarray(matrix)[..., :3, 3]), -1, -2) @ rotation
    points = mesh * np.array([1.0, -1.0, -1.0])  # x right, y up, z toward the viewer
    head = points @ seen  # row vectors: (R^T p)^T = p^T R
    offsets = []
    for outer, inner, iris in EYES:
        middle = (head[:, outer] + head[:, inner]) / 2
        width = np.linalg.norm(head[:, outer] - head[:, inner], axis=-1)
        offsets.append((head[:, iris, :2] - middle[:, :2]) / (EYEBALL_RADIUS * width)[:, None])
    xy = np.mean(offsets, axis=0)
    norm = np.linalg.norm(xy, axis=-1, keepdims=True)
    xy = np.where(norm > 1, xy / norm, xy)
    direction = np.concatenate([xy, np.sqrt(1 - (xy**2).sum(-1, keepdims=True))], axis=-1)
    g = (rotation @ direction[..., None])[..., 0]
    pitch = np.arctan2(g[:, 1], np.hypot(g[:, 0], g[:, 2]))
    yaw = np.arctan2(-g[:, 0], g[:, 2])
    return np.degrees(np.stack([pitch, yaw], axis=-1))
