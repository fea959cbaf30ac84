"""Long ("tidy") tables for R, SPSS and spreadsheets: one row per frame × face × measure.

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> ds = schema.from_frames([{"face_rect": np.array([[0.0, 0, 9, 9]]),
...                           "valence": np.array([0.5])}], ["a.jpg"], [0], [np.nan])
>>> to_tidy(ds, variables=["valence"])[["source", "face", "measure", "value"]].values.tolist()
[['a.jpg', 0, 'valence', 0.5]]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema
from featx.io.fex import occupied
from featx.io.table import flat


def _measures(ds: xr.Dataset, name: str) -> list[str]:
    """``name`` for a per-face value, else ``name.<label>[.<label>]`` for each element."""
    trailing = ds[name].dims[2:]
    if not trailing:
        return [name]
    labels = [ds[d].values.tolist() if d in ds.coords else range(ds.sizes[d]) for d in trailing]
    return [".".join([name, *map(str, combo)]) for combo in product(*labels)]


def _face_coords(ds: xr.Dataset) -> list[str]:
    """Per-face measurements kept as (frame, face) coordinates (e.g. Affectiva's smirk)."""
    return [
        n for n, c in ds.coords.items() if c.dims == ("frame", "face") and c.dtype.kind in "iuf"
    ]


def to_tidy(ds: xr.Dataset, variables: str | Sequence[str] | None = None) -> pd.DataFrame:
    """One row per frame × face × measure, for R (``tidyr``), SPSS or a spreadsheet.

    Only face slots holding a face are listed (a frame without faces has no rows). Measures
    are named ``<variable>`` for per-face values (``face_score``, ``valence``), else
    ``<variable>.<label>``: ``aus.AU12``, ``au_intensity.AU12``, ``emotions.happiness``,
    ``head_pose.pitch``, ``gaze.yaw``, ``face_rect.width``, ``landmarks.30.x``,
    ``mesh.1.z``, ``embedding.0``, ``blendshapes.jawOpen``. Units are the Dataset's
    (degrees, pixels, 0..1).

    Parameters
    ----------
    ds
        A valid featx Dataset.
    variables
        One name (``"aus"``) or several (``["aus", "emotions"]``): the data variables (or
        per-face coordinates) to list, in this order; default: every
        data variable except ``identity``, then per-face coordinates such as Affectiva's
        ``smirk``.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``frame``, ``source_frame``, ``time`` (seconds, NaN for stills),
        any other coordinate along ``frame`` (e.g. iMotions' ``StimulusName``), ``face``,
        ``identity`` (nullable integer: <NA> when unknown), ``measure`` (categorical, in
        variable order) and ``value``; rows run frame by frame, face by face.

    Raises
    ------
    featx.SchemaError
        If ``ds`` is not a valid featx Dataset.
    KeyError
        If a name in ``variables`` is not in ``ds``.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> ds = schema.from_frames(
    ...     [{"face_rect": np.array([[0.0, 0, 9, 9]]), "head_pose": np.array([[1.0, 2, 3]])},
    ...      {}], ["clip.mp4"] * 2, [0, 1], [0.0, 0.04])
    >>> tidy = to_tidy(ds, "head_pose")
    >>> tidy[["frame", "measure", "value"]].values.tolist()
    [[0, 'head_pose.pitch', 1.0], [0, 'head_pose.roll', 2.0], [0, 'head_pose.yaw', 3.0]]
    """
    schema.validate(ds)
    if variables is None:
        variables = [n for n in ds.data_vars if n != "identity"] + _face_coords(ds)
    elif isinstance(variables, str):
        variables = [variables]
    missing = [n for n in variables if n not in ds.variables]
    if missing:
        raise KeyError(f"to_tidy: {missing[0]!r} is not in the Dataset")
    frame_i, face_i = np.nonzero(occupied(ds))
    names = [m for n in variables for m in _measures(ds, n)]
    values = np.concatenate(
        [flat(ds[n].values[frame_i, face_i]) for n in variables] or [np.empty((len(frame_i), 0))],
        axis=1,
    )
    k = len(names)
    slot = np.repeat(np.arange(len(frame_i)), k)
    fi, si = frame_i[slot], face_i[slot]
    columns = {
        "source": ds["source"].values[fi],
        "frame": ds["frame"].values[fi],
        "source_frame": ds["source_frame"].values[fi],
        "time": ds["time"].values[fi],
    }
    for name, coord in ds.coords.items():
        if coord.dims == ("frame",) and name not in columns:
            columns[name] = coord.values[fi]
    columns["face"] = ds["face"].values[si]
    identity = ds["identity"].values[fi, si] if "identity" in ds else np.full(len(fi), -1)
    columns["identity"] = pd.array(
        np.where(identity == schema.INTEGER_FILL["identity"], None, identity), dtype="Int64"
    )
    columns["measure"] = pd.Categorical.from_codes(np.tile(np.arange(k), len(frame_i)), names)
    columns["value"] = values.ravel()
    return pd.DataFrame(columns)
