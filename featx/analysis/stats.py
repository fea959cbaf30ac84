"""Statistics on a featx Dataset: regression, t-tests, inter-subject correlation, decompositions,
distances and per-group summaries.

Functions take a Dataset and a ``variable`` name (or a DataArray, e.g. the output of
:func:`summary` or :func:`featx.analysis.epochs`) and return xarray objects. Frames without a
face are left out of every computation (an observation is used only where it is finite), so
they never break one. Each face slot is analysed separately. statsmodels and scikit-learn are
imported on first use.

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
from os import PathLike

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from featx.analysis._core import AnalysisError, as_array, check_dataset, feature_dim, sources
from featx.analysis.events import EVENT_COLUMNS, design_matrix

SUMMARY_STATS = ("count", "mean", "std", "sem", "min", "max")
DECOMPOSITIONS = ("pca", "ica", "nmf", "fa")
CORRELATIONS = ("pearson", "kendall", "spearman")


# --- regression ----------------------------------------------------------------------------------


def _design(ds: xr.Dataset, design: object, intercept: bool) -> tuple[np.ndarray, list[str]]:
    """The design as an (n_frames, p) float array in frame order, and its column names."""
    if isinstance(design, str | PathLike) or (
        isinstance(design, pd.DataFrame) and set(EVENT_COLUMNS) <= set(design.columns)
    ):
        design = design_matrix(ds, design)
    if not isinstance(design, pd.DataFrame):
        raise TypeError(
            f"design must be a DataFrame or an events table, got {type(design).__name__}"
        )
    if design.index.name == "frame":
        rows = design.index.get_indexer(ds["frame"].values)
        what = "frame"
    elif design.index.name == "time":
        times = ds["time"].values
        if np.isnan(times).any():
            raise AnalysisError("a design indexed by time needs every frame to have a time")
        step = np.median(np.diff(np.sort(design.index.to_numpy(np.float64))))
        rows = design.index.get_indexer(times, method="nearest", tolerance=step / 2)
        what = "time"
    else:
        raise AnalysisError(
            "index the design by 'frame' (the frame coordinate) or 'time' (seconds); "
            f"its index is named {design.index.name!r}"
        )
    if (rows < 0).any():
        raise AnalysisError(
            f"the design has no row for {(rows < 0).sum()} frame(s) (matched on {what}), "
            f"e.g. frame {ds['frame'].values[rows < 0][:3].tolist()}"
        )
    names = [str(c) for c in design.columns]
    if intercept and "intercept" in names:
        raise AnalysisError("the design already has a column 'intercept'; pass intercept=False")
    try:
        X = design.to_numpy(np.float64)[rows]
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"every design column must be numeric: {err}") from err
    if intercept:
        X, names = np.column_stack([X, np.ones(len(X))]), [*names, "intercept"]
    return X, names


def _fit_each(
    da: xr.DataArray,
    X: np.ndarray,
    regressors: list[str],
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray | float]],
    per_regressor: Sequence[str],
    per_series: Sequence[str],
) -> xr.Dataset:
    """Run ``fit(y, X, rows)`` for every face slot and label; collect its outputs as a Dataset.

    Observations are the frames where ``y`` and the design are finite; a series with no more
    observations than regressors gives NaN.
    """
    feat = feature_dim(da)
    y = da.transpose("frame", "face", ...).values.astype(np.float64)
    y = y.reshape(y.shape[0], y.shape[1], -1)
    n_face, n_feat, p = y.shape[1], y.shape[2], len(regressors)
    results = {k: np.full((n_face, p, n_feat), np.nan) for k in per_regressor}
    results |= {k: np.full((n_face, n_feat), np.nan) for k in ("n", *per_series)}
    design_ok = np.isfinite(X).all(axis=1)
    for f in range(n_face):
        for k in range(n_feat):
            rows = design_ok & np.isfinite(y[:, f, k])
            results["n"][f, k] = rows.sum()
            if rows.sum() <= p:
                continue
            out = fit(y[rows, f, k], X[rows], rows)
            for name in per_regressor:
                results[name][f, :, k] = out[name]
            for name in per_series:
                results[name][f, k] = out[name]
    coords = {"face": da["face"].values, "regressor": regressors}
    if feat is not None:
        coords[feat] = da[feat].values
    tail = (feat,) if feat else ()
    data = {}
    for name, values in results.items():
        if name in per_regressor:
            data[name] = (("face", "regressor", *tail), values if feat else values[..., 0])
        else:
            data[name] = (("face", *tail), values if feat else values[..., 0])
    return xr.Dataset(data, coords=coords)


def regress(
    ds: xr.Dataset,
    design: pd.DataFrame | str | PathLike,
    variable: str = "aus",
    *,
    intercept: bool = True,
) -> xr.Dataset:
    """Ordinary least squares of every label of ``variable`` on a design (statsmodels OLS).

    Parameters
    ----------
    ds
        A featx Dataset.
    design
        A DataFrame of regressors indexed by ``frame`` (the frame coordinate, e.g. from
        :func:`featx.analysis.design_matrix`) or by ``time`` (seconds, matched to the nearest
        row within half its step); or an events table, turned into boxcars.
    variable
        ``"aus"``, ``"emotions"`` or any other variable along ``frame`` and ``face``.
    intercept
        Append a constant regressor named ``"intercept"`` last.

    Returns
    -------
    xarray.Dataset
        ``beta``, ``se``, ``t``, ``p`` (two-sided) over (``face``, ``regressor``, label), and
        ``df`` (residual degrees of freedom) and ``n`` (observations) over (``face``, label).
        Each face slot is its own regression over the frames where it has a value.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from featx import schema
    >>> x = np.arange(6.0)
    >>> frames = [{"valence": np.array([0.1 * v - 0.2])} for v in x]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 6, range(6), x / 10)
    >>> design = pd.DataFrame({"x": x}, index=pd.Index(range(6), name="frame"))
    >>> regress(ds, design, "valence")["beta"].sel(face=0).values.round(3).tolist()
    [0.1, -0.2]
    """
    from statsmodels.regression.linear_model import OLS

    check_dataset(ds)
    X, names = _design(ds, design, intercept)

    def fit(y: np.ndarray, x: np.ndarray, rows: np.ndarray) -> dict:
        res = OLS(y, x).fit()
        return {
            "beta": res.params,
            "se": res.bse,
            "t": res.tvalues,
            "p": res.pvalues,
            "df": res.df_resid,
        }

    da = as_array(ds, variable)
    return _fit_each(da, X, names, fit, ("beta", "se", "t", "p"), ("df",))


def regress_mixed(
    ds: xr.Dataset,
    design: pd.DataFrame | str | PathLike,
    variable: str = "aus",
    *,
    groups: str = "subject",
    intercept: bool = True,
    reml: bool = True,
) -> xr.Dataset:
    """Linear mixed model with a random intercept per group (statsmodels MixedLM).

    Fits ``y = X·beta + u[group] + e`` for every label of ``variable`` and face slot, pooling
    the frames of all sources.

    Parameters
    ----------
    ds, design, variable, intercept
        As for :func:`regress`.
    groups
        A coordinate along ``frame`` naming each frame's group, e.g. ``"subject"`` (from
        :func:`featx.analysis.annotate`) or ``"source"``.
    reml
        Fit by restricted maximum likelihood (statsmodels' default) or by maximum likelihood.

    Returns
    -------
    xarray.Dataset
        Fixed effects ``beta``, ``se``, ``z`` (Wald), ``p`` over (``face``, ``regressor``,
        label), and ``group_var`` (random-intercept variance) and ``n`` over (``face``, label).

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> from featx import schema
    >>> rng = np.random.default_rng(0)
    >>> x = np.tile(np.arange(10.0), 4)
    >>> offset = np.repeat([0.0, 0.2, -0.1, 0.1], 10)
    >>> v = 0.02 * x + offset + rng.normal(0, 0.01, 40)
    >>> ds = schema.from_frames([{"valence": np.array([a])} for a in v],
    ...                         np.repeat(list("abcd"), 10), np.tile(range(10), 4), x / 10)
    >>> design = pd.DataFrame({"x": x}, index=pd.Index(range(40), name="frame"))
    >>> fit = regress_mixed(ds, design, "valence", groups="source")
    >>> round(float(fit["beta"].sel(face=0, regressor="x")), 2)
    0.02
    """
    from statsmodels.regression.mixed_linear_model import MixedLM

    check_dataset(ds)
    if groups not in ds.coords or ds[groups].dims != ("frame",):
        raise AnalysisError(
            f"groups={groups!r} must be a coordinate along 'frame' (see annotate); "
            f"the Dataset has {[c for c in ds.coords if ds[c].dims == ('frame',)]}"
        )
    X, names = _design(ds, design, intercept)
    labels = ds[groups].values

    def fit(y: np.ndarray, x: np.ndarray, rows: np.ndarray) -> dict:
        res = MixedLM(y, x, groups=labels[rows]).fit(reml=reml)
        k = len(names)
        return {
            "beta": res.fe_params,
            "se": res.bse_fe,
            "z": res.tvalues[:k],
            "p": res.pvalues[:k],
            "group_var": float(np.asarray(res.cov_re)[0, 0]),
        }

    da = as_array(ds, variable)
    return _fit_each(da, X, names, fit, ("beta", "se", "z", "p"), ("group_var",))


# --- t-tests -------------------------------------------------------------------------------------


def _observations(da: xr.DataArray, dim: str | Sequence[str]) -> tuple[xr.DataArray, list[str]]:
    dims = [dim] if isinstance(dim, str) else list(dim)
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise AnalysisError(f"{da.name!r} has no dim(s) {missing}; its dims are {da.dims}")
    return da.astype(np.float64).transpose(*dims, ...), dims


def _template(da: xr.DataArray, dims: list[str]) -> xr.DataArray:
    """An array over ``da``'s dims other than ``dims`` (coords along ``dims`` dropped)."""
    return da.isel({d: 0 for d in dims}, drop=True)


def _ttest_result(template: xr.DataArray, res: object, df: np.ndarray) -> xr.Dataset:
    shape = template.shape
    return xr.Dataset(
        {
            "t": template.copy(data=np.asarray(res.statistic, np.float64).reshape(shape)),
            "p": template.copy(data=np.asarray(res.pvalue, np.float64).reshape(shape)),
            "df": template.copy(data=np.asarray(df, np.float64).reshape(shape)),
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
    with np.errstate(invalid="ignore", divide="ignore"):
        res = sps.ttest_1samp(values, popmean, axis=0, nan_policy="omit")
    df = np.isfinite(values).sum(axis=0) - 1.0
    return _ttest_result(_template(da, dims), res, df)


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
    with np.errstate(invalid="ignore", divide="ignore"):
        res = sps.ttest_ind(a, b, axis=0, equal_var=equal_var, nan_policy="omit")
    if equal_var:
        df = np.isfinite(a).sum(axis=0) + np.isfinite(b).sum(axis=0) - 2.0
    else:
        df = np.asarray(res.df, np.float64)
    out = _ttest_result(_template(da, [dim]), res, df)
    return out.assign_attrs(a=str(labels[0]), b=str(labels[1]), groups=groups)


# --- similarity ----------------------------------------------------------------------------------


def isc(
    ds: xr.Dataset, variable: str = "aus", *, face: int = 0, method: str = "pearson"
) -> xr.DataArray:
    """Inter-subject correlation: correlate every pair of sources, aligned on time.

    Each source's series (one face slot) is indexed by its ``time`` (rounded to the
    microsecond; the frame index for sources without time); repeated times are averaged.
    Each pair is correlated over the times where both have a value (pairwise deletion).

    Returns
    -------
    xarray.DataArray
        Dims (label, ``source_a``, ``source_b``), the correlation matrix of each label.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> v = [0.1, 0.4, 0.2, 0.3]
    >>> frames = [{"valence": np.array([x])} for x in v + v[::-1]]
    >>> ds = schema.from_frames(frames, ["a"] * 4 + ["b"] * 4, [0, 1, 2, 3] * 2,
    ...                         [0, 0.1, 0.2, 0.3] * 2)
    >>> isc(ds, "valence").values.round(2).tolist()
    [[1.0, -0.6], [-0.6, 1.0]]
    """
    if method not in CORRELATIONS:
        raise AnalysisError(f"method must be one of {CORRELATIONS}, got {method!r}")
    da = as_array(check_dataset(ds), variable).sel(face=face)
    feat = feature_dim(da, exclude=("frame",))
    groups = sources(ds)
    if len({src.unit for src in groups}) > 1:
        raise AnalysisError("some sources have time and others do not; isc cannot align them")
    values = da.transpose("frame", ...).values.astype(np.float64).reshape(ds.sizes["frame"], -1)
    labels = da[feat].values if feat else [None]
    matrices = []
    for k in range(len(labels)):
        columns = {
            src.source: pd.Series(values[src.index, k], index=np.round(src.axis, 6))
            .groupby(level=0)
            .mean()
            for src in groups
        }
        matrices.append(pd.DataFrame(columns).corr(method=method).to_numpy())
    names = [src.source for src in groups]
    coords = {"source_a": names, "source_b": names}
    if feat is None:
        return xr.DataArray(matrices[0], dims=("source_a", "source_b"), coords=coords, name="isc")
    coords[feat] = labels
    return xr.DataArray(
        np.stack(matrices), dims=(feat, "source_a", "source_b"), coords=coords, name="isc"
    )


def distance(
    obj: xr.Dataset | xr.DataArray,
    variable: str = "aus",
    *,
    dim: str = "frame",
    face: int = 0,
    metric: str = "euclidean",
    **kwargs,
) -> xr.DataArray:
    """Pairwise distances between the observations along ``dim`` (scikit-learn).

    Parameters
    ----------
    obj, variable
        A Dataset and variable name, or a DataArray (e.g. :func:`summary`'s ``mean`` with
        ``dim="source"``).
    dim
        The observations; the other non-``face`` dim (the labels) are the features.
    face
        The face slot used when the data has a ``face`` dim.
    metric, kwargs
        Any metric of :func:`sklearn.metrics.pairwise_distances`.

    Returns
    -------
    xarray.DataArray
        Dims (``dim``, ``dim + "_b"``); observations with a NaN feature get NaN distances.

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray([[0.0, 0.0], [3.0, 4.0]], dims=("source", "au"))
    >>> distance(da, dim="source").values.tolist()
    [[0.0, 5.0], [5.0, 0.0]]
    """
    from sklearn.metrics import pairwise_distances

    da = as_array(obj, variable)
    if "face" in da.dims and dim != "face":
        da = da.sel(face=face)
    feature_dim(da, exclude=(dim,))
    da = da.transpose(dim, ...)
    values = da.values.astype(np.float64).reshape(da.sizes[dim], -1)
    ok = np.isfinite(values).all(axis=1)
    out = np.full((len(values), len(values)), np.nan)
    if ok.any():
        out[np.ix_(ok, ok)] = pairwise_distances(values[ok], metric=metric, **kwargs)
    coords = {dim: da[dim].values, f"{dim}_b": da[dim].values}
    return xr.DataArray(out, dims=(dim, f"{dim}_b"), coords=coords, name="distance")


# --- decomposition -------------------------------------------------------------------------------


def decompose(
    ds: xr.Dataset,
    variable: str = "aus",
    *,
    method: str = "pca",
    n_components: int | None = None,
    **kwargs,
) -> xr.Dataset:
    """Decompose the labels of a variable into components (scikit-learn).

    The observations are every (frame, face) with a value for every label.

    Parameters
    ----------
    method
        ``"pca"`` (PCA), ``"ica"`` (FastICA), ``"nmf"`` (NMF, needs non-negative data) or
        ``"fa"`` (FactorAnalysis).
    n_components
        Number of components; None keeps as many as there are labels.
    kwargs
        Passed to the scikit-learn estimator (e.g. ``random_state=0``).

    Returns
    -------
    xarray.Dataset
        ``scores`` (``frame``, ``face``, ``component``; NaN where a label was missing),
        ``loadings`` (``component``, label) and, for PCA, ``explained_variance_ratio``.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> rng = np.random.default_rng(0)
    >>> frames = [{"aus": rng.random((1, 20))} for _ in range(30)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 30, range(30), np.arange(30) / 30,
    ...                         var_attrs={"aus": {"kind": "probability"}})
    >>> decompose(ds, n_components=3)["scores"].shape
    (30, 1, 3)
    """
    from sklearn.decomposition import NMF, PCA, FactorAnalysis, FastICA

    estimators = {"pca": PCA, "ica": FastICA, "nmf": NMF, "fa": FactorAnalysis}
    if method not in estimators:
        raise AnalysisError(f"method must be one of {DECOMPOSITIONS}, got {method!r}")
    da = as_array(check_dataset(ds), variable)
    feat = feature_dim(da)
    if feat is None:
        raise AnalysisError(f"{variable!r} has a single value per face; nothing to decompose")
    da = da.transpose("frame", "face", feat)
    values = da.values.astype(np.float64).reshape(-1, da.sizes[feat])
    ok = np.isfinite(values).all(axis=1)
    if ok.sum() < 2:
        raise AnalysisError(f"{variable!r} has {ok.sum()} complete observation(s); need >= 2")
    model = estimators[method](n_components=n_components, **kwargs)
    fitted = model.fit_transform(values[ok])
    scores = np.full((len(values), fitted.shape[1]), np.nan)
    scores[ok] = fitted
    components = [f"c{i + 1}" for i in range(fitted.shape[1])]
    shape = (da.sizes["frame"], da.sizes["face"], len(components))
    out = xr.Dataset(
        {
            "scores": (("frame", "face", "component"), scores.reshape(shape)),
            "loadings": (("component", feat), model.components_),
        },
        coords={
            **{k: v for k, v in da.coords.items() if feat not in v.dims},
            "component": components,
            feat: da[feat].values,
        },
        attrs={"method": method},
    )
    if method == "pca":
        out["explained_variance_ratio"] = ("component", model.explained_variance_ratio_)
    return out


# --- summaries -----------------------------------------------------------------------------------


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
    template = _template(da, [dim])
    if by is None:
        return template.copy(data=reduce(da.values, np.isfinite(da.values)))
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
    return xr.concat(
        [template.copy(data=p) for p in parts], dim=pd.Index(groups, name=by)
    ).transpose(by, ...)


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
