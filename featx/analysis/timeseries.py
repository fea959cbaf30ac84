"""Time-series operations on a featx Dataset: study metadata, smoothing, resampling, baselines,
cleaning.

Each function returns a new Dataset and never modifies its input. Operations run per ``source``
along its axis (``time`` in seconds, or the frame index for still-image sequences) and per face
slot; frames without a face stay NaN and never spread NaN to their neighbours (see
:mod:`featx.analysis._core`). Transformed variables are float64.

Examples
--------
>>> import numpy as np
>>> from featx import schema, analysis
>>> frames = [{"aus": np.full((1, 20), v)} for v in (0.1, 0.5, 0.3, 0.7)]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 4, range(4), [0.0, 0.1, 0.2, 0.3],
...                         var_attrs={"aus": {"kind": "probability"}})
>>> analysis.smooth(ds, "mean", window=3)["aus"].sel(au="AU12", face=0).values.round(3).tolist()
[0.3, 0.3, 0.5, 0.5]
>>> analysis.resample(ds, hz=5)["aus"].sel(au="AU12", face=0).values.round(3).tolist()
[0.3, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from featx import validators
from featx.analysis._core import (
    AXIS_EPS,
    MEASURES,
    AnalysisError,
    Source,
    bridged,
    check_dataset,
    float_frame_vars,
    join_frames,
    map_series,
    remask,
    select,
    sources,
)

SMOOTH_METHODS = ("mean", "median", "savgol", "butter", "exponential")
#: Each option of :func:`smooth` and the methods that use it.
SMOOTH_OPTIONS: dict[str, tuple[str, ...]] = {
    "window": ("mean", "median", "savgol"),
    "polyorder": ("savgol",),
    "cutoff": ("butter",),
    "order": ("butter",),
    "alpha": ("exponential",),
}
RESAMPLE_METHODS = ("mean", "median", "linear")
BASELINE_REFERENCES = ("median", "mean", "first")
NORMALIZE = (None, "pct", "db")


# --- study metadata ------------------------------------------------------------------------------


def annotate(ds: xr.Dataset, table: pd.DataFrame) -> xr.Dataset:
    """Attach per-source study metadata (subject, condition, group ...) as ``frame`` coordinates.

    Parameters
    ----------
    ds
        A featx Dataset.
    table
        One row per source: a ``source`` column (or index) holding the exact ``source``
        values of ``ds``, and any other columns, each of which becomes a coordinate along
        ``frame`` so that every analysis can group by it.

    Returns
    -------
    xarray.Dataset
        ``ds`` with one new coordinate per column.

    Raises
    ------
    AnalysisError
        If a source of ``ds`` has no row, a source has several rows, or a column would
        replace an existing name.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from featx import schema
    >>> ds = schema.from_frames([{}, {}], ["a.mp4", "b.mp4"], [0, 0], [0.0, 0.0])
    >>> table = pd.DataFrame({"source": ["a.mp4", "b.mp4"], "subject": ["s1", "s2"]})
    >>> annotate(ds, table)["subject"].values.tolist()
    ['s1', 's2']
    """
    check_dataset(ds)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"annotate needs a pandas DataFrame, got {type(table).__name__}")
    if "source" in table.columns:
        table = table.set_index("source")
    elif table.index.name != "source":
        raise AnalysisError("the annotation table needs a 'source' column (or index)")
    table.index = table.index.astype(str)
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise AnalysisError(f"the annotation table has several rows for source(s) {duplicated}")
    names = ds["source"].values.astype(str).tolist()
    missing = sorted(set(names) - set(table.index))
    if missing:
        raise AnalysisError(
            f"the annotation table has no row for source(s) {missing[:5]}; its sources are "
            f"{table.index.tolist()[:5]}"
        )
    taken = [c for c in table.columns if c in ds.variables or c in ds.dims]
    if taken:
        raise AnalysisError(f"annotation column(s) {taken} would replace names already in ds")
    rows = table.loc[names]
    return ds.assign_coords({str(c): ("frame", rows[c].to_numpy()) for c in table.columns})


# --- smoothing -----------------------------------------------------------------------------------


def _padlen(sos: np.ndarray, n: int) -> int:
    """scipy's default ``sosfiltfilt`` pad length, shortened to fit a series of ``n`` samples."""
    ntaps = 2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    return min(3 * int(ntaps), n - 1)


def _butter(
    block: np.ndarray, src: Source, order: int, low: float | None, high: float | None
) -> np.ndarray:
    """Zero-phase Butterworth filter of gap-filled columns (cutoffs in Hz or cycles per frame)."""
    rate = src.require_rate()
    nyquist = rate / 2
    for value in (low, high):
        if value is not None and not 0 < value < nyquist:
            unit = "Hz" if src.unit == "s" else "cycles per frame"
            raise AnalysisError(
                f"cutoff {value} {unit} is outside (0, {nyquist:g}) for source {src.source!r} "
                f"sampled at {rate:g} per {'second' if src.unit == 's' else 'frame'}"
            )
    if low is not None and high is not None:
        if high >= low:
            raise AnalysisError(f"high_pass ({high}) must be below low_pass ({low})")
        sos = signal.butter(order, [high, low], "bandpass", fs=rate, output="sos")
    elif low is not None:
        sos = signal.butter(order, low, "lowpass", fs=rate, output="sos")
    else:
        sos = signal.butter(order, high, "highpass", fs=rate, output="sos")
    padlen = _padlen(sos, len(block))
    return bridged(block, src.axis, lambda x: signal.sosfiltfilt(sos, x, axis=0, padlen=padlen))


def smooth(
    ds: xr.Dataset,
    method: str = "mean",
    *,
    window: int | None = None,
    polyorder: int | None = None,
    cutoff: float | None = None,
    order: int | None = None,
    alpha: float | None = None,
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Smooth each series in time, per source and face slot.

    Frames without a face are bridged by linear interpolation before filtering and are NaN
    again afterwards; every finite value stays finite.

    Parameters
    ----------
    ds
        A featx Dataset.
    method
        ``"mean"`` / ``"median"``: centred rolling window of ``window`` frames (shorter at the
        ends). ``"savgol"``: Savitzky-Golay filter (``window`` frames, odd, and ``polyorder``;
        series shorter than the window are padded with their edge values). ``"butter"``:
        Butterworth low-pass of ``order`` at ``cutoff`` Hz (cycles per frame for sources
        without time), applied forward and backward (zero phase, ``sosfiltfilt``).
        ``"exponential"``: ``y[0] = x[0]``, ``y[t] = alpha·x[t] + (1 − alpha)·y[t−1]``.
    window, polyorder, cutoff, order, alpha
        The options of the method, and only of it: ``window`` (mean, median, savgol; default
        5 frames), ``polyorder`` (savgol; default 2), ``cutoff`` (butter; required), ``order``
        (butter; default 5), ``alpha`` (exponential; default 0.3). An option the method does
        not use raises :class:`AnalysisError` rather than being ignored.
    variables
        Variables to smooth; default every present variable of
        :data:`featx.analysis.MEASURES`. Others are kept unchanged.

    Returns
    -------
    xarray.Dataset
        Same dims, coordinates and attrs; the smoothed variables as float64.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([v])} for v in (0.0, 1.0, np.nan, 0.0)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 4, range(4), [0, 0.1, 0.2, 0.3])
    >>> smooth(ds, "median", window=3)["valence"].values.ravel().tolist()
    [0.5, 0.5, nan, 0.25]
    """
    names = select(ds, variables, MEASURES)
    if method not in SMOOTH_METHODS:
        raise AnalysisError(f"unknown smoothing method {method!r}; use one of {SMOOTH_METHODS}")
    given = {"window": window, "polyorder": polyorder, "cutoff": cutoff, "order": order}
    given = {k: v for k, v in {**given, "alpha": alpha}.items() if v is not None}
    unused = [k for k in given if method not in SMOOTH_OPTIONS[k]]
    if unused:
        uses = [k for k, methods in SMOOTH_OPTIONS.items() if method in methods]
        raise AnalysisError(
            f"smooth(method={method!r}) does not use {', '.join(f'{k}=' for k in unused)}; "
            f"its options are {', '.join(f'{k}=' for k in uses)}"
        )
    window = 5 if window is None else window
    polyorder = 2 if polyorder is None else polyorder
    order = 5 if order is None else order
    alpha = 0.3 if alpha is None else alpha
    if method in ("mean", "median", "savgol") and (int(window) != window or window < 1):
        raise AnalysisError(f"window must be a positive whole number of frames, got {window}")
    if method == "savgol" and (window % 2 == 0 or not 0 <= polyorder < window):
        raise AnalysisError(
            f"savgol needs an odd window and 0 <= polyorder < window, got {window}, {polyorder}"
        )
    if method == "butter" and cutoff is None:
        raise AnalysisError("smooth(method='butter') needs cutoff= (Hz)")
    if method == "exponential" and not 0 < alpha <= 1:
        raise AnalysisError(f"alpha must be in (0, 1], got {alpha}")

    def filt(x: np.ndarray) -> np.ndarray:
        if method in ("mean", "median"):
            rolling = pd.DataFrame(x).rolling(int(window), center=True, min_periods=1)
            return getattr(rolling, method)().to_numpy()
        if method == "savgol":
            mode = "interp" if len(x) >= window else "nearest"
            return signal.savgol_filter(x, int(window), polyorder, axis=0, mode=mode)
        return pd.DataFrame(x).ewm(alpha=alpha, adjust=False).mean().to_numpy()

    def run(block: np.ndarray, src: Source) -> np.ndarray:
        if len(block) < 2:
            return block
        if method == "butter":
            return _butter(block, src, order, cutoff, None)
        return bridged(block, src.axis, filt)

    return map_series(ds, names, run)


# --- resampling ----------------------------------------------------------------------------------


def _units(hz: float | None, seconds: float | None, samples: int | None) -> tuple[str, float]:
    given = (("hz", hz), ("seconds", seconds), ("samples", samples))
    given = {k: v for k, v in given if v is not None}
    if len(given) != 1:
        raise AnalysisError(
            "resample needs exactly one of hz=, seconds= or samples= "
            f"(got {', '.join(f'{k}={v}' for k, v in given.items()) or 'none'})"
        )
    unit, value = next(iter(given.items()))
    if not value > 0 or (unit == "samples" and int(value) != value):
        raise AnalysisError(
            f"{unit}= must be a positive {'integer' if unit == 'samples' else 'number'}"
        )
    return unit, float(value)


def _bins(src: Source, unit: str, value: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin number of each frame and each output sample's position on the axis."""
    n = len(src.index)
    if unit == "samples":
        bins = np.arange(n) // int(value)
        return bins, src.axis[:: int(value)]
    if src.unit != "s":
        raise AnalysisError(
            f"source {src.source!r} has no time (still images): resample it with samples="
        )
    step = 1.0 / value if unit == "hz" else value
    start = src.axis[0]
    bins = np.floor((src.axis - start) / step + AXIS_EPS).astype(np.int64)
    return bins, start + step * np.arange(bins[-1] + 1)


def _interpolate(block: np.ndarray, axis: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation between the two frames around each grid point (NaN if either is)."""
    left = np.clip(np.searchsorted(axis, grid + AXIS_EPS, side="right") - 1, 0, len(axis) - 1)
    right = np.minimum(left + 1, len(axis) - 1)
    span = axis[right] - axis[left]
    weight = np.divide(grid - axis[left], span, out=np.zeros_like(grid), where=span > 0)
    weight = np.clip(weight, 0.0, 1.0)[:, None]
    exact = weight <= AXIS_EPS
    mixed = (1 - weight) * block[left] + weight * block[right]
    return np.where(exact, block[left], mixed)


def _resample_block(
    values: np.ndarray, axis: np.ndarray, bins: np.ndarray, grid: np.ndarray, method: str
) -> np.ndarray:
    """One source's (frames, ...) values on the grid: binned mean/median, or interpolated."""
    values = np.asarray(values, dtype=np.float64)
    block = values.reshape(len(values), -1)
    if method == "linear":
        out = _interpolate(block, axis, grid)
    else:
        groups = pd.DataFrame(block).groupby(bins)
        out = getattr(groups, method)().reindex(range(len(grid))).to_numpy()
    return out.reshape(len(grid), *values.shape[1:])


def resample(
    ds: xr.Dataset,
    *,
    hz: float | None = None,
    seconds: float | None = None,
    samples: int | None = None,
    method: str = "mean",
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Resample every source onto a new grid; the unit is always explicit.

    Parameters
    ----------
    ds
        A featx Dataset.
    hz, seconds, samples
        Exactly one. ``hz=f`` or ``seconds=1/f``: a grid every ``1/f`` s from each source's
        first frame (needs ``time``). ``samples=k``: blocks of ``k`` consecutive frames (the
        last block may be shorter; works without time).
    method
        ``"mean"`` / ``"median"``: aggregate the frames in ``[t, t + step)`` of each grid point
        ``t`` (NaN-aware; a bin with no face, or no frame at all when up-sampling, is NaN).
        ``"linear"``: interpolate between the two frames around each grid point (NaN if either
        has no face); not with ``samples``. On a lazy study (dask arrays) the result stays
        lazy, one task per source.
    variables
        Variables to resample; default every float variable along ``frame``. Variables along
        ``frame`` that are not resampled (e.g. the integer ``identity``) are dropped.

    Returns
    -------
    xarray.Dataset
        New ``frame`` numbering 0..N−1; ``time`` is each grid point (the first frame's time for
        ``samples``); ``source_frame`` and any other per-frame coordinate (e.g. from
        :func:`annotate`) come from the last original frame at or before the grid point.

    Raises
    ------
    AnalysisError
        Units missing or ambiguous, or ``hz``/``seconds`` for a source without time.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([v])} for v in (0.0, 0.2, 0.4, 0.6, 0.8)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 5, range(5), np.arange(5) / 10)
    >>> resample(ds, samples=2)["valence"].values.ravel().round(2).tolist()
    [0.1, 0.5, 0.8]
    >>> resample(ds, hz=20, method="linear")["time"].values.round(2).tolist()
    [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
    """
    check_dataset(ds)
    unit, value = _units(hz, seconds, samples)
    if method not in RESAMPLE_METHODS:
        raise AnalysisError(f"unknown resample method {method!r}; use one of {RESAMPLE_METHODS}")
    if method == "linear" and unit == "samples":
        raise AnalysisError("method='linear' needs a rate (hz= or seconds=), not samples=")
    names = select(ds, variables, ()) if variables is not None else float_frame_vars(ds)

    variables = {name: ds[name].transpose("frame", ...) for name in names}
    pieces = {name: [] for name in names}
    anchors, grids, source_names = [], [], []
    for src in sources(ds):
        bins, grid = _bins(src, unit, value)
        anchor = np.clip(np.searchsorted(src.axis, grid + AXIS_EPS, side="right") - 1, 0, None)
        anchors.append(src.index[anchor])
        grids.append(grid if src.unit == "s" else np.full(len(grid), np.nan))
        source_names += [src.source] * len(grid)
        for name, var in variables.items():
            args = (src.axis, bins, grid, method)
            if isinstance(var.data, np.ndarray):
                pieces[name].append(_resample_block(var.values[src.index], *args))
            else:  # a lazy study: one dask task per source
                import dask
                import dask.array as da

                task = dask.delayed(_resample_block)(var.data[src.index], *args)
                shape = (len(grid), *var.shape[1:])
                pieces[name].append(da.from_delayed(task, shape=shape, dtype=np.float64))

    anchor = np.concatenate(anchors)
    n = len(anchor)
    coords = {
        "frame": np.arange(n, dtype=np.int64),
        "source": ("frame", np.asarray(source_names, dtype=object)),
        "time": ("frame", np.concatenate(grids)),
    }
    for name, coord in ds.coords.items():
        if coord.dims == ("frame",) and name not in coords:
            coords[name] = ("frame", coord.values[anchor])
        elif "frame" not in coord.dims:
            coords[name] = coord
    data = {
        name: xr.Variable(var.dims, join_frames(pieces[name]), var.attrs).transpose(*ds[name].dims)
        for name, var in variables.items()
    }
    kept = {n: v for n, v in ds.data_vars.items() if "frame" not in v.dims}
    return xr.Dataset({**data, **kept}, coords=coords, attrs=ds.attrs)


# --- baselines -----------------------------------------------------------------------------------


def _normalize(x: np.ndarray, b: np.ndarray, normalize: str | None) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if normalize is None:
            return x - b
        out = 100 * (x - b) / b if normalize == "pct" else 10 * np.log10(x / b)
    return np.where(np.isfinite(out), out, np.nan)


def baseline(
    ds: xr.Dataset,
    reference: str | xr.Dataset = "median",
    normalize: str | None = None,
    *,
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Express each series relative to a baseline value, per source and face slot.

    Parameters
    ----------
    ds
        A featx Dataset.
    reference
        ``"median"`` or ``"mean"`` of the source's frames (NaN-aware), ``"first"`` (the first
        frame where the face slot has a value), or an xarray Dataset holding the baseline of
        each variable (for example ``ds.sel(frame=...).mean("frame")``); it is broadcast
        against each variable, and a ``source`` dimension in it is matched per frame.
    normalize
        ``None``: ``x − b``. ``"pct"``: ``100·(x − b)/b``. ``"db"``: ``10·log10(x/b)``. Where
        the result is not finite (``b = 0``, or ``x/b <= 0`` for dB) it is NaN, and a NaN
        reference gives NaN; otherwise finite values stay finite.
    variables
        Default every present variable of :data:`featx.analysis.MEASURES`.

    Returns
    -------
    xarray.Dataset
        Same dims, coordinates and attrs; the baselined variables as float64.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([v])} for v in (0.2, 0.4, 0.6)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 3, range(3), [0, 0.1, 0.2])
    >>> baseline(ds, "first", "pct")["valence"].values.ravel().round(1).tolist()
    [0.0, 100.0, 200.0]
    """
    names = select(ds, variables, MEASURES)
    validators.choice("normalize", normalize, NORMALIZE, AnalysisError)
    if isinstance(reference, xr.Dataset):
        out = ds.copy()
        for name in names:
            if name not in reference:
                raise AnalysisError(f"the reference Dataset has no variable {name!r}")
            b = reference[name].astype(np.float64)
            if "source" in b.dims:
                b = b.sel(source=ds["source"])
            x = ds[name].astype(np.float64)
            result = xr.apply_ufunc(_normalize, x, b, kwargs={"normalize": normalize})
            out[name] = result.transpose(*x.dims, ...).assign_attrs(x.attrs)
        return out
    if not isinstance(reference, str) or reference not in BASELINE_REFERENCES:
        raise AnalysisError(
            f"reference must be one of {BASELINE_REFERENCES} or an xarray Dataset, got "
            f"{reference!r}"
        )

    def run(block: np.ndarray, src: Source) -> np.ndarray:
        ok = np.isfinite(block)
        if reference == "first":
            first = np.argmax(ok, axis=0)
            b = np.where(ok.any(axis=0), block[first, np.arange(block.shape[1])], np.nan)
        else:
            b = np.full(block.shape[1], np.nan)
            some = ok.any(axis=0)
            reduce = np.nanmedian if reference == "median" else np.nanmean
            b[some] = reduce(block[:, some], axis=0)
        return remask(_normalize(block, b, normalize), block)

    return map_series(ds, names, run)


# --- cleaning ------------------------------------------------------------------------------------


def _remove_fit(y: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    """Residuals of the least-squares fit of ``y`` on ``regressors`` (rows with finite ``y``)."""
    out = np.full_like(y, np.nan)
    for j in range(y.shape[1]):
        ok = np.isfinite(y[:, j])
        if ok.any():
            coef, *_ = np.linalg.lstsq(regressors[ok], y[ok, j], rcond=None)
            out[ok, j] = y[ok, j] - regressors[ok] @ coef
    return out


def _confound_block(confounds: object, n_frames: int) -> np.ndarray:
    values = np.asarray(confounds.to_numpy() if hasattr(confounds, "to_numpy") else confounds)
    values = values.astype(np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n_frames:
        raise AnalysisError(
            f"confounds must have one row per frame ({n_frames}), got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        raise AnalysisError("confounds must be finite (no NaN or inf)")
    return values


def _zscore(block: np.ndarray) -> np.ndarray:
    """Column z-scores over finite rows, ddof=1; a zero or undefined std counts as 1."""
    ok = np.isfinite(block)
    count = ok.sum(axis=0)
    mean = np.where(ok, block, 0.0).sum(axis=0) / np.maximum(count, 1)
    centred = block - mean
    std = np.sqrt((np.where(ok, centred, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1))
    return centred / np.where((count > 1) & (std > 0), std, 1.0)


def clean(
    ds: xr.Dataset,
    *,
    detrend: bool = True,
    standardize: bool = True,
    confounds: object = None,
    low_pass: float | None = None,
    high_pass: float | None = None,
    order: int | None = None,
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Clean each series (nilearn-style), per source and face slot, in this order.

    1. ``detrend``: remove the least-squares line over time (frames with a face).
    2. ``low_pass`` / ``high_pass`` (Hz; cycles per frame without time): Butterworth filter of
       ``order`` (default 5; an error without a cutoff), forward and backward; both given:
       band-pass. Gaps are bridged while
       filtering and NaN again afterwards.
    3. ``confounds``: an array or DataFrame with one row per frame of ``ds`` (one column per
       confound); they get the same detrending and filtering, and are regressed out together
       with an intercept.
    4. ``standardize``: z-score with ddof=1 (a standard deviation of 0, or of fewer than two
       frames, counts as 1).

    Returns
    -------
    xarray.Dataset
        Same dims, coordinates and attrs; the cleaned variables as float64.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([v])} for v in (0.0, 0.3, 0.2, 0.5)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 4, range(4), [0, 0.1, 0.2, 0.3])
    >>> clean(ds, detrend=False)["valence"].values.ravel().round(3).tolist()
    [-1.201, 0.24, -0.24, 1.201]
    """
    names = select(ds, variables, MEASURES)
    if order is not None and low_pass is None and high_pass is None:
        raise AnalysisError(
            "clean(order=...) is the filter's order: it needs low_pass= or high_pass="
        )
    order = 5 if order is None else order
    extra = None if confounds is None else _confound_block(confounds, ds.sizes["frame"])

    def temporal(block: np.ndarray, src: Source) -> np.ndarray:
        if detrend:
            line = np.column_stack([np.ones(len(block)), src.axis - src.axis[0]])
            block = _remove_fit(block, line)
        if (low_pass is not None or high_pass is not None) and len(block) > 1:
            block = _butter(block, src, order, low_pass, high_pass)
        return block

    def run(block: np.ndarray, src: Source) -> np.ndarray:
        block = temporal(block, src)
        if extra is not None:
            regressors = temporal(extra[src.index], src)
            block = _remove_fit(block, np.column_stack([regressors, np.ones(len(block))]))
        return _zscore(block) if standardize else block

    return map_series(ds, names, run)
