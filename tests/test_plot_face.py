"""Faces from values: the AU → mesh map against its reference, face maps from files, drawings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Circle, FancyArrow  # noqa: E402
from PIL import Image  # noqa: E402

from featx import hub, schema  # noqa: E402
from featx.plot import face  # noqa: E402
from featx.plot.animate import animate_face  # noqa: E402
from featx.plot.face import FACE_LINES, plot_face, plot_face_mesh  # noqa: E402
from featx.plot.face_model import (  # noqa: E402
    DLIB68_FROM_MP478,
    load_face_map,
    predict_face_mesh,
    predict_landmarks,
)

REF = Path(__file__).parent / "conformance" / "rendering" / "ref_au_to_mesh_v4.npz"
CONNECTIONS = face._asset("mp_face_connections.json")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _regions(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if str(c.get_gid()).startswith("region:")]


def _tolerance(ref: np.ndarray) -> float:
    """float32 rounding of a 20-term dot product, relative to the largest coordinate."""
    return 32 * np.finfo(np.float32).eps * float(np.abs(ref).max())


# --- the AU → mesh map ------------------------------------------------------------------------


def test_predict_face_mesh_reproduces_the_reference():
    ref = np.load(REF)
    got = predict_face_mesh(ref["au"])
    assert got.shape == ref["mesh"].shape
    np.testing.assert_allclose(got, ref["mesh"], rtol=0, atol=_tolerance(ref["mesh"]))
    columns = load_face_map("au_to_mesh_v4").columns
    for row, mesh in zip(ref["au"], ref["mesh"], strict=True):  # named input, one face at a time
        named = dict(zip(columns, row.tolist(), strict=True))
        np.testing.assert_allclose(
            predict_face_mesh(named), mesh, rtol=0, atol=_tolerance(ref["mesh"])
        )


def test_named_inputs_fill_missing_aus_with_zero_and_keep_leading_dims():
    ds = schema.from_frames(
        [{"aus": np.array([[0.9], [0.2]])}, {}],
        ["a.mp4"] * 2,
        [0, 1],
        [0.0, 0.04],
        labels={"au": ("AU12",)},
        var_attrs={"aus": {"kind": "probability"}},
    )
    meshes = predict_face_mesh(ds["aus"])
    assert meshes.shape == (2, 2, 478, 3)
    np.testing.assert_array_equal(meshes[0, 1], predict_face_mesh({"AU12": 0.2}))
    np.testing.assert_array_equal(meshes[0, 0], predict_face_mesh([0.0] * 9 + [0.9] + [0.0] * 10))
    assert np.isnan(meshes[1]).all()  # a frame without a face has no face mesh
    assert not np.allclose(meshes[0, 0], predict_face_mesh())  # AU12 moves the face


def test_bad_inputs_name_what_is_wrong():
    with pytest.raises(ValueError, match="expected 20 au values"):
        predict_face_mesh(np.zeros(17))
    with pytest.raises(ValueError, match="none of the names"):
        predict_face_mesh({"smile": 1.0})
    with pytest.warns(UserWarning, match="AU45"):
        predict_face_mesh({"AU12": 1.0, "AU45": 1.0})
    with pytest.raises(ValueError, match="give one of"):
        predict_face_mesh({"AU12": 1.0}, emotions={"happiness": 1.0})
    with pytest.raises(ValueError, match="Unknown face map"):
        predict_face_mesh(model="au_to_mesh_v99")


def test_landmarks_are_the_dlib_subset_of_the_mesh_with_y_down():
    aus = {"AU01": 0.5, "AU26": 1.0}
    mesh = predict_face_mesh(aus)
    raw = predict_landmarks(aus, symmetrize=False)
    np.testing.assert_array_equal(raw[:, 0], mesh[list(DLIB68_FROM_MP478), 0])
    np.testing.assert_array_equal(raw[:, 1], -mesh[list(DLIB68_FROM_MP478), 1])
    assert raw[8, 1] > raw[27, 1]  # chin below the nose bridge in image coordinates


def test_symmetrize_mirrors_each_pair_about_the_midline():
    raw = predict_landmarks({"AU12": 1.0}, symmetrize=False)
    sym = predict_landmarks({"AU12": 1.0})
    midline = [27, 28, 29, 30, 33, 51, 62, 66, 57, 8]
    m = raw[midline, 0].mean()
    np.testing.assert_allclose(sym[midline, 0], m, atol=1e-4)
    for left, right in ((0, 16), (36, 45), (48, 54), (59, 55), (67, 65)):
        np.testing.assert_allclose(sym[left, 0] + sym[right, 0], 2 * m, atol=1e-3)
        assert sym[left, 1] == pytest.approx(sym[right, 1])
        assert sym[left, 1] == pytest.approx((raw[left, 1] + raw[right, 1]) / 2, abs=1e-4)


# --- face maps from files (hub layout, read from model_dir) -----------------------------------


def _write_map(folder: Path, name: str, columns, n_out: int, **extra) -> dict:
    rng = np.random.default_rng(len(columns))
    arrays = {
        "coef": rng.normal(size=(len(columns) + 3, n_out)).astype(np.float32),
        "intercept": rng.normal(size=n_out).astype(np.float32),
        "pose_columns": np.array(["Pitch", "Yaw", "Roll"]),
        **extra,
    }
    np.savez(folder / name, **arrays)
    return arrays


def test_emotion_map_from_model_dir_clips_and_warns(tmp_path):
    p99 = np.full(7, 0.5, np.float32)
    arrays = _write_map(
        tmp_path,
        "emotion_to_mesh_pls_v6.npz",
        schema.EMOTIONS,
        1434,
        feature_columns=np.array(schema.EMOTIONS),
        feature_p99=p99,
        unsupported_features=np.array(["fear"]),
    )
    x = np.array([0.0, 0.0, 0.0, 0.9, 0.2, 0.0, 0.1], np.float32)
    expected = np.minimum(x, p99) @ arrays["coef"][:7] + arrays["intercept"]
    got = predict_face_mesh(emotions=dict(zip(schema.EMOTIONS, x, strict=True)), model_dir=tmp_path)
    np.testing.assert_allclose(got, expected.reshape(3, 478).T, rtol=1e-5, atol=1e-4)
    with pytest.warns(UserWarning, match="fear"):
        predict_face_mesh(emotions={"fear": 0.3}, model_dir=tmp_path)


def test_au_to_landmarks_map_from_model_dir_is_axis_major(tmp_path):
    arrays = _write_map(
        tmp_path, "au_to_landmarks_pls_v2.npz", schema.AUS, 136, au_columns=np.array(schema.AUS)
    )
    x = np.linspace(0, 1, 20, dtype=np.float32)
    got = predict_landmarks(x, model="au_to_landmarks_v2", model_dir=tmp_path, symmetrize=False)
    flat = x @ arrays["coef"][:20] + arrays["intercept"]
    np.testing.assert_allclose(got, np.stack([flat[:68], flat[68:]], axis=1), rtol=1e-5, atol=1e-4)
    ax = plot_face(x, model="au_to_landmarks_v2", model_dir=tmp_path)  # muscles from the mesh
    drawn = predict_landmarks(x, model="au_to_landmarks_v2", model_dir=tmp_path)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), drawn[list(FACE_LINES[0]), 0])
    assert len(_regions(ax)) > 0


def test_a_broken_map_file_is_a_weights_error_naming_it(tmp_path):
    (tmp_path / "bs_to_mesh_pls_v6.npz").write_bytes(b"not an npz")
    with pytest.raises(hub.WeightsError, match="bs_to_mesh_pls_v6.npz"):
        predict_face_mesh(blendshapes={"jawOpen": 1.0}, model_dir=tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _write_map(other, "bs_to_mesh_pls_v6.npz", ["jawOpen", "smile"], 1434,
               feature_columns=np.array(["jawOpen", "smile"]))  # fmt: skip
    with pytest.raises(hub.WeightsError, match="unknown blendshape names"):
        predict_face_mesh(blendshapes={"jawOpen": 1.0}, model_dir=other)


def test_face_maps_are_cards_flagged_non_commercial():
    assert face.FACE_MAPS["au_to_mesh_v4"].bundled
    assert not face.FACE_MAPS["au_to_mesh_v6"].bundled
    assert all(c.non_commercial for c in face.FACE_MAPS.values())
    assert not set(face.FACE_MAPS) & set(hub.MODELS)


def test_face_maps_are_the_hub_cards_and_load_through_the_hub(monkeypatch):
    assert dict(face.FACE_MAPS) == hub.FACE_MAPS
    assert all(face.FACE_MAPS[k] is hub.card(k) for k in face.FACE_MAPS)
    loaded = []
    real_load = hub.ModelCard.load

    def load(card, *args, **kwargs):
        loaded.append(card.id)
        return real_load(card, *args, **kwargs)

    monkeypatch.setattr(hub.ModelCard, "load", load)
    assert load_face_map("au_to_mesh_v4").name == "au_to_mesh_v4"
    assert loaded == ["au_to_mesh_v4"]
    with pytest.raises(ValueError, match="au_to_mesh_v6"):
        load_face_map("retinaface")  # a model card, but not a face map


def test_names_that_moved_are_still_importable_from_featx_plot_face():
    from featx.classic.face_map import FaceMap
    from featx.plot import animate, face_model

    assert face.animate_face is animate.animate_face
    assert face.FaceMap is face_model.FaceMap is FaceMap
    assert face.load_face_map is face_model.load_face_map
    assert isinstance(load_face_map("au_to_mesh_v4"), FaceMap)


def test_importing_featx_plot_leaves_the_hub_and_models_unimported():
    code = (
        "import sys, featx.plot, featx.plot.face, featx.plot.animate; "
        "print(sorted(m for m in sys.modules if m.startswith(('featx.hub', 'featx.classic', "
        "'featx.nn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


# --- drawings ---------------------------------------------------------------------------------


def test_plot_face_draws_the_line_face_and_colours_active_muscles():
    ax = plot_face({"AU06": 0.3, "AU12": 0.9}, cmap="Blues")
    assert len(ax.lines) == len(FACE_LINES)
    regions = _regions(ax)
    assert [c.get_gid() for c in regions] == ["region:AU06", "region:AU12"]  # weakest first
    for coll, value in zip(regions, (0.3, 0.9), strict=True):
        np.testing.assert_allclose(coll.get_facecolor()[0][:3], plt.get_cmap("Blues")(value)[:3])
    assert sum(isinstance(p, Circle) for p in ax.patches) == 2  # pupils
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # image-like: y grows downward


def test_plot_face_neutral_has_no_muscles_and_gaze_adds_arrows():
    ax = plot_face()
    assert _regions(ax) == []
    ax = plot_face({"AU12": 1.0}, muscles=False, gaze=(0, 30))
    assert _regions(ax) == []
    arrows = [p for p in ax.patches if isinstance(p, FancyArrow)]
    assert len(arrows) == 2
    # +yaw looks toward the subject's right, the viewer's left: arrows point to smaller x
    assert all(np.ptp(a.get_xy()[:, 0]) > 0 for a in arrows)
    pupils = [p.center for p in ax.patches if isinstance(p, Circle)]
    straight = [p.center for p in plot_face({"AU12": 1.0}, muscles=False).patches]
    assert all(g[0] < s[0] for g, s in zip(pupils, straight, strict=True))


@pytest.mark.parametrize("mode", ["contours", "tessellation"])
def test_plot_face_mesh_draws_the_edges_of_the_mode(mode):
    ax = plot_face_mesh({"AU12": 1.0}, mode=mode)
    (wire,) = [c for c in ax.collections if c.get_gid() == "mesh"]
    key = "FACE_LANDMARKS_CONTOURS" if mode == "contours" else "FACE_LANDMARKS_TESSELATION"
    assert len(wire.get_segments()) == len(CONNECTIONS[key])
    mesh = predict_face_mesh({"AU12": 1.0})
    first = CONNECTIONS[key][0]
    np.testing.assert_allclose(wire.get_segments()[0], mesh[first, :2])
    assert [c.get_gid() for c in _regions(ax)] == ["region:AU12"]
    assert sum(isinstance(p, Circle) for p in ax.patches) == 2  # pupils in the irises


def test_plot_face_mesh_regions_gaze_and_inputs(tmp_path):
    ax = plot_face_mesh({"AU01": 0.8, "AU02": 0.0, "AU26": 1.0}, regions=True, gaze=(10, -20))
    assert [c.get_gid() for c in _regions(ax)] == ["region:AU01", "region:AU26"]
    (arrow,) = [p for p in ax.patches if p.get_gid() == "gaze"]
    tip = arrow.get_xy()[:, 0].max()
    origin = predict_face_mesh({"AU01": 0.8, "AU26": 1.0})[[33, 263], 0].mean()
    assert tip > origin  # -yaw looks to the subject's left, the viewer's right (+x)
    assert _regions(plot_face_mesh({"AU12": 1.0}, regions=False)) == []

    _write_map(tmp_path, "bs_to_mesh_pls_v6.npz", schema.BLENDSHAPES, 1434,
               feature_columns=np.array(schema.BLENDSHAPES))  # fmt: skip
    ax = plot_face_mesh(blendshapes={"mouthSmileLeft": 0.7, "jawOpen": 0.2}, model_dir=tmp_path)
    assert [c.get_gid() for c in _regions(ax)] == ["region:jawOpen", "region:mouthSmileLeft"]
    _write_map(tmp_path, "emotion_to_mesh_pls_v6.npz", schema.EMOTIONS, 1434,
               feature_columns=np.array(schema.EMOTIONS))  # fmt: skip
    ax = plot_face_mesh(emotions={"happiness": 1.0}, model_dir=tmp_path)
    assert _regions(ax) == [] and [c.get_gid() for c in ax.collections] == ["mesh"]
    with pytest.raises(ValueError, match="mode"):
        plot_face_mesh(mode="wire")
    with pytest.raises(ValueError, match="one face at a time"):
        plot_face_mesh(np.zeros((2, 20)))


def test_plots_draw_into_a_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    assert plot_face({"AU12": 1}, ax=a) is a
    assert plot_face_mesh({"AU12": 1}, ax=b) is b
    assert len(a.lines) == len(FACE_LINES) and b.collections


# --- animation --------------------------------------------------------------------------------


def test_animate_face_writes_a_gif_with_every_frame(tmp_path):
    path = animate_face({}, {"AU12": 1.0, "AU26": 1.0}, tmp_path / "smile.gif", n_frames=4, dpi=30)
    assert path == tmp_path / "smile.gif"
    with Image.open(path) as gif:
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    assert len(frames) == 4 + 2  # there and back: the reverse skips both ends
    assert np.abs(frames[0] - frames[3]).max() > 0  # the face moved
    np.testing.assert_array_equal(frames[2], frames[4])  # the way back retraces the way there


def test_animate_face_writes_an_mp4(tmp_path):
    import cv2

    path = animate_face(
        {"AU01": 0.0}, {"AU01": 1.0}, tmp_path / "brows.mp4", n_frames=3,
        include_reverse=False, kind="mesh", dpi=40,
    )  # fmt: skip
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    assert count == 3
    assert size == (3 * 40, 3.75 * 40)  # figsize x dpi


def test_animate_face_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        animate_face({}, {"AU12": 1}, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="kind"):
        animate_face({}, {"AU12": 1}, tmp_path / "x.gif", kind="cartoon")
    with pytest.raises(ValueError, match="one face"):
        animate_face(np.zeros((2, 20)), {"AU12": 1}, tmp_path / "x.gif")


def test_a_dataset_row_draws_directly():
    ds = schema.from_frames(
        [{"aus": np.full((1, 20), 0.4)}], ["a.png"], [0], [np.nan],
        var_attrs={"aus": {"kind": "probability"}},
    )  # fmt: skip
    row = ds["aus"].isel(frame=0, face=0)
    assert isinstance(row, xr.DataArray)
    ax = plot_face(row)
    assert len(_regions(ax)) == len(
        {a for a in schema.AUS} & set(face._asset("au_region_map.json")["regions"])
    )
