"""Reading and writing featx Datasets: netCDF and zarr files, and Py-Feat's Fex table.

:func:`save` writes a Dataset to netCDF (the default) or zarr (a ``.zarr`` path) so that every
attr, coordinate and value comes back unchanged from :func:`open_dataset`. :func:`to_fex` turns
a Dataset into a pandas DataFrame with Py-Feat's Fex columns.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from featx import schema, io
>>> ds = schema.from_frames([{"face_rect": np.array([[10.0, 20, 50, 60]])}],
...                         ["a.jpg"], [0], [np.nan], attrs={"detector": "demo"})
>>> path = io.save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
>>> io.open_dataset(path).identical(ds)
True
>>> list(io.to_fex(ds).columns)
['FaceRectX', 'FaceRectY', 'FaceRectWidth', 'FaceRectHeight', 'input', 'frame']
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema

ENGINES = ("netcdf4", "zarr")

#: ``face_rect.attrs["fex_box"]`` values: how Py-Feat's reported box derives from the detector box.
#: ``v1_expand_1.2``: Detectorv1, width and height each x1.2 about the centre, then rounded.
#: ``v2_square_1.2``: Detectorv2, a square of 1.2x the longer side about the centre, not rounded.
FEX_BOX_RULES = ("v1_expand_1.2", "v2_square_1.2")

#: Canonical emotion label -> Py-Feat 2 (Detectorv2) column name, in Py-Feat 2's column order.
FEX_V2_EMOTIONS: dict[str, str] = dict(
    zip(
        ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"),
        schema.EMOTION_NATIVE_ORDER["face_multitask_v2"],
        strict=True,
    )
)


# --- netCDF / zarr -----------------------------------------------------------------------------


def _require_zarr() -> None:
    try:
        import zarr  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "writing or reading .zarr stores needs the optional zarr package: "
            "pip install featx[scale]"
        ) from err


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _storable(value) -> bool:
    if isinstance(value, str) or _is_number(value):
        return True
    if isinstance(value, list | tuple):
        return all(_is_number(v) for v in value)
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf"


def _check_attrs(ds: xr.Dataset) -> None:
    owners = [("Dataset", ds.attrs)] + [(f"{name!r}", v.attrs) for name, v in ds.variables.items()]
    for owner, attrs in owners:
        for key, value in attrs.items():
            if not _storable(value):
                raise TypeError(
                    f"{owner} attr {key!r} = {value!r} ({type(value).__name__}) cannot be saved: "
                    "attrs must be a str, a number or a list of numbers (store structured values "
                    "as JSON strings and booleans as 0/1)"
                )


def _replace(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` onto ``path``; a folder (zarr) is swapped in two renames."""
    if path.exists() and (path.is_dir() or tmp.is_dir()):
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def save(ds: xr.Dataset, path: str | os.PathLike, *, engine: str | None = None) -> Path:
    """Write a valid Dataset to a netCDF file or a zarr store, atomically.

    The Dataset is validated (:func:`featx.schema.validate`), written to a hidden temporary
    file or folder beside ``path`` and then moved onto ``path``, so an interrupted save never
    leaves a partial file (an existing ``path`` is replaced only once the new one is complete).

    Parameters
    ----------
    ds
        A featx Dataset. Its attrs (Dataset, variable and coordinate) must be str, numbers or
        lists of numbers (DESIGN §1); structured values go in as JSON strings.
    path
        Destination; a ``.zarr`` suffix selects zarr, anything else netCDF-4.
    engine
        ``"netcdf4"`` or ``"zarr"`` to override the choice made from the suffix. zarr needs
        the optional extra: ``pip install featx[scale]``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    featx.SchemaError
        If ``ds`` is not a valid featx Dataset.
    TypeError
        If an attr is not a str, a number or a list of numbers (e.g. a bool, None or a dict),
        naming the attr.

    Notes
    -----
    Float variables are written with a NaN ``_FillValue`` so NaN (empty face slots, ``time``
    of still images) comes back as NaN; integer and string variables get no fill value, so
    ``identity == -1`` and empty strings stay as they are. netCDF stores a one-element list
    attr like a scalar, so ``[7]`` comes back as ``7``; tuples come back as lists.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from featx import schema
    >>> ds = schema.from_frames([{}], ["a.jpg"], [0], [np.nan])
    >>> save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc").name
    'run.nc'
    """
    path = Path(path)
    if engine is None:
        engine = "zarr" if path.suffix == ".zarr" else "netcdf4"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "zarr":
        _require_zarr()
    schema.validate(ds)
    _check_attrs(ds)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save {path}: folder {path.parent} does not exist")

    out = ds.drop_encoding()
    encoding = {
        name: {"_FillValue": np.nan if var.dtype.kind == "f" else None}
        for name, var in out.variables.items()
    }
    prefix, suffix = f".{path.name}.", ".tmp"
    if engine == "zarr":
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        tmp = Path(name)
    try:
        if engine == "zarr":
            out.to_zarr(tmp, mode="w", encoding=encoding, consolidated=False)
        else:
            out.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        _replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def _plain_attrs(attrs: dict) -> dict:
    """NumPy scalars and arrays read from a file back to Python numbers and lists."""
    return {
        k: v.tolist() if isinstance(v, np.ndarray | np.generic) else v for k, v in attrs.items()
    }


def _as_str_labels(values: np.ndarray) -> np.ndarray:
    """Any string array (fixed-width, bytes, NumPy StringDType) as an object array of str."""
    flat = [v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(values.shape)


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Read a Dataset written by :func:`save` into memory and close the file.

    Parameters
    ----------
    path
        A netCDF file, or a zarr store (a folder, or a ``.zarr`` path).

    Returns
    -------
    xarray.Dataset
        Fully loaded; string coordinates (``source``, ``au``, ``emotion`` …) hold Python
        ``str`` in object arrays, as :func:`featx.schema.from_frames` makes them; attrs hold
        Python numbers, strings and lists.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    featx.SchemaError
        If the file cannot be read as netCDF/zarr or is not a valid featx Dataset (the
        message names the file and the broken rule).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from featx import schema
    >>> ds = schema.from_frames([{}], ["a.jpg"], [0], [np.nan])
    >>> path = save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
    >>> open_dataset(path)["source"].values.tolist()
    ['a.jpg']
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such featx file: {path}")
    use_zarr = path.is_dir() or path.suffix == ".zarr"
    if use_zarr:
        _require_zarr()
    decode = {"decode_times": False, "decode_timedelta": False}
    try:
        if use_zarr:
            opened = xr.open_zarr(path, consolidated=False, chunks=None, **decode)
        else:
            opened = xr.open_dataset(path, engine="netcdf4", **decode)
    except (OSError, ValueError) as err:
        raise schema.SchemaError(f"{path}: not a netCDF file or zarr store ({err})") from err
    with opened:
        ds = opened.load()
    ds = ds.drop_encoding()
    ds.attrs = _plain_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _plain_attrs(var.attrs)
    ds = ds.assign_coords(
        {
            name: (coord.dims, _as_str_labels(coord.values), coord.attrs)
            for name, coord in ds.coords.items()
            if coord.dtype.kind in "OUST"
        }
    )
    try:
        schema.validate(ds)
    except schema.SchemaError as err:
        raise schema.SchemaError(f"{path}: {err}") from err
    return ds


# --- Py-Feat Fex -------------------------------------------------------------------------------


def _occupied(ds: xr.Dataset) -> np.ndarray:
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
    occupied = _occupied(ds)
    keep = occupied.copy()
    keep[~occupied.any(axis=1), 0] = True
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
