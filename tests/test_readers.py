"""Tests for the readers and exports in featx.io: Py-Feat CSV (v1/v2), OpenFace 2.x, iMotions/FACET,
Affectiva JSON, and to_tidy.

Every input file is written here in the layout its tool documents (column conventions from
../shared/conformance/analysis/FACTS.md §4 and face_multitask_v2/FACTS.md §4).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fake_faces import random_faces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featx
from featx import io, schema
from featx.io import ReaderError

# --- Py-Feat Fex -------------------------------------------------------------------------------

V2_EMOTIONS = ["Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger"]
RECT = ["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]
LANDMARK_COLS = [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]


def _fex_faces(rng: np.random.Generator, n: int, identity: list[int]) -> dict[str, np.ndarray]:
    """Random values for every variable a Fex table can hold, in featx units."""
    return random_faces(rng, n, identity, skip=("keypoints", "au_intensity"))


@pytest.fixture
def fex_ds() -> xr.Dataset:
    """One face; no face; two faces (the second unknown); one face late in a video."""
    rng = np.random.default_rng(1)
    frames = [_fex_faces(rng, 1, [0]), {}, _fex_faces(rng, 2, [1, -1]), _fex_faces(rng, 1, [0])]
    return schema.from_frames(
        frames,
        source=["clip.mp4", "clip.mp4", "still.jpg", "clip.mp4"],
        source_frame=[0, 1, 0, 1537],
        time=[0.0, 0.04, np.nan, 61.48],
        var_attrs={"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}},
        attrs={"sources": json.dumps({"clip.mp4": {"height": 480, "width": 640}})},
    )


def _assert_same_values(back: xr.Dataset, ds: xr.Dataset) -> None:
    """Every variable of ds (in featx units) and the frame coordinates come back."""
    assert set(back.data_vars) == set(ds.data_vars)
    assert back.sizes == ds.sizes
    for name in ds.data_vars:
        # pose and gaze pass through a radians/degrees conversion in float32
        np.testing.assert_allclose(back[name], ds[name], rtol=1e-6, atol=1e-5, err_msg=name)
    for name in ("source", "source_frame", "au", "emotion", "blendshape"):
        assert back[name].values.tolist() == ds[name].values.tolist(), name
    schema.validate(back)


@pytest.mark.parametrize("version", [1, 2])
def test_fex_round_trip_through_csv(fex_ds, tmp_path, version):
    path = tmp_path / "fex.csv"
    io.to_fex(fex_ds, version=version).to_csv(path, index=False)
    back = io.read_fex(path)
    _assert_same_values(back, fex_ds)
    assert back.attrs["angle_units_in_file"] == ("radians" if version == 2 else "degrees")
    assert back.attrs["angle_units_decided"] == "auto"
    assert back["aus"].attrs["kind"] == back["emotions"].attrs["kind"] == "probability"
    assert np.isnan(back["time"]).all()  # a Fex table keeps no exact times
    assert json.loads(back.attrs["sources"]) == {"clip.mp4": {"height": 480, "width": 640}}
    # and back out again: the same table, apart from approx_time (times are not kept)
    again = io.to_fex(back, version=version)
    expected = io.to_fex(fex_ds, version=version).drop(columns="approx_time")
    pd.testing.assert_frame_equal(again, expected, check_dtype=False, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("version", [1, 2])
def test_fex_round_trip_in_memory(fex_ds, version):
    back = io.read_fex(io.to_fex(fex_ds, version=version))
    _assert_same_values(back, fex_ds)
    assert back.attrs["read_from"] == "<DataFrame>"


def _v1_rows() -> pd.DataFrame:
    """Py-Feat Detectorv1 CSV rows: degrees, lowercase emotions, 20 AUs."""
    rng = np.random.default_rng(2)
    rows = []
    for frame, (x, pitch) in enumerate([(10.0, -12.5), (30.0, 4.0), (50.0, 0.5)]):
        emotions = rng.dirichlet(np.ones(7))
        row = {"frame": frame, "FaceRectX": x, "FaceRectY": 20.0, "FaceRectWidth": 80.0}
        row |= {"FaceRectHeight": 96.0, "FaceScore": 0.99}
        row |= dict(zip(LANDMARK_COLS, rng.uniform(0, 200, 136), strict=True))
        row |= {"Pitch": pitch, "Roll": -3.0, "Yaw": 7.5}
        row |= dict(zip(schema.AUS, rng.uniform(0, 1, 20), strict=True))
        row |= dict(zip(schema.EMOTIONS, emotions, strict=True))
        row["input"] = "/data/face.jpg" if frame == 0 else "/data/video.mp4"
        rows.append(row)
    return pd.DataFrame(rows)


def test_read_fex_v1_layout(tmp_path):
    """Feat_Test.csv's layout: frame first, 3 pose columns in degrees, input last."""
    rows = _v1_rows()
    path = tmp_path / "Feat_Test.csv"
    rows.to_csv(path, index=False)
    ds = io.read_fex(path)
    assert ds.attrs["fex_layout"] == "v1" and ds.attrs["detector"] == "Py-Feat Detector"
    assert ds.attrs["angle_units_in_file"] == "degrees"
    assert ds.sizes["frame"] == 3 and ds.sizes["face"] == 1
    assert ds["source"].values.tolist() == ["/data/face.jpg", "/data/video.mp4", "/data/video.mp4"]
    assert ds["source_frame"].values.tolist() == [0, 1, 2]
    np.testing.assert_allclose(ds["head_pose"].sel(angle="pitch")[:, 0], [-12.5, 4.0, 0.5])
    np.testing.assert_allclose(ds["head_pose"].sel(angle="yaw")[:, 0], 7.5)
    np.testing.assert_allclose(ds["face_rect"][:, 0], rows[RECT], rtol=1e-6)
    np.testing.assert_allclose(ds["landmarks"][1, 0, 17], rows.loc[1, ["x_17", "y_17"]], rtol=1e-6)
    np.testing.assert_allclose(ds["emotions"][:, 0], rows[list(schema.EMOTIONS)], rtol=1e-6)
    assert ds["aus"].attrs["kind"] == "probability"
    assert ds["emotions"].attrs["kind"] == "probability"
    assert ds["face_rect"].attrs["box"].startswith("as written")
    assert "head_translation" not in ds and "gaze" not in ds
    # 001.csv's variant: the same columns with frame last, and a pandas index column
    rows[[c for c in rows.columns if c != "frame"] + ["frame"]].to_csv(tmp_path / "001.csv")
    xr.testing.assert_equal(io.read_fex(tmp_path / "001.csv"), ds)


def test_read_fex_v1_binary_aus_and_small_angles(tmp_path):
    rows = _v1_rows()
    rows[list(schema.AUS)] = (rows[list(schema.AUS)] > 0.5).astype(float)  # SVM AU model
    rows[["Pitch", "Roll", "Yaw"]] = [[1.5, -0.5, 2.0]] * 3  # all within ±π
    path = tmp_path / "small.csv"
    rows.to_csv(path, index=False)
    auto = io.read_fex(path)
    assert auto["aus"].attrs["kind"] == "binary"
    assert auto.attrs["angle_units_in_file"] == "radians"  # the documented ambiguity
    told = io.read_fex(path, angle_units="degrees")
    assert told.attrs["angle_units_decided"] == "argument"
    np.testing.assert_allclose(told["head_pose"][0, 0], [1.5, -0.5, 2.0])
    np.testing.assert_allclose(auto["head_pose"][0, 0], np.degrees([1.5, -0.5, 2.0]), rtol=1e-6)
    with pytest.raises(ValueError, match="angle_units"):
        io.read_fex(path, angle_units="gradians")


def _v2_columns() -> list[str]:
    """Detectorv2's 2182 Fex columns in order (face_multitask_v2 FACTS §4)."""
    return [
        *RECT, "FaceScore", *LANDMARK_COLS, "Pitch", "Roll", "Yaw", "X", "Y", "Z",
        *schema.AUS, *V2_EMOTIONS, "valence", "arousal", "gaze_pitch", "gaze_yaw", "gaze_angle",
        *[f"Identity_{i}" for i in range(1, 513)],
        *[f"mesh_{a}_{i}" for a in "xyz" for i in range(478)],
        *schema.BLENDSHAPES, "FrameHeight", "FrameWidth", "input", "frame", "Identity",
    ]  # fmt: skip


def test_read_fex_v2_layout(tmp_path):
    """Detectorv2 rows: radians, capitalised emotions, a NaN placeholder row for no face."""
    rng = np.random.default_rng(3)
    columns = _v2_columns()
    assert len(columns) == 2182
    values = rng.uniform(0.05, 0.9, (4, len(columns)))
    table = pd.DataFrame(values, columns=columns)
    emotions = rng.dirichlet(np.ones(7), 4)
    table[V2_EMOTIONS] = emotions
    table[["Pitch", "Roll", "Yaw"]] = [[0.2, -0.1, -0.3]] * 4  # radians
    table[["gaze_pitch", "gaze_yaw"]] = [[0.1, -0.2]] * 4
    table[["FrameHeight", "FrameWidth"]] = [[480, 640]] * 3 + [[720, 1280]]
    table["input"] = ["multi.jpg", "multi.jpg", "empty.jpg", "clip.mp4"]
    table["frame"] = [0, 0, 0, 12]
    table["Identity"] = ["Person_1", "Person_0", np.nan, "Person_0"]
    numeric = [c for c in columns if c not in ("FrameHeight", "FrameWidth", "input", "frame")]
    table.loc[2, [c for c in numeric if c != "Identity"]] = np.nan  # no face: one NaN row
    table["approx_time"] = [np.nan, np.nan, np.nan, "00:00"]
    path = tmp_path / "v2.csv"
    table.to_csv(path, index=False)

    ds = io.read_fex(path)
    assert ds.attrs["fex_layout"] == "v2" and ds.attrs["detector"] == "Py-Feat Detectorv2"
    assert ds.attrs["angle_units_in_file"] == "radians"
    assert ds.sizes["frame"] == 3 and ds.sizes["face"] == 2
    assert ds["source"].values.tolist() == ["multi.jpg", "empty.jpg", "clip.mp4"]
    assert ds["source_frame"].values.tolist() == [0, 0, 12]
    # signs are Py-Feat's (= featx's); only the units change
    np.testing.assert_allclose(ds["head_pose"][0, 0], np.degrees([0.2, -0.1, -0.3]), rtol=1e-6)
    np.testing.assert_allclose(ds["gaze"][2, 0], np.degrees([0.1, -0.2]), rtol=1e-6)
    assert ds["emotion"].values.tolist() == list(schema.EMOTIONS)
    np.testing.assert_allclose(
        ds["emotions"].sel(emotion="happiness")[0], emotions[:2, 1], rtol=1e-6
    )  # Happy
    assert ds["emotions"].attrs["kind"] == "probability"
    identity_columns = [f"Identity_{i}" for i in range(1, 513)]
    np.testing.assert_allclose(ds["embedding"][2, 0], table.loc[3, identity_columns], rtol=1e-6)
    assert ds.sizes["embedding_dim"] == 512
    np.testing.assert_allclose(
        ds["mesh"].sel(xyz="z")[0, 1], table.loc[1, [f"mesh_z_{i}" for i in range(478)]], rtol=1e-6
    )
    np.testing.assert_allclose(ds["blendshapes"].sel(blendshape="jawOpen")[2, 0],
                               table.loc[3, "jawOpen"], rtol=1e-6)  # fmt: skip
    assert ds["identity"].values.tolist() == [[1, 0], [-1, -1], [0, -1]]
    assert ds["face_rect"][1].isnull().all()  # the frame without a face is kept, empty
    assert json.loads(ds.attrs["sources"]) == {
        "multi.jpg": {"height": 480, "width": 640},
        "empty.jpg": {"height": 480, "width": 640},
        "clip.mp4": {"height": 720, "width": 1280},
    }


def test_read_fex_extra_emotion_and_fex_object():
    rows = _v1_rows()
    rows["contempt"] = 0.0
    ds = io.read_fex(rows)  # a DataFrame, e.g. Py-Feat's Fex object
    assert ds["emotion"].values.tolist() == [*schema.EMOTIONS, "contempt"]
    with pytest.raises(ReaderError, match="'anger' and 'Anger'"):
        io.read_fex(rows.assign(Anger=0.1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="frame"), "no 'frame' column"),
        (lambda t: t[["frame", "input", "x_0", "y_0"]], "no FaceRectX"),
        (lambda t: t.drop(columns="y_40"), "'y_40' is missing"),
        (lambda t: t.drop(columns="Roll"), "'Roll' is missing"),
        (lambda t: t.drop(columns="FaceRectHeight"), "'FaceRectHeight' is missing"),
        (lambda t: t.assign(AU12=[0.5, 1.7, 0.5]), "line 3, column 'AU12': 1.7 is outside"),
        (lambda t: t.assign(AU12=[0.5, "high", 0.5]), "line 3, column 'AU12': 'high'"),
        (lambda t: t.assign(frame=[0, 1.5, 2]), "line 3, column 'frame'"),
        (lambda t: t.assign(frame=[0, -1, 2]), "line 3, column 'frame'"),
        (lambda t: t.assign(Identity=["Person_0", "Bob", ""]), "line 3, column 'Identity'"),
        (lambda t: t.assign(Yaw=[7.5, 400, 7.5]), "line 3, column 'Yaw'"),
        (lambda t: t.assign(FaceRectWidth=[80, -2, 80]), "line 3, column 'FaceRectWidth'"),
        (lambda t: t.assign(FaceRectX=[10, np.nan, 50]), "line 3, column 'FaceRectX'"),
        (lambda t: t.assign(FaceScore=[0.9, np.inf, 0.9]), "line 3, column 'FaceScore'"),
        (lambda t: t.assign(x_3=[1, 1e39, 1]), "line 3, column 'x_3': 1e+39 is not a number"),
    ],
)
def test_read_fex_errors_name_file_line_and_column(tmp_path, change, message):
    path = tmp_path / "bad.csv"
    change(_v1_rows()).to_csv(path, index=False)
    with pytest.raises(ReaderError, match="bad.csv") as err:
        io.read_fex(path)
    assert message in str(err.value)


def test_read_fex_box_less_row_with_values(tmp_path):
    rows = _v1_rows()
    rows.loc[1, RECT] = np.nan
    path = tmp_path / "bad.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(ReaderError, match="line 3.*no face box but holds values"):
        io.read_fex(path)


def test_reader_errors_are_value_errors_and_exported():
    assert issubclass(featx.ReaderError, ValueError)
    assert featx.ReaderError is ReaderError
    for name in ("read_fex", "read_openface", "read_imotions", "read_affectiva", "to_tidy"):
        assert getattr(featx, name) is getattr(io, name)
        assert name in dir(featx)


@pytest.mark.parametrize(
    "reader", [io.read_fex, io.read_openface, io.read_imotions, io.read_affectiva]
)
def test_missing_empty_binary_and_folder(tmp_path, reader):
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        reader(tmp_path / "nothing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ReaderError, match="empty.csv"):
        reader(tmp_path / "empty.csv")
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    with pytest.raises(ReaderError, match="image.csv"):
        reader(tmp_path / "image.csv")
    with pytest.raises(ReaderError, match="folder"):
        reader(tmp_path)


# --- OpenFace ----------------------------------------------------------------------------------

OPENFACE_AUS_R = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20",
                  "23", "25", "26", "45"]  # fmt: skip
OPENFACE_AUS_C = sorted([*OPENFACE_AUS_R, "28"])


def _openface_header(face_id: bool = True) -> list[str]:
    """OpenFace 2.x FeatureExtraction columns (FACTS §4), optionally with face_id."""
    return [
        "frame", *(["face_id"] if face_id else []), "timestamp", "confidence", "success",
        *[f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"], "gaze_angle_x", "gaze_angle_y",
        *[f"eye_lmk_x_{i}" for i in range(56)], *[f"eye_lmk_y_{i}" for i in range(56)],
        "pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz",
        *[f"x_{i}" for i in range(68)], *[f"y_{i}" for i in range(68)],
        *[f"{a}_{i}" for a in "XYZ" for i in range(68)],
        "p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty", *[f"p_{i}" for i in range(34)],
        *[f"AU{a}_r" for a in OPENFACE_AUS_R], *[f"AU{a}_c" for a in OPENFACE_AUS_C],
    ]  # fmt: skip


def _openface_row(rng, frame, face_id=0, success=1, pose=(-0.2, 0.3, 0.1), gaze=None) -> dict:
    """One OpenFace row: pose_R (radians) and a gaze direction shared by both eyes."""
    gaze = np.array([-0.2, -0.3, -0.93] if gaze is None else gaze)
    gaze = gaze / np.linalg.norm(gaze)
    row = {"frame": frame, "face_id": face_id, "timestamp": (frame - 1) / 25}
    row |= {"confidence": 0.98 if success else 0.05, "success": success}
    row |= {f"gaze_{e}_{a}": v for e in (0, 1) for a, v in zip("xyz", gaze, strict=True)}
    row |= {
        "gaze_angle_x": math.atan2(gaze[0], -gaze[2]),
        "gaze_angle_y": math.atan2(gaze[1], -gaze[2]),
    }
    row |= {f"eye_lmk_{a}_{i}": rng.uniform(100, 200) for a in "xy" for i in range(56)}
    row |= {"pose_Tx": 5.0, "pose_Ty": 14.8, "pose_Tz": 450.0}
    row |= dict(zip(("pose_Rx", "pose_Ry", "pose_Rz"), pose, strict=True))
    row |= {f"{a}_{i}": rng.uniform(50, 250) for a in "xy" for i in range(68)}
    row |= {f"{a}_{i}": rng.uniform(-80, 600) for a in "XYZ" for i in range(68)}
    row |= {c: rng.normal() for c in ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"]}
    row |= {f"p_{i}": rng.normal() for i in range(34)}
    row |= {f"AU{a}_r": rng.uniform(0, 5) for a in OPENFACE_AUS_R}
    row |= {f"AU{a}_c": float(rng.uniform() > 0.5) for a in OPENFACE_AUS_C}
    if not success:  # OpenFace writes zeros when tracking failed
        row |= {
            k: 0.0
            for k in row
            if k not in ("frame", "face_id", "timestamp", "confidence", "success")
        }
    return row


def _openface_text(rows: list[dict], header: list[str] | None = None) -> str:
    """As OpenFace writes it: ", " between fields, so header names have a leading space."""
    header = header or _openface_header()
    lines = [", ".join(header)]
    lines += [", ".join(f"{row[c]:g}" for c in header) for row in rows]
    return "\n".join(lines) + "\n"


def _write_openface(path: Path, rows: list[dict], header: list[str] | None = None) -> Path:
    path.write_text(_openface_text(rows, header))
    return path


def test_read_openface_standard_layout(tmp_path):
    rng = np.random.default_rng(4)
    rows = [_openface_row(rng, 1), _openface_row(rng, 2, success=0), _openface_row(rng, 3)]
    path = _write_openface(tmp_path / "video.csv", rows)
    assert path.read_text().splitlines()[0].startswith("frame, face_id, timestamp,")
    ds = io.read_openface(path)
    assert ds.attrs["detector"] == "OpenFace 2.x"
    assert ds.sizes["frame"] == 3 and ds.sizes["face"] == 1
    assert ds["source"].values.tolist() == [str(path)] * 3
    assert ds["source_frame"].values.tolist() == [0, 1, 2]  # OpenFace counts from 1
    np.testing.assert_allclose(ds["time"], [0.0, 0.04, 0.08])
    # success = 0: the frame stays, every value NaN
    for name, var in ds.data_vars.items():
        empty = var.isel(frame=1)
        assert (empty == -1).all() if name == "identity" else empty.isnull().all(), name
    assert ds["face_score"].values[[0, 2], 0].tolist() == pytest.approx([0.98, 0.98])
    # landmarks, and the face box as their bounding box
    x = np.array([rows[2][f"x_{i}"] for i in range(68)])
    y = np.array([rows[2][f"y_{i}"] for i in range(68)])
    np.testing.assert_allclose(ds["landmarks"][2, 0], np.stack([x, y], axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        ds["face_rect"][2, 0], [x.min(), y.min(), np.ptp(x), np.ptp(y)], rtol=1e-5
    )
    # pose: Rx = -0.2 (looking up), Ry = 0.3 (turned to the subject's right), Rz = 0.1
    np.testing.assert_allclose(
        ds["head_pose"][0, 0].sel(angle=["pitch", "yaw", "roll"]),
        np.degrees([0.2, 0.3, -0.1]),
        rtol=1e-5,
    )
    np.testing.assert_allclose(ds["head_translation"][0, 0], [5.0, 14.8, 450.0], rtol=1e-5)
    assert ds["head_translation"].attrs["units"] == "mm"
    # gaze (-0.2, -0.3, -0.93): up (-y) and toward the subject's right (-x)
    pitch, yaw = ds["gaze"][0, 0].values
    assert pitch > 0 and yaw > 0
    np.testing.assert_allclose(
        [pitch, yaw], np.degrees([math.atan2(0.3, 0.93), math.atan2(0.2, 0.93)]), rtol=1e-5
    )
    # AUs: one label list, the union; AU28 has a presence but no intensity
    assert ds["au"].values.tolist() == [f"AU{a}" for a in OPENFACE_AUS_C]
    assert ds["aus"].attrs["kind"] == "binary"
    assert ds["au_intensity"].attrs["scale"] == "0-5"
    assert np.isnan(ds["au_intensity"].sel(au="AU28")).all()
    assert ds["au_intensity"].sel(au="AU45")[2, 0] == pytest.approx(rows[2]["AU45_r"], rel=1e-5)
    assert ds["aus"].sel(au="AU28")[0, 0] == rows[0]["AU28_c"]
    assert ds["identity"].values[:, 0].tolist() == [0, -1, 0]


def test_read_openface_multi_face_orders_by_face_id(tmp_path):
    rng = np.random.default_rng(5)
    rows = [
        _openface_row(rng, 1, face_id=1, pose=(0.0, -0.5, 0.0)),
        _openface_row(rng, 1, face_id=0, pose=(0.0, 0.5, 0.0)),
        _openface_row(rng, 2, face_id=1, pose=(0.0, -0.5, 0.0)),
    ]
    ds = io.read_openface(_write_openface(tmp_path / "multi.csv", rows))
    assert ds.sizes["face"] == 2
    assert ds["identity"].values.tolist() == [[0, 1], [1, -1]]
    np.testing.assert_allclose(ds["head_pose"].sel(angle="yaw")[0], np.degrees([0.5, -0.5]))
    rows[1]["face_id"] = 1
    with pytest.raises(ReaderError, match="line 3, column 'face_id'.*frame 1 lists face_id 1"):
        io.read_openface(_write_openface(tmp_path / "twice.csv", rows))


def test_read_openface_missing_optional_columns(tmp_path):
    """An OpenFace run with only -aus (no landmarks, pose or gaze), no face_id, CRLF endings."""
    rng = np.random.default_rng(6)
    header = ["frame", "timestamp", "confidence", "success"]
    header += [f"AU{a}_r" for a in OPENFACE_AUS_R]
    rows = [_openface_row(rng, f) for f in (1, 2)]
    path = _write_openface(tmp_path / "aus.csv", rows, header)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    ds = io.read_openface(path)
    assert set(ds.data_vars) == {"face_score", "au_intensity"}
    assert ds["au"].values.tolist() == [f"AU{a}" for a in OPENFACE_AUS_R]

    header = ["frame", "success", "gaze_angle_x", "gaze_angle_y"]  # gaze angles, no vectors
    ds = io.read_openface(_write_openface(tmp_path / "gaze.csv", rows, header))
    assert set(ds.data_vars) == {"gaze"}
    assert np.isnan(ds["time"]).all()
    np.testing.assert_allclose(
        ds["gaze"][0, 0], np.degrees([math.atan2(0.3, 0.93), math.atan2(0.2, 0.93)]), rtol=1e-5
    )


def test_read_openface_without_any_tracked_face(tmp_path):
    rng = np.random.default_rng(16)
    rows = [_openface_row(rng, f, success=0) for f in (1, 2)]
    ds = io.read_openface(_write_openface(tmp_path / "lost.csv", rows))
    assert ds.sizes["frame"] == 2 and not ds.data_vars  # the frames, and nothing in them
    assert len(io.to_tidy(ds)) == 0
    header_only = _write_openface(tmp_path / "header.csv", [])
    assert io.read_openface(header_only).sizes["frame"] == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h, r: ([c for c in h if c != "success"], r), "no 'success' column"),
        (lambda h, r: ([c for c in h if c != "y_12"], r), "'y_12' is missing"),
        (lambda h, r: ([c for c in h if c != "pose_Rz"], r), "'pose_Rz' is missing"),
        (lambda h, r: ([c for c in h if c != "gaze_1_z"], r), "'gaze_1_z' is missing"),
        (lambda h, r: (h, [r[0] | {"success": 2}]), "line 2, column 'success'"),
        (lambda h, r: (h, [r[0] | {"frame": 0}]), "line 2, column 'frame'"),
        (lambda h, r: (h, [r[0] | {"AU12_r": 6.5}]), "line 2, column 'AU12_r': 6.5 is outside"),
        (lambda h, r: (h, [r[0] | {"pose_Ry": 4.0}]), "line 2, column 'pose_Ry'"),
        (lambda h, r: (h, [r[0] | {"confidence": 1.5}]), "line 2, column 'confidence'"),
    ],
)
def test_read_openface_errors(tmp_path, edit, message):
    rng = np.random.default_rng(7)
    header, rows = edit(_openface_header(), [_openface_row(rng, 1)])
    path = _write_openface(tmp_path / "bad.csv", rows, header)
    with pytest.raises(ReaderError, match="bad.csv") as err:
        io.read_openface(path)
    assert message in str(err.value)


def test_read_openface_malformed_lines(tmp_path):
    rng = np.random.default_rng(8)
    path = _write_openface(tmp_path / "cut.csv", [_openface_row(rng, 1), _openface_row(rng, 2)])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], lines[2][: len(lines[2]) // 2]]) + "\n")
    with pytest.raises(ReaderError, match=r"cut.csv, line 3: \d+ fields, but the header"):
        io.read_openface(path)
    path.write_text("\n".join([lines[0], lines[1].replace("0.98", "n/a?"), lines[2]]))
    with pytest.raises(ReaderError, match="line 2, column 'confidence': 'n/a\\?'"):
        io.read_openface(path)
    path.write_text(lines[0].replace("timestamp", "frame") + "\n" + lines[1])
    with pytest.raises(ReaderError, match="'frame' appears twice"):
        io.read_openface(path)


# --- iMotions / FACET --------------------------------------------------------------------------

FACET_EMOTIONS = ["Joy", "Anger", "Surprise", "Fear", "Contempt", "Disgust", "Sadness",
                  "Confusion", "Frustration", "Neutral", "Positive", "Negative"]  # fmt: skip
FACET_AUS = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 18, 20, 23, 24, 25, 26, 28, 43]
FEATURE_POINTS = ["LEFT_EYE_LATERAL", "LEFT_EYE_PUPIL", "LEFT_EYE_MEDIAL", "RIGHT_EYE_MEDIAL",
                  "RIGHT_EYE_PUPIL", "RIGHT_EYE_LATERAL", "NOSE_TIP"]  # fmt: skip


def _facet_header(version: int) -> list[str]:
    """An iMotions export's columns: v6 as in iMotions_Test_v6.txt; v5 without Roll and without
    Confusion/Frustration, with eye-tracker columns."""
    emotions = [e for e in FACET_EMOTIONS if version == 6 or e not in ("Confusion", "Frustration")]
    pose = ["Yaw Degrees", "Pitch Degrees"] + (["Roll Degrees"] if version == 6 else [])
    eye = [] if version == 6 else ["GazeLeftX", "GazeLeftY", "PupilLeft"]
    return [
        "StudyName", "ExportDate", "Name", "Age", "Gender", "StimulusName", "SlideType",
        "EventSource", "Timestamp", "MediaTime", "PostMarker", "Annotation", "FrameNo",
        "FrameTime", "NoOfFaces", *eye, "FaceRect X", "FaceRect Y", "FaceRect Width",
        "FaceRect Height", *[f"{e} {k}" for e in emotions for k in ("Evidence", "Intensity")],
        *[f"AU{a} Evidence" for a in FACET_AUS], "HasGlasses Probability", "IsMale Probability",
        *pose, *[f"{p} {a}" for p in FEATURE_POINTS for a in "XY"], "LiveMarker", "KeyStroke",
    ]  # fmt: skip


def _facet_row(rng, header, frame, face=True) -> dict:
    row = {c: "" for c in header}
    row |= {
        "StudyName": "Study 1",
        "Name": "P01",
        "StimulusName": "clip A",
        "SlideType": "TestImage",
    }
    row |= {
        "EventSource": "Emotient FACET",
        "Timestamp": 1000 + 33 * frame,
        "MediaTime": 33 * frame,
    }
    row |= {"FrameNo": frame, "FrameTime": f"00:00:{frame:02d}", "NoOfFaces": int(face)}
    if face:
        row |= {"FaceRect X": 120, "FaceRect Y": 80, "FaceRect Width": 200, "FaceRect Height": 220}
        row |= {
            c: round(rng.normal(0, 2), 4) for c in header if c.endswith(("Evidence", "Intensity"))
        }
        pose = {"Yaw Degrees": 12.0, "Pitch Degrees": -5.0, "Roll Degrees": 3.0}
        row |= {c: v for c, v in pose.items() if c in header}
    return row


def _facet_text(version: int, rows: list[dict], header: list[str]) -> str:
    """Four '#' lines, a blank line, the header, then tab-separated rows."""
    preamble = [
        "#Study\tStudy 1",
        "#Date\t2016-03-01",
        f"#Version\t{version}.0.1",
        "#TestRunDate\t2016",
    ]
    lines = [*preamble, "", "\t".join(header)]
    lines += ["\t".join(str(row[c]) for c in header) for row in rows]
    return "\n".join(lines) + "\n"


def _write_facet(path: Path, version: int, rows: list[dict], header: list[str]) -> Path:
    path.write_text(_facet_text(version, rows, header))
    return path


def test_read_imotions_v6(tmp_path):
    rng = np.random.default_rng(9)
    header = _facet_header(6)
    rows = [
        _facet_row(rng, header, 0),
        _facet_row(rng, header, 1, face=False),
        _facet_row(rng, header, 2),
    ]
    ds = io.read_imotions(_write_facet(tmp_path / "v6.txt", 6, rows, header))
    assert ds.attrs["detector"] == "Emotient FACET (iMotions)"
    assert ds.attrs["imotions_header"].splitlines()[2] == "#Version\t6.0.1"
    assert ds.sizes["frame"] == 3 and ds.sizes["face"] == 1
    assert ds["source_frame"].values.tolist() == [0, 1, 2]
    np.testing.assert_allclose(ds["time"], [0, 0.033, 0.066])  # MediaTime, ms
    assert ds["StimulusName"].values.tolist() == ["clip A"] * 3
    np.testing.assert_array_equal(ds["face_rect"][0, 0], [120, 80, 200, 220])
    assert ds["face_rect"][1].isnull().all() and ds["aus"][1].isnull().all()
    assert ds["face_score"].values[:, 0].tolist()[::2] == [1.0, 1.0]
    # AUs: probability from log10 evidence, labels padded; raw evidence kept
    assert ds["au"].values.tolist() == [f"AU{a:02d}" for a in FACET_AUS]
    evidence = rows[2]["AU12 Evidence"]
    assert ds["au_intensity"].sel(au="AU12")[2, 0] == pytest.approx(evidence, rel=1e-6)
    assert ds["aus"].sel(au="AU12")[2, 0] == pytest.approx(1 / (1 + 10**-evidence), rel=1e-6)
    assert ds["aus"].attrs["kind"] == "evidence"
    assert ds["au_intensity"].attrs["scale"] == "log10 evidence"
    # 12 emotions: the canonical seven (Joy = happiness) first, then the others
    assert ds["emotion"].values.tolist() == [
        *schema.EMOTIONS, "contempt", "confusion", "frustration", "positive", "negative"
    ]  # fmt: skip
    joy = rows[0]["Joy Evidence"]
    assert ds["emotions"].sel(emotion="happiness")[0, 0] == pytest.approx(
        1 / (1 + 10**-joy), rel=1e-6
    )
    assert ds["emotions"].attrs["kind"] == "score"
    np.testing.assert_allclose(ds["head_pose"][0, 0], [-5.0, 3.0, 12.0])  # pitch, roll, yaw


def test_read_imotions_v5_without_roll_and_eye_tracker_rows(tmp_path):
    rng = np.random.default_rng(10)
    header = _facet_header(5)
    tracker = {c: "" for c in header} | {"EventSource": "ET", "Timestamp": 1005, "GazeLeftX": 512}
    rows = [_facet_row(rng, header, 0), tracker, _facet_row(rng, header, 1)]
    with pytest.warns(io.ReaderWarning, match="no 'Roll Degrees' column"):
        ds = io.read_imotions(_write_facet(tmp_path / "v5.txt", 5, rows, header))
    assert ds.attrs["reader_warnings"].startswith("no 'Roll Degrees' column")
    assert ds.sizes["frame"] == 2  # the eye-tracker row is no video frame
    assert ds["emotion"].values.tolist() == [*schema.EMOTIONS, "contempt", "positive", "negative"]
    assert np.isnan(ds["head_pose"].sel(angle="roll")).all()
    np.testing.assert_allclose(ds["head_pose"].sel(angle="yaw")[:, 0], [12.0, 12.0])


# The columns of Py-Feat's iMotions_Test_v5.txt (an iMotions 5.7 export with an eye tracker).
V5_HEADER = [
    "StudyName", "ExportDate", "Name", "Age", "Gender", "StimulusName", "SlideType",
    "EventSource", "Timestamp", "MediaTime", "TimeSignal", "GazeLeftx", "GazeLefty",
    "GazeRightx", "GazeRighty", "PupilLeft", "PupilRight", "DistanceLeft", "DistanceRight",
    "CameraLeftX", "CameraLeftY", "CameraRightX", "CameraRightY", "ValidityLeft",
    "ValidityRight", "GazeX", "GazeY", "GazeAOI", "FixationSeq", "FixationX", "FixationY",
    "FixationStart", "FixationDuration", "FixationAOI", "PostMarker", "Annotation", "FrameNo",
    "FrameTime", "NoOfFaces", "FaceRect X", "FaceRect Y", "FaceRect Width", "FaceRect Height",
    *[f"{e} {k}" for e in FACET_EMOTIONS if e not in ("Confusion", "Frustration")
      for k in ("Evidence", "Intensity")],
    *[f"AU{a} Evidence" for a in FACET_AUS], "HasGlasses Probability", "IsMale Probability",
    "Yaw Degrees", "Pitch Degrees", "Roll Degrees",
    *[f"{p} {a}" for p in FEATURE_POINTS for a in "XY"], "7 X", "7 Y", "LiveMarker",
    "KeyStroke", "MarkerText", "SceneType", "SceneOutput", "SceneParent",
]  # fmt: skip


def _v5_export(path: Path) -> tuple[Path, dict]:
    """A file shaped like iMotions_Test_v5.txt: '#Name : value' lines padded with tabs, a line
    of tabs, then eye-tracker rows ("ET") between FACET's. ET rows carry the last FrameNo and
    its FACET values forward; FACET's first row has FrameNo -1; NoOfFaces -1 = no face."""
    rng = np.random.default_rng(12)
    facet = [c for c in V5_HEADER if c.endswith(("Evidence", "Intensity", "Probability"))]

    def face(yaw):
        values = {c: round(rng.normal(-1, 2), 5) for c in facet}
        box = {"FaceRect X": 235, "FaceRect Y": 209, "FaceRect Width": 165, "FaceRect Height": 165}
        pose = {"Yaw Degrees": yaw, "Pitch Degrees": 7.9, "Roll Degrees": -0.5}
        return values | box | pose | {"NoOfFaces": 1}

    def row(source, timestamp, frame="", frame_time="", values=None):
        gaze = {"TimeSignal": timestamp - 7, "GazeLeftx": 633, "GazeLefty": 530, "PupilLeft": 23.2}
        return {c: "" for c in V5_HEADER} | {
            "StudyName": "CGT_V2", "ExportDate": 20151015, "Name": "Nate", "Age": 22,
            "Gender": "MALE", "StimulusName": "Emotient_Baseline", "SlideType": "TestImage",
            "EventSource": source, "Timestamp": timestamp,
        } | gaze | {"FrameNo": frame, "FrameTime": frame_time} | (values or {})  # fmt: skip

    a, b, c = face(-4.5), face(-3.7), face(-3.2)
    empty = {"NoOfFaces": -1}
    rows = [
        row("ET", 7),
        row("ET", 27),
        row("Emotient FACET", 36, -1, 0, a),  # line 9: FrameNo -1
        row("ET", 57, -1, 0, a),
        row("Emotient FACET", 71, 0, 0, b),
        row("ET", 89, 0, 0, b),
        row("ET", 127, 0, 0, b),
        row("Emotient FACET", 211, 1, 33, empty),
        row("Emotient FACET", 213, 2, 67, c),
        row("ET", 244, 2, 67, c),
        row("Emotient FACET", 315, 3, 100, empty),
        row("ET", 338, 3, 100, empty),
    ]
    pad = "\t" * (len(V5_HEADER) - 1)
    preamble = ["#Study : CGT_V2", "#Date : 20151015 09:09:22", "#Version : 5.7.2375.0",
                "#TestRunDate : 20151014 15:14:48.732 (-04:00)", ""]  # fmt: skip
    lines = [p + pad for p in preamble] + ["\t".join(V5_HEADER)]
    lines += ["\t".join(str(r[c]) for c in V5_HEADER) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path, {"b": b, "c": c}


def test_read_imotions_real_v5_export_keeps_one_row_per_video_frame(tmp_path):
    path, faces = _v5_export(tmp_path / "iMotions_v5.txt")
    ds = io.read_imotions(path)  # used to fail: line 9, column 'FrameNo': -1
    assert ds["source_frame"].values.tolist() == [0, 1, 2, 3]
    # MediaTime is empty throughout: time is FACET's own row's Timestamp (the first row wins)
    np.testing.assert_allclose(ds["time"], [0.071, 0.211, 0.213, 0.315])
    assert ds.attrs["imotions_time_column"] == "Timestamp"
    assert ds.attrs["imotions_header"].splitlines()[2].startswith("#Version : 5.7.2375.0")
    assert ds["face_rect"].notnull().all("rect")[:, 0].values.tolist() == [1, 0, 1, 0]
    for frame, key in ((0, "b"), (2, "c")):
        evidence = faces[key]["AU12 Evidence"]
        assert ds["au_intensity"].sel(au="AU12")[frame, 0] == pytest.approx(evidence, rel=1e-5)
        assert ds["head_pose"].sel(angle="yaw")[frame, 0] == faces[key]["Yaw Degrees"]
    assert ds["emotion"].values.tolist() == [*schema.EMOTIONS, "contempt", "positive", "negative"]
    # 2 ET rows before the first frame, 2 rows of FrameNo -1, 4 ET rows repeating a frame
    assert ds.attrs["rows_dropped"] == 8
    why = ds.attrs["rows_dropped_why"]
    assert why.startswith("2: no FrameNo") and "; 2: FrameNo -1" in why
    assert "; 4: FrameNo repeats" in why
    back = io.open_dataset(io.save(ds, tmp_path / "v5.nc"))
    assert back.attrs["rows_dropped"] == 8 and back.identical(ds)


def test_read_imotions_refuses_a_frame_number_below_minus_one(tmp_path):
    path, _ = _v5_export(tmp_path / "v5.txt")
    lines = path.read_text().splitlines()
    lines[14] = lines[14].replace("\t2\t67\t1\t", "\t-2\t67\t1\t")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReaderError, match="line 15, column 'FrameNo': -2 is not a frame number"):
        io.read_imotions(path)


def test_read_imotions_errors(tmp_path):
    rng = np.random.default_rng(11)
    header = _facet_header(6)
    rows = [_facet_row(rng, header, 0), _facet_row(rng, header, 1)]
    rows[1]["AU4 Evidence"] = "abc"
    with pytest.raises(ReaderError, match="line 8, column 'AU4 Evidence': 'abc'"):
        io.read_imotions(_write_facet(tmp_path / "junk.txt", 6, rows, header))
    rows[1] = _facet_row(rng, header, 1) | {"FaceRect Width": ""}
    with pytest.raises(ReaderError, match="line 8, column 'FaceRect Width'.*incomplete"):
        io.read_imotions(_write_facet(tmp_path / "box.txt", 6, rows, header))
    plain = [c for c in header if "Evidence" not in c]
    with pytest.raises(ReaderError, match="no '… Evidence' columns"):
        io.read_imotions(_write_facet(tmp_path / "plain.txt", 6, rows, plain))


# --- Affectiva ---------------------------------------------------------------------------------

AFFECTIVA_OBJECT = {
    "joy": 99.93, "sadness": 1.7e-6, "disgust": 0.0025, "contempt": 0.0001, "anger": 9.6e-5,
    "fear": 4.1e-7, "surprise": 1.77, "valence": 78.12, "engagement": 99.92, "Timestamp": 0,
    "FileName": "JinHyunCheong.jpg", "smile": 100, "innerBrowRaise": 6.3, "browRaise": 0.019,
    "browFurrow": 6.2e-9, "noseWrinkle": 7.97, "upperLipRaise": 29.55,
    "lipCornerDepressor": 2.4e-12, "chinRaise": 0.0021, "lipPucker": 4.2e-5, "lipPress": 0.0054,
    "lipSuck": 8.0e-8, "mouthOpen": 99.99, "smirk": 0, "eyeClosure": 5.4e-7, "attention": 91.7,
    "lidTighten": 11.57, "jawDrop": 82.99, "dimpler": 2.6e-6, "eyeWiden": 0.00074,
    "cheekRaise": 94.18, "lipStretch": 0.26,
}  # fmt: skip


def test_read_affectiva_one_image(tmp_path):
    path = tmp_path / "affectiva.json"
    path.write_text(json.dumps(AFFECTIVA_OBJECT))
    ds = io.read_affectiva(path)
    assert ds.attrs["detector"] == "Affectiva"
    assert ds["source"].values.tolist() == ["JinHyunCheong.jpg"]
    assert np.isnan(ds["time"]).all()  # a still image
    assert ds["emotion"].values.tolist() == [
        "anger", "disgust", "fear", "happiness", "sadness", "surprise", "contempt"
    ]  # fmt: skip
    assert ds["emotions"].sel(emotion="happiness").item() == pytest.approx(0.9993, rel=1e-6)
    assert ds["emotions"].attrs["kind"] == "score"
    assert ds["au"].values.tolist() == [
        "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
        "AU17", "AU18", "AU20", "AU24", "AU25", "AU26", "AU28", "AU43",
    ]  # fmt: skip
    assert ds["aus"].sel(au="AU12").item() == 1.0  # smile
    assert ds["aus"].sel(au="AU06").item() == pytest.approx(0.9418, rel=1e-6)  # cheekRaise
    assert ds["valence"].item() == pytest.approx(0.7812, rel=1e-6)
    assert ds["face_score"].item() == 1.0
    # measures without a standard AU or featx variable keep their names, scaled to 0..1
    assert ds["smirk"].item() == 0.0
    assert ds["attention"].item() == pytest.approx(0.917, rel=1e-6)
    assert ds["engagement"].item() == pytest.approx(0.9992, rel=1e-6)


def test_read_affectiva_video_as_json_lines_and_array(tmp_path):
    frames = [
        {"FileName": "v.mp4", "Timestamp": 0.5 * i, "joy": 10.0 * i, "valence": -20.0 * i}
        for i in range(3)
    ]
    frames.insert(1, {"FileName": "v.mp4", "Timestamp": 0.25})  # no face found in this frame
    lines = tmp_path / "video.jsonl"
    lines.write_text("\n".join(json.dumps(f) for f in frames) + "\n\n")
    array = tmp_path / "video.json"
    array.write_text(json.dumps(frames, indent=2))
    for path in (lines, array):
        ds = io.read_affectiva(path)
        assert ds["source_frame"].values.tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(ds["time"], [0, 0.25, 0.5, 1.0])
        np.testing.assert_allclose(ds["emotions"][:, 0, 0], [0, np.nan, 0.1, 0.2], rtol=1e-6)
        np.testing.assert_allclose(ds["valence"][:, 0], [0, np.nan, -0.2, -0.4], rtol=1e-6)
        assert np.isnan(ds["face_score"][1, 0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"joy": 50,', "line 1, column 12: not JSON"),
        ('{"joy": 50}\n{"joy": }\n', "line 2, column 9: not JSON"),
        ("[1, 2]", "object 1: expected a JSON object, got int"),
        ('[{"joy": 50}, {"joy": "high"}]', "object 2, key 'joy': 'high' is not a number"),
        ('{"joy": 50}\n{"joy": true}\n', "line 2, key 'joy'"),
        ('{"joy": 150}', "object 1, key 'joy': 1.5 is outside"),
        ('{"smirk": 150}', "object 1, key 'smirk': 1.5 is outside"),
        ('{"valence": -101}', "object 1, key 'valence'"),
        ('{"name": "not affectiva"}', "no emotion, expression or valence key"),
    ],
)
def test_read_affectiva_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ReaderError, match="bad.json") as err:
        io.read_affectiva(path)
    assert message in str(err.value)


# --- readers' output keeps through netCDF / zarr -----------------------------------------------


@pytest.mark.parametrize(
    "suffix", [".nc", pytest.param(".zarr", marks=pytest.mark.requires("zarr"))]
)
def test_reader_output_saves_with_attrs_and_coordinates(tmp_path, suffix):
    rng = np.random.default_rng(12)
    header = _facet_header(6)
    facet = io.read_imotions(
        _write_facet(tmp_path / "v6.txt", 6, [_facet_row(rng, header, 0)], header)
    )
    path = tmp_path / "affectiva.json"
    path.write_text(json.dumps(AFFECTIVA_OBJECT))
    for ds in (facet, io.read_affectiva(path)):
        back = io.open_dataset(io.save(ds, tmp_path / f"out{suffix}"))
        xr.testing.assert_identical(back, ds)


# --- to_tidy -----------------------------------------------------------------------------------


@pytest.fixture
def small_ds() -> xr.Dataset:
    """Frame 0: two faces (identity 3, unknown); frame 1: none; frame 2: one face."""
    rect = np.array([[0.0, 0, 10, 10], [20, 0, 10, 10]])
    aus = np.array([[0.1, 0.2], [0.3, 0.4]])
    pose = np.array([[1.0, 2, 3], [4, 5, 6]])
    frames = [
        {"face_rect": rect, "aus": aus, "head_pose": pose, "identity": np.array([3, -1])},
        {},
        {"face_rect": rect[:1], "aus": aus[:1], "head_pose": pose[:1], "identity": np.array([3])},
    ]
    return schema.from_frames(
        frames,
        ["clip.mp4"] * 3,
        [10, 11, 12],
        [0.4, 0.44, 0.48],
        labels={"au": ["AU06", "AU12"]},
        var_attrs={"aus": {"kind": "probability"}},
    )


def test_to_tidy_long_format(small_ds, tmp_path):
    tidy = io.to_tidy(small_ds)
    assert list(tidy.columns) == [
        "source", "frame", "source_frame", "time", "face", "identity", "measure", "value"
    ]  # fmt: skip
    measures = [
        *[f"face_rect.{r}" for r in schema.RECT], "aus.AU06", "aus.AU12",
        *[f"head_pose.{a}" for a in schema.ANGLE],
    ]  # fmt: skip
    assert len(tidy) == 3 * len(measures)  # three faces, no rows for the empty frame
    assert tidy["measure"].tolist() == measures * 3
    assert tidy["frame"].tolist() == [0] * 18 + [2] * 9
    assert tidy["face"].tolist() == [0] * 9 + [1] * 9 + [0] * 9
    assert tidy["source_frame"].tolist() == [10] * 18 + [12] * 9
    assert tidy["identity"].tolist()[::9] == [3, pd.NA, 3]
    for row in tidy.sample(10, random_state=0).itertuples():
        variable, label = row.measure.split(".")
        var = small_ds[variable].isel(frame=row.frame, face=row.face)
        assert row.value == var.values[list(var[var.dims[0]].values).index(label)]
    # what R's read.csv sees
    tidy.to_csv(tmp_path / "tidy.csv", index=False)
    back = pd.read_csv(tmp_path / "tidy.csv")
    assert back["identity"].isna().sum() == 9
    np.testing.assert_allclose(back["value"], tidy["value"])


def test_to_tidy_variables_and_accessor(small_ds):
    tidy = io.to_tidy(small_ds, variables=["head_pose"])
    assert tidy["measure"].cat.categories.tolist() == [
        "head_pose.pitch",
        "head_pose.roll",
        "head_pose.yaw",
    ]
    np.testing.assert_array_equal(tidy["value"], [1, 2, 3, 4, 5, 6, 1, 2, 3])
    pd.testing.assert_frame_equal(small_ds.feat.to_tidy(variables=["head_pose"]), tidy)
    with pytest.raises(KeyError, match="gaze"):
        io.to_tidy(small_ds, variables=["gaze"])


def test_to_tidy_takes_a_single_name(small_ds):
    """One name is one variable, not its letters (this raised KeyError: 'h')."""
    tidy = io.to_tidy(small_ds, variables=["head_pose"])
    pd.testing.assert_frame_equal(io.to_tidy(small_ds, "head_pose"), tidy)
    pd.testing.assert_frame_equal(small_ds.feat.to_tidy("head_pose"), tidy)
    with pytest.raises(KeyError, match="'gaze' is not in the Dataset"):
        small_ds.feat.to_tidy("gaze")


def test_to_tidy_of_readers_output(tmp_path):
    """iMotions' design columns become columns; Affectiva's extra measures become measures."""
    rng = np.random.default_rng(13)
    header = _facet_header(6)
    rows = [_facet_row(rng, header, 0), _facet_row(rng, header, 1, face=False)]
    tidy = io.to_tidy(io.read_imotions(_write_facet(tmp_path / "v6.txt", 6, rows, header)))
    assert {"StimulusName", "SlideType", "EventSource", "Annotation"} <= set(tidy.columns)
    assert tidy["StimulusName"].unique().tolist() == ["clip A"]
    assert (tidy["frame"] == 0).all()
    path = tmp_path / "affectiva.json"
    path.write_text(json.dumps(AFFECTIVA_OBJECT))
    tidy = io.to_tidy(io.read_affectiva(path))
    assert tidy["measure"].tolist()[-3:] == ["smirk", "attention", "engagement"]
    assert tidy.set_index("measure").loc["emotions.contempt", "value"] == pytest.approx(1e-6)


def test_to_tidy_of_an_openface_run_with_landmarks(tmp_path):
    rng = np.random.default_rng(14)
    ds = io.read_openface(_write_openface(tmp_path / "of.csv", [_openface_row(rng, 1)]))
    tidy = io.to_tidy(ds, variables=["landmarks"])
    assert tidy["measure"].tolist()[:3] == ["landmarks.0.x", "landmarks.0.y", "landmarks.1.x"]
    assert len(tidy) == 136


# --- mutated files raise only ReaderError ------------------------------------------------------

JUNK = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)


def _valid_files() -> dict[str, tuple]:
    """One small valid file per reader, as (reader, suffix, text)."""
    rng = np.random.default_rng(15)
    fex = io.to_fex(schema.from_frames(
        [_fex_faces(rng, 2, [0, 1]), {}, _fex_faces(rng, 1, [1])], ["a.jpg", "b.jpg", "c.mp4"],
        [0, 0, 3], [np.nan, np.nan, 0.1],
        var_attrs={"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}},
    ))  # fmt: skip
    openface = [_openface_row(rng, 1), _openface_row(rng, 2, success=0), _openface_row(rng, 3)]
    header = _facet_header(6)
    facet = [_facet_row(rng, header, 0), _facet_row(rng, header, 1, face=False)]
    return {
        "fex": (io.read_fex, ".csv", fex.to_csv(index=False)),
        "openface": (io.read_openface, ".csv", _openface_text(openface)),
        "imotions": (io.read_imotions, ".txt", _facet_text(6, facet, header)),
    }


VALID = _valid_files()


def _check_only_reader_errors(reader, suffix: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mutated{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            ds = reader(path)
        except ReaderError as err:
            assert str(path) in str(err)
        else:
            schema.validate(ds)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_mutated_tables_raise_only_reader_error(kind, data):
    reader, suffix, text = VALID[kind]
    sep = "\t" if kind == "imotions" else ","
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    mutation = data.draw(st.sampled_from(["truncate", "swap", "junk"]))
    if mutation == "truncate":  # cut a line short, possibly to nothing
        i = data.draw(st.integers(first, len(lines) - 1))
        lines[i] = lines[i][: data.draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
    elif mutation == "swap":  # two header names trade places: columns hold the wrong data
        names = lines[first].split(sep)
        a, b = data.draw(st.lists(st.integers(0, len(names) - 1), min_size=2, max_size=2))
        names[a], names[b] = names[b], names[a]
        lines[first] = sep.join(names)
    else:  # one cell holds junk
        i = data.draw(st.integers(first + 1, len(lines) - 1))
        cells = lines[i].split(sep)
        cells[data.draw(st.integers(0, len(cells) - 1))] = data.draw(JUNK)
        lines[i] = sep.join(cells)
    _check_only_reader_errors(reader, suffix, "\n".join(lines) + "\n")


JSON_VALUES = st.one_of(
    JUNK, st.booleans(), st.none(), st.floats(), st.integers(-(10**20), 10**20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_mutated_affectiva_json_raises_only_reader_error(data):
    records = [dict(AFFECTIVA_OBJECT), dict(AFFECTIVA_OBJECT, FileName="b.jpg")]
    mutation = data.draw(st.sampled_from(["truncate", "swap", "junk"]))
    record = records[data.draw(st.integers(0, 1))]
    keys = sorted(record)
    if mutation == "swap":
        a, b = data.draw(st.lists(st.sampled_from(keys), min_size=2, max_size=2))
        record[a], record[b] = record[b], record[a]
    elif mutation == "junk":
        record[data.draw(st.sampled_from(keys))] = data.draw(JSON_VALUES)
    text = "\n".join(json.dumps(r) for r in records)
    if mutation == "truncate":
        text = text[: data.draw(st.integers(0, len(text)))]
    _check_only_reader_errors(io.read_affectiva, ".json", text)


def test_tables_are_parsed_in_chunks_with_the_same_result(tmp_path, monkeypatch):
    """Chunks of rows (bounded memory on large files) read exactly what one pass reads, also
    when a column is whole numbers in one chunk and fractional in the next."""
    from featx.io import table

    rng = np.random.default_rng(3)
    rows = [_openface_row(rng, frame) for frame in range(1, 12)]
    for row in rows[:6]:
        row["confidence"] = 1  # whole numbers in the first chunks only
    path = _write_openface(tmp_path / "of.csv", rows)
    whole = io.read_openface(path)
    parsed = []
    real = table.pd.read_csv
    monkeypatch.setattr(table, "CHUNK_ROWS", 4)
    monkeypatch.setattr(
        table.pd, "read_csv", lambda *a, **k: parsed.append(k["chunksize"]) or real(*a, **k)
    )
    xr.testing.assert_identical(io.read_openface(path), whole)
    assert parsed == [4]
