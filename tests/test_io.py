"""Tests for featx.io: netCDF/zarr round trips, atomic saves, errors, and the Fex table."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fake_faces import random_faces

from featx import io, schema

CONFORMANCE = Path(__file__).parent / "conformance"
SOURCES = {
    "clip.mp4": {"kind": "video", "fps": 25.0, "width": 640, "height": 480, "n_frames": 2000},
    "still.jpg": {"kind": "image", "fps": None, "width": 320, "height": 240, "n_frames": 1},
}


@pytest.fixture
def ds() -> xr.Dataset:
    """Four frames: one face, no face, two faces (second unknown), one face late in a video."""
    rng = np.random.default_rng(0)
    frames = [
        random_faces(rng, 1, [0]),
        {},
        random_faces(rng, 2, [1, -1]),
        random_faces(rng, 1, [0]),
    ]
    return schema.from_frames(
        frames,
        source=["clip.mp4", "clip.mp4", "still.jpg", "clip.mp4"],
        source_frame=[0, 1, 0, 1537],
        time=[0.0, 0.04, np.nan, 61.48],
        var_attrs={
            "aus": {"kind": "probability"},
            "au_intensity": {"scale": "0-5"},
            "emotions": {"kind": "probability"},
            "head_pose": {"units": "degrees", "order": [1, 2, 3]},
            "embedding": {"l2_normalised": 0, "note": ""},
        },
        attrs={
            "featx_version": "0.1.0",
            "detector": "test",
            "models": json.dumps({"face": {"name": "retinaface", "sha256": "ab" * 32}}),
            "sources": json.dumps(SOURCES),
            "created": "2025-01-01T00:00:00+00:00",
            "threshold": 0.5,
            "n_runs": 3,
            "empty": "",
            "unicode": "Gesichtsausdrücke",
        },
    )


def _check_round_trip(ds: xr.Dataset, back: xr.Dataset) -> None:
    xr.testing.assert_identical(back, ds)
    assert back.attrs == ds.attrs
    assert {n: v.attrs for n, v in back.variables.items()} == {
        n: v.attrs for n, v in ds.variables.items()
    }
    assert back["head_pose"].attrs["order"] == [1, 2, 3]
    assert tuple(back["au"].values) == schema.AUS
    assert tuple(back["emotion"].values) == schema.EMOTIONS
    for name, coord in ds.coords.items():  # string coords stay object arrays of str
        assert back[name].dtype == coord.dtype, name
    assert all(type(s) is str for s in back["source"].values)
    assert back["identity"].dtype == np.int64
    assert back["identity"].values.tolist() == ds["identity"].values.tolist()
    assert np.isnan(back["time"].values[2]) and back["time"].values[3] == 61.48
    assert back.sizes == ds.sizes


def test_netcdf_round_trip(ds, tmp_path):
    path = io.save(ds, tmp_path / "run.nc")
    assert path == tmp_path / "run.nc"
    _check_round_trip(ds, io.open_dataset(path))


@pytest.mark.requires("zarr")
def test_zarr_round_trip(ds, tmp_path):
    path = io.save(ds, tmp_path / "run.zarr")
    assert path.is_dir()
    _check_round_trip(ds, io.open_dataset(path))
    io.save(ds.isel(frame=[0]), path)  # overwriting a store replaces it whole
    assert io.open_dataset(path).sizes["frame"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.zarr"]


@pytest.mark.parametrize(
    "name", ["run.nc", pytest.param("run.zarr", marks=pytest.mark.requires("zarr"))]
)
def test_empty_and_unicode_strings(tmp_path, name):
    ds = schema.from_frames(
        [{}, {}], ["", "Gesicht_ä.png"], [0, 0], [np.nan, np.nan], attrs={"empty": ""}
    )
    back = io.open_dataset(io.save(ds, tmp_path / name))
    xr.testing.assert_identical(back, ds)
    assert back["source"].values.tolist() == ["", "Gesicht_ä.png"]


def test_zarr_missing_says_how_to_install(ds, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(ImportError, match=re.escape("pip install featx[scale]")):
        io.save(ds, tmp_path / "run.zarr")
    assert not list(tmp_path.iterdir())


@pytest.mark.requires("zarr")
def test_engine_overrides_suffix(ds, tmp_path):
    path = io.save(ds, tmp_path / "run.store", engine="zarr")
    assert path.is_dir()
    xr.testing.assert_identical(io.open_dataset(path), ds)
    with pytest.raises(ValueError, match="engine"):
        io.save(ds, tmp_path / "run.nc", engine="scipy")


@pytest.mark.parametrize("suffix", [".nc", ".nc4", ".h5", ".hdf5", ".NC"])
def test_netcdf_suffixes_write_netcdf4_hdf5(ds, tmp_path, suffix):
    path = io.save(ds, tmp_path / f"run{suffix}")
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"  # netCDF-4 is HDF5
    xr.testing.assert_identical(io.open_dataset(path), ds)


@pytest.mark.parametrize("name", ["run.parquet", "run.csv", "run.json", "run"])
def test_save_refuses_a_suffix_it_does_not_write(ds, tmp_path, name):
    """These used to be written as netCDF under a name that says otherwise."""
    with pytest.raises(ValueError, match=r"cannot save .*run.*\.nc, \.nc4, \.h5, \.hdf5.*\.zarr"):
        io.save(ds, tmp_path / name)
    with pytest.raises(ValueError, match="to_tidy"):
        ds.feat.save(tmp_path / name)
    assert not list(tmp_path.iterdir())
    path = io.save(ds, tmp_path / name, engine="netcdf4")  # an explicit engine is obeyed
    xr.testing.assert_identical(io.open_dataset(path), ds)


def _run(sources: list[str], seed: int) -> xr.Dataset:
    """A detector-shaped run over ``sources`` (3 frames each), frames counted from 0."""
    rng = np.random.default_rng(seed)
    n = 3 * len(sources)
    return schema.from_frames(
        [random_faces(rng, 1 + i % 2, [0, 1][: 1 + i % 2]) for i in range(n)],
        source=[s for s in sources for _ in range(3)],
        source_frame=[0, 1, 2] * len(sources),
        time=np.tile([0.0, 0.04, 0.08], len(sources)),
        var_attrs={"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}},
        attrs={
            "detector": "test",
            "sources": json.dumps({s: SOURCES["clip.mp4"] for s in sources}),
            "created": "2025-01-01T00:00:00+00:00",
        },
    )


def test_concat_of_two_runs_renumbers_frames_and_saves(tmp_path):
    """Both runs count frames from 0; joined they used to have frame = [0, 1, 2, 0, 1, 2]."""
    a, b = _run(["p01.mp4"], 1), _run(["p02.mp4", "p03.mp4"], 2)
    both = schema.concat([a, b])
    assert both["frame"].values.tolist() == list(range(9))
    assert (
        both["source"].values.tolist() == a["source"].values.tolist() + b["source"].values.tolist()
    )
    assert both["source_frame"].values.tolist() == [0, 1, 2] * 3
    xr.testing.assert_equal(both.isel(frame=slice(3, None)).drop_vars("frame"),
                            b.drop_vars("frame"))  # fmt: skip
    assert set(json.loads(both.attrs["sources"])) == {"p01.mp4", "p02.mp4", "p03.mp4"}
    schema.validate(both)
    back = io.open_dataset(io.save(both, tmp_path / "study.nc"))
    xr.testing.assert_identical(back, both)
    again = schema.concat([both, a])  # any set of runs joins, a joined one included
    assert again["frame"].values.tolist() == list(range(12))
    schema.validate(again)


def test_save_is_atomic(ds, tmp_path, monkeypatch):
    path = io.save(ds, tmp_path / "run.nc")
    before = path.read_bytes()

    def interrupted(self, target, **kwargs):
        Path(target).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.save(ds.isel(frame=[0]), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_save_overwrites_without_leftovers(ds, tmp_path):
    io.save(ds, tmp_path / "run.nc")
    io.save(ds.isel(frame=[0, 1]), tmp_path / "run.nc")
    assert io.open_dataset(tmp_path / "run.nc").sizes["frame"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]


def test_save_validates(ds, tmp_path):
    with pytest.raises(schema.SchemaError):
        io.save(ds.assign(aus=ds["aus"] * 2), tmp_path / "run.nc")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("dataset", True),
        ("dataset", None),
        ("dataset", {"a": 1}),
        ("variable", np.bool_(False)),
        ("variable", ["a", "b"]),
        ("coordinate", [True, False]),
    ],
)
def test_bad_attr_raises_type_error(ds, tmp_path, where, value):
    target = {"dataset": ds, "variable": ds["aus"], "coordinate": ds["time"]}[where]
    target.attrs["bad_attr"] = value
    with pytest.raises(TypeError, match="'bad_attr'"):
        io.save(ds, tmp_path / "run.nc")
    assert not list(tmp_path.iterdir())


def test_missing_file(tmp_path):
    missing = tmp_path / "nothing.nc"
    with pytest.raises(FileNotFoundError, match="nothing.nc"):
        io.open_dataset(missing)


def test_not_a_featx_file(tmp_path):
    other = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(other)
    with pytest.raises(schema.SchemaError, match="other.nc"):
        io.open_dataset(other)
    text = tmp_path / "notes.nc"
    text.write_text("not netCDF")
    with pytest.raises(schema.SchemaError, match="notes.nc"):
        io.open_dataset(text)


# --- to_fex ------------------------------------------------------------------------------------


def _expected_columns(emotions: list[str]) -> list[str]:
    return [
        "FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore",
        *[f"x_{i}" for i in range(68)], *[f"y_{i}" for i in range(68)],
        "Pitch", "Roll", "Yaw", "X", "Y", "Z",
        *schema.AUS, *emotions, "valence", "arousal", "gaze_pitch", "gaze_yaw", "gaze_angle",
        *[f"Identity_{i}" for i in range(1, 9)],
        *[f"mesh_{a}_{i}" for a in "xyz" for i in range(478)],
        *schema.BLENDSHAPES, "FrameHeight", "FrameWidth", "input", "frame", "Identity",
        "approx_time",
    ]  # fmt: skip


def test_fex_columns(ds):
    v2 = ["Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger"]
    assert list(io.to_fex(ds).columns) == _expected_columns(v2)
    assert list(io.to_fex(ds, version=1).columns) == _expected_columns(list(schema.EMOTIONS))


def test_fex_only_groups_present(ds):
    small = ds[["aus", "identity"]]
    assert list(io.to_fex(small).columns) == [
        *schema.AUS,
        "FrameHeight",
        "FrameWidth",
        "input",
        "frame",
        "Identity",
        "approx_time",
    ]
    bare = schema.from_frames([{"face_score": np.array([0.9])}], ["a.png"], [3], [np.nan])
    assert list(io.to_fex(bare).columns) == ["FaceScore", "input", "frame"]


def test_fex_rows(ds):
    fex = io.to_fex(ds)
    assert len(fex) == 5  # 1 face, 1 NaN row for the empty frame, 2 faces, 1 face
    assert fex["input"].tolist() == ["clip.mp4", "clip.mp4", "still.jpg", "still.jpg", "clip.mp4"]
    assert fex["frame"].tolist() == [0, 1, 0, 0, 1537]
    empty = fex.iloc[1]
    numeric = fex.drop(
        columns=["input", "frame", "Identity", "approx_time", "FrameHeight", "FrameWidth"]
    )
    assert numeric.iloc[1].isna().all() and numeric.drop(index=1).notna().all().all()
    assert np.isnan(empty["Identity"])
    assert fex["FrameHeight"].tolist() == [480, 480, 240, 240, 480]
    assert fex["FrameWidth"].tolist() == [640, 640, 320, 320, 640]
    assert fex["approx_time"].iloc[[0, 1, 4]].tolist() == ["00:00", "00:00", "01:01"]
    assert fex["approx_time"].iloc[[2, 3]].isna().all()
    np.testing.assert_array_equal(
        fex[["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]].iloc[[2, 3]],
        ds["face_rect"].isel(frame=2).values,
    )
    np.testing.assert_array_equal(fex["AU01"].iloc[[2, 3]], ds["aus"].isel(frame=2, au=0))
    x, y = ds["landmarks"].isel(frame=3, face=0, landmark=67).values
    assert (fex["x_67"].iloc[4], fex["y_67"].iloc[4]) == (x, y)
    zs = ds["mesh"].isel(frame=3, face=0, xyz=2).values
    np.testing.assert_array_equal(fex.iloc[4][[f"mesh_z_{i}" for i in range(478)]], zs)
    np.testing.assert_array_equal(
        fex.iloc[4][[f"Identity_{i}" for i in range(1, 9)]], ds["embedding"].isel(frame=3, face=0)
    )


def test_fex_drops_empty_slots():
    rect = np.array([[10.0, 10, 20, 20], [50, 50, 20, 20]])
    ds = schema.from_frames(
        [{"face_rect": rect}, {"face_rect": rect[:1]}], ["a.png", "b.png"], [0, 0], [np.nan, np.nan]
    )
    fex = io.to_fex(ds)
    assert fex["input"].tolist() == ["a.png", "a.png", "b.png"]
    assert "approx_time" not in fex


def test_fex_without_face_rect_uses_any_value():
    aus = np.full((2, 20), 0.5)
    ds = schema.from_frames(
        [{"aus": aus}, {"aus": aus[:1]}, {}],
        ["a", "b", "c"],
        [0, 0, 0],
        [np.nan] * 3,
        var_attrs={"aus": {"kind": "score"}},
    )
    assert io.to_fex(ds)["input"].tolist() == ["a", "a", "b", "c"]


def test_fex_emotions(ds):
    v1, v2 = io.to_fex(ds, version=1), io.to_fex(ds, version=2)
    pairs = {
        "anger": "Anger",
        "disgust": "Disgust",
        "fear": "Fear",
        "happiness": "Happy",
        "sadness": "Sad",
        "surprise": "Surprise",
        "neutral": "Neutral",
    }
    for low, cap in pairs.items():
        expected = ds["emotions"].sel(emotion=low).isel(frame=0, face=0).item()
        assert v1.loc[0, low] == v2.loc[0, cap] == expected
    extra = schema.from_frames(
        [{"emotions": np.array([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2]])}],
        ["a"],
        [0],
        [np.nan],
        labels={"emotion": [*schema.EMOTIONS, "contempt"]},
        var_attrs={"emotions": {"kind": "probability"}},
    )
    assert list(io.to_fex(extra).columns[:8]) == [
        "Neutral",
        "Happy",
        "Sad",
        "Surprise",
        "Fear",
        "Disgust",
        "Anger",
        "Contempt",
    ]
    assert io.to_fex(extra)["Neutral"].item() == pytest.approx(0.2)


def test_fex_units(ds):
    v1, v2 = io.to_fex(ds, version=1), io.to_fex(ds, version=2)
    pose = ds["head_pose"].isel(frame=2).values  # (face, angle) in degrees
    np.testing.assert_allclose(v1[["Pitch", "Roll", "Yaw"]].iloc[[2, 3]], pose)
    np.testing.assert_allclose(
        v2[["Pitch", "Roll", "Yaw"]].iloc[[2, 3]], np.radians(pose), rtol=1e-6
    )
    gaze = ds["gaze"].isel(frame=2).values
    np.testing.assert_allclose(v1[["gaze_pitch", "gaze_yaw"]].iloc[[2, 3]], gaze, rtol=1e-6)
    np.testing.assert_allclose(
        v2[["gaze_pitch", "gaze_yaw"]].iloc[[2, 3]], np.radians(gaze), rtol=1e-6
    )
    np.testing.assert_allclose(v2[["X", "Y", "Z"]], v1[["X", "Y", "Z"]])


def test_fex_gaze_angle(ds):
    fex = io.to_fex(ds)
    p, y = fex["gaze_pitch"].to_numpy(), fex["gaze_yaw"].to_numpy()
    np.testing.assert_allclose(fex["gaze_angle"], np.arccos(np.cos(p) * np.cos(y)), rtol=1e-5)
    np.testing.assert_allclose(
        io.to_fex(ds, version=1)["gaze_angle"], np.degrees(fex["gaze_angle"]), rtol=1e-5
    )
    straight = schema.from_frames(
        [{"gaze": np.array([[0.0, 0.0], [0.0, 30.0]])}], ["a"], [0], [np.nan]
    )
    np.testing.assert_allclose(io.to_fex(straight, version=1)["gaze_angle"], [0, 30], atol=1e-4)


def test_fex_identity(ds):
    fex = io.to_fex(ds)
    assert fex["Identity"].iloc[[0, 2, 4]].tolist() == ["Person_0", "Person_1", "Person_0"]
    assert fex["Identity"].iloc[[1, 3]].isna().all()


def _boxes_as_rect(boxes: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = boxes.T
    return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).astype(np.float32)


def _fex_box(boxes: np.ndarray, rule: str | None):
    ds = schema.from_frames(
        [{"face_rect": _boxes_as_rect(boxes)}],
        ["a.png"],
        [0],
        [np.nan],
        var_attrs={"face_rect": {"fex_box": rule} if rule else {}},
    )
    return io.to_fex(ds)[["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]].to_numpy()


def test_fex_box_v1_rule():
    """Detectorv1: each side x1.2 about the centre, corners rounded (mobilefacenet ref.npz)."""
    path = CONFORMANCE / "mobilefacenet" / "ref.npz"
    if not path.exists():
        pytest.fail(f"{path} is missing: it is committed with the tests")
    ref = np.load(path)
    b = ref["new_bboxes"].astype(float)
    expected = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    np.testing.assert_array_equal(_fex_box(ref["boxes"], "v1_expand_1.2"), expected)


def test_fex_box_v2_rule():
    """Detectorv2: square of 1.2x the longer side, centred (face_multitask_v2 ref.npz)."""
    path = CONFORMANCE / "face_multitask_v2" / "ref.npz"
    if not path.exists():
        pytest.fail(f"{path} is missing: it is committed with the tests")
    ref = np.load(path)
    np.testing.assert_allclose(
        _fex_box(ref["boxes"], "v2_square_1.2"), ref["fex_facebox"][:, :4], atol=1e-4
    )


def test_fex_box_rules_by_hand():
    box = np.array([[100.0, 50.0, 200.0, 100.0]])  # 100 wide, 50 high, centre (150, 75)
    np.testing.assert_array_equal(_fex_box(box, None), [[100, 50, 100, 50]])
    np.testing.assert_array_equal(_fex_box(box, "v1_expand_1.2"), [[90, 45, 120, 60]])
    np.testing.assert_allclose(_fex_box(box, "v2_square_1.2"), [[90, 15, 120, 120]], atol=1e-4)
    with pytest.raises(ValueError, match="fex_box"):
        _fex_box(box, "v3_unknown")


def test_fex_bad_version(ds):
    with pytest.raises(ValueError, match="version"):
        io.to_fex(ds, version=3)
