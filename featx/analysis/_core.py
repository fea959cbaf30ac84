"""Shared machinery of featx.analysis: errors, variable selection, per-source time axes, gaps.

Every time-series operation works one ``source`` at a time, along that source's axis: its
``time`` coordinate (seconds) when its frames have one, else its frame index within the file
(``source_frame``, for sequences of still images). A source whose frames only *some* have a
time stays in seconds: the missing times are interpolated from the frame index at the
source's frame rate, with an :class:`AnalysisWarning` (units never switch silently). Each
face slot and each
label (AU, emotion, ...) is its own series. Frames without a face are NaN in a series; an
operation that needs a gap-free signal bridges them by linear interpolation along the axis and
sets them back to NaN afterwards (:func:`fill_gaps`), so a missing frame never spreads NaN into
its neighbours.

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> ds = schema.from_frames([{"aus": np.full((1, 20), 0.5)}] * 3, ["a.mp4"] * 3, [0, 1, 2],
...                         [0.0, 0.04, 0.08], var_attrs={"aus": {"kind": "probability"}})
>>> [(s.source, s.unit, round(s.rate, 6)) for s in sources(ds)]
[('a.mp4', 's', 25.0)]
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from featx import schema


class AnalysisError(ValueError):
    """An analysis got arguments or data it cannot use; the message says what and where."""


class AnalysisWarning(UserWarning):
    """An analysis had to repair its input (e.g. fill missing times); the message says how."""


#: The expression signals a time-series operation transforms by default (when present).
MEASURES: tuple[str, ...] = (
    "aus",
    "au_intensity",
    "emotions",
    "valence",
    "arousal",
    "head_pose",
    "head_translation",
    "gaze",
    "blendshapes",
)
#: Tolerance (in axis units) for comparing times that should coincide.
AXIS_EPS = 1e-9


@contextlib.contextmanager
def too_few_is_nan() -> Iterator[None]:
    """Statistics of too few observations are NaN, without NumPy's or SciPy's warnings.

    A t-test or standard deviation of an empty (or one-value) slice is NaN by design here; the
    result's ``df`` or ``n`` says why, so the "Mean of empty slice", "Degrees of freedom <= 0"
    and SciPy ``SmallSampleWarning`` messages (all ``RuntimeWarning``) are not shown.
    """
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@dataclass(frozen=True)
class Source:
    """The frames of one source, in axis order.

    Attributes
    ----------
    source
        The ``source`` coordinate value (file path).
    index
        Positions along ``frame`` of this source's frames, sorted by ``axis``.
    axis
        Seconds (``unit == "s"``) or frame index in the file (``unit == "frame"``).
    """

    source: str
    index: np.ndarray
    axis: np.ndarray
    unit: str

    @property
    def rate(self) -> float:
        """Samples per axis unit (Hz, or 1 per frame), from the median step; NaN below 2 frames."""
        if len(self.axis) < 2:
            return float("nan")
        step = float(np.median(np.diff(self.axis)))
        return 1.0 / step if step > 0 else float("nan")

    def require_rate(self) -> float:
        """:attr:`rate`, or an :class:`AnalysisError` naming the source when it has none."""
        rate = self.rate
        if not np.isfinite(rate):
            raise AnalysisError(
                f"source {self.source!r} has {len(self.axis)} frame(s) and no increasing "
                f"{'time' if self.unit == 's' else 'frame index'}: its sampling rate is undefined"
            )
        return rate


def check_dataset(ds: object, *, frame_order: bool = True) -> xr.Dataset:
    """Return ``ds`` if it is a Dataset with the frame coordinates, else raise a clear error.

    ``frame_order=False`` skips :func:`check_frame_order` (for code that shows frames one by
    one, such as plotting detections, where a source listed twice is harmless).
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"expected a featx xarray.Dataset, got {type(ds).__name__}")
    missing = [c for c in ("frame", *schema.FRAME_COORDS) if c not in ds.coords]
    if missing:
        raise AnalysisError(
            f"the Dataset lacks coordinate(s) {missing}; analyses need frame, source, "
            "source_frame and time (see featx.schema)"
        )
    if frame_order:
        check_frame_order(ds)
    return ds


def check_frame_order(ds: xr.Dataset) -> None:
    """Refuse a video frame listed twice, or a time that does not increase with the frame.

    Within a source, each ``source_frame`` may appear once, and where two frames both have a
    ``time`` the later frame (larger ``source_frame``) must have the larger time. Either
    fault makes a series' axis ambiguous (which of two values is frame 5? which frame comes
    first?), so every analysis refuses it with an :class:`AnalysisError` naming the source
    and the frames, instead of averaging, double-counting or reordering them silently.

    Examples
    --------
    >>> from featx import schema
    >>> ds = schema.from_frames([{}] * 3, ["a"] * 3, [0, 1, 2], [0.0, 0.5, 0.25])
    >>> try:
    ...     check_frame_order(ds)
    ... except AnalysisError as err:
    ...     print(str(err).split(";")[0])
    source 'a': time goes backwards at source_frame 2 (0.25 s after 0.5 s at source_frame 1)
    """
    names = ds["source"].values
    index = ds["source_frame"].values
    time = ds["time"].values.astype(np.float64)
    order = np.lexsort((index, names))
    names, index, time = names[order], index[order], time[order]
    same = names[1:] == names[:-1]
    repeated = np.flatnonzero(same & (index[1:] == index[:-1]))
    if len(repeated):
        i = repeated[0]
        count = int(((names == names[i]) & (index == index[i])).sum())
        raise AnalysisError(
            f"source {str(names[i])!r}: source_frame {index[i]} appears on {count} frames "
            f"(positions {sorted(order[(names == names[i]) & (index == index[i])].tolist())} "
            "along frame); the same video frame twice would be counted twice or averaged: "
            "keep one of them (ds.isel(frame=...))"
        )
    # the time before each timed frame of the same source (NaN times are skipped)
    timed = np.isfinite(time)
    names_t, index_t, time_t = names[timed], index[timed], time[timed]
    back = np.flatnonzero((names_t[1:] == names_t[:-1]) & (time_t[1:] <= time_t[:-1]))
    if len(back):
        i = back[0]
        how = "goes backwards" if time_t[i + 1] < time_t[i] else "stands still"
        raise AnalysisError(
            f"source {str(names_t[i])!r}: time {how} at source_frame {index_t[i + 1]} "
            f"({time_t[i + 1]:g} s after {time_t[i]:g} s at source_frame {index_t[i]}); "
            "every analysis needs time to increase with source_frame: correct the time "
            "coordinate, or split the source where its clock was reset"
        )


def _fill_times(name: str, time: np.ndarray, frame_index: np.ndarray) -> np.ndarray:
    """``time`` with its NaN entries interpolated linearly over the frame index.

    Beyond the first and last timed frame the times continue at the median seconds per frame.
    Raises :class:`AnalysisError` when fewer than two frames have a time.
    """
    ok = np.isfinite(time)
    order = np.argsort(frame_index[ok], kind="stable")
    known, seconds = frame_index[ok][order], time[ok][order]
    steps = np.diff(known)
    per_frame = np.diff(seconds)[steps > 0] / steps[steps > 0]
    step = float(np.median(per_frame)) if len(per_frame) else float("nan")
    if not step > 0:
        raise AnalysisError(
            f"source {name!r} has a time for only {ok.sum()} of its {len(time)} frames, too few "
            "to interpolate the others from its frame rate: give every frame of the source a "
            "time, or none (then its frame index is used)"
        )
    missing = frame_index[~ok]
    filled = np.interp(missing, known, seconds)
    filled = np.where(missing < known[0], seconds[0] + (missing - known[0]) * step, filled)
    filled = np.where(missing > known[-1], seconds[-1] + (missing - known[-1]) * step, filled)
    warnings.warn(
        f"source {name!r}: {(~ok).sum()} of {len(time)} frame(s) have no time; their times "
        f"were interpolated from source_frame at {1 / step:g} frames per second",
        AnalysisWarning,
        stacklevel=4,
    )
    out = time.copy()
    out[~ok] = filled
    return out


def sources(ds: xr.Dataset) -> list[Source]:
    """Split the frames of ``ds`` by ``source``, in order of first appearance.

    A source with a ``time`` on every frame runs in seconds, one without any time in frames
    (``source_frame``). When only some frames have a time, the others are interpolated from
    ``source_frame`` at the source's frame rate (continued at that rate beyond the first and
    last timed frame) and an :class:`AnalysisWarning` says so; a source with a time on fewer
    than two frames raises :class:`AnalysisError`.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> ds = schema.from_frames([{}] * 3, ["b", "a", "b"], [0, 0, 1], [np.nan] * 3)
    >>> [(s.source, s.index.tolist(), s.unit) for s in sources(ds)]
    [('b', [0, 2], 'frame'), ('a', [1], 'frame')]
    >>> ds = schema.from_frames([{}] * 4, ["a"] * 4, range(4), [0.0, 0.5, np.nan, 1.5])
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     [(s.unit, s.axis.tolist()) for s in sources(ds)]
    [('s', [0.0, 0.5, 1.0, 1.5])]
    >>> caught[0].category.__name__, str(caught[0].message).split(";")[0]
    ('AnalysisWarning', "source 'a': 1 of 4 frame(s) have no time")
    """
    check_dataset(ds)
    names = ds["source"].values.astype(str)
    time = ds["time"].values.astype(np.float64)
    frame_index = ds["source_frame"].values.astype(np.float64)
    _, first = np.unique(names, return_index=True)
    out = []
    for name in names[np.sort(first)]:
        index = np.flatnonzero(names == name)
        timed = np.isfinite(time[index])
        if timed.all():
            axis, unit = time[index], "s"
        elif not timed.any():
            axis, unit = frame_index[index], "frame"
        else:
            axis, unit = _fill_times(str(name), time[index], frame_index[index]), "s"
        order = np.argsort(axis, kind="stable")
        out.append(Source(str(name), index[order], axis[order], unit))
    return out


def frame_axis(groups: Sequence[Source], n_frames: int) -> np.ndarray:
    """Each frame's axis value (seconds, or frame index), in ``frame`` order."""
    out = np.full(n_frames, np.nan)
    for src in groups:
        out[src.index] = src.axis
    return out


def select(ds: xr.Dataset, variables: str | Sequence[str] | None, default: Sequence[str]) -> list:
    """Names of the float ``frame`` variables to process; ``None`` means ``default`` (present)."""
    check_dataset(ds)
    if variables is None:
        names = [v for v in default if v in ds.data_vars]
        if not names:
            raise AnalysisError(
                f"the Dataset has none of the variables {list(default)}; "
                f"it has {list(ds.data_vars)}: pass variables=[...]"
            )
        return names
    names = [variables] if isinstance(variables, str) else list(variables)
    for name in names:
        if name not in ds.data_vars:
            raise AnalysisError(f"no variable {name!r} in the Dataset; it has {list(ds.data_vars)}")
        var = ds[name]
        if "frame" not in var.dims or var.dtype.kind != "f":
            raise AnalysisError(f"variable {name!r} is not a float series along 'frame'")
    return names


def float_frame_vars(ds: xr.Dataset) -> list[str]:
    """Every float data variable that has a ``frame`` dimension."""
    return [n for n, v in ds.data_vars.items() if "frame" in v.dims and v.dtype.kind == "f"]


def as_array(obj: xr.Dataset | xr.DataArray, variable: str) -> xr.DataArray:
    """``obj`` itself if it is a DataArray, else ``obj[variable]`` with a clear error."""
    if isinstance(obj, xr.DataArray):
        return obj
    if not isinstance(obj, xr.Dataset):
        raise TypeError(f"expected an xarray Dataset or DataArray, got {type(obj).__name__}")
    if variable not in obj.data_vars:
        raise AnalysisError(
            f"no variable {variable!r} in the Dataset; it has {list(obj.data_vars)}"
        )
    if "frame" in obj.dims and all(c in obj.coords for c in schema.FRAME_COORDS):
        check_frame_order(obj)
    return obj[variable]


def feature_dim(da: xr.DataArray, exclude: Sequence[str] = ("frame", "face")) -> str | None:
    """The one label dimension of a variable (``au``, ``emotion`` ...), or None if it has none.

    For a variable of the featx schema the label dim is the schema's
    (:func:`featx.schema.label_dim`); for any other array (a summary, epochs, a user's array)
    it is the one dim left after ``exclude``. Either way an array with more than one dim
    besides ``exclude`` (e.g. ``landmarks``: landmark and xy) raises :class:`AnalysisError`.

    Examples
    --------
    >>> import xarray as xr
    >>> feature_dim(xr.DataArray([[[0.5]]], dims=("frame", "face", "au"), name="aus"))
    'au'
    >>> feature_dim(xr.DataArray([[0.5]], dims=("source", "au")), exclude=("source",))
    'au'
    """
    rest = [d for d in da.dims if d not in exclude]
    if len(rest) > 1:
        raise AnalysisError(
            f"{da.name!r} has several label dims {rest}; this analysis needs at most one"
        )
    if isinstance(da.name, str) and da.name in schema.VARIABLES:
        dim = schema.label_dim(da.name)
        if dim is not None and dim in da.dims:
            return dim if dim in rest else None
    return rest[0] if rest else None


def template(da: xr.DataArray, dims: Sequence[str]) -> xr.DataArray:
    """An array over ``da``'s dims other than ``dims`` (coords along ``dims`` dropped)."""
    return da.isel({d: 0 for d in dims}, drop=True)


def map_series(
    ds: xr.Dataset,
    names: Sequence[str],
    func: Callable[[np.ndarray, Source], np.ndarray],
    dtype: type = np.float64,
) -> xr.Dataset:
    """Apply ``func(block, source)`` to each source's (frames, series) block of each variable.

    ``block`` is float64 with one column per face slot × label, rows in axis order; ``func``
    returns an array of the same shape. The result replaces the variable (as ``dtype``); every
    other variable, coordinate and attr is kept. The input is not modified. A variable held as
    a dask array (a study opened with :func:`featx.open_study`) stays lazy: one task per
    source, so computing it holds one source's series in memory at a time.
    """
    out = ds.copy()
    groups = sources(ds)
    for name in names:
        var = ds[name].transpose("frame", ...)
        if isinstance(var.data, np.ndarray):
            values = var.values
            result = np.full(values.shape, np.nan, dtype=dtype)
            for src in groups:
                result[src.index] = _per_source(values[src.index], src, func, dtype)
        else:
            result = _lazy_per_source(var.data, groups, func, dtype)
        out[name] = var.copy(data=result).transpose(*ds[name].dims)
    return out


def _per_source(values: np.ndarray, src: Source, func: Callable, dtype: type) -> np.ndarray:
    """``func`` on one source's rows, flattened to (frames, series) and back."""
    block = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return np.asarray(func(block, src)).reshape(values.shape).astype(dtype)


def _lazy_per_source(data: Any, groups: Sequence[Source], func: Callable, dtype: type) -> Any:
    """:func:`_per_source` as one dask task per source, reassembled in frame order."""
    import dask
    import dask.array as da

    pieces = [
        da.from_delayed(
            dask.delayed(_per_source)(data[src.index], src, func, dtype),
            shape=(len(src.index), *data.shape[1:]),
            dtype=dtype,
        )
        for src in groups
    ]
    order = np.concatenate([src.index for src in groups])
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return da.concatenate(pieces, axis=0)[inverse]


def join_frames(pieces: Sequence[Any]) -> Any:
    """Join arrays along frames: NumPy pieces with NumPy, dask pieces (a lazy study) with dask."""
    if all(isinstance(p, np.ndarray) for p in pieces):
        return np.concatenate(pieces)
    import dask.array as da

    return da.concatenate(pieces)


def nearest(axis: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index of the ``axis`` value (sorted) nearest each target; ties go to the earlier one.

    Examples
    --------
    >>> nearest(np.array([0.0, 1.0, 2.0]), np.array([-5.0, 0.5, 1.6, 9.0])).tolist()
    [0, 0, 2, 2]
    """
    right = np.clip(np.searchsorted(axis, target), 0, len(axis) - 1)
    left = np.clip(right - 1, 0, len(axis) - 1)
    return np.where(np.abs(axis[left] - target) <= np.abs(axis[right] - target), left, right)


def fill_gaps(block: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN rows of each column along ``axis`` (ends take the nearest value).

    Columns without any finite value stay NaN.

    Examples
    --------
    >>> fill_gaps(np.array([[np.nan], [1.0], [np.nan], [3.0]]), np.arange(4.0)).ravel().tolist()
    [1.0, 1.0, 2.0, 3.0]
    """
    out = block.copy()
    for j in range(block.shape[1]):
        ok = np.isfinite(block[:, j])
        if ok.any() and not ok.all():
            out[~ok, j] = np.interp(axis[~ok], axis[ok], block[ok, j])
    return out


def remask(result: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``result`` with NaN wherever ``block`` (the input) was NaN."""
    return np.where(np.isfinite(block), result, np.nan)


def bridged(
    block: np.ndarray, axis: np.ndarray, func: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``func`` of the gap-filled columns that have a value, NaN again where ``block`` was NaN.

    Columns without any value are not passed to ``func`` and stay NaN.

    Examples
    --------
    >>> block = np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, np.nan]])
    >>> bridged(block, np.arange(3.0), lambda x: 2 * x).tolist()
    [[2.0, nan], [nan, nan], [6.0, nan]]
    """
    some = np.isfinite(block).any(axis=0)
    if not some.any():  # nothing to filter (e.g. a face slot that is always empty)
        return np.full(block.shape, np.nan)
    result = np.asarray(func(fill_gaps(block[:, some], axis)))
    out = np.full(block.shape, np.nan, dtype=result.dtype)
    out[:, some] = result
    return remask(out, block)
