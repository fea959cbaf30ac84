"""plot_detections on images and videos written here: what is drawn, and what happens without."""

from __future__ import annotations

import ast
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import FancyArrow, Rectangle  # noqa: E402

import featx  # noqa: E402, F401  (registers ds.feat)
from featx import schema  # noqa: E402
from featx.analysis import AnalysisError  # noqa: E402
from featx.plot import plot_detections  # noqa: E402
from featx.plot.detections import head_pose_axes  # noqa: E402
from featx.plot.face import FACE_LINES, predict_landmarks  # noqa: E402
from featx.plot.timeseries import face_colors  # noqa: E402

ATTRS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}
BOXES = np.array([[20.0, 30.0, 60.0, 70.0], [110.0, 25.0, 50.0, 60.0]])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _landmarks(box: np.ndarray) -> np.ndarray:
    """A plausible 68-point face filling ``box``."""
    pts = predict_landmarks()
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return box[:2] + (pts - lo) / (hi - lo) * box[2:]


def _faces(n: int, with_identity: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    out = {
        "face_rect": BOXES[:n],
        "landmarks": np.stack([_landmarks(b) for b in BOXES[:n]]),
        "head_pose": np.array([[10.0, -5.0, 30.0], [0.0, 0.0, -20.0]])[:n],
        "gaze": np.array([[5.0, 20.0], [-10.0, 0.0]])[:n],
        "aus": rng.uniform(0, 1, (n, 20)),
        "emotions": rng.dirichlet(np.ones(7), n),
    }
    if with_identity:
        out["identity"] = np.array([4, -1])[:n]
    return out


@pytest.fixture
def image_path(tmp_path):
    rgb = np.zeros((120, 180, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, 180, dtype=np.uint8)  # red ramp left to right
    rgb[..., 2] = 90
    path = tmp_path / "two_faces.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    return path, rgb


def _ds(frames, sources, source_frame=None, time=None):
    n = len(frames)
    ds = schema.from_frames(
        frames,
        [str(s) for s in sources],
        source_frame if source_frame is not None else [0] * n,
        time if time is not None else [np.nan] * n,
        var_attrs=ATTRS,
    )
    schema.validate(ds)
    return ds


def test_two_faces_over_the_image_with_every_overlay(image_path):
    path, rgb = image_path
    ds = _ds([_faces(2), {}], [path, path])
    fig = plot_detections(ds, 0)
    img_ax, au_ax, emo_ax = fig.axes
    (image,) = [a for a in img_ax.get_children() if isinstance(a, AxesImage)]
    np.testing.assert_array_equal(image.get_array(), rgb)

    boxes = [p for p in img_ax.patches if p.get_gid() == "box"]
    assert [tuple(b.get_bbox().bounds) for b in boxes] == [tuple(b) for b in BOXES]
    colors = face_colors(2)
    for box, color in zip(boxes, colors, strict=True):
        np.testing.assert_allclose(box.get_edgecolor()[:3], color)
    labels = [t.get_text() for t in img_ax.texts]
    assert labels == ["identity 4", "face 1"]  # a known person, and one without identity

    lines = [c for c in img_ax.collections if c.get_gid() == "landmarks"]
    assert len(lines) == 2 and all(len(c.get_segments()) == len(FACE_LINES) for c in lines)
    np.testing.assert_allclose(lines[1].get_segments()[0], ds["landmarks"].values[0, 1, 0:17])

    pose = [line for line in img_ax.lines if line.get_gid() == "head_pose"]
    assert [line.get_color() for line in pose] == ["red", "green", "blue"] * 2
    nose = ds["landmarks"].values[0, 0, 30]
    np.testing.assert_allclose(pose[0].get_xydata()[0], nose)
    blue = pose[2].get_xydata()
    assert blue[1, 0] < blue[0, 0]  # yaw +30: the face turns to its right, the viewer's left
    gaze = [p for p in img_ax.patches if isinstance(p, FancyArrow)]
    assert len(gaze) == 2

    assert len([p for p in au_ax.patches if isinstance(p, Rectangle)]) == 2 * 20
    assert len([p for p in emo_ax.patches if isinstance(p, Rectangle)]) == 2 * 7
    assert au_ax.get_title() == "aus, frame 0"


def test_the_source_is_gone_but_every_other_panel_draws(image_path):
    path, _ = image_path
    ds = _ds([_faces(2)], [path])
    path.unlink()
    with pytest.warns(UserWarning, match=r"cannot show the image .*two_faces\.png"):
        fig = plot_detections(ds, 0)
    img_ax = fig.axes[0]
    assert not [a for a in img_ax.get_children() if isinstance(a, AxesImage)]
    (note,) = [t for t in img_ax.texts if t.get_gid() == "no_image"]
    assert "file not found" in note.get_text()
    assert len([p for p in img_ax.patches if p.get_gid() == "box"]) == 2
    x0, x1 = img_ax.get_xlim()
    assert x0 < BOXES[:, 0].min() and x1 > (BOXES[:, 0] + BOXES[:, 2]).max()
    assert img_ax.get_ylim()[0] > img_ax.get_ylim()[1]  # image orientation kept
    assert len(fig.axes) == 3 and fig.axes[1].patches


def test_an_in_memory_source_has_no_image_to_show():
    ds = _ds([_faces(1)], ["<array>"])
    with pytest.warns(UserWarning, match="cannot be read back"):
        fig = plot_detections(ds, 0)
    assert [p.get_gid() for p in fig.axes[0].patches].count("box") == 1
    assert len(fig.axes) == 3


def test_image_false_draws_without_reading_or_warning(image_path, recwarn):
    path, _ = image_path
    fig = plot_detections(_ds([_faces(1)], [path]), 0, image=False, bars=False)
    assert len(fig.axes) == 1
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_reader_output_without_boxes(image_path):
    """An OpenFace-like Dataset: landmarks, pose and AUs, no face_rect."""
    path, _ = image_path
    faces = _faces(1, with_identity=False)
    frame = {k: faces[k] for k in ("landmarks", "head_pose", "aus")}
    ds = _ds([frame, frame], [path, path])
    fig = plot_detections(ds, 1)
    img_ax = fig.axes[0]
    assert not [p for p in img_ax.patches if p.get_gid() == "box"]
    assert [t.get_text() for t in img_ax.texts] == ["face 0"]
    assert len([c for c in img_ax.collections if c.get_gid() == "landmarks"]) == 1
    assert len([line for line in img_ax.lines if line.get_gid() == "head_pose"]) == 3
    assert len(fig.axes) == 2  # image + AU bars; no emotions


def test_mesh_only_draws_the_contours(image_path):
    from featx.plot.face import _asset, predict_face_mesh

    path, _ = image_path
    mesh = predict_face_mesh({"AU12": 1.0}) * np.array([0.3, -0.3, 0.3]) + [40, 0, 0]
    ds = _ds([{"face_rect": BOXES[:1], "mesh": mesh[None]}], [path])
    img_ax = plot_detections(ds, 0).axes[0]
    (wire,) = [c for c in img_ax.collections if c.get_gid() == "mesh"]
    assert len(wire.get_segments()) == len(
        _asset("mp_face_connections.json")["FACE_LANDMARKS_CONTOURS"]
    )
    assert not [c for c in img_ax.collections if c.get_gid() == "landmarks"]
    assert not plot_detections(ds, 0, points="none").axes[0].collections


def test_a_frame_without_faces_and_bad_frames(image_path):
    path, _ = image_path
    ds = _ds([_faces(2), {}], [path, path])
    fig = plot_detections(ds, 1)
    assert not [p for p in fig.axes[0].patches if p.get_gid() == "box"]
    assert "no face in frame 1" in [t.get_text() for t in fig.axes[1].texts]
    with pytest.raises(ValueError, match=r"no frame 7 .*0\.\.1"):
        plot_detections(ds, 7)
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_detections(ds[["identity"]], 0)
    with pytest.raises(ValueError, match="points"):
        plot_detections(ds, 0, points="dots")


def test_a_video_frame_is_read_back_by_its_index(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    shades = [30, 90, 150, 210]
    for v in shades:
        writer.write(np.full((48, 64, 3), v, np.uint8))
    writer.release()
    frames = [{"face_rect": np.array([[10.0, 10.0, 20.0, 20.0]])}] * 4
    ds = _ds(frames, [path] * 4, source_frame=range(4), time=np.arange(4) / 10)
    fig = ds.feat.plot_detections(2)
    (image,) = [a for a in fig.axes[0].get_children() if isinstance(a, AxesImage)]
    assert abs(float(image.get_array().mean()) - shades[2]) < 5


def test_head_pose_axes_follow_the_featx_signs():
    np.testing.assert_allclose(head_pose_axes(0, 0, 0), [[1, 0], [0, -1], [0, 0]], atol=1e-12)
    right, up, forward = head_pose_axes(20, 0, 0)
    assert forward[1] < 0 and up[1] > -1  # head up: the nose points up the image
    right, up, forward = head_pose_axes(0, 25, 0)
    assert up[0] < 0  # tilt toward the subject's right: the top of the head goes to the left
    assert np.linalg.norm(up) == pytest.approx(1.0)
    right, up, forward = head_pose_axes(0, 0, 40)
    assert forward[0] == pytest.approx(-np.sin(np.deg2rad(40)))


def test_many_faces_with_detector_keypoints(image_path):
    path, _ = image_path
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 150, (5, 2))
    boxes = np.concatenate([xy, np.full((5, 2), 20.0)], axis=1)
    keypoints = xy[:, None, :] + rng.uniform(0, 20, (5, 6, 2))
    ds = schema.from_frames(
        [{"face_rect": boxes, "keypoints": keypoints}], [str(path)], [0], [np.nan],
        labels={"keypoint": schema.KEYPOINTS_BLAZEFACE},
    )  # fmt: skip
    img_ax = plot_detections(ds, 0).axes[0]
    boxes_drawn = [p for p in img_ax.patches if p.get_gid() == "box"]
    assert len(boxes_drawn) == 5
    assert len({tuple(b.get_edgecolor()) for b in boxes_drawn}) == 5
    dots = [c for c in img_ax.collections if c.get_gid() == "keypoints"]
    assert len(dots) == 5
    np.testing.assert_allclose(dots[3].get_offsets(), keypoints[3])
    assert [t.get_text() for t in img_ax.texts] == [f"face {k}" for k in range(5)]


@pytest.mark.parametrize("module", ["featx.media", "featx.hub"])
def test_importing_featx_plot_loads_no_video_reader_or_model_hub(module):
    # A fresh interpreter: which featx modules does `import featx.plot` pull in?
    code = "import sys, featx.plot; print(sorted(m for m in sys.modules if m.startswith('featx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout.strip())
    assert module not in loaded, f"import featx.plot imported {module}: {loaded}"


def test_plot_detections_checks_the_dataset_as_the_analyses_do():
    ds = schema.from_frames([_faces(1)], ["x.png"], [0], [0.0], var_attrs=ATTRS)
    with pytest.raises(TypeError, match="xarray.Dataset"):
        plot_detections(ds["aus"], 0)
    with pytest.raises(AnalysisError, match="source_frame"):
        plot_detections(ds.drop_vars("source_frame"), 0)
