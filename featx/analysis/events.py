"""Events: what was on screen and when, as a BIDS-style events table; epochs and design matrices.

An events table is a pandas DataFrame (or a BIDS ``*_events.tsv`` file) with one row per event:
``onset`` and ``duration`` in seconds from the start of the video (in frames for sources
without any time; a source where only some frames have a time stays in seconds, its missing
times interpolated with a warning), ``trial_type`` (the condition label) and, optionally,
``source``: the video the event belongs to. An event without a source applies to every source
(the same stimulus sequence shown to everyone). Any other columns are carried into the epochs.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from featx import schema
>>> frames = [{"valence": np.array([v / 10])} for v in range(10)]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 10, range(10), np.arange(10) / 10)
>>> events = pd.DataFrame({"onset": [0.3], "duration": [0.2], "trial_type": ["smile"]})
>>> design_matrix(ds, events)["smile"].tolist()
[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
>>> epochs(ds, events, -0.1, 0.2)["valence"].sel(face=0).values.round(2).tolist()
[[0.2, 0.3, 0.4, 0.5]]
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from featx.analysis._core import (
    AXIS_EPS,
    MEASURES,
    AnalysisError,
    Source,
    nearest,
    select,
    sources,
)

EVENT_COLUMNS = ("onset", "duration", "trial_type")
#: Relative disagreement between sources' sampling rates that epochs still accept.
RATE_TOLERANCE = 0.01


class EventsError(AnalysisError):
    """An events table is missing a column or holds values that cannot describe events."""


def check_events(
    events: pd.DataFrame | str | PathLike, ds: xr.Dataset | None = None
) -> pd.DataFrame:
    """Validate an events table (or read a BIDS ``.tsv``) and return a clean copy.

    Parameters
    ----------
    events
        A DataFrame, or the path of a tab-separated BIDS events file (``n/a`` is missing).
    ds
        When given, every ``source`` named in the table must be a source of ``ds``.

    Returns
    -------
    pandas.DataFrame
        A copy with a fresh index, ``onset``/``duration`` as float and ``trial_type`` as str.

    Raises
    ------
    EventsError
        Naming the file (when read from one), the missing column or the bad rows.

    Examples
    --------
    >>> import pandas as pd
    >>> check_events(pd.DataFrame({"onset": [1], "duration": [0.5], "trial_type": ["a"]}))
       onset  duration trial_type
    0    1.0       0.5          a
    """
    where = "the events table"
    if isinstance(events, str | PathLike):
        where = f"events file {str(events)!r}"
        path = Path(events)
        if not path.is_file():
            raise EventsError(f"{where} does not exist")
        try:
            events = pd.read_csv(path, sep="\t", na_values=["n/a"])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise EventsError(f"{where} is not a readable tab-separated table: {err}") from err
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"events must be a DataFrame or a .tsv path, got {type(events).__name__}")
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise EventsError(
            f"{where} lacks column(s) {missing}; an events table needs onset and duration "
            f"(seconds) and trial_type; it has {list(events.columns)}"
        )
    out = events.reset_index(drop=True).copy()
    for column in ("onset", "duration"):
        values = pd.to_numeric(out[column], errors="coerce").astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
        if len(bad):
            raise EventsError(f"{where}: {column} is not a finite number in row(s) {bad[:5]}")
        out[column] = values
    if (out["duration"] < 0).any():
        rows = np.flatnonzero(out["duration"] < 0)[:5]
        raise EventsError(f"{where}: negative duration in row(s) {rows}")
    if out["trial_type"].isna().any():
        rows = np.flatnonzero(out["trial_type"].isna())[:5]
        raise EventsError(f"{where}: trial_type is missing in row(s) {rows}")
    out["trial_type"] = out["trial_type"].astype(str)
    if ds is not None and "source" in out.columns:
        known = set(ds["source"].values.astype(str).tolist())
        named = out["source"].dropna().astype(str)
        unknown = sorted(set(named) - known)
        if unknown:
            raise EventsError(
                f"{where} names source(s) {unknown[:5]} that are not in the Dataset; "
                f"its sources are {sorted(known)[:5]}"
            )
    return out


def _targets(events: pd.DataFrame, groups: list[Source]) -> list[tuple[int, Source]]:
    """(event row, source) pairs: an event with a source applies to it, else to every source."""
    pairs = []
    for row in range(len(events)):
        named = events["source"].iloc[row] if "source" in events.columns else None
        for src in groups:
            if pd.isna(named) or str(named) == src.source:
                pairs.append((row, src))
    return pairs


def _common_step(groups: list[Source]) -> tuple[float, str]:
    """The sampling step shared by the sources (and its unit), or a clear error."""
    units = {src.unit for src in groups}
    if len(units) > 1:
        raise AnalysisError("some sources have time and others do not; epoch them separately")
    rates = {src.source: src.require_rate() for src in groups}
    low, high = min(rates.values()), max(rates.values())
    if high > low * (1 + RATE_TOLERANCE):
        listed = ", ".join(f"{k}: {v:g}" for k, v in rates.items())
        raise AnalysisError(
            f"sources have different sampling rates ({listed}); resample(ds, hz=...) first"
        )
    return 1.0 / float(np.median(list(rates.values()))), units.pop()


def epochs(
    ds: xr.Dataset,
    events: pd.DataFrame | str | PathLike,
    tmin: float,
    tmax: float,
    *,
    baseline: tuple[float, float] | None = None,
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Cut event-locked windows: one epoch per (event, source it applies to).

    Parameters
    ----------
    ds
        A featx Dataset. Its sources must share one sampling rate (within 1 %).
    events
        An events table (see :func:`check_events`).
    tmin, tmax
        Window around each onset, in seconds (frames without time). The lags are the whole
        multiples of the sampling step ``dt`` within ``[tmin, tmax]``.
    baseline
        ``(start, stop)`` in lag units: subtract each epoch's mean over those lags (NaN-aware).
    variables
        Default every present variable of :data:`featx.analysis.MEASURES`.

    Returns
    -------
    xarray.Dataset
        Dims ``epoch``, ``lag``, then the variables' other dims. Each value is that of the
        frame nearest ``onset + lag`` (within ``dt/2``; NaN outside the recording or where the
        frame has no face). Along ``epoch``: ``source``, every events column and every other
        per-frame coordinate of ``ds`` (e.g. ``subject`` from :func:`annotate`). On a lazy
        study (:func:`featx.open_study`) the variables stay dask arrays, one task per source
        reading only the frames inside its windows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from featx import schema
    >>> frames = [{"valence": np.array([v / 10])} for v in range(10)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 10, range(10), np.arange(10) / 10)
    >>> events = pd.DataFrame({"onset": [0.5], "duration": [0.1], "trial_type": ["x"]})
    >>> ep = epochs(ds, events, -0.2, 0.1, baseline=(-0.2, 0.0))
    >>> ep["lag"].values.round(2).tolist(), ep["valence"].values.ravel().round(2).tolist()
    ([-0.2, -0.1, 0.0, 0.1], [-0.1, 0.0, 0.1, 0.2])
    """
    names = select(ds, variables, MEASURES)
    events = check_events(events, ds)
    if not tmin <= tmax:
        raise AnalysisError(f"tmin ({tmin}) must not exceed tmax ({tmax})")
    pairs = _targets(events, sources(ds))
    if not pairs:
        raise EventsError("no event applies to any source of the Dataset")
    step, unit = _common_step(list({src.source: src for _, src in pairs}.values()))
    lags = np.arange(np.ceil(tmin / step - AXIS_EPS), np.floor(tmax / step + AXIS_EPS) + 1) * step

    positions = np.full((len(pairs), len(lags)), -1)
    for e, (row, src) in enumerate(pairs):
        target = events["onset"].iloc[row] + lags
        pick = nearest(src.axis, target)
        close = np.abs(src.axis[pick] - target) <= step / 2 + AXIS_EPS
        positions[e, close] = src.index[pick[close]]

    data = {}
    for name in names:
        var = ds[name].transpose("frame", ...)
        cut = _cut(var.data, positions, [src.source for _, src in pairs])
        data[name] = (("epoch", "lag", *var.dims[1:]), cut, var.attrs)
    rows = [row for row, _ in pairs]
    first = [src.index[0] for _, src in pairs]
    coords = {
        "epoch": np.arange(len(pairs)),
        "lag": lags,
        "source": ("epoch", np.asarray([src.source for _, src in pairs], dtype=object)),
    }
    for column in events.columns:
        if column != "source":
            coords[str(column)] = ("epoch", events[column].to_numpy()[rows])
    for name, coord in ds.coords.items():
        if coord.dims == ("frame",) and name not in coords and name not in ds.dims:
            if name not in ("source_frame", "time"):
                coords[name] = ("epoch", coord.values[first])
        elif "frame" not in coord.dims:
            coords[name] = coord
    out = xr.Dataset(data, coords=coords, attrs={**ds.attrs, "lag_unit": unit})
    if baseline is None:
        return out
    start, stop = baseline
    window = (lags >= start - AXIS_EPS) & (lags <= stop + AXIS_EPS)
    if not window.any():
        raise AnalysisError(f"baseline {baseline} contains no lag of {lags.round(6).tolist()}")
    for name in names:
        reference = out[name].isel(lag=window).mean("lag", skipna=True)
        out[name] = (out[name] - reference).assign_attrs(out[name].attrs)
    return out


def _place(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values`` (frames, ...) at ``rows`` (epochs, lags) as float64; NaN where a row is -1."""
    cut = np.asarray(values, dtype=np.float64)[np.maximum(rows, 0)]
    cut[rows < 0] = np.nan
    return cut


def _cut(data: object, positions: np.ndarray, owners: Sequence[str]) -> object:
    """The frames at ``positions`` (epochs, lags; -1: none) of ``data`` (frames, ...).

    NumPy data is cut at once. Dask data (a study opened with :func:`featx.open_study`) stays
    lazy: one task per source gathers that source's epochs from its own frames only, so
    computing the epochs holds one source's windows in memory at a time and reads no frame
    outside a window.
    """
    if isinstance(data, np.ndarray):
        return _place(data, positions)
    import dask
    import dask.array as da

    owners = np.asarray(owners, dtype=object)
    pieces, order = [], []
    for owner in dict.fromkeys(owners.tolist()):
        epochs_of = np.flatnonzero(owners == owner)
        rows = positions[epochs_of]
        frames = np.unique(rows[rows >= 0])
        local = np.where(rows >= 0, np.searchsorted(frames, np.maximum(rows, 0)), -1)
        shape = (*rows.shape, *data.shape[1:])
        if len(frames):
            piece = dask.delayed(_place)(data[frames], local)
            pieces.append(da.from_delayed(piece, shape=shape, dtype=np.float64))
        else:  # every window of this source lies outside its recording
            pieces.append(da.full(shape, np.nan, dtype=np.float64))
        order.append(epochs_of)
    inverse = np.argsort(np.concatenate(order), kind="stable")
    return da.concatenate(pieces, axis=0)[inverse]


def design_matrix(ds: xr.Dataset, events: pd.DataFrame | str | PathLike) -> pd.DataFrame:
    """Boxcar regressors on the frame grid: 1 while an event of that ``trial_type`` is on.

    A frame at axis value ``t`` is 1 for an event when ``onset <= t < onset + duration``; an
    event of duration 0 marks only the frame nearest its onset (if it lies within half a step).

    Parameters
    ----------
    ds
        A featx Dataset.
    events
        An events table (see :func:`check_events`).

    Returns
    -------
    pandas.DataFrame
        Indexed by the ``frame`` coordinate (index name ``"frame"``), one float column per
        ``trial_type`` in order of first appearance; ready for :func:`featx.analysis.regress`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from featx import schema
    >>> ds = schema.from_frames([{}] * 4, ["a.mp4"] * 4, range(4), [0.0, 0.5, 1.0, 1.5])
    >>> events = pd.DataFrame({"onset": [0.4], "duration": [0.0], "trial_type": ["beep"]})
    >>> design_matrix(ds, events)["beep"].tolist()
    [0.0, 1.0, 0.0, 0.0]
    """
    events = check_events(events, ds)
    kinds = list(dict.fromkeys(events["trial_type"]))
    out = np.zeros((ds.sizes["frame"], len(kinds)))
    for row, src in _targets(events, sources(ds)):
        onset, duration = events["onset"].iloc[row], events["duration"].iloc[row]
        column = kinds.index(events["trial_type"].iloc[row])
        if duration > 0:
            on = (src.axis >= onset - AXIS_EPS) & (src.axis < onset + duration - AXIS_EPS)
            out[src.index[on], column] = 1.0
        else:
            pick = int(nearest(src.axis, np.array([onset]))[0])
            half = 0.5 / src.rate if np.isfinite(src.rate) else 0.5
            if abs(src.axis[pick] - onset) <= half + AXIS_EPS:
                out[src.index[pick], column] = 1.0
    index = pd.Index(ds["frame"].values, name="frame")
    return pd.DataFrame(out, index=index, columns=kinds)
