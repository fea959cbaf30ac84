"""Event-locked averages (the epochs of :func:`featx.analysis.epochs`) with confidence bands."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from featx.plot.timeseries import _colors, _grid, _variable, _ylabel, label_dim

__all__ = ["plot_epochs"]


def plot_epochs(
    epochs: xr.Dataset,
    variable: str = "aus",
    labels: str | Sequence[str] | None = None,
    *,
    by: str | None = "trial_type",
    ci: float = 0.95,
    col_wrap: int = 4,
    ax: Axes | None = None,
) -> Figure:
    """Event-locked averages with confidence bands: a panel per label, a line per condition.

    Parameters
    ----------
    epochs
        The output of :func:`featx.analysis.epochs`: dims ``epoch`` and ``lag`` (and usually
        ``face`` and a label dim). Face slots are averaged within each epoch first.
    variable
        The variable to plot (``aus``, ``emotions``, ``valence`` ...).
    labels
        Subset of the variable's labels (one panel each).
    by
        Coordinate along ``epoch`` whose values are the conditions (one line each); None pools
        all epochs.
    ci
        Confidence level of the band: mean ± t(ci, n−1) · sem over the n epochs with a value.
    col_wrap
        Panels per row.
    ax
        Axes to draw into when there is a single panel.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from featx.analysis import epochs  # doctest: +SKIP
    >>> fig = plot_epochs(epochs(ds, events, -1, 3), "aus", ["AU12"])  # doctest: +SKIP
    """
    if not isinstance(epochs, xr.Dataset) or variable not in epochs.data_vars:
        raise ValueError(f"expected an epochs Dataset with a {variable!r} variable")
    da = _variable(epochs, variable, labels)
    if "epoch" not in da.dims or "lag" not in da.dims:
        raise ValueError(
            f"{variable} needs 'epoch' and 'lag' dims (from analysis.epochs); has {da.dims}"
        )
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie between 0 and 1, got {ci}")
    dim = label_dim(variable)
    extra = [d for d in da.dims if d not in ("epoch", "lag", dim)]
    da = (da.mean(extra, skipna=True) if extra else da).compute()  # lazy epochs: read once
    names = [None] if dim is None else [str(v) for v in da[dim].values]
    if by is None:
        groups = {"all epochs": np.ones(da.sizes["epoch"], bool)}
    else:
        if by not in epochs.coords or epochs[by].dims != ("epoch",):
            raise ValueError(f"by={by!r} must name a coordinate along 'epoch'")
        values = epochs[by].values.astype(str)
        groups = {g: values == g for g in dict.fromkeys(values)}
    colors = _colors(list(groups), "Set2")
    lag = da["lag"].values
    unit = epochs.attrs.get("lag_unit", "s")

    fig, axes = _grid(len(names), col_wrap, ax, (3.6, 2.8))
    for panel_ax, name in zip(axes, names, strict=True):
        curves = da if name is None else da.sel({dim: name})
        for group, members in groups.items():
            mean, half = _mean_ci(curves.isel(epoch=members).transpose("epoch", "lag").values, ci)
            panel_ax.plot(lag, mean, color=colors[group], label=group)
            band = panel_ax.fill_between(
                lag, mean - half, mean + half, color=colors[group], alpha=0.25
            )
            band.set_gid(f"ci:{group}")
        panel_ax.axvline(0, color="0.3", linewidth=0.8, linestyle="--")
        panel_ax.set_title(variable if name is None else name)
        panel_ax.set_xlabel(f"lag ({unit})")
    axes[0].set_ylabel(_ylabel(da))
    axes[0].legend(fontsize="small")
    return fig


def _mean_ci(curves: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean over epochs (rows) and the half-width of its t confidence interval, per lag."""
    n = np.isfinite(curves).sum(axis=0)
    total = np.nansum(curves, axis=0)
    mean = np.divide(total, n, out=np.full(curves.shape[1], np.nan), where=n > 0)
    dev = np.where(np.isfinite(curves), curves - mean, 0.0)
    var = np.divide((dev**2).sum(axis=0), n - 1, out=np.full_like(mean, np.nan), where=n > 1)
    with np.errstate(invalid="ignore"):
        t = stats.t.ppf((1 + ci) / 2, np.maximum(n - 1, 1))
    return mean, np.where(n > 1, t * np.sqrt(var / np.maximum(n, 1)), np.nan)
