"""Step through a video with its detections in Jupyter: :func:`view` and :func:`compare`.

:func:`view` shows one run: a frame slider and play button; the frame with its overlays (boxes,
landmarks or mesh, keypoints, head pose, gaze, identity labels, each with its own toggle); the
AU and emotion values of the current frame and face as bars; and their time series with a cursor
at the current frame. A source selector picks the video (one slider runs over its frames) and a
face selector the face slot whose values are shown. Controls and panels for variables the
Dataset lacks are hidden. :func:`compare` puts two runs over the same frames side by side, on
one slider.

Frames are decoded on demand from the ``source`` / ``source_frame`` coordinates and kept in a
small LRU cache, so scrubbing back over a stretch decodes each frame once. A source that cannot
be read shows a grey panel that says why, with the overlays drawn on it. Every panel is drawn
with matplotlib (the same drawing as :func:`featx.plot.plot_detections`) into a PNG, so the
viewer needs only ipywidgets in the kernel: ``pip install 'featx[widgets]'``.

Examples
--------
>>> import featx
>>> viewer = featx.widgets.view(ds)  # doctest: +SKIP
>>> viewer.slider.value = 10  # what dragging the slider does  # doctest: +SKIP
>>> featx.widgets.compare(ds_v1, ds_v2, labels=("Detector", "Detectorv2"))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Sequence

import cv2
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from featx import schema
from featx.plot.detections import _POINT_VARS, _read_picture, draw_frame
from featx.plot.timeseries import (
    _present_slots,
    _x_axis,
    legend_outside,
    plot_aus,
    plot_bars,
    plot_emotions,
)

try:
    import ipywidgets as widgets
except ImportError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "featx.widgets needs ipywidgets: pip install 'featx[widgets]' (or ipywidgets>=8.1)"
    ) from e

__all__ = ["Compare", "Viewer", "compare", "view"]

_DPI = 100
#: Overlay toggle -> (variables that enable it, gids of the artists it hides).
_OVERLAYS = {
    "boxes": (("face_rect",), ("box",)),
    "keypoints": (("keypoints",), ("keypoints",)),
    "pose": (("head_pose",), ("head_pose",)),
    "gaze": (("gaze",), ("gaze",)),
    "labels": (_POINT_VARS, ("label",)),
}
#: Per-face values shown as bars and as time series, with the function drawing the series.
_SERIES = {"aus": plot_aus, "emotions": plot_emotions}


def _figure(**kwargs) -> Figure:
    """A figure with its own Agg canvas (no pyplot, so nothing piles up in pyplot's state)."""
    fig = Figure(dpi=_DPI, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _encode(canvas: FigureCanvasAgg) -> bytes:
    """PNG bytes of what the canvas last drew."""
    rgba = np.asarray(canvas.buffer_rgba())
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR))
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
        raise RuntimeError("OpenCV could not encode the panel as PNG")
    return data.tobytes()


def _png(fig: Figure) -> bytes:
    fig.canvas.draw()
    return _encode(fig.canvas)


def _shown(widget: widgets.DOMWidget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def _filled(ds: xr.Dataset) -> np.ndarray:
    """Per face slot: does any per-face variable hold a value (in any frame of ``ds``)?"""
    filled = np.zeros(ds.sizes["face"], bool)
    for da in ds.data_vars.values():
        if "face" in da.dims and da.dtype.kind == "f":
            other = [d for d in da.dims if d != "face"]
            filled |= (da.notnull().any(other) if other else da.notnull()).values
    return filled


def _filled_slots(ds: xr.Dataset) -> list[int]:
    """Face slots holding a value in some frame (at least one slot, for the selector)."""
    slots = [int(f) for f in ds["face"].values[_filled(ds)]]
    return slots or [int(ds["face"].values[0])]


def _source_labels(sources: Sequence[str]) -> list[tuple[str, str]]:
    """Dropdown options: file names, or full paths when two sources share a file name."""
    names = [os.path.basename(s) for s in sources]
    if len(set(names)) < len(names):
        names = list(sources)
    return list(zip(names, sources, strict=True))


class Viewer(widgets.VBox):
    """The widget :func:`view` returns; its controls and images are public attributes.

    Attributes
    ----------
    slider, play
        Position within the current source's frames (0 ..), and the play button linked to it.
    source, face, points
        Dropdowns: the source shown, the face slot whose values are shown, and ``landmarks`` /
        ``mesh`` / ``none`` for the drawn points.
    toggles
        Checkbox per overlay: ``boxes``, ``keypoints``, ``pose``, ``gaze``, ``labels``.
    frame_image, bar_images, series_image
        The PNG panels (``bar_images`` keyed ``aus`` / ``emotions``).
    figures
        The matplotlib figure behind each panel: ``frame``, ``aus``, ``emotions``, ``series``.
    readout
        Source, frame index, time and number of faces of the current frame.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from featx import demo, schema
    >>> video = demo.write_video(pathlib.Path(tempfile.mkdtemp()) / "clip.avi",
    ...                          demo.clip_frames(demo.astronaut(), n=3, size=(96, 64)))
    >>> faces = [{"face_rect": np.array([[30.0 + 5 * k, 10, 30, 36]])} for k in range(3)]
    >>> ds = schema.from_frames(faces, [str(video)] * 3, range(3), [0.0, 1 / 30, 2 / 30])
    >>> viewer = Viewer(ds, width=160)  # what view(ds) returns
    >>> viewer.slider.max, viewer.readout.value.count("1 face")
    (2, 1)
    >>> viewer.slider.value = 2  # what dragging the slider does
    >>> viewer.frame
    2
    """

    def __init__(
        self, ds: xr.Dataset, *, cache_size: int = 32, width: int = 560, interval: int = 200
    ) -> None:
        if not isinstance(ds, xr.Dataset):
            raise TypeError(f"view expects a featx xarray.Dataset, got {type(ds).__name__}")
        schema.validate(ds)
        if ds.sizes["frame"] == 0:
            raise ValueError("the Dataset has no frames to view")
        if int(cache_size) < 1 or int(width) < 16 or int(interval) < 1:
            raise ValueError(
                f"cache_size must be >= 1, width >= 16 px and interval >= 1 ms; got "
                f"{cache_size}, {width}, {interval}"
            )
        self.ds = ds
        self._width = int(width)
        self._read = functools.lru_cache(maxsize=int(cache_size))(_read_picture)
        self._quiet = False
        self._series_names = [n for n in _SERIES if n in ds]

        sources = list(dict.fromkeys(ds["source"].values.astype(str).tolist()))
        narrow = {"width": "220px"}
        self.source = widgets.Dropdown(
            options=_source_labels(sources), description="source", layout=narrow
        )
        self.face = widgets.Dropdown(description="face", layout=narrow)
        self.slider = widgets.IntSlider(min=0, max=0, description="frame")
        self.play = widgets.Play(min=0, max=0, interval=int(interval))
        widgets.link((self.play, "value"), (self.slider, "value"))
        self.readout = widgets.HTML()
        point_options = [n for n in ("landmarks", "mesh") if n in ds]
        self.points = widgets.Dropdown(
            options=[*point_options, "none"], description="points", layout=narrow
        )
        self.toggles = {
            name: widgets.Checkbox(
                value=True, description=name, indent=False, layout={"width": "auto"}
            )
            for name in _OVERLAYS
        }
        self.frame_image = widgets.Image(format="png")
        self.frame_image.add_class("featx-frame")
        self.bar_images = {n: widgets.Image(format="png") for n in _SERIES}
        self.series_image = widgets.Image(format="png")
        self.figures = {"frame": _figure()}
        for name in _SERIES:
            rows = ds.sizes.get("au" if name == "aus" else "emotion", 1)
            self.figures[name] = _figure(figsize=(3.4, 0.2 * rows + 1.2), layout="constrained")
            self.figures[name].add_subplot()
        self.figures["series"] = _figure(
            figsize=(8.5, 2.2 * max(len(self._series_names), 1)), layout="constrained"
        )
        self._bars = {}
        self._cursors = []
        self._background = None
        self._x = np.zeros(0)
        self._frames = np.zeros(0, int)

        _shown(self.source, len(sources) > 1)
        _shown(self.points, bool(point_options))
        for name, (variables, _) in _OVERLAYS.items():
            _shown(self.toggles[name], any(v in ds for v in variables))
        for name, image in self.bar_images.items():
            _shown(image, name in ds)
        _shown(self.series_image, bool(self._series_names))

        self.slider.observe(self._on_position, "value")
        self.source.observe(self._on_source, "value")
        self.face.observe(self._on_face, "value")
        self.points.observe(self._on_overlay, "value")
        for toggle in self.toggles.values():
            toggle.observe(self._on_overlay, "value")
        super().__init__(
            [
                widgets.HBox([self.play, self.slider, self.readout]),
                widgets.HBox([self.source, self.face, self.points]),
                widgets.HBox(list(self.toggles.values())),
                widgets.HBox(
                    [self.frame_image, *self.bar_images.values()],
                    layout={"align_items": "flex-start"},  # images keep their aspect
                ),
                self.series_image,
            ]
        )
        self.add_class("featx-viewer")
        self._select_source(self.source.value)

    @property
    def frame(self) -> int:
        """The ``frame`` coordinate value on show.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> from featx import demo, schema
        >>> video = demo.write_video(pathlib.Path(tempfile.mkdtemp()) / "clip.avi",
        ...                          demo.clip_frames(demo.astronaut(), n=3, size=(96, 64)))
        >>> faces = [{"face_rect": np.array([[30.0 + 5 * k, 10, 30, 36]])} for k in range(3)]
        >>> ds = schema.from_frames(faces, [str(video)] * 3, range(3), [0.0, 1 / 30, 2 / 30])
        >>> viewer = Viewer(ds.isel(frame=[1, 2]), width=160)
        >>> viewer.frame  # the first frame shown is the Dataset's frame 1
        1
        """
        return int(self._frames[self.slider.value])

    def cache_info(self) -> functools._CacheInfo:
        """Hits, misses and size of the decoded-frame cache (:func:`functools.lru_cache`).

        Examples
        --------
        >>> import pathlib, tempfile
        >>> import numpy as np
        >>> from featx import demo, schema
        >>> video = demo.write_video(pathlib.Path(tempfile.mkdtemp()) / "clip.avi",
        ...                          demo.clip_frames(demo.astronaut(), n=3, size=(96, 64)))
        >>> faces = [{"face_rect": np.array([[30.0 + 5 * k, 10, 30, 36]])} for k in range(3)]
        >>> ds = schema.from_frames(faces, [str(video)] * 3, range(3), [0.0, 1 / 30, 2 / 30])
        >>> viewer = Viewer(ds, width=160)
        >>> viewer.slider.value = 1
        >>> viewer.slider.value = 0  # decoded already: a hit
        >>> info = viewer.cache_info()
        >>> info.hits, info.misses
        (1, 2)
        """
        return self._read.cache_info()

    # -- control callbacks -------------------------------------------------------------------
    def _on_position(self, _change=None) -> None:
        if not self._quiet:
            self._render_frame()

    def _on_source(self, change) -> None:
        if not self._quiet:
            self._select_source(change["new"])

    def _on_face(self, _change=None) -> None:
        if not self._quiet:
            self._draw_face_panels()
            self._render_bars()
            self._render_cursor()

    def _on_overlay(self, _change=None) -> None:
        self._render_image()

    def _select_source(self, source: str) -> None:
        keep = self.ds["source"].values.astype(str) == source
        sub = self.ds.isel(frame=keep)
        self._frames = self.ds["frame"].values[keep]
        self._x = _x_axis(sub, None)[0]
        slots = _filled_slots(sub)
        self._quiet = True
        try:
            self.slider.value = 0
            self.slider.max = self.play.max = len(self._frames) - 1
            self.face.options = [(f"face {s}", s) for s in slots]
            self.face.value = slots[0]
        finally:
            self._quiet = False
        _shown(self.face, len(slots) > 1)
        self._draw_face_panels()
        self._render_frame()

    # -- drawing -----------------------------------------------------------------------------
    def _render_frame(self) -> None:
        row = self.ds.sel(frame=self.frame)
        time = float(row["time"].values)
        self.readout.value = html.escape(
            f"{os.path.basename(str(row['source'].values))} · frame "
            f"{int(row['source_frame'].values)}"
            + (f" · {time:.2f} s" if np.isfinite(time) else "")
            + f" · {int(_filled(row).sum())} face(s)"
        )
        self._render_image()
        self._render_bars()
        self._render_cursor()

    def _render_image(self) -> None:
        row = self.ds.sel(frame=self.frame)
        picture, reason = self._read(str(row["source"].values), int(row["source_frame"].values))
        slots = sorted({s for n in _POINT_VARS if n in row for s in _present_slots(row[n], None)})
        height, width = picture.shape[:2] if picture is not None else (3, 4)
        fig = self.figures["frame"]
        fig.clear()
        fig.set_size_inches(self._width / _DPI, self._width * height / width / _DPI)
        ax = fig.add_axes((0, 0, 1, 1))
        draw_frame(ax, row, slots, picture, reason, points=self.points.value)
        hidden = {
            gid
            for name, toggle in self.toggles.items()
            if not toggle.value
            for gid in _OVERLAYS[name][1]
        }
        for artist in ax.get_children():
            if artist.get_gid() in hidden:
                artist.set_visible(False)
        self.frame_image.value = _png(fig)

    def _draw_face_panels(self) -> None:
        """Lay out the bar and series panels of the selected face, for the per-frame blits.

        What changes from frame to frame (the bars, the "not in this frame" note, the series
        cursor) is animated: left out of this draw and drawn over the saved background by
        :meth:`_render_bars` / :meth:`_render_cursor`, which keeps a slider step cheap.
        """
        frame, face = self.frame, self.face.value
        self._bars = {}
        for name in self._series_names:
            fig = self.figures[name]
            (ax,) = fig.axes
            ax.clear()  # keeps the axes where the first layout put them
            plot_bars(self.ds, frame, name, faces=[face], ax=ax)
            ax.set_title(f"{name}, face {face}")
            bars = [p for p in ax.patches if isinstance(p, Rectangle)]
            note = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", gid="no_face")
            for artist in (*bars, note):
                artist.set_animated(True)
            fig.canvas.draw()
            fig.set_layout_engine("none")  # the labels stay: lay out once, not per frame
            self._bars[name] = (fig.canvas.copy_from_bbox(fig.bbox), bars, note)

        fig = self.figures["series"]
        fig.clear()
        self._cursors = []
        if not self._series_names:
            return
        axes = fig.subplots(len(self._series_names), 1, squeeze=False, sharex=True)[:, 0]
        for ax, name in zip(axes, self._series_names, strict=True):
            _SERIES[name](self.ds, faces=[face], source=self.source.value, ax=ax)
            legend_outside(ax, max_rows=8, fontsize="x-small")  # 8 rows fit a 2.2 in panel
            cursor = ax.axvline(np.nan, color="0.15", linewidth=1.2, gid="cursor", animated=True)
            self._cursors.append(cursor)
        fig.canvas.draw()
        self._background = fig.canvas.copy_from_bbox(fig.bbox)

    def _render_bars(self) -> None:
        frame, face = self.frame, self.face.value
        for name, (background, bars, note) in self._bars.items():
            values = self.ds[name].sel(frame=frame, face=face).values
            for bar, value in zip(bars, values, strict=True):
                bar.set_width(value)  # NaN draws nothing
            note.set_text("" if np.isfinite(values).any() else f"face {face} not in this frame")
            canvas = self.figures[name].canvas
            canvas.restore_region(background)
            for artist in (*bars, note):
                artist.axes.draw_artist(artist)
            self.bar_images[name].value = _encode(canvas)

    def _render_cursor(self) -> None:
        if not self._cursors:
            return
        x = float(self._x[self.slider.value])
        canvas = self.figures["series"].canvas
        canvas.restore_region(self._background)
        for cursor in self._cursors:
            cursor.set_xdata([x, x])
            cursor.axes.draw_artist(cursor)
        self.series_image.value = _encode(canvas)


def view(ds: xr.Dataset, **kwargs) -> Viewer:
    """An interactive viewer of a featx Dataset: frames, overlays, bars and time series.

    Parameters
    ----------
    ds
        A featx Dataset (from a detector or a reader; every variable is optional). The frames
        are read back from its ``source`` files on demand.
    cache_size
        Decoded frames kept in memory (LRU), default 32.
    width
        Width of the frame panel in pixels, default 560.
    interval
        Milliseconds between frames while playing, default 200.

    Returns
    -------
    Viewer
        An ipywidgets ``VBox``; the last line of a notebook cell displays it.

    Raises
    ------
    TypeError
        ``ds`` is not an xarray Dataset.
    featx.SchemaError
        ``ds`` breaks the featx schema (names the rule).
    ValueError
        The Dataset has no frames, or an option is out of range.

    Examples
    --------
    >>> viewer = view(ds)  # doctest: +SKIP
    >>> viewer.toggles["gaze"].value = False  # hide the gaze arrows  # doctest: +SKIP
    """
    return Viewer(ds, **kwargs)


class Compare(widgets.HBox):
    """Two :class:`Viewer` side by side with their frame slider and source selector linked.

    Attributes
    ----------
    viewers
        The two viewers (left, right).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from featx import demo, schema
    >>> video = demo.write_video(pathlib.Path(tempfile.mkdtemp()) / "clip.avi",
    ...                          demo.clip_frames(demo.astronaut(), n=3, size=(96, 64)))
    >>> faces = [{"face_rect": np.array([[30.0 + 5 * k, 10, 30, 36]])} for k in range(3)]
    >>> ds = schema.from_frames(faces, [str(video)] * 3, range(3), [0.0, 1 / 30, 2 / 30])
    >>> both = Compare(ds, ds, labels=("left run", "right run"), width=160)  # what compare returns
    >>> both.viewers[0].slider.value = 2  # the sliders are linked
    >>> both.viewers[1].frame
    2
    """

    def __init__(
        self,
        ds_a: xr.Dataset,
        ds_b: xr.Dataset,
        *,
        labels: Sequence[str] | None = None,
        **kwargs,
    ) -> None:
        for name, ds in (("ds_a", ds_a), ("ds_b", ds_b)):
            if not isinstance(ds, xr.Dataset):
                raise TypeError(f"compare: {name} must be a featx Dataset, got {type(ds).__name__}")
        _same_frames(ds_a, ds_b)
        if labels is None:
            labels = [ds.attrs.get("detector", f"run {k}") for ds, k in ((ds_a, "A"), (ds_b, "B"))]
        if len(labels) != 2:
            raise ValueError(f"compare needs two labels, got {len(labels)}")
        self.viewers = (Viewer(ds_a, **kwargs), Viewer(ds_b, **kwargs))
        left, right = self.viewers
        widgets.link((left.source, "value"), (right.source, "value"))
        widgets.link((left.slider, "value"), (right.slider, "value"))
        _shown(right.play, False)
        super().__init__(
            [
                widgets.VBox([widgets.HTML(f"<b>{html.escape(str(label))}</b>"), viewer])
                for label, viewer in zip(labels, self.viewers, strict=True)
            ]
        )


def _same_frames(ds_a: xr.Dataset, ds_b: xr.Dataset) -> None:
    """Raise ValueError unless both runs cover the same (source, source_frame) sequence."""
    keys = [
        [
            f"{s} frame {k}"
            for s, k in zip(ds["source"].values.tolist(), ds["source_frame"].values, strict=True)
        ]
        for ds in (ds_a, ds_b)
    ]
    if keys[0] == keys[1]:
        return
    if len(keys[0]) != len(keys[1]):
        raise ValueError(
            f"compare needs two runs over the same frames: ds_a has {len(keys[0])} frames, "
            f"ds_b has {len(keys[1])}"
        )
    k = next(i for i, (a, b) in enumerate(zip(*keys, strict=True)) if a != b)
    raise ValueError(
        f"compare needs two runs over the same frames: frame {k} is {keys[0][k]} in ds_a but "
        f"{keys[1][k]} in ds_b"
    )


def compare(ds_a: xr.Dataset, ds_b: xr.Dataset, **kwargs) -> Compare:
    """Two runs over the same media side by side, on one frame slider.

    Parameters
    ----------
    ds_a, ds_b
        featx Datasets over the same frames (same ``source`` and ``source_frame`` sequence),
        e.g. the output of two detectors on one video.
    labels
        Titles of the two panels (default: each Dataset's ``detector`` attr).
    **kwargs
        Passed to :func:`view` for both (``cache_size``, ``width``, ``interval``).

    Returns
    -------
    Compare
        An ipywidgets ``HBox`` holding two viewers with linked slider and source selector.

    Raises
    ------
    ValueError
        The two runs do not cover the same frames (names the first that differs).

    Examples
    --------
    >>> compare(ds_mp, ds_v2, labels=("MPDetector", "Detectorv2"))  # doctest: +SKIP
    """
    return Compare(ds_a, ds_b, **kwargs)
