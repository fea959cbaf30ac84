"""Regression of a featx Dataset's labels on a design: ordinary least squares and mixed models.

A design is a table of regressors with one row per frame: a DataFrame indexed by ``frame`` or
``time``, a positional DataFrame or NumPy array (row ``i`` is frame ``i``), or an events table
turned into boxcars by :func:`featx.analysis.design_matrix`. Each face slot and label is its own
regression over the frames where it has a value. statsmodels is imported on first use.

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> x = np.arange(6.0)
>>> frames = [{"valence": np.array([0.5 * v + 1.0])} for v in x]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 6, range(6), x / 10)
>>> fit = regress(ds, x, "valence")  # a NumPy design is matched to the frames by position
>>> fit["beta"].sel(face=0).values.round(3).tolist(), fit["regressor"].values.tolist()
([0.5, 1.0], ['x0', 'intercept'])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from os import PathLike

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from featx.analysis._core import (
    AnalysisError,
    AnalysisWarning,
    as_array,
    check_dataset,
    feature_dim,
    frame_axis,
    sources,
    too_few_is_nan,
)
from featx.analysis.events import EVENT_COLUMNS, design_matrix

#: The kinds of design :func:`regress` accepts, for error messages.
_DESIGNS = "a DataFrame, a NumPy array or an events table (DataFrame or .tsv path)"


def _is_positional(index: pd.Index) -> bool:
    """True for a default index: 0, 1, ..., len - 1 (e.g. a RangeIndex)."""
    return index.equals(pd.RangeIndex(len(index)))


def _frame_rows(ds: xr.Dataset, design: pd.DataFrame) -> np.ndarray:
    """Row of ``design`` for each frame of ``ds``, matched on the ``frame`` coordinate."""
    frames = ds["frame"].values
    index = design.index
    unknown = index[~index.isin(frames)]
    if len(unknown):
        raise AnalysisError(
            f"the design's index names {len(unknown)} frame(s) that are not in the Dataset, "
            f"e.g. {unknown[:3].tolist()} (design: {len(design)} rows, Dataset: {len(frames)} "
            "frames); build it with design_matrix on this Dataset, select "
            "design.loc[ds['frame'].values], or give a positional design of one row per frame"
        )
    rows = index.get_indexer(frames)
    if (rows < 0).any():
        raise AnalysisError(
            f"the design has no row for {(rows < 0).sum()} frame(s) (matched on frame), e.g. "
            f"frame {frames[rows < 0][:3].tolist()} (design: {len(design)} rows, Dataset: "
            f"{len(frames)} frames)"
        )
    return rows


def _time_rows(ds: xr.Dataset, design: pd.DataFrame) -> np.ndarray:
    """Row of ``design`` (sorted by time) nearest each frame's time, within half its step."""
    groups = sources(ds)
    untimed = [src.source for src in groups if src.unit != "s"]
    if untimed:
        raise AnalysisError(
            f"a design indexed by time needs every frame to have a time; source(s) {untimed[:3]} "
            "have none: index the design by 'frame' instead"
        )
    try:
        seconds = design.index.to_numpy(np.float64)
    except (TypeError, ValueError) as err:
        raise AnalysisError(f"a design indexed by time needs numeric seconds: {err}") from err
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else np.inf
    return design.index.get_indexer(
        frame_axis(groups, ds.sizes["frame"]), method="nearest", tolerance=step / 2
    )


def _design(ds: xr.Dataset, design: object, intercept: bool) -> tuple[np.ndarray, list[str]]:
    """The design as an (n_frames, p) float array in frame order, and its column names."""
    if isinstance(design, str | PathLike) or (
        isinstance(design, pd.DataFrame) and set(EVENT_COLUMNS) <= set(design.columns)
    ):
        design = design_matrix(ds, design)
    if isinstance(design, np.ndarray):
        if design.ndim not in (1, 2):
            raise AnalysisError(f"a NumPy design must be 1-D or 2-D, got shape {design.shape}")
        values = design.reshape(len(design), -1)
        design = pd.DataFrame(values, columns=[f"x{i}" for i in range(values.shape[1])])
    if not isinstance(design, pd.DataFrame):
        raise TypeError(f"design must be {_DESIGNS}, got {type(design).__name__}")
    n = ds.sizes["frame"]
    index = design.index
    repeated = index[index.duplicated()].unique()
    if len(repeated):
        raise AnalysisError(
            f"the design's index repeats {len(repeated)} value(s), e.g. {repeated[:5].tolist()}: "
            "each frame needs exactly one row"
        )
    if index.name == "time":
        design = design.sort_index()
        rows, what = _time_rows(ds, design), "time"
    elif index.name == "frame" or (index.name is None and not _is_positional(index)):
        rows, what = _frame_rows(ds, design), "frame"
    elif _is_positional(index):
        if len(design) != n:
            raise AnalysisError(
                f"a design without a frame index is matched to the frames by position and needs "
                f"one row per frame: it has {len(design)} rows, the Dataset {n} frames"
            )
        rows, what = np.arange(n), "position"
    else:
        raise AnalysisError(
            "index the design by 'frame' (the frame coordinate) or 'time' (seconds), or give it "
            f"a default index of one row per frame (matched by position); its index is named "
            f"{index.name!r}"
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


def _series(da: xr.DataArray) -> np.ndarray:
    """``da`` as float64 (frame, face, label) (one label when it has no label dim)."""
    y = da.transpose("frame", "face", ...).values.astype(np.float64)
    return y.reshape(y.shape[0], y.shape[1], -1)


def _collect(
    da: xr.DataArray,
    regressors: list[str],
    results: dict[str, np.ndarray],
    per_regressor: Sequence[str],
) -> xr.Dataset:
    """A Dataset from (face, regressor, label) and (face, label) result arrays."""
    feat = feature_dim(da)
    coords = {"face": da["face"].values, "regressor": regressors}
    if feat is not None:
        coords[feat] = da[feat].values
    tail = (feat,) if feat else ()
    data = {}
    for name, values in results.items():
        dims = ("face", "regressor", *tail) if name in per_regressor else ("face", *tail)
        data[name] = (dims, values if feat else values[..., 0])
    return xr.Dataset(data, coords=coords)


def _provenance(ds: xr.Dataset, variable: str, model: str) -> dict[str, str]:
    """What was regressed: variable, its ``kind`` and the detector ("" when not recorded)."""
    return {
        "model": model,
        "variable": variable,
        "kind": str(ds[variable].attrs.get("kind", "")),
        "detector": str(ds.attrs.get("detector", "")),
    }


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
    y = _series(da)
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
    return _collect(da, regressors, results, per_regressor)


def _patterns(masks: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group the columns of a (frames, labels) mask: (rows, label indices) per distinct column."""
    groups: dict[bytes, list[int]] = {}
    for k, key in enumerate(np.packbits(masks, axis=0).T):
        groups.setdefault(key.tobytes(), []).append(k)
    return [(masks[:, labels[0]], np.asarray(labels)) for labels in groups.values()]


def _ols(y: np.ndarray, X: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """OLS of every column of ``y`` (n, m) on ``X`` (n, p) as statsmodels computes it.

    The pseudo-inverse, rank, scale and covariance follow ``statsmodels`` ``OLS.fit()``
    (``method="pinv"``), so the numbers agree with it to rounding; returns the results and
    the design's rank.
    """
    from statsmodels.tools.tools import pinv_extended

    pinv, singular = pinv_extended(X)
    rank = int(np.linalg.matrix_rank(np.diag(singular)))
    beta = pinv @ y
    resid = y - X @ beta
    df = float(len(X) - rank)
    scale = np.einsum("ij,ij->j", resid, resid) / df
    cov = np.diag(pinv @ pinv.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(cov[:, None] * scale[None, :])
        t = beta / se
    p = 2 * sps.t.sf(np.abs(t), df)
    return {"beta": beta, "se": se, "t": t, "p": p, "df": np.full(y.shape[1], df)}, rank


def regress(
    ds: xr.Dataset,
    design: pd.DataFrame | np.ndarray | str | PathLike,
    variable: str = "aus",
    *,
    intercept: bool = True,
) -> xr.Dataset:
    """Ordinary least squares of every label of ``variable`` on a design (as statsmodels OLS).

    Parameters
    ----------
    ds
        A featx Dataset.
    design
        The regressors, one row per frame, as one of:

        - a DataFrame indexed by ``frame`` (the frame coordinate, e.g. from
          :func:`featx.analysis.design_matrix`): rows are matched to frames by label; every
          frame needs a row and every row must name a frame of ``ds``;
        - a DataFrame indexed by ``time`` (seconds): each frame takes the nearest row within
          half the design's step;
        - a DataFrame with a default index (0, 1, ... as after ``reset_index``), or a NumPy
          array (1-D: one regressor; 2-D: one column per regressor, named ``x0``, ``x1`` ...):
          matched **by position**, row ``i`` to the ``i``-th frame of ``ds``; it must have
          exactly one row per frame;
        - an events table (DataFrame or BIDS ``.tsv`` path), turned into boxcars.
    variable
        ``"aus"``, ``"emotions"`` or any other variable along ``frame`` and ``face``.
    intercept
        Append a constant regressor named ``"intercept"`` last.

    Returns
    -------
    xarray.Dataset
        ``beta``, ``se``, ``t``, ``p`` (two-sided) over (``face``, ``regressor``, label), and
        ``df`` (residual degrees of freedom) and ``n`` (observations) over (``face``, label).
        Each face slot and label is its own regression over the frames where it and the design
        have a value (labels with the same missing frames are solved together); a series with
        no more observations than regressors is NaN. ``attrs`` record what was regressed:
        ``model`` (``"ols"``), ``variable``, its ``kind`` and the ``detector`` of ``ds``
        (``""`` when ``ds`` does not record one).

    Raises
    ------
    AnalysisError
        A design that does not fit the frames (length, unknown or missing frames, repeated
        index values), or a non-numeric column.

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
    check_dataset(ds)
    X, names = _design(ds, design, intercept)
    da = as_array(ds, variable)
    y = _series(da)
    n_face, n_feat, p = y.shape[1], y.shape[2], len(names)
    results = {k: np.full((n_face, p, n_feat), np.nan) for k in ("beta", "se", "t", "p")}
    results |= {k: np.full((n_face, n_feat), np.nan) for k in ("n", "df")}
    design_ok = np.isfinite(X).all(axis=1)
    deficient = []
    for f in range(n_face):
        masks = design_ok[:, None] & np.isfinite(y[:, f])
        results["n"][f] = masks.sum(axis=0)
        for rows, labels in _patterns(masks):
            if rows.sum() <= p:
                continue
            out, rank = _ols(y[rows, f][:, labels], X[rows])
            if rank < p:
                deficient.append(rank)
            for name in ("beta", "se", "t", "p"):
                results[name][f][:, labels] = out[name]
            results["df"][f, labels] = out["df"]
    if deficient:
        warnings.warn(
            f"the design is rank-deficient (rank {min(deficient)} of {p} columns) on the frames "
            "of some series: their betas are not uniquely determined (minimum-norm solution)",
            AnalysisWarning,
            stacklevel=2,
        )
    fit = _collect(da, names, results, ("beta", "se", "t", "p"))
    return fit.assign_attrs(_provenance(ds, variable, "ols"))


def _frame_labels(ds: xr.Dataset, option: str, name: str) -> np.ndarray:
    """The values of the coordinate along ``frame`` that ``option=name`` names (each frame's
    group), or an AnalysisError listing the coordinates there are."""
    if name not in ds.coords or ds[name].dims != ("frame",):
        raise AnalysisError(
            f"{option}={name!r} must be a coordinate along 'frame' (see annotate); "
            f"the Dataset has {[c for c in ds.coords if ds[c].dims == ('frame',)]}"
        )
    return ds[name].values


def regress_mixed(
    ds: xr.Dataset,
    design: pd.DataFrame | np.ndarray | str | PathLike,
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
        As for :func:`regress` (a positional design is matched to the frames by position).
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
        ``attrs`` as for :func:`regress` (``model`` is ``"mixedlm"``), plus ``groups``.
        A series whose design is rank-deficient on its frames (e.g. a regressor constant
        where a second face exists), or whose model statsmodels finds singular, is NaN, and
        one :class:`AnalysisWarning` counts them.

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
    labels = _frame_labels(ds, "groups", groups)
    X, names = _design(ds, design, intercept)

    k = len(names)
    unfit = {"beta": np.nan, "se": np.nan, "z": np.nan, "p": np.nan, "group_var": np.nan}
    failed: dict[str, int] = {"rank-deficient": 0, "singular": 0}

    def fit(y: np.ndarray, x: np.ndarray, rows: np.ndarray) -> dict:
        if np.linalg.matrix_rank(x) < k:  # statsmodels would raise LinAlgError or guess
            failed["rank-deficient"] += 1
            return unfit
        try:
            res = MixedLM(y, x, groups=labels[rows]).fit(reml=reml)
        except np.linalg.LinAlgError:
            failed["singular"] += 1
            return unfit
        return {
            "beta": res.fe_params,
            "se": res.bse_fe,
            "z": res.tvalues[:k],
            "p": res.pvalues[:k],
            "group_var": float(np.asarray(res.cov_re)[0, 0]),
        }

    da = as_array(ds, variable)
    out = _fit_each(da, X, names, fit, ("beta", "se", "z", "p"), ("group_var",))
    if any(failed.values()):
        warnings.warn(
            f"regress_mixed: {failed['rank-deficient']} series had a rank-deficient design on "
            f"their frames and {failed['singular']} a singular mixed model; their results are "
            "NaN (check which regressors vary on the frames where that face and label exist)",
            AnalysisWarning,
            stacklevel=2,
        )
    return out.assign_attrs(_provenance(ds, variable, "mixedlm"), groups=groups)


def regress_two_level(
    ds: xr.Dataset,
    design: pd.DataFrame | np.ndarray | str | PathLike,
    variable: str = "aus",
    *,
    by: str = "source",
    intercept: bool = True,
) -> xr.Dataset:
    """Summary-statistics regression across subjects: betas per ``by`` group, then a t-test.

    Level 1 is :func:`regress` on each group's frames alone (each video, or each subject when
    ``by="subject"``); level 2 a one-sample t-test of those betas against 0 across groups
    (groups whose beta is NaN are left out). The random-effects alternative pooling every
    frame is :func:`regress_mixed`. On a study opened lazily, one group's series is in memory
    at a time.

    Parameters
    ----------
    ds, design, variable, intercept
        As for :func:`regress`; the design is matched to all frames of ``ds`` first.
    by
        A coordinate along ``frame`` naming each frame's group.

    Returns
    -------
    xarray.Dataset
        ``group_beta`` over (``by``, ``face``, ``regressor``, label), and ``mean``, ``se``,
        ``t``, ``p`` (two-sided) and ``n`` (groups) over (``face``, ``regressor``, label).
        ``attrs`` as for :func:`regress` (``model`` is ``"two-level"``), plus ``by``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from featx import schema
    >>> x = np.tile(np.arange(5.0), 3)
    >>> v = np.repeat([0.1, 0.2, 0.3], 5) * x
    >>> ds = schema.from_frames([{"valence": np.array([a])} for a in v],
    ...                         np.repeat(list("abc"), 5), np.tile(range(5), 3), x / 10)
    >>> fit = regress_two_level(ds, np.column_stack([x]), "valence")
    >>> fit["group_beta"].sel(face=0, regressor="x0").values.round(2).tolist()
    [0.1, 0.2, 0.3]
    >>> round(float(fit["mean"].sel(face=0, regressor="x0")), 2)
    0.2
    """
    check_dataset(ds)
    labels = _frame_labels(ds, "by", by)
    X, names = _design(ds, design, intercept)
    groups = list(dict.fromkeys(labels.tolist()))
    if len(groups) < 2:
        raise AnalysisError(f"a two-level regression needs at least two {by!r} groups")
    fits = []
    for group in groups:
        rows = np.flatnonzero(labels == group)
        level1 = pd.DataFrame(X[rows], columns=names)
        fits.append(regress(ds.isel(frame=rows), level1, variable, intercept=False)["beta"])
    beta = xr.concat(fits, dim=pd.Index(groups, name=by))
    values = beta.values
    n = np.isfinite(values).sum(axis=0)
    with too_few_is_nan():
        res = sps.ttest_1samp(values, 0.0, axis=0, nan_policy="omit")
        mean = np.nanmean(values, axis=0)
        se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)
    like = beta.isel({by: 0}, drop=True)
    out = xr.Dataset(
        {
            "group_beta": beta,
            "mean": like.copy(data=mean),
            "se": like.copy(data=se),
            "t": like.copy(data=np.asarray(res.statistic)),
            "p": like.copy(data=np.asarray(res.pvalue)),
            "n": like.copy(data=n),
        }
    )
    return out.assign_attrs(_provenance(ds, variable, "two-level"), by=by)
