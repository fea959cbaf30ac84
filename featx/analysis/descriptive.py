"""Descriptive statistics of a featx Dataset per group: summaries and occurrence rates.

Every statistic is NaN-aware (frames without a face are not observations) and is computed
over ``dim`` (``frame`` by default, ``epoch`` for epochs) within each value of a grouping
coordinate (``source``, or ``subject``/``condition`` from :func:`featx.analysis.annotate`).

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> frames = [{"valence": np.array([v])} for v in (0.1, 0.3, np.nan, 0.5)]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 4, range(4), [0, 0.1, 0.2, 0.3])
>>> summary(ds, "valence")["mean"].values.round(3).tolist()
[[0.3]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from featx.analysis._core import AnalysisError, as_array, template

SUMMARY_STATS = ("count", "mean", "std", "sem", "min", "max")


def _grouped(
    da: xr.DataArray,
    by: str | None,
    dim: str,
    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> xr.DataArray:
    """``reduce(values, finite_mask)`` over ``dim`` within each value of coordinate ``by``."""
    if dim not in da.dims:
        raise AnalysisError(f"{da.name!r} has no dim {dim!r}; its dims are {da.dims}")
    da = da.astype(np.float64).transpose(dim, ...)
    like = template(da, [dim])
    if by is None:
        return like.copy(data=reduce(da.values, np.isfinite(da.values)))
    if by not in da.coords or da[by].dims != (dim,):
        raise AnalysisError(
            f"by={by!r} must be a coordinate along {dim!r}; "
            f"candidates: {[c for c in da.coords if da[c].dims == (dim,)]}"
        )
    key = da[by].values
    groups = pd.unique(pd.Series(key))
    parts = []
    for group in groups:
        values = da.values[key == group]
        parts.append(reduce(values, np.isfinite(values)))
    joined = xr.concat([like.copy(data=p) for p in parts], dim=pd.Index(groups, name=by))
    return joined.transpose(by, ...)


def _statistic(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A NaN-aware column statistic (std and sem with ddof=1); NaN where it is undefined."""

    def run(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        n = ok.sum(axis=0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ok, x, 0.0).sum(axis=0) / n
            if name == "count":
                return n
            if name == "mean":
                return mean
            if name in ("min", "max"):
                fill = np.inf if name == "min" else -np.inf
                extreme = getattr(np.where(ok, x, fill), name)(axis=0)
                return np.where(n > 0, extreme, np.nan)
            std = np.sqrt((np.where(ok, x - mean, 0.0) ** 2).sum(axis=0) / (n - 1))
            std = np.where(n > 1, std, np.nan)
            return std if name == "std" else std / np.sqrt(n)

    return run


def summary(
    obj: xr.Dataset | xr.DataArray,
    variable: str = "aus",
    *,
    by: str | None = "source",
    dim: str = "frame",
    stats: Sequence[str] = ("mean", "std", "sem", "min", "max"),
) -> xr.Dataset:
    """Descriptive statistics over ``dim`` per group (NaN-aware; std and sem with ddof=1).

    Parameters
    ----------
    obj, variable
        A Dataset and variable name, or a DataArray (e.g. epochs, with ``dim="epoch"``).
    by
        A coordinate along ``dim`` to group by (``source``, or ``subject``/``condition`` from
        :func:`featx.analysis.annotate`); None: one summary over all of ``dim``.
    stats
        Any of ``count`` (observations with a value), ``mean``, ``std``, ``sem``, ``min``,
        ``max``.

    Returns
    -------
    xarray.Dataset
        One variable per statistic over (``by``, remaining dims), groups in order of first
        appearance.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([x])} for x in (0.1, 0.3, 0.5, 0.9)]
    >>> ds = schema.from_frames(frames, ["a", "a", "b", "b"], [0, 1, 0, 1], [0, 0.1] * 2)
    >>> summary(ds, "valence", stats=["mean"])["mean"].sel(face=0).values.round(2).tolist()
    [0.2, 0.7]
    """
    unknown = [s for s in stats if s not in SUMMARY_STATS]
    if unknown:
        raise AnalysisError(f"unknown statistic(s) {unknown}; use {SUMMARY_STATS}")
    da = as_array(obj, variable)
    return xr.Dataset({s: _grouped(da, by, dim, _statistic(s)) for s in stats})


def occurrence(
    obj: xr.Dataset | xr.DataArray,
    variable: str = "aus",
    *,
    threshold: float = 0.5,
    by: str | None = "source",
    dim: str = "frame",
) -> xr.DataArray:
    """Fraction of observations above ``threshold``, among those with a value, per group.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([x])} for x in (0.9, 0.1, np.nan, 0.7)]
    >>> ds = schema.from_frames(frames, ["a"] * 4, range(4), [0, 0.1, 0.2, 0.3])
    >>> occurrence(ds, "valence").values.round(3).tolist()
    [[0.667]]
    """

    def run(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        n = ok.sum(axis=0)
        with np.errstate(invalid="ignore"):
            above = (np.where(ok, x, -np.inf) > threshold).sum(axis=0)
        return np.where(n > 0, above / np.maximum(n, 1), np.nan)

    return _grouped(as_array(obj, variable), by, dim, run).rename("occurrence")
