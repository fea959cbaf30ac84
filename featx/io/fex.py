"""Py-Feat's Fex table: :func:`to_fex` writes a Dataset as Fex columns, :func:`read_fex` reads
Py-Feat CSV files (Detectorv1 and Detectorv2 layouts) or Fex DataFrames back into a Dataset.

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> from featx.io import read_fex, to_fex
>>> ds = schema.from_frames([{"face_rect": np.array([[10.0, 20, 50, 60]])}],
...                         ["a.jpg"], [0], [np.nan])
>>> list(to_fex(ds).columns)
['FaceRectX', 'FaceRectY', 'FaceRectWidth', 'FaceRectHeight', 'input', 'frame']
>>> read_fex(to_fex(ds))["face_rect"].values.tolist()
[[[10.0, 20.0, 50.0, 60.0]]]
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema, validators
from featx.io.table import (
    EXTRA_EMOTIONS,
    Block,
    Table,
    flat,
    frames_from_keys,
    read_table,
    reader_attrs,
    refuse_repeated_rows,
    rows_to_dataset,
    table_from_dataframe,
)

#: ``face_rect.attrs["fex_box"]`` values: how Py-Feat's reported box derives from the detector box.
#: ``v1_expand_1.2``: Detectorv1, width and height each x1.2 about the centre, then rounded.
#: ``v2_square_1.2``: Detectorv2, a square of 1.2x the longer side about the centre, not rounded.
FEX_BOX_RULES = ("v1_expand_1.2", "v2_square_1.2")

#: Canonical emotion label -> Py-Feat 2 (Detectorv2) column name, in Py-Feat 2's column order.
FEX_V2_EMOTIONS: dict[str, str] = {
    schema.EMOTION_CANONICAL[column]: column
    for column in schema.EMOTION_NATIVE_ORDER["face_multitask_v2"]
}


def occupied(ds: xr.Dataset) -> np.ndarray:
    """(frame, face) mask of slots holding a face: face_rect not NaN, else any value present."""
    if "face_rect" in ds:
        return ds["face_rect"].notnull().any("rect").values
    mask = np.zeros((ds.sizes["frame"], ds.sizes["face"]), dtype=bool)
    for name, var in ds.data_vars.items():
        present = var != schema.INTEGER_FILL[name] if name in schema.INTEGER_FILL else var.notnull()
        extra = [d for d in var.dims if d not in ("frame", "face")]
        mask |= (present.any(extra) if extra else present).values
    return mask


def _fex_box(rect: np.ndarray, rule: str | None) -> np.ndarray:
    """Py-Feat's reported box (x, y, width, height) from the detector's ``rect`` (n, 4).

    Arithmetic stays in the Dataset's float32, as Py-Feat's torch code, in the order the
    FACTS give it (centre from the corners, size from the corner difference).
    """
    if rule is None:
        return rect
    x1, y1, w, h = rect.T
    x2, y2 = x1 + w, y1 + h
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if rule == "v1_expand_1.2":
        # Detectorv1 (mobilefacenet FACTS, crop step 1 and 3): width and height each x1.2 about
        # the centre, not squared, not clamped; the corners are rounded half to even and the
        # reported box is the rounded corners' (x1, y1, x2 - x1, y2 - y1).
        w, h = (x2 - x1) * 1.2, (y2 - y1) * 1.2
        e = np.round(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        return np.stack([e[:, 0], e[:, 1], e[:, 2] - e[:, 0], e[:, 3] - e[:, 1]], axis=1)
    if rule == "v2_square_1.2":
        # Detectorv2 (face_multitask_v2 FACTS §3-4): side = 1.2 x the longer side, at least 1
        # (Py-Feat clamps in the pixels of the frame it processed; featx's boxes are in source
        # pixels, which differ only when Detectorv2 rescaled the frame), centred, not rounded.
        side = np.maximum(np.maximum(x2 - x1, y2 - y1) * 1.2, 1)
        return np.stack([cx - side / 2, cy - side / 2, side, side], axis=1)
    raise ValueError(f"face_rect.attrs['fex_box'] must be one of {FEX_BOX_RULES}, got {rule!r}")


def _axis_major(values: np.ndarray) -> np.ndarray:
    """(n, point, axis) -> (n, axis * point): all x's, then all y's (then z's)."""
    return values.transpose(0, 2, 1).reshape(len(values), -1)


def _approx_time(seconds: float) -> str | float:
    # Py-Feat's "MM:SS" of frame / fps in whole seconds; the FACTS do not say whether the
    # seconds are truncated or rounded: featx truncates.
    if not np.isfinite(seconds):
        return np.nan
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def to_fex(ds: xr.Dataset, version: int = 2) -> pd.DataFrame:
    """Py-Feat's Fex table: one row per detected face, with Py-Feat's column names and order.

    Rows run frame by frame, face slot by face slot, over slots holding a face (``face_rect``
    not NaN); a frame without any face keeps one row of NaN values with its ``input`` and
    ``frame``, as Py-Feat does. Only the groups the Dataset has are written, in this order:

    - ``FaceRectX, FaceRectY, FaceRectWidth, FaceRectHeight`` (``face_rect``), ``FaceScore``
    - ``x_0 … x_67, y_0 … y_67`` (``landmarks``)
    - ``Pitch, Roll, Yaw`` (``head_pose``), ``X, Y, Z`` (``head_translation``)
    - the AU labels (``aus``, e.g. ``AU01``)
    - emotions: version 1 the Dataset's labels (``anger`` … ``neutral``); version 2 Py-Feat
      2's ``Neutral, Happy, Sad, Surprise, Fear, Disgust, Anger`` (extra labels capitalised after)
    - ``valence``, ``arousal``
    - ``gaze_pitch, gaze_yaw, gaze_angle`` (``gaze``; gaze_angle = arccos(cos pitch · cos yaw))
    - ``Identity_1 … Identity_N`` (``embedding``)
    - ``mesh_x_0 … 477, mesh_y_…, mesh_z_…`` (``mesh``)
    - the blendshape names (``blendshapes``)
    - ``FrameHeight, FrameWidth`` when the ``sources`` attr gives ``height``/``width``
    - ``input`` (``source``), ``frame`` (``source_frame``)
    - ``Identity`` (``identity``: ``"Person_<k>"``, NaN for −1)
    - ``approx_time`` ("MM:SS") when any ``time`` is finite (video frames).

    ``keypoints`` and ``au_intensity`` have no Fex column and are not written.

    Parameters
    ----------
    ds
        A valid featx Dataset.
    version
        2: Py-Feat 2.x (Detectorv2) names and units: head-pose and gaze angles in **radians**.
        1: Py-Feat 1 (Detectorv1 files) names, angles kept in **degrees** as in the Dataset.

    Returns
    -------
    pandas.DataFrame
        With a default RangeIndex.

    Notes
    -----
    ``face_rect`` is the detector's box. When ``face_rect.attrs["fex_box"]`` names one of
    :data:`FEX_BOX_RULES`, the FaceRect columns hold the box Py-Feat reports instead:
    ``"v1_expand_1.2"`` (Detectorv1: each side x1.2 about the centre, corners rounded half
    to even) or ``"v2_square_1.2"`` (Detectorv2: square of 1.2x the longer side, centred).

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> ds = schema.from_frames(
    ...     [{"face_rect": np.array([[10.0, 20, 50, 60]]), "head_pose": np.array([[90.0, 0, 0]])},
    ...      {}], ["a.jpg", "b.jpg"], [0, 0], [np.nan, np.nan])
    >>> fex = to_fex(ds)
    >>> fex["input"].tolist(), round(float(fex.loc[0, "Pitch"]), 4)
    (['a.jpg', 'b.jpg'], 1.5708)
    >>> float(to_fex(ds, version=1).loc[0, "Pitch"])
    90.0
    """
    if version not in (1, 2):
        raise ValueError(f"version must be 1 or 2, got {version!r}")
    schema.validate(ds)
    keep = occupied(ds)
    keep[~keep.any(axis=1), 0] = True
    frame_i, face_i = np.nonzero(keep)

    def take(name: str) -> np.ndarray:
        return ds[name].values[frame_i, face_i]

    def angles(values: np.ndarray) -> np.ndarray:
        return np.deg2rad(values) if version == 2 else values

    blocks: list[tuple[list[str], np.ndarray]] = []
    if "face_rect" in ds:
        box = _fex_box(take("face_rect"), ds["face_rect"].attrs.get("fex_box"))
        blocks.append((["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"], box))
    if "face_score" in ds:
        blocks.append((["FaceScore"], take("face_score")[:, None]))
    if "landmarks" in ds:
        n = ds.sizes["landmark"]
        names = [f"{axis}_{i}" for axis in ("x", "y") for i in range(n)]
        blocks.append((names, _axis_major(take("landmarks"))))
    if "head_pose" in ds:
        blocks.append((["Pitch", "Roll", "Yaw"], angles(take("head_pose"))))
    if "head_translation" in ds:
        blocks.append((["X", "Y", "Z"], take("head_translation")))
    if "aus" in ds:
        blocks.append((ds["au"].values.tolist(), take("aus")))
    if "emotions" in ds:
        labels = ds["emotion"].values.tolist()
        values = take("emotions")
        if version == 2:
            order = [e for e in FEX_V2_EMOTIONS if e in labels]
            order += [e for e in labels if e not in FEX_V2_EMOTIONS]
            values = values[:, [labels.index(e) for e in order]]
            labels = [FEX_V2_EMOTIONS.get(e, e.capitalize()) for e in order]
        blocks.append((labels, values))
    for name in ("valence", "arousal"):
        if name in ds:
            blocks.append(([name], take(name)[:, None]))
    if "gaze" in ds:
        pitch, yaw = np.deg2rad(take("gaze")).T
        angle = np.arccos(np.clip(np.cos(pitch) * np.cos(yaw), -1, 1))
        gaze = np.stack([pitch, yaw, angle], axis=1)
        blocks.append(
            (["gaze_pitch", "gaze_yaw", "gaze_angle"], gaze if version == 2 else np.rad2deg(gaze))
        )
    if "embedding" in ds:
        n = ds["embedding"].shape[-1]
        blocks.append(([f"Identity_{i}" for i in range(1, n + 1)], take("embedding")))
    if "mesh" in ds:
        n = ds.sizes["vertex"]
        names = [f"mesh_{axis}_{i}" for axis in ("x", "y", "z") for i in range(n)]
        blocks.append((names, _axis_major(take("mesh"))))
    if "blendshapes" in ds:
        blocks.append((ds["blendshape"].values.tolist(), take("blendshapes")))

    source = ds["source"].values[frame_i]
    frame_size = {
        path: (info.get("height"), info.get("width"))
        for path, info in json.loads(ds.attrs.get("sources", "{}")).items()
        if isinstance(info, dict) and info.get("height") and info.get("width")
    }
    if frame_size:
        hw = np.array([frame_size.get(s, (np.nan, np.nan)) for s in source], dtype=float)
        blocks.append((["FrameHeight", "FrameWidth"], hw.reshape(-1, 2)))

    fex = pd.concat(
        [pd.DataFrame(values, columns=names) for names, values in blocks]
        + [pd.DataFrame({"input": source, "frame": ds["source_frame"].values[frame_i]})],
        axis=1,
    )
    if "identity" in ds:
        fex["Identity"] = [f"Person_{k}" if k >= 0 else np.nan for k in take("identity")]
    time = ds["time"].values[frame_i]
    if np.isfinite(time).any():
        fex["approx_time"] = [_approx_time(t) for t in time]
    return fex


# --- reading -----------------------------------------------------------------------------------

FACE_RECT_COLUMNS = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight")
POSE_COLUMNS = ("Pitch", "Roll", "Yaw")
TRANSLATION_COLUMNS = ("X", "Y", "Z")
GAZE_COLUMNS = ("gaze_pitch", "gaze_yaw")
LANDMARK_COLUMNS = tuple(
    f"{axis}_{i}" for i in range(schema.N_LANDMARKS) for axis in schema.XY
)  # point by point: x_0, y_0, x_1 …
MESH_COLUMNS = tuple(f"mesh_{axis}_{i}" for i in range(schema.N_VERTICES) for axis in schema.XYZ)
ANGLE_UNITS = ("auto", "degrees", "radians")

#: Fex emotion column -> featx label: v1's lowercase names, v2's capitalised ones, and the
#: extra labels in either case.
FEX_EMOTION_LABELS: dict[str, str] = {
    **{e: e for e in schema.EMOTIONS},
    **{column: label for label, column in FEX_V2_EMOTIONS.items()},
    **{e: e for e in EXTRA_EMOTIONS},
    **{e.capitalize(): e for e in EXTRA_EMOTIONS},
}
_AU = re.compile(r"AU\d\d")
_IDENTITY = re.compile(r"Identity_([1-9]\d{0,5})")
_PERSON = re.compile(r"Person_(\d{1,9})")
_OTHER = {
    "frame", "input", "FaceScore", "valence", "arousal", "Identity", "FrameHeight", "FrameWidth",
    *FACE_RECT_COLUMNS, *POSE_COLUMNS, *TRANSLATION_COLUMNS, *GAZE_COLUMNS, *LANDMARK_COLUMNS,
    *MESH_COLUMNS, *schema.BLENDSHAPES, *FEX_EMOTION_LABELS,
}  # fmt: skip


def _is_fex_column(name: str) -> bool:
    return name in _OTHER or bool(_AU.fullmatch(name) or _IDENTITY.fullmatch(name))


def _points(table: Table, columns: tuple[str, ...], n_axes: int, group: str) -> Block | None:
    """Point columns (all of them, or none) as a (rows, points, axes) block."""
    if not any(table.has(c) for c in columns):
        return None
    table.require(columns, group)
    values = table.block(columns)
    return Block(values.reshape(len(table), len(columns) // n_axes, n_axes), columns)


def _angle_units(table: Table, blocks: dict[str, Block], angle_units: str) -> str:
    if angle_units != "auto":
        return angle_units
    angles = [b.values for name, b in blocks.items() if name in ("head_pose", "gaze")]
    biggest = max((np.nanmax(np.abs(a), initial=0) for a in angles), default=0)
    return "degrees" if biggest > np.pi else "radians"


def _identity(table: Table) -> Block:
    ids = np.full(len(table), schema.INTEGER_FILL["identity"], dtype=np.int64)
    for i, label in enumerate(table.strings("Identity")):
        if label in ("", "Unknown"):
            continue
        match = _PERSON.fullmatch(label)
        if not match:
            raise table.error(f"{label!r} is not 'Person_<number>' or 'Unknown'", i, "Identity")
        ids[i] = int(match[1])
    return Block(ids, ["Identity"])


def _kind_of_aus(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    return "binary" if np.isin(finite, (0.0, 1.0)).all() else "probability"


def _kind_of_emotions(values: np.ndarray) -> str:
    rows = ~np.isnan(values).all(axis=1)
    total = np.nansum(values[rows], axis=1)
    return "probability" if (np.abs(total - 1) <= schema.SUM_TOLERANCE).all() else "score"


def _fex_blocks(table: Table) -> tuple[dict[str, Block], dict[str, list]]:
    """Every Fex column group present, as featx blocks (angles still in the file's units)."""
    cols = list(table.data.columns)
    blocks: dict[str, Block] = {}
    labels: dict[str, list] = {}
    if any(table.has(c) for c in FACE_RECT_COLUMNS):
        table.require(FACE_RECT_COLUMNS, "face box")
        blocks["face_rect"] = Block(table.block(FACE_RECT_COLUMNS), FACE_RECT_COLUMNS)
    if table.has("FaceScore"):
        blocks["face_score"] = Block(table.numbers("FaceScore"), ["FaceScore"])
    landmarks = _points(table, LANDMARK_COLUMNS, 2, "landmark")
    if landmarks:
        blocks["landmarks"] = landmarks
    for name, group in (("head_pose", POSE_COLUMNS), ("head_translation", TRANSLATION_COLUMNS)):
        if any(table.has(c) for c in group):
            table.require(group, name.replace("_", " "))
            blocks[name] = Block(table.block(group), group)
    aus = [c for c in cols if _AU.fullmatch(c)]
    if set(aus) <= set(schema.AUS):
        table.expect(schema.AUS, "AU")
    if aus:
        blocks["aus"] = Block(table.block(aus), aus)
        labels["au"] = aus
    order = [*schema.EMOTIONS, *EXTRA_EMOTIONS]
    emotions = sorted(
        (c for c in cols if c in FEX_EMOTION_LABELS),
        key=lambda c: order.index(FEX_EMOTION_LABELS[c]),
    )
    seen: dict[str, str] = {}
    for column in emotions:
        label = FEX_EMOTION_LABELS[column]
        if label in seen:
            raise table.error(f"columns {seen[label]!r} and {column!r} both hold {label!r}")
        seen[label] = column
    if set(seen) & set(schema.EMOTIONS):
        missing = [e for e in schema.EMOTIONS if e not in seen]
        if missing:
            table.warn(
                f"the emotion columns are incomplete: {missing} missing; those labels are left out"
            )
    if emotions:
        blocks["emotions"] = Block(table.block(emotions), emotions)
        labels["emotion"] = list(seen)
    for name in ("valence", "arousal"):
        if table.has(name):
            blocks[name] = Block(table.numbers(name), [name])
    if any(table.has(c) for c in GAZE_COLUMNS):
        table.require(GAZE_COLUMNS, "gaze")
        blocks["gaze"] = Block(table.block(GAZE_COLUMNS), GAZE_COLUMNS)
    identity = sorted(int(m[1]) for c in cols if (m := _IDENTITY.fullmatch(c)))
    if identity:
        names = [f"Identity_{k}" for k in range(1, identity[-1] + 1)]
        table.require(names, "identity embedding")
        blocks["embedding"] = Block(table.block(names), names)
    mesh = _points(table, MESH_COLUMNS, 3, "mesh")
    if mesh:
        blocks["mesh"] = mesh
    table.expect(schema.BLENDSHAPES, "blendshape")
    shapes = [b for b in schema.BLENDSHAPES if table.has(b)]
    if shapes:
        blocks["blendshapes"] = Block(table.block(shapes), shapes)
        labels["blendshape"] = shapes
    if table.has("Identity"):
        blocks["identity"] = _identity(table)
    return blocks, labels


def _frame_sizes(table: Table, inputs: np.ndarray, first: np.ndarray) -> dict:
    if not table.has("FrameHeight", "FrameWidth"):
        return {}
    sizes = table.block(["FrameHeight", "FrameWidth"])
    sources = {}
    for row in first:
        height, width = sizes[row]
        if np.isfinite(height) and np.isfinite(width):
            sources.setdefault(str(inputs[row]), {"height": int(height), "width": int(width)})
    return {"sources": json.dumps(sources)} if sources else {}


def read_fex(
    path: str | os.PathLike | pd.DataFrame, angle_units: str = "auto", *, encoding: str = "utf-8"
) -> xr.Dataset:
    """Read a Py-Feat CSV file (Detectorv1 or Detectorv2 layout) or a Fex DataFrame.

    Rows are faces; rows sharing ``input`` and ``frame`` are the faces of one frame, in row
    order. A row whose face box is empty (Py-Feat's row for a frame without faces) makes a
    frame without faces. Columns are recognised by name, wherever they are:

    - ``FaceRectX, FaceRectY, FaceRectWidth, FaceRectHeight`` → ``face_rect``, as written:
      Py-Feat writes its enlarged crop box there, not the face detector's box
    - ``FaceScore`` → ``face_score``; ``x_0 … x_67, y_0 … y_67`` → ``landmarks``
    - ``Pitch, Roll, Yaw`` → ``head_pose`` (degrees); ``X, Y, Z`` → ``head_translation``
    - ``AU01`` … (exactly ``AU`` and two digits) → ``aus``: kind ``binary`` if every value is
      0 or 1, else ``probability``
    - emotions, v1 ``anger … neutral`` or v2 ``Neutral, Happy, Sad, Surprise, Fear, Disgust,
      Anger``, plus ``contempt`` (and the other tool-specific labels) in either case →
      ``emotions``: kind ``probability`` if every row sums to 1, else ``score``
    - ``valence``, ``arousal``; ``gaze_pitch, gaze_yaw`` → ``gaze`` (degrees; ``gaze_angle``
      is derived and not read); ``Identity_1 … Identity_N`` → ``embedding``
    - ``mesh_x_0 … mesh_z_477`` → ``mesh``; MediaPipe blendshape names → ``blendshapes``
    - ``Identity`` (``Person_<k>``; empty or ``Unknown`` → −1) → ``identity``
    - ``input`` → ``source``, ``frame`` → ``source_frame``; without ``input`` every row's
      source is the file's own path, with a :class:`~featx.io.table.ReaderWarning` kept in
      the ``reader_warnings`` attr. ``FrameHeight``/``FrameWidth`` → the ``sources`` attr.
      Other columns are ignored.

    A row that repeats an earlier row cell for cell (a table written or concatenated twice) is
    refused: faces of one frame share ``input`` and ``frame`` but never every value. Some but
    not all of Py-Feat's 20 AUs, of the 7 canonical emotions or of the 52 blendshapes is a
    ``ReaderWarning`` (recorded in ``reader_warnings``); an incomplete face box, landmark, pose,
    translation, gaze, embedding or mesh group is an error.

    Py-Feat's signs are featx's, so angles are only converted to degrees. ``time`` is NaN:
    a Fex file keeps no exact times (``approx_time`` is whole seconds).

    Parameters
    ----------
    path
        A CSV file, or a DataFrame (e.g. a Py-Feat ``Fex`` object, or :func:`to_fex` output).
    angle_units
        ``"auto"`` (default): radians unless some pose or gaze angle exceeds π in magnitude
        (Detectorv2 writes radians, Detectorv1 degrees); ``"degrees"`` or ``"radians"`` to
        say so, for a file whose angles are all within ±π degrees. The Dataset attrs
        ``angle_units_in_file`` and ``angle_units_decided`` ("auto" or "argument") record it.
    encoding
        The CSV's text encoding (default UTF-8, with or without a byte-order mark; e.g.
        ``"cp1252"`` for a Windows export). Not used for a DataFrame.

    Returns
    -------
    xarray.Dataset
        A valid featx Dataset; attrs ``detector`` ("Py-Feat Detector" or "Py-Feat
        Detectorv2", from the layout: v2 when ``valence``/``arousal``, a mesh or v2 emotion
        names are present), ``reader``, ``read_from``, ``fex_layout`` ("v1"/"v2").

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ReaderError
        If the file is not a Fex table (no ``frame`` column, or no face box, AU or emotion
        column), is not text in ``encoding``, is separated by another delimiter than ``,``,
        a column group is incomplete, a row repeats an earlier one, or a line is malformed
        or holds a value that is not a number or is out of range; the message names the
        file, line and column.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> face = {"face_rect": np.array([[0.0, 0, 9, 9]]), "head_pose": np.array([[10.0, 0, -5]])}
    >>> ds = schema.from_frames([face], ["a.jpg"], [0], [np.nan])
    >>> back = read_fex(to_fex(ds, version=2))
    >>> back.attrs["angle_units_in_file"], back["head_pose"].values.round(3).tolist()
    ('radians', [[[10.0, 0.0, -5.0]]])
    """
    validators.choice("angle_units", angle_units, ANGLE_UNITS)
    if isinstance(path, pd.DataFrame):
        table = table_from_dataframe(path)
    else:
        table = read_table(path, wanted=_is_fex_column, encoding=encoding)
    if not table.has("frame"):
        raise table.error("not a Py-Feat Fex table: there is no 'frame' column")
    if not any(c in FACE_RECT_COLUMNS or c in FEX_EMOTION_LABELS or _AU.fullmatch(c)
               for c in table.columns):  # fmt: skip
        raise table.error(
            "not a Py-Feat Fex table: no FaceRectX…FaceRectHeight, AU or emotion columns"
        )
    blocks, labels = _fex_blocks(table)
    v2 = bool({"valence", "arousal", "mesh"} & set(blocks)) or any(
        table.has(c) for c in FEX_V2_EMOTIONS.values()
    )
    units = _angle_units(table, blocks, angle_units)
    if units == "radians":
        for name in ("head_pose", "gaze"):
            if name in blocks:
                blocks[name] = Block(np.rad2deg(blocks[name].values), blocks[name].columns)

    frame = table.whole_numbers("frame")
    if table.has("input"):
        inputs = table.strings("input")
    else:
        inputs = np.full(len(table), table.name, dtype=object)
        table.warn(f"no 'input' column: every row's source is {table.name!r}")
    refuse_repeated_rows(table, "faces of one frame share input and frame, never every value")
    frame_of_row, first = frames_from_keys(inputs, frame)
    if "face_rect" in blocks:
        present = np.ones(len(table), dtype=bool)
    else:
        present = np.zeros(len(table), dtype=bool)
        for name, block in blocks.items():
            values = flat(block.values)
            fill = schema.INTEGER_FILL.get(name)
            present |= (values != fill if fill is not None else ~np.isnan(values)).any(axis=1)

    var_attrs: dict[str, dict] = {
        "face_rect": {"box": "as written in the Fex table (Py-Feat's reported box)"},
        "head_pose": {"units": "degrees"},
        "gaze": {"units": "degrees"},
    }
    if "aus" in blocks:
        var_attrs["aus"] = {"kind": _kind_of_aus(blocks["aus"].values[present])}
    if "emotions" in blocks:
        var_attrs["emotions"] = {"kind": _kind_of_emotions(blocks["emotions"].values[present])}
    attrs = reader_attrs(
        "Py-Feat Detectorv2" if v2 else "Py-Feat Detector",
        "read_fex",
        table.name,
        fex_layout="v2" if v2 else "v1",
        **_frame_sizes(table, inputs, first),
    )
    if {"head_pose", "gaze"} & set(blocks):
        attrs["angle_units_in_file"] = units
        attrs["angle_units_decided"] = "auto" if angle_units == "auto" else "argument"
    return rows_to_dataset(
        table,
        frame_of_row=frame_of_row,
        present=present,
        blocks=blocks,
        source=[str(s) for s in inputs[first]],
        source_frame=frame[first],
        time=np.full(len(first), np.nan),
        labels=labels,
        var_attrs={k: v for k, v in var_attrs.items() if k in blocks},
        attrs=attrs,
    )
