"""Multivariate analyses of a featx Dataset: inter-subject correlation, distances between
observations, and decompositions of the labels into components.

Frames without a face are left out (pairwise for :func:`isc`, whole observations for
:func:`distance` and :func:`decompose`). scikit-learn is imported on first use.

Examples
--------
>>> import xarray as xr
>>> da = xr.DataArray([[0.0, 0.0], [3.0, 4.0]], dims=("source", "au"))
>>> distance(da, dim="source").values.tolist()
[[0.0, 5.0], [5.0, 0.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from featx import validators
from featx.analysis._core import AnalysisError, as_array, check_dataset, feature_dim, sources

DECOMPOSITIONS = ("pca", "ica", "nmf", "fa")
CORRELATIONS = ("pearson", "kendall", "spearman")


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
    validators.choice("method", method, CORRELATIONS, AnalysisError)
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
    validators.choice("method", method, DECOMPOSITIONS, AnalysisError)
    da = as_array(check_dataset(ds), variable)
    feat = feature_dim(da)
    if feat is None:
        raise AnalysisError(f"{variable!r} has a single value per face; nothing to decompose")
    da = da.transpose("frame", "face", feat)
    values = da.values.astype(np.float64).reshape(-1, da.sizes[feat])
    ok = np.isfinite(values).all(axis=1)
    if ok.sum() < 2:
        never = ~np.isfinite(values).any(axis=0)
        empty = [str(v) for v in da[feat].values[never]]
        why = f" ({feat} {empty} never have a value: drop them first)" if empty else ""
        raise AnalysisError(
            f"{variable!r} has {ok.sum()} complete observation(s) (frame and face with every "
            f"{feat} finite); need >= 2{why}"
        )
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
