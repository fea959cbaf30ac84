"""The viewer driven from Python: controls change what is drawn, as a user's clicks would."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from widget_data import box, dataset, write_video

import featx  # noqa: F401  (registers ds.feat)
from featx import media, schema
from featx.widgets import Compare, Viewer, _png, compare, view

pytestmark = pytest.mark.requires("ipywidgets")

N = 12


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "clip.avi", N)


@pytest.fixture
def ds(video):
    out = dataset(video, N)
    schema.validate(out)
    return out


def _image(viewer: Viewer) -> np.ndarray:
    (image,) = [
        a for a in viewer.figures["frame"].axes[0].get_children() if isinstance(a, AxesImage)
    ]
    return np.asarray(image.get_array())


def _overlays(viewer: Viewer, gid: str) -> list:
    return [a for a in viewer.figures["frame"].axes[0].get_children() if a.get_gid() == gid]


def _bar_widths(viewer: Viewer, name: str) -> np.ndarray:
    (ax,) = viewer.figures[name].axes
    return np.array([p.get_width() for p in ax.patches if isinstance(p, Rectangle)])


def _cursor_x(viewer: Viewer) -> list[float]:
    return [
        float(a.get_xdata()[0])
        for ax in viewer.figures["series"].axes
        for a in ax.get_lines()
        if a.get_gid() == "cursor"
    ]


def test_the_slider_moves_image_overlays_bars_and_cursor(ds, video):
    viewer = view(ds)
    assert viewer.slider.max == N - 1 and viewer.play.max == N - 1
    before = {
        "frame": bytes(viewer.frame_image.value),
        "aus": bytes(viewer.bar_images["aus"].value),
        "emotions": bytes(viewer.bar_images["emotions"].value),
        "series": bytes(viewer.series_image.value),
    }
    np.testing.assert_array_equal(_image(viewer), media.read_frame(str(video), 0))

    viewer.slider.value = 4
    assert viewer.frame == 4
    assert bytes(viewer.frame_image.value) != before["frame"]
    assert bytes(viewer.bar_images["aus"].value) != before["aus"]
    assert bytes(viewer.bar_images["emotions"].value) != before["emotions"]
    assert bytes(viewer.series_image.value) != before["series"]
    np.testing.assert_array_equal(_image(viewer), media.read_frame(str(video), 4))
    (rect,) = _overlays(viewer, "box")
    assert rect.get_bbox().bounds == pytest.approx(tuple(box(4, 0)))
    for name in ("aus", "emotions"):
        np.testing.assert_allclose(_bar_widths(viewer, name), ds[name].sel(frame=4, face=0).values)
    assert _cursor_x(viewer) == pytest.approx([0.4, 0.4])  # time of frame 4, on both panels
    assert "frame 4" in viewer.readout.value and "0.40 s" in viewer.readout.value
    assert "1 face(s)" in viewer.readout.value

    viewer.slider.value = N - 1  # the second face has come in
    assert len(_overlays(viewer, "box")) == 2
    assert [t.get_text() for t in _overlays(viewer, "label")] == ["identity 7", "identity 8"]
    assert "2 face(s)" in viewer.readout.value


def _decode(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_the_quick_per_frame_panels_match_a_full_redraw(ds):
    """Bars and cursor are blitted over a saved background; the result must be the real figure."""
    viewer = view(ds)
    viewer.slider.value = 3
    viewer.face.value = 1
    viewer.slider.value = 9
    for name, image in [*viewer.bar_images.items(), ("series", viewer.series_image)]:
        fig = viewer.figures[name]
        fig.set_layout_engine("none")  # keep the layout the viewer drew with
        for artist in fig.findobj(lambda a: a.get_animated()):
            artist.set_animated(False)
        blit, full = _decode(bytes(image.value)), _decode(_png(fig))
        assert blit.shape == full.shape
        assert (np.abs(blit.astype(int) - full).max(axis=-1) > 0).mean() < 0.01, name


def test_play_steps_the_slider(ds):
    viewer = view(ds, interval=50)
    assert viewer.play.interval == 50
    viewer.play.value = 3  # what the play button sends on each tick
    assert viewer.slider.value == 3 and viewer.frame == 3
    assert _cursor_x(viewer) == pytest.approx([0.3, 0.3])


@pytest.mark.parametrize(
    ("toggle", "gids"),
    [
        ("boxes", ["box"]),
        ("keypoints", ["keypoints"]),
        ("pose", ["head_pose"]),
        ("gaze", ["gaze"]),
        ("labels", ["label"]),
    ],
)
def test_each_toggle_hides_its_overlay_and_only_that(ds, toggle, gids):
    viewer = view(ds)
    shown = bytes(viewer.frame_image.value)
    every = {"box", "keypoints", "head_pose", "gaze", "label", "landmarks"}
    assert all(_overlays(viewer, g) for g in every)

    viewer.toggles[toggle].value = False
    assert bytes(viewer.frame_image.value) != shown
    for gid in every:
        visible = [a.get_visible() for a in _overlays(viewer, gid)]
        assert visible and all(v == (gid not in gids) for v in visible), gid
    viewer.slider.value = 2  # stays hidden on the next frame
    assert not any(a.get_visible() for g in gids for a in _overlays(viewer, g))

    viewer.slider.value = 0
    viewer.toggles[toggle].value = True
    assert bytes(viewer.frame_image.value) == shown


def test_points_selector_switches_landmarks_mesh_and_none(video):
    viewer = view(dataset(video, N, mesh=True))
    assert list(viewer.points.options) == ["landmarks", "mesh", "none"]
    assert _overlays(viewer, "landmarks") and not _overlays(viewer, "mesh")
    viewer.points.value = "mesh"
    assert _overlays(viewer, "mesh") and not _overlays(viewer, "landmarks")
    viewer.points.value = "none"
    assert not any(_overlays(viewer, g) for g in ("mesh", "landmarks", "keypoints"))
    assert _overlays(viewer, "box")


def test_face_selector_shows_that_face_in_bars_and_series(ds):
    viewer = view(ds)
    assert viewer.face.layout.display != "none"
    assert list(viewer.face.options) == [("face 0", 0), ("face 1", 1)]
    viewer.slider.value = N - 1
    series = bytes(viewer.series_image.value)
    viewer.face.value = 1
    np.testing.assert_allclose(_bar_widths(viewer, "aus"), ds["aus"].sel(frame=N - 1, face=1))
    assert bytes(viewer.series_image.value) != series
    (aus_ax, _) = viewer.figures["series"].axes
    au01 = next(line for line in aus_ax.get_lines() if line.get_label() == "AU01")
    np.testing.assert_allclose(au01.get_ydata(), ds["aus"].sel(face=1, au="AU01").values)

    assert viewer.figures["aus"].axes[0].get_title() == "aus, face 1"
    viewer.slider.value = 0  # face 1 is not there yet: no bars, a note instead
    assert np.isnan(_bar_widths(viewer, "aus")).all()
    (note,) = [t for t in viewer.figures["aus"].axes[0].texts if t.get_gid() == "no_face"]
    assert note.get_text() == "face 1 not in this frame"
    viewer.slider.value = N - 2
    assert note.get_text() == ""


def test_source_selector_switches_video_and_slider_range(tmp_path, video):
    other = write_video(tmp_path / "other.avi", 7, shade=200)
    ds = schema.concat([dataset(video, N), dataset(other, 7, frame_start=N)])
    viewer = view(ds)
    assert viewer.source.layout.display != "none"
    assert [label for label, _ in viewer.source.options] == ["clip.avi", "other.avi"]
    viewer.slider.value = 5
    viewer.source.value = str(other)
    assert viewer.slider.value == 0 and viewer.slider.max == 6 and viewer.frame == N
    np.testing.assert_array_equal(_image(viewer), media.read_frame(str(other), 0))
    viewer.slider.value = 6
    assert viewer.frame == N + 6
    np.testing.assert_array_equal(_image(viewer), media.read_frame(str(other), 6))
    assert "other.avi · frame 6" in viewer.readout.value


def test_panels_and_controls_without_data_are_hidden(video):
    ds = dataset(video, 4, keep={"face_rect"}).isel(face=[0])  # one face, boxes only
    viewer = view(ds)
    hidden = [viewer.source, viewer.face, viewer.points, viewer.series_image]
    hidden += [viewer.bar_images[n] for n in ("aus", "emotions")]
    hidden += [viewer.toggles[n] for n in ("keypoints", "pose", "gaze")]
    assert all(w.layout.display == "none" for w in hidden)
    shown = [viewer.toggles["boxes"], viewer.toggles["labels"], viewer.frame_image]
    assert all(w.layout.display != "none" for w in shown)
    assert _overlays(viewer, "box") and bytes(viewer.frame_image.value)
    viewer.slider.value = 3  # nothing to draw beyond the frame and its box: still works
    np.testing.assert_array_equal(_image(viewer), media.read_frame(str(video), 3))


def test_emotions_only_keeps_one_bar_panel_and_one_series(video):
    viewer = view(dataset(video, 4, keep={"face_rect", "emotions"}))
    assert viewer.bar_images["aus"].layout.display == "none"
    assert viewer.bar_images["emotions"].layout.display != "none"
    assert len(viewer.figures["series"].axes) == 1


def test_frames_are_decoded_on_demand_and_cached(ds, monkeypatch):
    calls = []
    read = media.read_frame

    def counting(source, index, **kwargs):
        calls.append(index)
        return read(source, index, **kwargs)

    monkeypatch.setattr(media, "read_frame", counting)
    viewer = view(ds, cache_size=2)
    assert calls == [0]  # only the frame on show
    viewer.slider.value = 3
    viewer.slider.value = 0
    viewer.toggles["gaze"].value = False  # a redraw of the same frame
    assert calls == [0, 3]
    assert viewer.cache_info().hits == 2
    viewer.slider.value = 5  # the cache holds two frames: 3, the least recently shown, goes
    viewer.slider.value = 3
    assert calls == [0, 3, 5, 3]
    assert viewer.cache_info().currsize == 2


def test_a_missing_video_shows_why_and_keeps_the_overlays(ds, video):
    video.unlink()
    viewer = view(ds)
    (note,) = _overlays(viewer, "no_image")
    assert "image not available" in note.get_text() and "clip.avi" in note.get_text()
    assert _overlays(viewer, "box") and bytes(viewer.bar_images["aus"].value)


def test_in_memory_frames_show_the_panel_and_a_readable_readout():
    frames = [{"face_rect": np.array([box(k, 0)])} for k in range(3)]
    ds = schema.from_frames(frames, ["<array>"] * 3, [0, 1, 2], [np.nan] * 3)
    viewer = view(ds)
    (note,) = _overlays(viewer, "no_image")
    assert "cannot be read back" in note.get_text()
    assert viewer.readout.value == "&lt;array&gt; · frame 0 · 1 face(s)"  # escaped, no time


def test_compare_links_two_runs_on_one_slider(ds, video):
    shifted = ds.assign(face_rect=ds["face_rect"] + 5.0)
    shifted.attrs["detector"] = "shifted"
    both = compare(ds, shifted, width=200)
    assert isinstance(both, Compare)
    left, right = both.viewers
    assert right.play.layout.display == "none"
    assert "shifted" in both.children[1].children[0].value
    image = bytes(right.frame_image.value)
    left.slider.value = 5
    assert right.slider.value == 5 and right.frame == 5
    assert bytes(right.frame_image.value) != image
    (a,), (b,) = _overlays(left, "box"), _overlays(right, "box")
    assert np.subtract(b.get_xy(), a.get_xy()) == pytest.approx((5.0, 5.0))


def test_compare_needs_the_same_frames(ds, video):
    with pytest.raises(ValueError, match="ds_a has 12 frames, ds_b has 11"):
        compare(ds, ds.isel(frame=slice(1, None)))
    reordered = ds.assign_coords(source_frame=("frame", ds["source_frame"].values[::-1]))
    with pytest.raises(
        ValueError,
        match=r"frame 0 is \S*clip\.avi frame 0 in ds_a but \S*clip\.avi frame 11 in ds_b",
    ):
        compare(ds, reordered)


def test_accessor_passes_through(video):
    ds = dataset(video, 3)
    assert isinstance(ds.feat.view(width=200), Viewer)
    assert isinstance(ds.feat.compare(ds, labels=("a", "b")), Compare)


def test_bad_input_errors(ds):
    with pytest.raises(TypeError, match="featx xarray.Dataset, got dict"):
        view({"aus": 1})
    with pytest.raises(ValueError, match="no frames"):
        view(ds.isel(frame=slice(0, 0)))
    with pytest.raises(ValueError, match="cache_size must be >= 1"):
        view(ds, cache_size=0)
    broken = ds.assign(face_score=ds["face_score"] * 3)
    with pytest.raises(schema.SchemaError):
        view(broken)
