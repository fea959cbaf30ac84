"""Head pose from the 478-point Face Mesh, as MediaPipe's face geometry pipeline computes it.

A weighted Procrustes fit (rotation, uniform scale, translation) of MediaPipe's canonical face
(468 vertices, centimetres; +x the subject's left, +y up, +z out of the face) onto the
landmarks lifted into a perspective camera (vertical field of view 63 degrees, near plane 1,
origin at the image's top-left) gives a 4x4 matrix ``M`` with ``P ≈ M·[canonical; 1]`` in camera
coordinates (x right, y up, z towards the viewer; the face lies at z < 0, units cm).
:func:`euler_featx_deg` turns ``M`` into featx's pitch, roll, yaw in degrees (+pitch = chin up,
+yaw = turned toward the subject's right, +roll = tilted toward the subject's right; the
convention and its maths live in :mod:`featx.nn.rotations`).

The canonical vertices and the 33 weighted landmarks come from the Face Landmarker bundle
(``featx/assets/mp_geometry.safetensors``; see :func:`canonical_face`).

Example
-------
>>> face = canonical_face(tensors)                                   # doctest: +SKIP
>>> m = head_pose_matrix(landmarks_norm, (512, 512), face)          # doctest: +SKIP
>>> euler_featx_deg(m)                                               # doctest: +SKIP
array([-14.91, -3.49, -0.65])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from featx.nn.rotations import unit_rotation, y_up_to_featx_deg

#: Camera of MediaPipe's geometry pipeline (not stored in the bundle).
VERTICAL_FOV_DEG = 63.0
NEAR = 1.0
#: Order of the angles returned by :func:`euler_featx_deg` (featx.schema.ANGLE).
ANGLE = ("pitch", "roll", "yaw")
NUM_CANONICAL = 468


class CanonicalFace(NamedTuple):
    """MediaPipe's canonical face: vertices (468, 3) cm and the Procrustes landmark weights."""

    vertices: np.ndarray
    landmark_ids: np.ndarray
    weights: np.ndarray


def canonical_face(tensors: Mapping[str, np.ndarray]) -> CanonicalFace:
    """The canonical face from the geometry asset's tensors.

    Parameters
    ----------
    tensors : ``canonical_vertex_buffer`` (468, 5) x, y, z, u, v; ``procrustes_landmark_ids``
        (K,) and ``procrustes_weights`` (K,) (numpy arrays or torch tensors).
    """
    vertex_buffer = np.asarray(tensors["canonical_vertex_buffer"], dtype=np.float64)
    ids = np.asarray(tensors["procrustes_landmark_ids"]).astype(np.int64)
    weights = np.asarray(tensors["procrustes_weights"], dtype=np.float64)
    return CanonicalFace(vertex_buffer[:, :3], ids, weights)


def _fit(source: np.ndarray, target: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted similarity fit of ``source`` (N, 3) onto ``target`` (..., N, 3).

    Returns the (..., 4, 4) matrices and their scales.
    """
    sw = np.sqrt(w)[:, None]
    total = w.sum()
    a_w = source * sw
    b_w = target * sw
    centroid = (source * w[:, None]).sum(axis=0) / total
    a_c = a_w - centroid * sw
    u, _, vt = np.linalg.svd(np.swapaxes(b_w, -1, -2) @ a_c)
    flip = np.linalg.det(u) * np.linalg.det(vt) < 0
    u[..., :, 2] = np.where(flip[..., None], -u[..., :, 2], u[..., :, 2])
    rot = u @ vt
    rotated = a_c @ np.swapaxes(rot, -1, -2)
    scale = (rotated * b_w).sum(axis=(-1, -2)) / (a_c * a_w).sum()
    residual = b_w - scale[..., None, None] * (a_w @ np.swapaxes(rot, -1, -2))
    translation = (residual * sw).sum(axis=-2) / total
    matrix = np.zeros((*rot.shape[:-2], 4, 4))
    matrix[..., :3, :3] = scale[..., None, None] * rot
    matrix[..., :3, 3] = translation
    matrix[..., 3, 3] = 1.0
    return matrix, scale


def head_pose_matrix(
    landmarks: np.ndarray,
    image_wh: tuple[int, int],
    face: CanonicalFace,
    vertical_fov_deg: float = VERTICAL_FOV_DEG,
    near: float = NEAR,
) -> np.ndarray:
    """MediaPipe's facial transformation matrix from image-normalised landmarks.

    Parameters
    ----------
    landmarks : (..., 468 or 478, 3) x/W, y/H and z in units of image width (MediaPipe's
        normalised landmarks); the first 468 are used.
    image_wh : image width and height in pixels.
    face : the canonical face (:func:`canonical_face`).
    vertical_fov_deg, near : the virtual camera.

    Returns
    -------
    (..., 4, 4) float64: rotation times scale (≈ 1) in ``[:3, :3]``, translation in cm in
    ``[:3, 3]``.
    """
    pts = np.asarray(landmarks, dtype=np.float64)[..., :NUM_CANONICAL, :]
    w, h = (float(v) for v in image_wh)
    height = 2.0 * near * np.tan(np.deg2rad(vertical_fov_deg) / 2)
    width = height * w / h
    x = pts[..., 0] * width - width / 2
    y = (1.0 - pts[..., 1]) * height - height / 2
    z = pts[..., 2] * width
    depth = z - z.mean(axis=-1, keepdims=True) + near
    source = face.vertices[face.landmark_ids]

    def fit(scale: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        zs = depth / np.asarray(scale)[..., None]
        metric = np.stack([x * zs / near, y * zs / near, -zs], axis=-1)
        return _fit(source, metric[..., face.landmark_ids, :], face.weights)

    # The first fit works on the landmarks in the near plane (depth = near, z kept as is).
    _, s1 = _fit(source, np.stack([x, y, -z], axis=-1)[..., face.landmark_ids, :], face.weights)
    _, s2 = fit(s1)
    matrix, _ = fit(s1 * s2)
    return matrix


def euler_featx_deg(matrix: np.ndarray) -> np.ndarray:
    """Pitch, roll, yaw in degrees (featx signs) of head-pose matrices.

    :func:`featx.nn.rotations.y_up_to_featx_deg` of the rotation part with unit columns
    (:func:`featx.nn.rotations.unit_rotation`); a caller that also needs that rotation (gaze)
    computes it once and calls those two itself.

    Examples
    --------
    >>> euler_featx_deg(np.eye(4))
    array([-0.,  0.,  0.])
    """
    return y_up_to_featx_deg(unit_rotation(matrix))
