"""AU / emotion time series, heatmaps, one-frame bars and epoch averages, checked on the artists."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from scipy import stats  # noqa: E402

import featx  # noqa: E402, F401  (registers ds.feat)
from featx import analysis, schema  # noqa: E402
from featx.analysis import AnalysisError, EventsError  # noqa: E402
from featx.plot import plot_aus, plot_bars, plot_emotions, plot_epochs  # noqa: E402
from featx.plot.timeseries import face_colors  # noqa: E402

ATTRS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def make_ds(
    n_frames: int = 12,
    n_faces: int = 2,
    empty: tuple[int, ...] = (3,),
    fps: float | None = 10.0,
    source: str | list[str] = "clip.mp4",
    identity: bool = False,
    variables: tuple[str, ...] = ("face_rect", "aus", "emotions"),
) -> xr.Dataset:
    """Frames with ``n_faces`` faces (none in the ``empty`` frames) and known values."""
    rng = np.random.default_rng(n_frames * 10 + n_faces)
    frames = []
    for t in range(n_frames):
        if t in empty:
            frames.append({})
            continue
        face = {
            "face_rect": np.array([[10.0 + 50 * k, 20.0, 40.0, 40.0] for k in range(n_faces)]),
            "aus": rng.uniform(0, 1, (n_faces, 20)),
            "emotions": rng.dirichlet(np.ones(7), n_faces),
            "identity": np.array([7, 3][:n_faces] if t % 2 else [3, 7][:n_faces]),
        }
        keep = (*variables, "identity") if identity else variables
        frames.append({k: v for k, v in face.items() if k in keep})
    sources = [source] * n_frames if isinstance(source, str) else source
    time = np.arange(n_frames) / fps if fps else np.full(n_frames, np.nan)
    ds = schema.from_frames(frames, sources, range(n_frames), time, var_attrs=ATTRS)
    schema.validate(ds)
    return ds


def test_plot_aus_draws_one_line_per_au_per_face_with_the_values():
    ds = make_ds()
    fig = plot_aus(ds)
    assert isinstance(fig, Figure)
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["face 0", "face 1"]
    for face, ax in enumerate(axes):
        assert [line.get_label() for line in ax.lines] == list(schema.AUS)
        line = ax.lines[schema.AUS.index("AU12")]
        np.testing.assert_array_equal(line.get_xdata(), ds["time"].values)
        expected = ds["aus"].sel(face=face, au="AU12").values
        np.testing.assert_array_equal(line.get_ydata(), expected)
        assert np.isnan(line.get_ydata()[3])  # the frame without a face is a gap
        assert ax.get_xlabel() == "time (s)"
        assert ax.get_ylabel() == "aus (probability)"
    assert len({tuple(line.get_color()) for line in axes[0].lines}) == 20


def test_subsets_faces_and_missing_variables():
    ds = make_ds(n_faces=3)
    fig = plot_aus(ds, ["AU06", "AU12"], faces=[1])
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_title() == "face 1"
    assert [line.get_label() for line in ax.lines] == ["AU06", "AU12"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["AU06", "AU12"]
    fig = plot_emotions(ds, "happiness")
    assert len(fig.axes) == 3 and all(len(a.lines) == 1 for a in fig.axes)
    with pytest.raises(ValueError, match="AU99"):
        plot_aus(ds, ["AU12", "AU99"])
    with pytest.raises(ValueError, match="no 'emotions' variable"):
        plot_emotions(ds.drop_vars("emotions"))
    with pytest.raises(ValueError, match="no face slot"):
        plot_aus(ds, faces=[5])


def test_a_slot_that_never_holds_a_face_gets_no_panel():
    one = make_ds(n_faces=1)
    two = make_ds(n_faces=2)
    ds = schema.concat([one, two.assign_coords(frame=two["frame"] + 100)])
    ds = ds.isel(frame=slice(0, 12))  # only the one-face frames: slot 1 is always empty
    fig = plot_aus(ds)
    assert [a.get_title() for a in fig.axes] == ["face 0"]


def test_by_identity_follows_people_across_slots():
    ds = make_ds(identity=True)
    fig = plot_aus(ds, "AU01", by="identity")
    assert [a.get_title() for a in fig.axes] == ["identity 3", "identity 7"]
    slot_of_7 = np.where(ds["identity"].values == 7)[1]
    present = ds["identity"].values[:, 0] >= 0
    values = ds["aus"].sel(au="AU01").values
    expected = np.full(ds.sizes["frame"], np.nan)
    expected[present] = values[present][np.arange(present.sum()), slot_of_7]
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), expected)
    with pytest.raises(ValueError, match="identity"):
        plot_aus(make_ds(), by="identity")


def _span_x(ax, patch) -> list[float]:
    """Data x extent of a shaded span."""
    ext = patch.get_extents()
    return ax.transData.inverted().transform([[ext.x0, 0], [ext.x1, 0]])[:, 0].tolist()


def test_events_are_shaded_one_colour_per_trial_type():
    ds = make_ds()
    events = pd.DataFrame(
        {"onset": [0.2, 0.5, 0.9], "duration": [0.1, 0.2, 0.1], "trial_type": ["a", "b", "a"]}
    )
    fig = plot_aus(ds, ["AU12"], events=events)
    for ax in fig.axes:
        spans = [p for p in ax.patches if str(p.get_gid()).startswith("event:")]
        assert [s.get_gid() for s in spans] == ["event:a", "event:b", "event:a"]
        xs = [_span_x(ax, s) for s in spans]
        np.testing.assert_allclose(xs, [[0.2, 0.3], [0.5, 0.7], [0.9, 1.0]], atol=1e-9)
        colors = [s.get_facecolor() for s in spans]
        assert colors[0] == colors[2] != colors[1]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["AU12", "a", "b"]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['duration'\]"):
        plot_aus(ds, events=events.drop(columns="duration"))
    with pytest.raises(ValueError, match="onset"):
        plot_aus(ds, events=events.assign(onset=["x", 1, 2]))


def test_events_of_another_source_are_left_out():
    ds = make_ds(source=["a.mp4"] * 6 + ["b.mp4"] * 6, empty=())
    events = pd.DataFrame(
        {"onset": [0.1, 0.2, 0.3], "duration": [0.1] * 3, "trial_type": ["x"] * 3,
         "source": ["a.mp4", "b.mp4", None]}
    )  # fmt: skip
    fig = plot_aus(ds, "AU01", source="b.mp4", events=events)
    spans = [p for p in fig.axes[0].patches if p.get_gid() == "event:x"]
    assert len(spans) == 2  # b's own event and the one without a source
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), ds["time"].values[6:])
    with pytest.raises(ValueError, match="pass source="):
        plot_aus(ds, "AU01", x="frame", events=events)


def test_x_axis_falls_back_to_frames():
    stills = make_ds(fps=None, source=[f"img{i}.png" for i in range(12)], empty=())
    ax = plot_aus(stills, "AU01").axes[0]
    assert ax.get_xlabel().startswith("frame (running")
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), stills["frame"].values)
    two = make_ds(source=["a.mp4"] * 6 + ["b.mp4"] * 6)
    assert plot_aus(two, "AU01").axes[0].get_xlabel().startswith("frame")
    with pytest.raises(ValueError, match="several sources"):
        plot_aus(two, x="time")
    with pytest.raises(ValueError, match="NaN time"):
        plot_aus(stills, x="time")
    with pytest.raises(ValueError, match="no frames of source"):
        plot_aus(two, source="c.mp4")


def test_smoothing_is_a_centred_rolling_mean_that_keeps_gaps():
    ds = make_ds(n_faces=1)
    fig = plot_aus(ds, "AU12", smooth=3)
    raw = pd.Series(ds["aus"].sel(face=0, au="AU12").values)
    expected = raw.rolling(3, center=True, min_periods=1).mean().where(raw.notna())
    # Beside the gap (frame 3) analysis.smooth bridges it, as every analysis does; elsewhere the
    # line is the plain centred mean.
    away = np.abs(np.arange(12) - 3) > 1
    drawn = fig.axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(drawn[away], expected.to_numpy()[away])
    np.testing.assert_allclose(drawn, analysis.smooth(ds, window=3)["aus"].sel(face=0, au="AU12"))
    assert np.isnan(drawn[3])
    with pytest.raises(ValueError, match="smooth"):
        plot_aus(ds, smooth=0)


def test_smooth_draws_exactly_analysis_smooth_per_source_in_time_order():
    # Two sources; b's rows are stored out of time order, and a has a frame without a face.
    order_b = [3, 0, 5, 1, 4, 2]
    ds = make_ds(source=["a.mp4"] * 6 + ["b.mp4"] * 6, empty=(4,))
    ds = ds.assign_coords(
        source_frame=("frame", [*range(6), *order_b]),
        time=("frame", [*(np.arange(6) / 10), *(np.array(order_b) / 10)]),
    )
    smoothed = analysis.smooth(ds, window=3)
    fig = plot_aus(ds, ["AU01", "AU12"], smooth=3)  # both sources, on the running frame number
    for face, ax in enumerate(fig.axes):
        for line in ax.lines:
            expected = smoothed["aus"].sel(face=face, au=line.get_label()).values
            np.testing.assert_array_equal(line.get_xdata(), ds["frame"].values)
            np.testing.assert_allclose(line.get_ydata(), expected, rtol=0, atol=1e-12)
    # A rolling mean over the rows as stored (the old plot smoothing) is not what is drawn.
    stored = ds["aus"].sel(face=0, au="AU12").to_pandas().rolling(3, center=True, min_periods=1)
    assert not np.allclose(stored.mean().to_numpy()[6:], fig.axes[0].lines[1].get_ydata()[6:])

    ax = plot_aus(ds, "AU12", source="b.mp4", smooth=3).axes[0]
    b = smoothed.isel(frame=slice(6, 12))
    by_time = np.argsort(b["time"].values)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), b["time"].values[by_time])
    expected = b["aus"].sel(face=0, au="AU12").values[by_time]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), expected, rtol=0, atol=1e-12)


def test_events_and_the_dataset_are_checked_as_the_analyses_check_them(tmp_path):
    ds = make_ds()
    events = pd.DataFrame({"onset": [0.2], "duration": [0.1], "trial_type": ["a"]})
    with pytest.raises(EventsError, match="negative duration"):
        plot_aus(ds, events=events.assign(duration=-0.1))
    with pytest.raises(EventsError, match="not in the Dataset"):
        plot_aus(ds, events=events.assign(source="other.mp4"))
    path = tmp_path / "sub-01_events.tsv"
    events.to_csv(path, sep="\t", index=False)
    (span,) = [p for p in plot_aus(ds, "AU12", faces=[0], events=path).axes[0].patches]
    assert span.get_gid() == "event:a"
    with pytest.raises(TypeError, match="xarray.Dataset"):
        plot_aus(ds["aus"])
    with pytest.raises(AnalysisError, match="time"):
        plot_aus(ds.drop_vars("time"))


def _many_labels(n: int, n_faces: int = 1) -> xr.Dataset:
    labels = tuple(f"AU{k:02d}" for k in range(n))
    rng = np.random.default_rng(n)
    frames = [{"aus": rng.uniform(0, 1, (n_faces, n))} for _ in range(20)]
    return schema.from_frames(
        frames, ["a.mp4"] * 20, range(20), np.arange(20) / 10, labels={"au": labels},
        var_attrs={"aus": {"kind": "probability"}},
    )  # fmt: skip


def _inside(inner, outer, tol: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - tol and inner.y0 >= outer.y0 - tol
        and inner.x1 <= outer.x1 + tol and inner.y1 <= outer.y1 + tol
    )  # fmt: skip


@pytest.mark.parametrize("n", [3, 17, 52])
def test_the_default_figure_is_readable_for_any_number_of_labels(n, tmp_path):
    events = pd.DataFrame({"onset": [0.5], "duration": [0.4], "trial_type": ["joke"]})
    fig = plot_aus(_many_labels(n, n_faces=2), events=events)
    path = tmp_path / "aus.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "constrained_layout not applied"
        fig.savefig(path)
    legend = fig.axes[0].get_legend()
    assert len(legend.get_texts()) == n + 1
    for ax in fig.axes:
        box = ax.get_window_extent()
        assert box.height / fig.dpi > 1.5 and box.width / fig.dpi > 6.0  # inches
    extent = legend.get_window_extent()
    assert _inside(extent, fig.bbox)
    for k in range(2):
        assert extent.x0 > fig.axes[k].get_window_extent().x1  # beside the axes, not over them
        assert not _inside(extent, fig.axes[1 - k].get_window_extent())
    # The saved file is the whole figure, and the legend's region of it holds the legend.
    saved = plt.imread(path)
    np.testing.assert_allclose(saved.shape[:2], (fig.bbox.height, fig.bbox.width), atol=1)
    rows = slice(int(saved.shape[0] - extent.y1), int(saved.shape[0] - extent.y0))
    crop = saved[rows, int(extent.x0) : int(extent.x1), :3]
    assert (crop.min(axis=2) < 0.3).mean() > 0.01  # label text
    first = legend.get_lines()[0].get_color()
    close = np.abs(crop - np.asarray(matplotlib.colors.to_rgb(first))).max(axis=2) < 0.1
    assert close.any()  # the first entry's line
    assert np.isclose(fig.bbox_inches.height, fig.get_size_inches()[1])
    # bbox_inches="tight" keeps it as well (nothing of the figure lies outside it).
    fig.savefig(tmp_path / "tight.png", bbox_inches="tight")
    tight = plt.imread(tmp_path / "tight.png")
    assert tight.shape[0] >= saved.shape[0] - 4 and tight.shape[1] >= extent.x1 - extent.x0


@pytest.mark.parametrize("n", [3, 17, 52])
def test_a_heatmap_grows_a_row_per_label(n):
    fig = plot_aus(_many_labels(n), kind="heatmap")
    fig.canvas.draw()
    box = fig.axes[0].get_window_extent()
    assert box.height / fig.dpi / n > 0.12 and box.height / fig.dpi > 2.0  # inches per row


def test_bars_of_several_faces_keep_their_legend_beside_the_axes():
    ax = plot_bars(_many_labels(52, n_faces=3), 0)
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["face 0", "face 1", "face 2"]
    assert _inside(legend.get_window_extent(), fig.bbox)
    assert legend.get_window_extent().x0 > ax.get_window_extent().x1
    assert ax.get_window_extent().height / fig.dpi / 52 > 0.15


def test_heatmap_has_one_row_per_label_and_masks_missing_frames():
    ds = make_ds()
    fig = plot_emotions(ds, kind="heatmap")
    panels = [a for a in fig.axes if a.get_title()]
    assert len(panels) == 2 and len(fig.axes) == 3  # + the colour bar
    (mesh,) = [c for c in panels[1].collections if isinstance(c, QuadMesh)]
    values = mesh.get_array()
    assert values.shape == (7, 12)
    np.testing.assert_allclose(values[:, 0], ds["emotions"].isel(frame=0, face=1).values)
    assert values.mask[:, 3].all() and not values.mask[:, 2].any()
    assert [t.get_text() for t in panels[0].get_yticklabels()] == list(schema.EMOTIONS)
    assert mesh.get_clim() == (0, 1)
    events = pd.DataFrame({"onset": [0.3], "duration": [0.4], "trial_type": ["a"]})
    ax = plot_aus(ds, kind="heatmap", faces=[0], events=events).axes[0]
    (outline,) = [p for p in ax.patches if p.get_gid() == "event:a"]
    assert outline.get_facecolor()[3] == 0 and outline.get_zorder() > mesh.get_zorder()
    np.testing.assert_allclose(_span_x(ax, outline), [0.3, 0.7], atol=1e-2)
    with pytest.raises(ValueError, match="kind"):
        plot_aus(ds, kind="violin")


def test_ax_is_used_for_a_single_panel_only():
    ds = make_ds()
    fig, ax = plt.subplots()
    assert plot_aus(ds, faces=[0], ax=ax) is fig
    assert len(ax.lines) == 20
    with pytest.raises(ValueError, match="one panel"):
        plot_aus(ds, ax=ax)


def test_au_intensity_from_a_reader():
    frames = [{"au_intensity": np.array([[0.5, 4.0]])}] * 5
    ds = schema.from_frames(
        frames, ["of.csv"] * 5, range(5), np.arange(5) / 30.0, labels={"au": ("AU01", "AU45")},
        var_attrs={"au_intensity": {"scale": "0-5"}},
    )  # fmt: skip
    ax = plot_aus(ds, variable="au_intensity").axes[0]
    assert ax.get_ylabel() == "au_intensity (0-5)"
    assert max(ax.lines[1].get_ydata()) == 4.0 and ax.get_ylim()[1] >= 4.0
    with pytest.raises(ValueError, match="no 'aus' variable"):
        plot_aus(ds)


def test_plot_bars_groups_faces_with_their_colours():
    ds = make_ds(n_faces=3)
    ax = plot_bars(ds, 2, "emotions")
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 3 * 7
    colors = face_colors(3)
    for k in range(3):
        group = bars[7 * k : 7 * (k + 1)]
        np.testing.assert_allclose([b.get_width() for b in group],
                                   ds["emotions"].sel(frame=2, face=k).values)  # fmt: skip
        assert all(np.allclose(b.get_facecolor()[:3], colors[k]) for b in group)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(schema.EMOTIONS)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["face 0", "face 1", "face 2"]
    empty = plot_bars(ds, 3)
    assert not empty.patches and "no face in frame 3" in [t.get_text() for t in empty.texts]
    with pytest.raises(ValueError, match=r"no frame 99 .*0\.\.11"):
        plot_bars(ds, 99)


def _epochs() -> xr.Dataset:
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1, (6, 5, 2, 3))  # epoch, lag, face, au
    values[0, 1, :, :] = np.nan  # an epoch without a face at one lag
    values[:, :, 1, :] = np.nan  # slot 1 never holds a face
    return xr.Dataset(
        {"aus": (("epoch", "lag", "face", "au"), values, {"kind": "probability"})},
        coords={
            "epoch": np.arange(6),
            "lag": np.arange(-2, 3) / 10,
            "face": [0, 1],
            "au": ["AU01", "AU06", "AU12"],
            "trial_type": ("epoch", ["joke", "sad", "joke", "sad", "joke", "joke"]),
        },
        attrs={"lag_unit": "s"},
    )


def test_plot_epochs_draws_means_with_t_confidence_bands():
    ep = _epochs()
    fig = plot_epochs(ep, "aus", ["AU06", "AU12"], ci=0.9)
    assert [a.get_title() for a in fig.axes if a.get_visible()] == ["AU06", "AU12"]
    ax = fig.axes[1]
    assert [line.get_label() for line in ax.lines[:2]] == ["joke", "sad"]
    curves = ep["aus"].sel(face=0, au="AU12").values[ep["trial_type"].values == "joke"]
    mean = np.nanmean(curves, axis=0)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mean)
    n = np.isfinite(curves).sum(axis=0)
    sem = stats.sem(curves, axis=0, nan_policy="omit")
    half = stats.t.ppf(0.95, n - 1) * np.asarray(sem)
    (band,) = [c for c in ax.collections if c.get_gid() == "ci:joke"]
    upper = band.get_paths()[0].vertices[:, 1].max()
    assert upper == pytest.approx(float(np.max(mean + half)))
    assert ax.get_xlabel() == "lag (s)"
    pooled = plot_epochs(ep, "aus", "AU01", by=None)
    assert [line.get_label() for line in pooled.axes[0].lines[:1]] == ["all epochs"]


def test_plot_epochs_rejects_a_plain_dataset():
    with pytest.raises(ValueError, match="'epoch' and 'lag'"):
        plot_epochs(make_ds())
    with pytest.raises(ValueError, match="by="):
        plot_epochs(_epochs(), by="condition")


def test_plot_epochs_takes_the_output_of_analysis_epochs():
    from featx.analysis import epochs

    ds = make_ds(n_frames=30, empty=(12,))
    events = pd.DataFrame({"onset": [0.5, 1.5], "duration": [0.5, 0.5], "trial_type": ["a", "b"]})
    ep = epochs(ds, events, -0.2, 0.5)
    fig = plot_epochs(ep, "emotions", ["happiness"])
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines[:2]] == ["a", "b"]
    np.testing.assert_allclose(lines[0].get_xdata(), ep["lag"].values)
    expected = ep["emotions"].sel(emotion="happiness").isel(epoch=0).mean("face").values
    np.testing.assert_allclose(lines[0].get_ydata(), expected)


def test_accessor_passes_through():
    ds = make_ds()
    fig = ds.feat.plot_aus(["AU12"], faces=[0])
    assert len(fig.axes[0].lines) == 1
    assert len(ds.feat.plot_emotions().axes) == 2
    assert len(ds.feat.plot_bars(0).patches) == 2 * 20
    assert len(_epochs().feat.plot_epochs("aus", col_wrap=2).axes) == 4  # 3 panels + 1 hidden
