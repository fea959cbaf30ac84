"""The featx Dataset: every dimension, coordinate and variable name, and the rules they obey.

Every detector and reader produces one ``xarray.Dataset`` indexed by ``frame`` and ``face``;
every analysis consumes it. This module owns the names (as data), builds Datasets from
per-frame results (:func:`from_frames`), joins them (:func:`concat`) and checks them
(:func:`validate`). It imports nothing else from featx.

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> ds = schema.from_frames(
...     [{"face_rect": np.array([[10, 20, 50, 60]]), "face_score": np.array([0.9])}, {}],
...     source=["a.jpg", "b.jpg"], source_frame=[0, 0], time=[np.nan, np.nan])
>>> ds.sizes["frame"], ds.sizes["face"]
(2, 1)
>>> schema.validate(ds)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = [
    "AUS", "EMOTIONS", "EMOTION_NATIVE_ORDER", "EMOTION_CANONICAL", "BLENDSHAPES",
    "KEYPOINTS_RETINAFACE", "KEYPOINTS_BLAZEFACE", "N_LANDMARKS", "N_VERTICES", "RECT", "XY",
    "XYZ", "ANGLE", "GAZE_ANGLE", "FIXED_LABELS", "DEFAULT_LABELS", "VARIABLES", "INTEGER_FILL",
    "KINDS", "FRAME_COORDS", "RANGE_TOLERANCE", "SUM_TOLERANCE", "SchemaError", "concat",
    "conform", "emotion_order", "from_frames", "label_dim", "merge_sources", "to_slots",
    "validate",
]  # fmt: skip


class SchemaError(ValueError):
    """A Dataset breaks a rule of the featx schema; the message names the rule.

    Examples
    --------
    >>> import xarray as xr
    >>> try:
    ...     validate(xr.Dataset())
    ... except SchemaError as err:
    ...     print(err)
    [dims] missing dimension 'frame'
    """


# --- label lists (values from ../shared/conformance/labels.json) -----------------------------

AUS: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU11", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43",
)  # fmt: skip
EMOTIONS: tuple[str, ...] = (
    "anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral",
)  # fmt: skip
#: The order in which each model emits its emotion classes (map to EMOTIONS at the boundary).
EMOTION_NATIVE_ORDER: dict[str, tuple[str, ...]] = {
    "resmasknet": EMOTIONS,
    "svm_emo": EMOTIONS,
    "face_multitask_v2": ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger"),
    "mini_xception": ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
}
#: Every native emotion class name above -> its canonical name in EMOTIONS.
EMOTION_CANONICAL: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "Neutral": "neutral", "Happy": "happiness", "Sad": "sadness", "Surprise": "surprise",
    "Fear": "fear", "Disgust": "disgust", "Anger": "anger",
    "angry": "anger", "happy": "happiness", "sad": "sadness",
}  # fmt: skip


def emotion_order(model_id: str) -> list[int]:
    """Indices that reorder ``model_id``'s emotion outputs into :data:`EMOTIONS` order.

    Examples
    --------
    >>> emotion_order("face_multitask_v2")
    [6, 5, 4, 1, 2, 3, 0]
    """
    canonical = [EMOTION_CANONICAL[e] for e in EMOTION_NATIVE_ORDER[model_id]]
    return [canonical.index(e) for e in EMOTIONS]


BLENDSHAPES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
#: Keypoint labels per detector, named from the subject's point of view.
KEYPOINTS_RETINAFACE: tuple[str, ...] = (
    "right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left",
)  # fmt: skip
KEYPOINTS_BLAZEFACE: tuple[str, ...] = (
    "right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion",
)  # fmt: skip
N_LANDMARKS = 68
N_VERTICES = 478

RECT = ("x", "y", "width", "height")
XY = ("x", "y")
XYZ = ("x", "y", "z")
ANGLE = ("pitch", "roll", "yaw")
GAZE_ANGLE = ("pitch", "yaw")

#: Coordinates whose labels never change.
FIXED_LABELS: dict[str, tuple] = {
    "rect": RECT,
    "xy": XY,
    "xyz": XYZ,
    "angle": ANGLE,
    "gaze_angle": GAZE_ANGLE,
    "landmark": tuple(range(N_LANDMARKS)),
    "vertex": tuple(range(N_VERTICES)),
}
#: Label coordinates a producer may choose (subset or extension); these are the defaults.
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "au": AUS,
    "emotion": EMOTIONS,
    "blendshape": BLENDSHAPES,
    "keypoint": KEYPOINTS_RETINAFACE,
}

# --- variables ---------------------------------------------------------------------------------

#: Every data variable: its dims and the closed value range it must lie in (None: unbounded).
VARIABLES: dict[str, tuple[tuple[str, ...], tuple[float, float] | None]] = {
    "face_rect": (("frame", "face", "rect"), None),
    "face_score": (("frame", "face"), (0.0, 1.0)),
    "keypoints": (("frame", "face", "keypoint", "xy"), None),
    "landmarks": (("frame", "face", "landmark", "xy"), None),
    "mesh": (("frame", "face", "vertex", "xyz"), None),
    "aus": (("frame", "face", "au"), (0.0, 1.0)),
    "au_intensity": (("frame", "face", "au"), None),
    "emotions": (("frame", "face", "emotion"), (0.0, 1.0)),
    "valence": (("frame", "face"), (-1.0, 1.0)),
    "arousal": (("frame", "face"), (-1.0, 1.0)),
    "head_pose": (("frame", "face", "angle"), (-180.0, 180.0)),
    "head_translation": (("frame", "face", "xyz"), None),
    "gaze": (("frame", "face", "gaze_angle"), (-180.0, 180.0)),
    "blendshapes": (("frame", "face", "blendshape"), (0.0, 1.0)),
    # The dim cannot be called "embedding": xarray turns a variable named like one of its
    # dims into a coordinate.
    "embedding": (("frame", "face", "embedding_dim"), None),
    "identity": (("frame", "face"), None),
}
#: Integer variables and the value that marks an empty slot.
INTEGER_FILL: dict[str, int] = {"identity": -1}
#: Allowed ``attrs["kind"]`` values; the variables listed must carry one.
KINDS: dict[str, tuple[str, ...]] = {
    "aus": ("probability", "binary", "score", "blendshape-derived", "evidence"),
    "emotions": ("probability", "binary", "score"),
}
FRAME_COORDS = ("source", "source_frame", "time")
RANGE_TOLERANCE = 1e-4
SUM_TOLERANCE = 1e-3
_AU_LABEL = re.compile(r"AU\d\d")


# --- construction ------------------------------------------------------------------------------


def _trailing_shape(name: str, labels: Mapping[str, Sequence]) -> list[int | None]:
    dims = VARIABLES[name][0][2:]
    return [len(labels[d]) if d in labels else None for d in dims]


def to_slots(rows: Mapping[str, np.ndarray], slots: Sequence[int]) -> dict[str, np.ndarray]:
    """Place one frame's per-face rows in their ``face`` slots, the slots between empty.

    Parameters
    ----------
    rows
        Variable name -> array whose first axis is the faces, in the order of ``slots``.
    slots
        The ``face`` index of each row.

    Returns
    -------
    dict
        The same variables, ``max(slots) + 1`` rows long: empty rows are NaN, or the
        variable's :data:`INTEGER_FILL`; float32 stays float32.

    Examples
    --------
    >>> to_slots({"face_score": np.array([0.9])}, [2])["face_score"]
    array([nan, nan, 0.9])
    """
    slots = np.asarray(slots, dtype=np.int64)
    n = int(slots.max()) + 1 if len(slots) else 0
    out = {}
    for name, values in rows.items():
        values = np.asarray(values)
        if name in INTEGER_FILL:
            moved = np.full((n, *values.shape[1:]), INTEGER_FILL[name], values.dtype)
        else:
            moved = np.full((n, *values.shape[1:]), np.nan, np.result_type(values, np.float32))
        moved[slots] = values
        out[name] = moved
    return out


def from_frames(
    frames: Sequence[Mapping[str, np.ndarray]],
    source: Sequence[str],
    source_frame: Sequence[int],
    time: Sequence[float],
    *,
    frame_start: int = 0,
    labels: Mapping[str, Sequence] | None = None,
    var_attrs: Mapping[str, Mapping] | None = None,
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """Build a Dataset from per-frame results, padding the ``face`` dimension with NaN.

    Parameters
    ----------
    frames
        One mapping per frame from variable name to an array whose first axis is the faces
        found in that frame (length 0 when none). A variable missing from a frame is NaN there.
    source, source_frame, time
        Per-frame file path, index of the frame in its file, and seconds (NaN for stills).
    frame_start
        Value of the first ``frame`` coordinate (frames are numbered consecutively).
    labels
        Labels for ``au``, ``emotion``, ``blendshape``, ``keypoint`` when they differ from
        :data:`DEFAULT_LABELS`.
    var_attrs, attrs
        Attributes per variable (e.g. ``{"aus": {"kind": "probability"}}``) and for the Dataset.

    Returns
    -------
    xarray.Dataset
        ``frame`` × ``face`` with ``face`` = max faces in any frame (at least 1).

    Examples
    --------
    >>> ds = from_frames([{"face_score": np.array([0.9, 0.8])}], ["x.png"], [0], [np.nan])
    >>> ds.face_score.shape
    (1, 2)
    """
    n = len(frames)
    if not (len(source) == len(source_frame) == len(time) == n):
        raise SchemaError(
            f"from_frames: {n} frames but {len(source)} source, {len(source_frame)} "
            f"source_frame and {len(time)} time values"
        )
    all_labels = {**DEFAULT_LABELS, **FIXED_LABELS, **(labels or {})}
    unknown = [k for f in frames for k in f if k not in VARIABLES]
    if unknown:
        raise SchemaError(f"unknown variable {unknown[0]!r}; known: {', '.join(VARIABLES)}")
    names = sorted({k for f in frames for k in f}, key=list(VARIABLES).index)

    counts = []
    for i, frame in enumerate(frames):
        sizes = {k: len(np.asarray(v)) for k, v in frame.items()}
        if len(set(sizes.values())) > 1:
            raise SchemaError(f"frame {i}: variables disagree on the number of faces: {sizes}")
        counts.append(next(iter(sizes.values()), 0))
    n_faces = max([1, *counts])

    data_vars = {}
    for name in names:
        trailing = _trailing_shape(name, all_labels)
        for frame in frames:
            if name in frame:
                shape = np.asarray(frame[name]).shape[1:]
                if len(shape) != len(trailing) or any(
                    t is not None and t != s for t, s in zip(trailing, shape, strict=True)
                ):
                    raise SchemaError(
                        f"{name}: per-face shape {shape} does not match dims "
                        f"{VARIABLES[name][0][2:]} of sizes {trailing}"
                    )
                trailing = list(shape)
                break
        if name in INTEGER_FILL:
            out = np.full((n, n_faces, *trailing), INTEGER_FILL[name], dtype=np.int64)
        else:
            out = np.full((n, n_faces, *trailing), np.nan, dtype=np.float32)
        for i, frame in enumerate(frames):
            if name in frame and counts[i]:
                out[i, : counts[i]] = np.asarray(frame[name])
        data_vars[name] = (VARIABLES[name][0], out, dict((var_attrs or {}).get(name, {})))

    used_dims = {d for name in names for d in VARIABLES[name][0][2:]} - {"embedding_dim"}
    coords = {
        "frame": np.arange(frame_start, frame_start + n, dtype=np.int64),
        "face": np.arange(n_faces, dtype=np.int64),
        "source": ("frame", np.asarray([str(s) for s in source], dtype=object)),
        "source_frame": ("frame", np.asarray(source_frame, dtype=np.int64)),
        "time": ("frame", np.asarray(time, dtype=np.float64)),
    }
    for dim in sorted(used_dims):
        values = list(all_labels[dim])
        coords[dim] = np.asarray(values, dtype=object if isinstance(values[0], str) else np.int64)
    return xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))


def _pad_faces(ds: xr.Dataset, n_faces: int) -> xr.Dataset:
    if ds.sizes["face"] == n_faces:
        return ds
    fill = {name: INTEGER_FILL.get(name, np.nan) for name in ds.data_vars}
    return ds.reindex(face=np.arange(n_faces, dtype=np.int64), fill_value=fill)


def _full_like(data, shape: tuple[int, ...], fill) -> np.ndarray:
    """An array of ``shape`` filled with ``fill``: lazy (dask) when ``data`` is, else NumPy."""
    if isinstance(data, np.ndarray):
        return np.full(shape, fill, dtype=data.dtype)
    import dask.array as da

    return da.full(shape, fill, dtype=data.dtype)


def merge_sources(*attrs: Mapping) -> str:
    """Merge the JSON ``sources`` attrs of several Datasets into one JSON string.

    Examples
    --------
    >>> merge_sources({"sources": '{"a.jpg": {"n": 1}}'}, {"sources": '{"b.mp4": {"n": 9}}'})
    '{"a.jpg": {"n": 1}, "b.mp4": {"n": 9}}'
    """
    merged: dict = {}
    for a in attrs:
        merged.update(json.loads(a.get("sources", "{}")))
    return json.dumps(merged)


def conform(ds: xr.Dataset, n_faces: int, template: Mapping[str, xr.Variable]) -> xr.Dataset:
    """``ds`` with ``n_faces`` face slots and every variable of ``template``, in its order.

    Padded slots and added variables hold NaN (``identity``: -1); only each template
    variable's dims, trailing shape, dtype and attrs are used, so a zero-length stand-in does.

    Examples
    --------
    >>> a = from_frames([{"face_score": np.array([0.9])}], ["a.png"], [0], [np.nan])
    >>> b = from_frames([{"face_rect": np.ones((2, 4))}], ["b.png"], [0], [np.nan])
    >>> out = conform(a, 2, {"face_rect": b["face_rect"].variable, "face_score": a["face_score"]})
    >>> list(out.data_vars), out["face_rect"].shape
    (['face_rect', 'face_score'], (1, 2, 4))
    """
    ds = _pad_faces(ds, n_faces)
    for name, var in template.items():
        if name not in ds:
            shape = (ds.sizes["frame"], n_faces, *var.shape[2:])
            fill = INTEGER_FILL.get(name, np.nan)
            ds[name] = (var.dims, _full_like(var.data, shape, fill), var.attrs)
    if list(ds.data_vars) != list(template):
        ds = ds[list(template)]
    return ds


def concat(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Join Datasets along ``frame``, padding ``face`` and adding missing variables as NaN.

    The frames keep the order given (each Dataset's frames in its own order) and ``frame`` is
    renumbered 0, 1, …, so runs that each count their frames from 0 join into a Dataset that
    validates and saves; ``source`` and ``source_frame`` still say where each frame came
    from. Attributes come from the first Dataset; their ``sources`` entries are merged.

    Examples
    --------
    >>> a = from_frames([{"face_score": np.array([0.9])}], ["a.png"], [0], [np.nan])
    >>> b = from_frames([{"face_score": np.array([0.9, 0.7])}] * 2, ["b.mp4"] * 2, [0, 1],
    ...                 [0.0, 0.04])
    >>> both = concat([a, b])
    >>> both.sizes["face"], both["frame"].values.tolist(), both["source_frame"].values.tolist()
    (2, [0, 1, 2], [0, 0, 1])
    >>> validate(both)
    """
    if not datasets:
        raise SchemaError("concat needs at least one Dataset")
    n_faces = max(ds.sizes["face"] for ds in datasets)
    template = {}
    for ds in datasets:
        for name, var in ds.data_vars.items():
            template.setdefault(name, var)
    padded = [conform(ds, n_faces, template) for ds in datasets]
    out = xr.concat(
        padded,
        dim="frame",
        data_vars="all",
        coords="minimal",
        compat="override",
        join="outer",
        combine_attrs="override",
    )
    for name in out.data_vars:
        out[name].attrs = dict(template[name].attrs)
    frame_attrs = dict(datasets[0]["frame"].attrs)
    out = out.assign_coords(frame=np.arange(out.sizes["frame"], dtype=np.int64))
    out["frame"].attrs = frame_attrs
    if any("sources" in ds.attrs for ds in datasets):
        out.attrs["sources"] = merge_sources(*(ds.attrs for ds in datasets))
    return out


# --- validation --------------------------------------------------------------------------------


def _fail(rule: str, detail: str) -> None:
    raise SchemaError(f"[{rule}] {detail}")


def _check_labels(ds: xr.Dataset) -> None:
    for dim, expected in FIXED_LABELS.items():
        if dim in ds.dims and tuple(ds[dim].values.tolist()) != tuple(expected):
            _fail("labels", f"coordinate {dim!r} must be {list(expected)[:8]}...")
    if "au" in ds.dims:
        bad = [a for a in ds["au"].values.tolist() if not _AU_LABEL.fullmatch(str(a))]
        if bad:
            _fail("labels", f"au labels must look like 'AU01', got {bad[:5]}")
    if "emotion" in ds.dims:
        labels = [str(e) for e in ds["emotion"].values.tolist()]
        canonical = [e for e in labels if e in EMOTIONS]
        if canonical != [e for e in EMOTIONS if e in canonical] or labels[: len(canonical)] != (
            canonical
        ):
            _fail(
                "labels",
                f"emotion labels must be in canonical order {EMOTIONS} first, "
                f"extra labels after; got {labels}",
            )
    if "blendshape" in ds.dims:
        labels = [str(b) for b in ds["blendshape"].values.tolist()]
        if labels != [b for b in BLENDSHAPES if b in labels]:
            _fail("labels", "blendshape labels must be MediaPipe's names in MediaPipe's order")
    for dim in ("au", "emotion", "blendshape", "keypoint"):
        if dim in ds.dims and len(set(ds[dim].values.tolist())) != ds.sizes[dim]:
            _fail("labels", f"coordinate {dim!r} has duplicate labels")


def validate(ds: xr.Dataset) -> None:
    """Check a Dataset against the featx schema: the rules this module's names encode.

    Checks dims (``frame`` × ``face`` first, then each variable's label dims as in
    :data:`VARIABLES`), coordinates (integer ``frame`` with unique values, ``face``, and
    ``source``/``source_frame``/``time`` along ``frame``), dtypes, label lists, value ranges,
    ``kind`` attrs, probability rows and empty face slots (a slot whose ``face_rect`` is NaN
    holds no values). Provenance attrs are not checked.

    Raises
    ------
    SchemaError
        Naming the first broken rule, e.g. ``[range] aus: values outside [0, 1]``.

    Examples
    --------
    >>> validate(from_frames([{}], ["a.png"], [0], [np.nan]))
    """
    if not isinstance(ds, xr.Dataset):
        _fail("type", f"expected an xarray.Dataset, got {type(ds).__name__}")
    for dim in ("frame", "face"):
        if dim not in ds.dims:
            _fail("dims", f"missing dimension {dim!r}")
        if dim not in ds.coords:
            _fail("coords", f"missing coordinate {dim!r}")
        if ds[dim].dtype.kind not in "iu":
            _fail("dtype", f"coordinate {dim!r} must be integer")
    if not ds.indexes["frame"].is_unique:
        _fail("coords", "frame values must be unique")
    for name in FRAME_COORDS:
        if name not in ds.coords:
            _fail("coords", f"missing coordinate {name!r} along frame")
        if ds[name].dims != ("frame",):
            _fail("coords", f"coordinate {name!r} must have dims ('frame',)")
    if ds["source"].dtype.kind not in "OUS":
        _fail("dtype", "coordinate 'source' must hold strings")
    if ds["source_frame"].dtype.kind not in "iu":
        _fail("dtype", "coordinate 'source_frame' must be integer")
    if ds["time"].dtype.kind != "f":
        _fail("dtype", "coordinate 'time' must be float seconds (NaN for still images)")
    _check_labels(ds)

    empty = None
    if "face_rect" in ds:
        empty = ds["face_rect"].isnull().all("rect")
    for name, var in ds.data_vars.items():
        if name not in VARIABLES:
            _fail("variables", f"unknown variable {name!r}; known: {', '.join(VARIABLES)}")
        dims, bounds = VARIABLES[name]
        if var.dims != dims:
            _fail("dims", f"{name} must have dims {dims}, has {var.dims}")
        if name in INTEGER_FILL:
            if var.dtype.kind not in "iu":
                _fail("dtype", f"{name} must be integer")
            if (var < INTEGER_FILL[name]).any():
                _fail("range", f"{name} must be >= {INTEGER_FILL[name]}")
            if empty is not None and ((var != INTEGER_FILL[name]) & empty).any():
                _fail("empty-slot", f"{name} is set in a face slot whose face_rect is NaN")
            continue
        if var.dtype.kind != "f":
            _fail("dtype", f"{name} must be floating point, is {var.dtype}")
        if bounds is not None:
            lo, hi = bounds
            outside = (var < lo - RANGE_TOLERANCE) | (var > hi + RANGE_TOLERANCE)
            if outside.any():
                _fail("range", f"{name}: values outside [{lo:g}, {hi:g}]")
        if name in KINDS:
            kind = var.attrs.get("kind")
            if kind not in KINDS[name]:
                _fail("attrs", f"{name}.attrs['kind'] must be one of {KINDS[name]}, got {kind!r}")
        if name == "face_rect":
            sizes = var.sel(rect=["width", "height"])
            if (sizes < 0).any():
                _fail("range", "face_rect width and height must be >= 0")
        if empty is not None and name != "face_rect":
            extra = [d for d in var.dims if d not in ("frame", "face")]
            filled = var.notnull().any(extra) if extra else var.notnull()
            if (filled & empty).any():
                _fail("empty-slot", f"{name} has values in a face slot whose face_rect is NaN")
    if "emotions" in ds and ds["emotions"].attrs.get("kind") == "probability":
        total = ds["emotions"].sum("emotion", min_count=1)
        if (abs(total - 1) > SUM_TOLERANCE).any():
            _fail("probability", "emotions of kind 'probability' must sum to 1 per face")


def label_dim(name: str) -> str | None:
    """The dim that holds the labels of variable ``name``; None for one value per face.

    Variables of points (``keypoints``, ``landmarks``, ``mesh``) have a second trailing dim that
    holds the point's coordinates (``xy``, ``xyz``); their label dim is the first.

    Examples
    --------
    >>> label_dim("aus"), label_dim("landmarks"), label_dim("valence")
    ('au', 'landmark', None)
    """
    if name not in VARIABLES:
        raise SchemaError(f"unknown variable {name!r}; known: {', '.join(VARIABLES)}")
    trailing = VARIABLES[name][0][2:]
    return trailing[0] if trailing else None
