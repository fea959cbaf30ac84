"""OpenFace 2.x CSV files (FeatureExtraction, FaceLandmarkVidMulti) as a featx Dataset.

OpenFace works in camera coordinates: +x image right, +y image down, +z away from the camera,
with rotations R = Rx·Ry·Rz in radians. A head turning toward the subject's right gives a
positive ``pose_Ry``, looking up a negative ``pose_Rx``, and tilting toward the subject's
right a negative ``pose_Rz``; eye-gaze vectors point where the eyes look (−z toward the
camera). featx's signs (+pitch up, +yaw toward the subject's right, +roll toward the
subject's right) therefore come out as:

- head pose: pitch = −Rx, yaw = +Ry, roll = −Rz, in degrees
- gaze: with g = gaze_0 + gaze_1, yaw = −atan2(g_x, −g_z), pitch = −atan2(g_y, −g_z), in
  degrees (OpenFace's own ``gaze_angle_x/y`` are atan2(g_x, −g_z), atan2(g_y, −g_z) in radians)

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "of.csv"
>>> _ = path.write_text("frame, timestamp, confidence, success, pose_Rx, pose_Ry, pose_Rz\\n"
...                     "1, 0, 0.98, 1, -0.1, 0.2, 0.05\\n")
>>> read_openface(path)["head_pose"].values.astype(float).round(2).tolist()
[[[5.73, -2.86, 11.46]]]
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema
from featx.io.table import (
    Block,
    check_bounds,
    frames_from_keys,
    read_table,
    reader_attrs,
    rows_to_dataset,
)

POSE_R = ("pose_Rx", "pose_Ry", "pose_Rz")
POSE_T = ("pose_Tx", "pose_Ty", "pose_Tz")
GAZE_VECTORS = tuple(f"gaze_{eye}_{axis}" for eye in (0, 1) for axis in schema.XYZ)
GAZE_ANGLES = ("gaze_angle_x", "gaze_angle_y")
LANDMARKS = tuple(f"{axis}_{i}" for i in range(schema.N_LANDMARKS) for axis in schema.XY)
INTENSITY_SCALE = (0.0, 5.0)
#: The AUs OpenFace 2.x writes: intensities ``AU.._r``, and presences ``AU.._c`` (also AU28).
OPENFACE_AUS_R = tuple(
    f"AU{k:02d}_r" for k in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
)
OPENFACE_AUS_C = tuple(sorted([*(a.replace("_r", "_c") for a in OPENFACE_AUS_R), "AU28_c"]))
_INTENSITY = re.compile(r"(AU\d\d)_r")
_PRESENCE = re.compile(r"(AU\d\d)_c")
_WANTED = {
    "frame", "face_id", "timestamp", "confidence", "success",
    *POSE_R, *POSE_T, *GAZE_VECTORS, *GAZE_ANGLES, *LANDMARKS,
}  # fmt: skip
CAMERA_AXES = "OpenFace camera coordinates: +x image right, +y image down, +z away from the camera"


def _wanted(name: str) -> bool:
    return name in _WANTED or bool(_INTENSITY.fullmatch(name) or _PRESENCE.fullmatch(name))


def _any(table, names) -> bool:
    return any(table.has(n) for n in names)


def _gaze(table) -> Block | None:
    """featx gaze (pitch, yaw) in degrees from the eye vectors, else from gaze_angle_x/y."""
    if _any(table, GAZE_VECTORS):
        table.require(GAZE_VECTORS, "gaze vector")
        g = table.block(GAZE_VECTORS).reshape(len(table), 2, 3).sum(axis=1)
        x, y, z = g.T
        angles = -np.degrees(np.stack([np.arctan2(y, -z), np.arctan2(x, -z)], axis=1))
        angles[(g == 0).all(axis=1)] = np.nan  # OpenFace writes zero vectors when gaze failed
        return Block(angles, ["gaze_0_y", "gaze_0_x"])
    if _any(table, GAZE_ANGLES):
        table.require(GAZE_ANGLES, "gaze angle")
        x, y = table.block(GAZE_ANGLES).T
        return Block(-np.degrees(np.stack([y, x], axis=1)), ["gaze_angle_y", "gaze_angle_x"])
    return None


def _action_units(table, present: np.ndarray) -> tuple[dict[str, Block], list[str]]:
    """``_c`` presences → aus (binary), ``_r`` intensities → au_intensity, over one AU list."""
    cols = list(table.data.columns)
    intensity = {m[1]: c for c in cols if (m := _INTENSITY.fullmatch(c))}
    presence = {m[1]: c for c in cols if (m := _PRESENCE.fullmatch(c))}
    for names, read, kind in (
        (OPENFACE_AUS_R, intensity, "AU intensity"),
        (OPENFACE_AUS_C, presence, "AU presence"),
    ):
        if set(read.values()) <= set(names):  # OpenFace's own set: warn when a column is gone
            table.expect(names, kind)
    labels = sorted(set(intensity) | set(presence))
    blocks = {}
    for name, columns in (("au_intensity", intensity), ("aus", presence)):
        if columns:
            nan = np.full(len(table), np.nan)
            values = [table.numbers(columns[a]) if a in columns else nan for a in labels]
            names = [columns.get(a, f"{a} (no column)") for a in labels]
            blocks[name] = Block(np.stack(values, axis=1), names)
    if "au_intensity" in blocks:
        check_bounds(
            table, blocks["au_intensity"], np.flatnonzero(present), *INTENSITY_SCALE,
            "OpenFace's intensity scale",
        )  # fmt: skip
    return blocks, labels


def read_openface(path: str | os.PathLike, *, encoding: str = "utf-8") -> xr.Dataset:
    """Read an OpenFace 2.x CSV (FeatureExtraction or FaceLandmarkVidMulti output).

    Header names may carry OpenFace's leading spaces (``frame, face_id, timestamp, …``).
    ``frame`` and ``success`` must be present; every other group is optional:

    - each row is a face (``face_id``, if present, orders the faces of a frame and becomes
      ``identity``); ``frame`` (1-based) − 1 → ``source_frame``; ``timestamp`` → ``time``
    - ``success`` = 0 → the face is absent: its frame stays, with NaN values
    - ``confidence`` → ``face_score``
    - ``x_0 … x_67, y_0 … y_67`` (2-D, pixels) → ``landmarks``, and ``face_rect`` = their
      bounding box (OpenFace reports no face box). The 3-D ``X_i, Y_i, Z_i`` (mm), the eye
      landmarks and the shape parameters ``p_*`` have no featx variable and are not read.
    - ``pose_Rx, pose_Ry, pose_Rz`` (radians) → ``head_pose`` in degrees with featx's signs:
      pitch = −Rx, yaw = Ry, roll = −Rz
    - ``pose_Tx, pose_Ty, pose_Tz`` (mm, camera coordinates) → ``head_translation``
    - ``gaze_0_*``, ``gaze_1_*`` vectors (or, without them, ``gaze_angle_x/y``) → ``gaze``
      in degrees: pitch = −atan2(g_y, −g_z), yaw = −atan2(g_x, −g_z), g = gaze_0 + gaze_1
    - ``AU01_r …`` (0–5) → ``au_intensity`` (``scale`` "0-5"); ``AU01_c …`` (0/1) → ``aus``
      (kind "binary"); the ``au`` labels are the union of both, sorted (AU28 has only ``_c``,
      so its intensity is NaN)

    Some but not all of OpenFace's AU columns (``OPENFACE_AUS_R``,
    ``OPENFACE_AUS_C``) is a :class:`~featx.io.table.ReaderWarning`, kept in the
    ``reader_warnings`` attr: those AUs are NaN or left out.

    Parameters
    ----------
    path
        The CSV file.
    encoding
        Its text encoding (default UTF-8, with or without a byte-order mark; e.g. ``"cp1252"``).

    Returns
    -------
    xarray.Dataset
        A valid featx Dataset; ``source`` is the CSV's path (OpenFace does not record the
        video's).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ReaderError
        If the file is not an OpenFace CSV (no ``frame`` or ``success`` column; not text in
        ``encoding``; another delimiter than ``,``), a group of
        columns is incomplete, a line is malformed, a value is not a number or out of range
        (``success`` not 0/1, ``frame`` < 1, an intensity outside 0–5, an angle beyond ±π),
        or a frame lists the same ``face_id`` twice.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "of.csv"
    >>> _ = path.write_text("frame, face_id, timestamp, confidence, success, AU12_r, AU12_c\\n"
    ...                     "1, 0, 0.0, 0.9, 1, 2.5, 1\\n2, 0, 0.04, 0.1, 0, 0, 0\\n")
    >>> ds = read_openface(path)
    >>> ds["au_intensity"].values[:, 0, 0].tolist(), ds["time"].values.tolist()
    ([2.5, nan], [0.0, 0.04])
    """
    table = read_table(path, wanted=_wanted, encoding=encoding)
    for required in ("frame", "success"):
        if not table.has(required):
            raise table.error(f"not an OpenFace 2.x CSV: there is no {required!r} column")
    frame = table.whole_numbers("frame", minimum=1)
    success = table.numbers("success")
    if not np.isin(success, (0.0, 1.0)).all():
        i = int(np.argmax(~np.isin(success, (0.0, 1.0))))
        raise table.error("success must be 0 or 1", i, "success")
    face_id = table.whole_numbers("face_id") if table.has("face_id") else np.zeros_like(frame)
    repeated = pd.DataFrame({"frame": frame, "face": face_id}).duplicated().to_numpy()
    if repeated.any():
        i = int(np.argmax(repeated))
        raise table.error(f"frame {frame[i]} lists face_id {face_id[i]} twice", i, "face_id")
    present = success == 1
    frame_of_row, first = frames_from_keys(frame)

    blocks: dict[str, Block] = {}
    var_attrs: dict[str, dict] = {}
    if _any(table, LANDMARKS):
        table.require(LANDMARKS, "2-D landmark")
        points = table.block(LANDMARKS).reshape(len(table), schema.N_LANDMARKS, 2)
        low, high = points.min(axis=1), points.max(axis=1)
        rect = np.concatenate([low, high - low], axis=1)
        blocks["face_rect"] = Block(rect, ["x_0…x_67", "y_0…y_67"] * 2)
        blocks["landmarks"] = Block(points, LANDMARKS)
        var_attrs["face_rect"] = {"from": "bounding box of the 2-D landmarks"}
    if table.has("confidence"):
        blocks["face_score"] = Block(table.numbers("confidence"), ["confidence"])
        var_attrs["face_score"] = {"from": "OpenFace confidence"}
    if _any(table, POSE_R):
        table.require(POSE_R, "head rotation")
        rx, ry, rz = table.block(POSE_R).T
        pose = np.degrees(np.stack([-rx, -rz, ry], axis=1))
        blocks["head_pose"] = Block(pose, ["pose_Rx", "pose_Rz", "pose_Ry"])
        var_attrs["head_pose"] = {
            "units": "degrees",
            "from": "OpenFace pose_R* radians: pitch = -Rx, roll = -Rz, yaw = Ry",
        }
    if _any(table, POSE_T):
        table.require(POSE_T, "head translation")
        blocks["head_translation"] = Block(table.block(POSE_T), POSE_T)
        var_attrs["head_translation"] = {"units": "mm", "axes": CAMERA_AXES}
    gaze = _gaze(table)
    if gaze is not None:
        blocks["gaze"] = gaze
        var_attrs["gaze"] = {"units": "degrees", "from": "OpenFace eye-gaze vectors"}
    au_blocks, au_labels = _action_units(table, present)
    blocks.update(au_blocks)
    var_attrs["aus"] = {"kind": "binary", "from": "OpenFace AU*_c presence"}
    var_attrs["au_intensity"] = {"scale": "0-5", "from": "OpenFace AU*_r intensity"}
    if table.has("face_id"):
        blocks["identity"] = Block(face_id, ["face_id"])

    if table.has("timestamp"):
        time = table.numbers("timestamp")[first]
    else:
        time = np.full(len(first), np.nan)
    return rows_to_dataset(
        table,
        frame_of_row=frame_of_row,
        present=present,
        blocks=blocks,
        source=[table.name] * len(first),
        source_frame=frame[first] - 1,
        time=time,
        slot_key=face_id,
        labels={"au": au_labels} if au_labels else None,
        var_attrs={k: v for k, v in var_attrs.items() if k in blocks},
        attrs=reader_attrs("OpenFace 2.x", "read_openface", table.name),
    )
