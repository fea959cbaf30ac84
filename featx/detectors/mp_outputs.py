"""What :class:`featx.MPDetector` reports for the faces of a wave of frames: the values, their
per-face shapes and their attributes.

Examples
--------
>>> SHAPES["mesh"], var_attrs("blazeface_short")["face_rect"]["units"]
((478, 3), 'pixels')
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import torch

from featx import schema
from featx.detectors.mp_aus import AU_FROM_BLENDSHAPES, aus_from_blendshapes
from featx.detectors.mp_gaze import gaze_angles
from featx.detectors.mp_tracking import Face
from featx.nn import blendshapes as bs
from featx.nn import facemesh as fm
from featx.nn import mesh_pose, rotations

#: Per-face shape of every output variable (``emotions`` only when the emotion model runs).
SHAPES = {
    "face_rect": (len(schema.RECT),),
    "face_score": (),
    "keypoints": (len(schema.KEYPOINTS_BLAZEFACE), len(schema.XY)),
    "landmarks": (schema.N_LANDMARKS, len(schema.XY)),
    "mesh": (schema.N_VERTICES, len(schema.XYZ)),
    "aus": (len(AU_FROM_BLENDSHAPES),),
    "head_pose": (len(schema.ANGLE),),
    "head_translation": (len(schema.XYZ),),
    "gaze": (len(schema.GAZE_ANGLE),),
    "blendshapes": (len(schema.BLENDSHAPES),),
    "emotions": (len(schema.EMOTIONS),),
}


def var_attrs(detectors: str) -> dict[str, dict[str, str]]:
    """Attributes of each output variable; ``detectors`` names the face detectors, in order.

    Examples
    --------
    >>> var_attrs("blazeface_short")["head_pose"]["units"]
    'degrees'
    """
    return {
        "face_rect": {
            "units": "pixels",
            "box": f"box of the first of {detectors} that finds the face; on tracked "
            "video frames carried with the mesh",
        },
        "face_score": {
            "meaning": f"score of the first of {detectors} that finds the face; on "
            "tracked video frames the mesh presence"
        },
        "keypoints": {"units": "pixels", "note": "NaN on tracked video frames"},
        "mesh": {
            "units": "x, y: pixels; z: pixels of image width (MediaPipe z times image "
            "width), relative depth, smaller is closer to the camera",
        },
        "aus": {
            "kind": "blendshape-derived",
            "table": json.dumps(AU_FROM_BLENDSHAPES),
            "rule": "mean of the listed blendshapes",
        },
        "emotions": {"kind": "probability", "model": "mini_xception"},
        "head_pose": {"units": "degrees", "method": "MediaPipe canonical-face fit"},
        "head_translation": {
            "units": "cm",
            "frame": "camera: x right, y up, z toward the viewer (faces at z < 0); "
            "63 degree vertical field of view assumed",
        },
        "gaze": {"units": "degrees", "method": "geometric estimate from iris landmarks"},
    }


def mesh_values(
    images: list[np.ndarray],
    faces: list[list[Face]],
    canonical_face: np.ndarray,
    blendshape_net: Callable[[torch.Tensor], torch.Tensor],
    device: str,
) -> dict[str, np.ndarray]:
    """Every output variable but ``emotions`` of the meshed faces of a wave, one row per face
    (frame by frame, in ``faces`` order); at least one face.

    Examples
    --------
    >>> values = mesh_values(images, faces, det.canonical_face, det.nets["blendshape"],
    ...                      det.device)                                    # doctest: +SKIP
    """
    flat = [f for fs in faces for f in fs]
    mesh = np.stack([f.mesh for f in flat])
    rects, matrices = [], []
    for k, fs in enumerate(faces):
        height, width = images[k].shape[:2]
        rects += [f.box for f in fs]
        if fs:
            norm = np.stack([f.mesh for f in fs]) / (width, height, width)
            matrices.append(mesh_pose.head_pose_matrix(norm, (width, height), canonical_face))
    matrix = np.concatenate(matrices)
    rotation = rotations.unit_rotation(matrix)  # once, for the angles and the gaze
    with torch.inference_mode():
        blend = blendshape_net(bs.blendshape_input(mesh).to(device)).cpu().numpy()
    return {
        "face_rect": np.stack(rects),
        "face_score": np.array([f.score for f in flat]),
        "keypoints": np.stack(
            [np.full((6, 2), np.nan) if f.keypoints is None else f.keypoints for f in flat]
        ),
        "landmarks": mesh[:, fm.DLIB68_FROM_MP478, :2],
        "mesh": mesh,
        "aus": aus_from_blendshapes(blend),
        "head_pose": rotations.y_up_to_featx_deg(rotation),
        "head_translation": matrix[:, :3, 3],
        "gaze": gaze_angles(mesh, matrix, rotation),
        "blendshapes": blend,
    }


def per_frame(values: dict[str, np.ndarray], faces: list[list[Face]]) -> list[dict]:
    """Split rows of ``values`` (frame by frame, as :func:`mesh_values`) into one mapping per
    frame, each face in its ``slot``.

    Examples
    --------
    >>> faces = [[], [Face(roi=np.zeros(4), slot=1)]]
    >>> per_frame({"face_score": np.array([0.9])}, faces)[1]["face_score"]
    array([nan, 0.9])
    """
    out, start = [], 0
    for fs in faces:
        rows = {name: v[start : start + len(fs)] for name, v in values.items()}
        out.append(schema.to_slots(rows, [f.slot for f in fs]))
        start += len(fs)
    return out
