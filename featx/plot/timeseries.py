"""AU and emotion time series: lines or heatmaps per face, and bars for one frame.

The x axis of one source is the axis every :mod:`featx.analysis` function uses for it
(:func:`featx.analysis._core.sources`): ``time`` (seconds) when the source has one, else the
frame index in the file; several sources share the running ``frame`` number. Frames without a
face are NaN and show as gaps. Stimulus events come as a BIDS-style events table, checked by
:func:`featx.analysis.check_events`: ``onset`` and ``duration`` in x-axis units,
``trial_type``, and an optional ``source`` column (rows without one apply to every source).
``smooth=k`` draws exactly ``featx.analysis.smooth(ds, window=k)``.

A default figure stays readable for any number of labels: its size follows the label count,
and the legend sits right of the axes, in as many columns as it needs, inside the figure (so
``savefig`` keeps it).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from featx import schema
>>> from featx.plot import plot_aus
>>> frames = [{"aus": np.full((1, 20), t / 10)} for t in range(10)]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 10, range(10), np.arange(10) / 5,
...                         var_attrs={"aus": {"kind": "probability"}})
>>> events = pd.DataFrame({"onset": [0.4], "duration": [0.6], "trial_type": ["joke"]})
>>> fig = plot_aus(ds, ["AU06", "AU12"], events=events)
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend

from featx import schema
from featx.analysis import smooth as analysis_smooth
from featx.analysis._core import AnalysisError, check_dataset, sources
from featx.analysis.events import check_events

__all__ = ["face_colors", "legend_outside", "plot_aus", "plot_bars", "plot_emotions"]

_UNIT_RANGE = ("aus", "emotions", "blendshapes")  # variables on a 0..1 scale
#: Most entries in one column of a legend beside a default figure's axes.
LEGEND_ROWS = 12
_LEGEND_FONT = "small"
_PANEL_WIDTH = 8.2  # inches of a time-series panel, legend not included
_LINE_HEIGHT = 2.8  # inches of a line panel with a short legend
_HEATMAP_ROW = 0.16  # inches per label row of a heatmap


def label_dim(variable: str) -> str | None:
    """The label dim of a schema variable (``schema.label_dim``); None for other variables."""
    return schema.label_dim(variable) if variable in schema.VARIABLES else None


def face_colors(n: int) -> list[tuple[float, float, float]]:
    """``n`` distinct colours, one per face slot, shared by every featx figure.

    Examples
    --------
    >>> len(face_colors(3))
    3
    """
    return sns.color_palette("tab10" if n <= 10 else "husl", n)


def _colors(keys: Sequence[str], palette: str) -> dict[str, tuple[float, float, float]]:
    return dict(zip(keys, sns.color_palette(palette, len(keys)), strict=True))


def _variable(ds: xr.Dataset, variable: str, labels: str | Sequence[str] | None) -> xr.DataArray:
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if variable not in ds.data_vars:
        raise ValueError(
            f"the Dataset has no {variable!r} variable to plot; it has {list(ds.data_vars)}"
        )
    da = ds[variable]
    dim = label_dim(variable)
    if labels is None or dim is None:
        return da
    labels = [labels] if isinstance(labels, str) else list(labels)
    known = [str(v) for v in da[dim].values]
    missing = [lab for lab in labels if lab not in known]
    if missing:
        raise ValueError(f"{variable} has no {dim} {missing}; it has {known}")
    return da.sel({dim: labels})


def _ylabel(da: xr.DataArray) -> str:
    detail = da.attrs.get("kind") or da.attrs.get("scale") or da.attrs.get("units")
    return f"{da.name} ({detail})" if detail else str(da.name)


def _x_axis(ds: xr.Dataset, x: str | None) -> tuple[np.ndarray, str]:
    """x values for every frame of ``ds`` and the axis label.

    One source is drawn along the axis the analysis functions use for it (its time in seconds,
    or its frame index in the file when it has no time); several share the running frame number.
    """
    groups = sources(ds)
    single = len(groups) <= 1
    timed = bool(groups) and all(src.unit == "s" for src in groups)
    if x is None:
        x = "time" if timed and single else "frame"
    if x == "time":
        if not timed:
            raise ValueError("x='time' needs a time for every frame; these frames have NaN time")
        if not single:
            raise ValueError(
                "several sources share the time axis; pass source=... to plot one, or x='frame'"
            )
        xs = np.empty(ds.sizes["frame"])
        xs[groups[0].index] = groups[0].axis
        return xs, "time (s)"
    if x == "frame":
        if single:
            return ds["source_frame"].values, "frame"
        return ds["frame"].values, "frame (running number over all sources)"
    raise ValueError(f"x must be 'time', 'frame' or None (automatic), got {x!r}")


def _one_source(ds: xr.Dataset, source: str | None) -> xr.Dataset:
    if source is None:
        return ds
    names = ds["source"].values.astype(str)
    keep = names == str(source)
    if not keep.any():
        raise ValueError(f"no frames of source {source!r}; the sources are {sorted(set(names))}")
    return ds.isel(frame=keep)


def _panels(
    ds: xr.Dataset, da: xr.DataArray, by: str, faces: Sequence[int] | None
) -> list[tuple[str, xr.DataArray]]:
    """(title, frame × label data) for each face slot or identity."""
    if by == "face":
        slots = list(ds["face"].values) if faces is None else list(faces)
        unknown = [f for f in slots if f not in ds["face"].values]
        if unknown:
            raise ValueError(f"no face slot {unknown}; the slots are {ds['face'].values.tolist()}")
        if faces is None:  # skip slots that never hold a face
            slots = [f for f in slots if bool(da.sel(face=f).notnull().any())] or slots[:1]
        return [(f"face {f}", da.sel(face=f)) for f in slots]
    if by == "identity":
        if "identity" not in ds.data_vars:
            raise ValueError("by='identity' needs an 'identity' variable (run tracking first)")
        ident = ds["identity"]
        known = sorted({int(i) for i in np.unique(ident.values) if i >= 0})
        people = known if faces is None else list(faces)
        if not people:
            raise ValueError("by='identity': no face has a known identity (all are -1)")
        return [(f"identity {k}", da.where(ident == k).mean("face", skipna=True)) for k in people]
    raise ValueError(f"by must be 'face' or 'identity', got {by!r}")


def _smooth(ds: xr.Dataset, variable: str, window: int | None) -> xr.Dataset:
    """``ds`` with ``variable`` smoothed by :func:`featx.analysis.smooth` (``window`` frames)."""
    if window is None:
        return ds
    try:
        return analysis_smooth(ds, "mean", window=window, variables=variable)
    except AnalysisError as err:
        raise AnalysisError(f"smooth={window!r}: {err}") from err


def _events(
    events: pd.DataFrame | str | PathLike, ds: xr.Dataset, shown: xr.Dataset
) -> pd.DataFrame:
    """The rows of a checked events table that apply to the plotted frames ``shown`` of ``ds``."""
    table = check_events(events, ds)
    if "source" in table.columns:
        names = set(shown["source"].values.astype(str).tolist())
        if len(names) > 1:
            raise ValueError("events name sources: pass source=... to plot one with its events")
        table = table[table["source"].isna() | table["source"].astype(str).isin(names)]
    return table


def _legend_columns(n: int, max_rows: int = LEGEND_ROWS) -> int:
    return max(1, int(np.ceil(n / max_rows)))


def _legend_size(texts: Sequence[str], max_rows: int = LEGEND_ROWS) -> tuple[float, float]:
    """Estimated (width, height) in inches of the legend :func:`legend_outside` draws."""
    if not texts:
        return 0.0, 0.0
    points = FontProperties(size=_LEGEND_FONT).get_size_in_points()
    cols = _legend_columns(len(texts), max_rows)
    rows = int(np.ceil(len(texts) / cols))
    longest = max(len(t) for t in texts)
    # Per column a handle (2 em), a pad (0.8 em) and the label (~0.6 em a character); 2 em
    # between columns, 1 em of border; 0.1 in from the axes.
    width = (cols * (2.8 + 0.6 * longest) + 2.0 * (cols - 1) + 1.0) * points / 72 + 0.1
    height = (rows * 1.5 + 1.0) * points / 72
    return width, height


def legend_outside(
    ax: Axes,
    handles: Sequence[Any] | None = None,
    texts: Sequence[str] | None = None,
    max_rows: int = LEGEND_ROWS,
    **kwargs: Any,
) -> Legend:
    """A legend right of ``ax``, top-aligned, in columns of at most ``max_rows`` entries.

    Under constrained layout the figure makes room for it, so it is drawn and saved in full.

    Examples
    --------
    >>> fig, ax = plt.subplots(layout="constrained")
    >>> for k in range(30):
    ...     _ = ax.plot([0, 1], [k, k], label=f"AU{k:02d}")
    >>> legend_outside(ax)._ncols
    3
    >>> plt.close(fig)
    """
    if handles is None or texts is None:
        handles, texts = ax.get_legend_handles_labels()
    options = {"fontsize": _LEGEND_FONT, **kwargs}
    return ax.legend(
        handles, texts, loc="upper left", bbox_to_anchor=(1.01, 1),
        ncols=_legend_columns(len(texts), max_rows), **options,
    )  # fmt: skip


def _shade(ax: Axes, events: pd.DataFrame, palette: dict[str, Any], outline: bool) -> None:
    """Shade each event behind the lines, or outline it over a heatmap."""
    for row in events.itertuples(index=False):
        kind = str(row.trial_type)
        span = ax.axvspan(
            row.onset, row.onset + row.duration, **_event_style(palette[kind], outline)
        )
        span.set_gid(f"event:{kind}")


def _event_style(color, outline: bool) -> dict[str, Any]:
    if outline:
        return {"facecolor": "none", "edgecolor": color, "linewidth": 2, "zorder": 3}
    return {"color": color, "alpha": 0.2, "zorder": 0}


def _grid(n: int, cols: int, ax: Axes | None, size: tuple[float, float], sharex: bool = False):
    """A figure with ``n`` panels in rows of ``cols`` (or the caller's single ``ax``)."""
    if ax is not None:
        if n != 1:
            raise ValueError(f"ax= draws one panel, but this plot has {n}; leave ax out")
        return ax.figure, [ax]
    cols = min(n, cols)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(size[0] * cols, size[1] * rows),
        squeeze=False,
        sharex=sharex,
        layout="constrained",
    )
    for extra in axes.ravel()[n:]:
        extra.set_visible(False)
    return fig, list(axes.ravel()[:n])


def _series(
    ds: xr.Dataset,
    variable: str,
    labels: str | Sequence[str] | None,
    *,
    kind: str,
    by: str,
    faces: Sequence[int] | None,
    source: str | None,
    x: str | None,
    events: pd.DataFrame | str | PathLike | None,
    smooth: int | None,
    ax: Axes | None,
    cmap: str,
) -> Figure:
    shown = _one_source(check_dataset(ds), source)
    _variable(shown, variable, labels)  # a clear error before smoothing
    # One read of what is drawn (a lazy study loads only these frames of this variable).
    da = _variable(_smooth(shown, variable, smooth), variable, labels).compute()
    dim = label_dim(variable)
    xs, xlabel = _x_axis(shown, x)
    order = np.argsort(xs, kind="stable")
    xs = xs[order]
    panels = _panels(shown, da.isel(frame=order), by, faces)
    table = None if events is None else _events(events, ds, shown)
    if kind not in ("line", "heatmap"):
        raise ValueError(f"kind must be 'line' or 'heatmap', got {kind!r}")

    names = [str(v) for v in da[dim].values]
    trial_types = [] if table is None else list(dict.fromkeys(table["trial_type"].astype(str)))
    fig, axes = _grid(len(panels), 1, ax, _series_size(kind, names, trial_types), sharex=True)
    colors = _colors(names, "husl" if len(names) > 10 else "tab10")
    event_colors = _colors(trial_types, "Set2")
    unit = variable in _UNIT_RANGE
    mesh = None
    for panel_ax, (title, values) in zip(axes, panels, strict=True):
        values = values.transpose("frame", dim)
        if kind == "line":
            for name in names:
                panel_ax.plot(xs, values.sel({dim: name}).values, color=colors[name], label=name)
            if unit:
                panel_ax.set_ylim(-0.02, 1.02)
            panel_ax.set_ylabel(_ylabel(da))
        else:
            mesh = panel_ax.pcolormesh(
                _edges(xs),
                np.arange(len(names) + 1) - 0.5,
                np.ma.masked_invalid(values.values.T),
                cmap=cmap,
                vmin=0 if unit else None,
                vmax=1 if unit else None,
                shading="flat",
            )
            panel_ax.set_yticks(range(len(names)), names)
            panel_ax.invert_yaxis()
        if table is not None:
            _shade(panel_ax, table, event_colors, outline=kind == "heatmap")
        panel_ax.set_title(title)
        panel_ax.set_xlabel(xlabel)
    handles, texts = axes[0].get_legend_handles_labels()
    for k in trial_types:
        handles.append(
            plt.Rectangle((0, 0), 1, 1, **_event_style(event_colors[k], kind == "heatmap"))
        )
        texts.append(k)
    if handles:
        legend_outside(axes[0], handles, texts)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, label=_ylabel(da))
    return fig


def _series_size(kind: str, names: list[str], trial_types: list[str]) -> tuple[float, float]:
    """(width, height) in inches of one time-series panel, legend and colour bar included."""
    if kind == "line":
        width, height = _legend_size([*names, *trial_types])
        return _PANEL_WIDTH + width, max(_LINE_HEIGHT, height + 1.0)
    width, _ = _legend_size(trial_types)
    return _PANEL_WIDTH + 0.8 + width, max(3.2, _HEATMAP_ROW * len(names) + 0.9)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted x centres (half a step beyond each end)."""
    c = np.asarray(centres, dtype=float)
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def plot_aus(
    ds: xr.Dataset,
    aus: str | Sequence[str] | None = None,
    *,
    variable: str = "aus",
    kind: str = "line",
    by: str = "face",
    faces: Sequence[int] | None = None,
    source: str | None = None,
    x: str | None = None,
    events: pd.DataFrame | str | PathLike | None = None,
    smooth: int | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Action units over time: one line (or heatmap row) per AU, one panel per face or person.

    A new figure is sized from the number of AUs (and trial types): line panels keep their
    height and get a legend right of the axes in columns of at most ``LEGEND_ROWS``;
    heatmap panels grow a row per AU. The legend lies inside the figure, so ``savefig`` keeps it.

    Parameters
    ----------
    ds
        A featx Dataset with ``aus`` (or ``au_intensity``, with ``variable=``).
    aus
        AU labels to plot (default: all).
    variable
        ``"aus"`` (0..1) or ``"au_intensity"`` (another tool's scale, e.g. OpenFace 0..5).
    kind
        ``"line"`` or ``"heatmap"`` (AU × time, colour = value).
    by
        ``"face"``: a panel per face slot that ever holds a face; ``"identity"``: a panel per
        known person (needs the ``identity`` variable).
    faces
        The face slots (or identities) to plot.
    source
        Plot only the frames of this source (file path).
    x
        ``"time"``, ``"frame"`` or None (time when every frame has one and there is one source).
    events
        BIDS-style events table (``onset``, ``duration``, ``trial_type``, optional ``source``)
        or the path of a BIDS ``*_events.tsv``, checked by :func:`featx.analysis.check_events`:
        each event is shaded, one colour per trial type.
    smooth
        Draw ``featx.analysis.smooth(ds, window=smooth)``: a centred rolling mean over this many
        frames, per source in axis order, gaps bridged for the mean and left empty.
    ax
        Axes to draw into when the plot has exactly one panel.
    cmap
        Colour map of the heatmap.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_aus(ds, ["AU12"], kind="heatmap")  # doctest: +SKIP
    """
    if variable not in ("aus", "au_intensity"):
        raise ValueError(f"plot_aus plots 'aus' or 'au_intensity', not {variable!r}")
    return _series(
        ds, variable, aus, kind=kind, by=by, faces=faces, source=source, x=x, events=events,
        smooth=smooth, ax=ax, cmap=cmap,
    )  # fmt: skip


def plot_emotions(
    ds: xr.Dataset,
    emotions: str | Sequence[str] | None = None,
    *,
    kind: str = "line",
    by: str = "face",
    faces: Sequence[int] | None = None,
    source: str | None = None,
    x: str | None = None,
    events: pd.DataFrame | str | PathLike | None = None,
    smooth: int | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Emotions over time: one line (or heatmap row) per emotion, one panel per face or person.

    Parameters are those of :func:`plot_aus`, with ``emotions`` selecting the labels.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_emotions(ds, ["happiness", "neutral"], smooth=5)  # doctest: +SKIP
    """
    return _series(
        ds, "emotions", emotions, kind=kind, by=by, faces=faces, source=source, x=x,
        events=events, smooth=smooth, ax=ax, cmap=cmap,
    )  # fmt: skip


def plot_bars(
    ds: xr.Dataset,
    frame: int,
    variable: str = "aus",
    *,
    labels: str | Sequence[str] | None = None,
    faces: Sequence[int] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Values of one frame as horizontal bars, one colour per face (grouped when several).

    Several faces get a legend beside the axes; a new figure is sized for it and the labels.

    Parameters
    ----------
    ds
        A featx Dataset.
    frame
        The ``frame`` coordinate value to show.
    variable
        ``"aus"``, ``"emotions"``, ``"blendshapes"`` or ``"au_intensity"``.
    labels
        Subset of the variable's labels.
    faces
        Face slots to show (default: those holding a face in that frame).
    ax
        Axes to draw into.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_bars(ds, frame=0, variable="emotions")  # doctest: +SKIP
    """
    if variable not in ("aus", "au_intensity", "emotions", "blendshapes"):
        raise ValueError(
            f"plot_bars shows aus, au_intensity, emotions or blendshapes, not {variable!r}"
        )
    da = _at_frame(
        _variable(check_dataset(ds, frame_order=False), variable, labels), frame
    ).compute()
    dim = label_dim(variable)
    slots = _present_slots(da, faces)
    names = [str(v) for v in da[dim].values]
    if ax is None:
        texts = [f"face {slot}" for slot in slots] if len(slots) > 1 else []
        width, height = _legend_size(texts)
        _, ax = plt.subplots(
            figsize=(4 + width, max(0.22 * len(names) + 1.2, height + 0.5)), layout="constrained"
        )
    colors = face_colors(ds.sizes["face"])
    height = 0.8 / max(len(slots), 1)
    y = np.arange(len(names))
    for k, slot in enumerate(slots):
        ax.barh(
            y - 0.4 + height * (k + 0.5),
            da.sel(face=slot).values,
            height=height,
            color=colors[int(slot) % len(colors)],
            label=f"face {slot}",
        )
    if not slots:
        ax.text(0.5, 0.5, f"no face in frame {frame}", transform=ax.transAxes, ha="center")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    if variable in _UNIT_RANGE:
        ax.set_xlim(0, 1.05)
    ax.set_xlabel(_ylabel(da))
    ax.set_title(f"{variable}, frame {frame}")
    if len(slots) > 1:
        legend_outside(ax)
    return ax


def _at_frame(da: xr.DataArray, frame: int) -> xr.DataArray:
    frames = da["frame"].values
    if frame not in frames:
        lo, hi = (frames.min(), frames.max()) if len(frames) else ("-", "-")
        raise ValueError(f"no frame {frame} in the Dataset (frames run {lo}..{hi})")
    return da.sel(frame=frame)


def _present_slots(da: xr.DataArray, faces: Sequence[int] | None) -> list[int]:
    if faces is not None:
        unknown = [f for f in faces if f not in da["face"].values]
        if unknown:
            raise ValueError(f"no face slot {unknown}; the slots are {da['face'].values.tolist()}")
        return list(faces)
    other = [d for d in da.dims if d != "face"]
    filled = da.notnull().any(other) if other else da.notnull()
    return [int(f) for f in da["face"].values[filled.values]]
