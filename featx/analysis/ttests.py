"""t-tests on a featx Dataset or on any xarray array made from one (summaries, epochs).

Observations run along ``dim`` (``frame`` by default, or e.g. ``subject`` after
:func:`featx.analysis.summary`); the result covers the remaining dims. NaN observations (frames
without a face) are omitted. The tests are scipy's.

Examples
--------
>>> import numpy as np, xarray as xr
>>> da = xr.DataArray([[0.1, 0.2], [0.3, 0.1], [0.2, np.nan]], dims=("source", "au"))
>>> ttest_1samp(da, dim="source")["df"].values.tolist()
[2.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from featx.analysis._core import AnalysisError, as_array, template, too_few_is_nan


def _observations(da: xr.DataArray, dim: str | Sequence[str]) -> tuple[xr.DataArray, list[str]]:
    dims = [dim] if isinstance(dim, str) else list(dim)
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise AnalysisError(f"{da.name!r} has no dim(s) {missing}; its dims are {da.dims}")
    return da.astype(np.float64).transpose(*dims, ...), dims


def _ttest_result(like: xr.DataArray, res: object, df: np.ndarray) -> xr.Dataset:
    shape = like.shape
    return xr.Dataset(
        {
            "t": like.copy(data=np.asarray(res.statistic, np.float64).reshape(shape)),
            "p": like.copy(data=np.asarray(res.pvalue, np.float64).reshape(shape)),
            "df": like.copy(data=np.asarray(df, np.float64).reshape(shape)),
        }
    )


def ttest_1samp(
    obj: xr.Dataset | xr.DataArray,
    variable: str = "aus",
    *,
    popmean: float = 0.0,
    dim: str | Sequence[str] = "frame",
) -> xr.Dataset:
    """One-sample t-test of the mean along ``dim`` against ``popmean`` (scipy, NaN omitted).

    Returns
    -------
    xarray.Dataset
        ``t``, ``p`` (two-sided) and ``df`` over the remaining dims.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray([[0.1, 0.2], [0.3, 0.1], [0.2, np.nan]], dims=("source", "au"))
    >>> ttest_1samp(da, dim="source")["df"].values.tolist()
    [2.0, 1.0]
    """
    da, dims = _observations(as_array(obj, variable), dim)
    values = da.values.reshape(-1, *da.shape[len(dims) :])
    with too_few_is_nan():
        res = sps.ttest_1samp(values, popmean, axis=0, nan_policy="omit")
    df = np.isfinite(values).sum(axis=0) - 1.0
    return _ttest_result(template(da, dims), res, df)


def ttest_ind(
    obj: xr.Dataset | xr.DataArray,
    variable: str = "aus",
    *,
    groups: str = "condition",
    dim: str = "frame",
    labels: tuple | None = None,
    equal_var: bool = True,
) -> xr.Dataset:
    """Independent two-sample t-test between two values of a coordinate along ``dim`` (scipy).

    Parameters
    ----------
    obj, variable
        A Dataset and variable name, or a DataArray.
    groups
        A coordinate along ``dim`` (e.g. ``condition`` from :func:`featx.analysis.annotate`).
    labels
        The two group values ``(a, b)``; ``t`` is positive when ``a``'s mean is larger.
        Default: the two values of ``groups``, sorted; an error if there are not exactly two.
    equal_var
        Student's test (True) or Welch's (False).

    Returns
    -------
    xarray.Dataset
        ``t``, ``p`` (two-sided) and ``df`` (``n_a + n_b − 2`` finite observations; Welch's df
        when ``equal_var=False``), with ``attrs["a"]``, ``attrs["b"]``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> da = xr.DataArray([1.0, 2.0, 3.0, 5.0, 6.0, 7.0], dims="source",
    ...                   coords={"group": ("source", list("aaabbb"))})
    >>> float(ttest_ind(da, groups="group", dim="source")["t"].round(3))
    -4.899
    """
    da, _ = _observations(as_array(obj, variable), dim)
    if groups not in da.coords or da[groups].dims != (dim,):
        raise AnalysisError(f"groups={groups!r} must be a coordinate along {dim!r}")
    key = da[groups].values
    if labels is None:
        found = pd.unique(pd.Series(key).dropna())
        if len(found) != 2:
            raise AnalysisError(
                f"{groups!r} has {len(found)} values {list(found)[:5]}; pass labels=(a, b)"
            )
        labels = tuple(sorted(found))
    a, b = (da.values[key == label] for label in labels)
    if not len(a) or not len(b):
        raise AnalysisError(f"labels {labels} must both occur in {groups!r}")
    with too_few_is_nan():
        res = sps.ttest_ind(a, b, axis=0, equal_var=equal_var, nan_policy="omit")
    if equal_var:
        df = np.isfinite(a).sum(axis=0) + np.isfinite(b).sum(axis=0) - 2.0
    else:
        df = np.asarray(res.df, np.float64)
    out = _ttest_result(template(da, [dim]), res, df)
    return out.assign_attrs(a=str(labels[0]), b=str(labels[1]), groups=groups)
