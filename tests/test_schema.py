import json

import numpy as np
import pytest

from featx import SchemaError, schema


def full_frames(n_faces=(2, 0, 1), emb_dim=8):
    """Per-frame results with every schema variable; a face-less frame in the middle."""
    rng = np.random.default_rng(0)
    frames = []
    for k in n_faces:
        emotions = rng.random((k, 7))
        frames.append(
            {
                "face_rect": np.column_stack(
                    [rng.random((k, 2)) * 100, 20 + rng.random((k, 2)) * 50]
                ),
                "face_score": rng.random(k),
                "keypoints": rng.random((k, 5, 2)) * 100,
                "landmarks": rng.random((k, 68, 2)) * 100,
                "mesh": rng.random((k, 478, 3)),
                "aus": rng.random((k, 20)),
                "au_intensity": rng.random((k, 20)) * 5,
                "emotions": emotions / emotions.sum(1, keepdims=True),
                "valence": rng.uniform(-1, 1, k),
                "arousal": rng.uniform(-1, 1, k),
                "head_pose": rng.uniform(-90, 90, (k, 3)),
                "head_translation": rng.random((k, 3)),
                "gaze": rng.uniform(-60, 60, (k, 2)),
                "blendshapes": rng.random((k, 52)),
                "embedding": rng.random((k, emb_dim)),
                "identity": np.arange(k),
            }
        )
    return frames


KINDS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}


@pytest.fixture
def ds():
    frames = full_frames()
    return schema.from_frames(
        frames,
        ["clip.mp4"] * 3,
        [0, 1, 2],
        [0.0, 0.04, 0.08],
        var_attrs=KINDS,
        attrs={"detector": "test", "sources": json.dumps({"clip.mp4": {"fps": 25}})},
    )


def test_from_frames_pads_faces_and_sets_coords(ds):
    schema.validate(ds)
    assert ds.sizes["frame"] == 3 and ds.sizes["face"] == 2
    assert set(ds.data_vars) == set(schema.VARIABLES)
    assert list(ds["au"].values) == list(schema.AUS)
    assert list(ds["emotion"].values) == list(schema.EMOTIONS)
    assert list(ds["blendshape"].values) == list(schema.BLENDSHAPES)
    assert ds.sizes["embedding_dim"] == 8 and ds.sizes["vertex"] == 478
    # frame 1 has no face: NaN everywhere, identity -1
    assert ds["face_rect"].isel(frame=1).isnull().all()
    assert (ds["identity"].isel(frame=1) == -1).all()
    # frame 2 has one face: slot 1 is empty
    assert ds["aus"].isel(frame=2, face=1).isnull().all()
    assert ds["aus"].isel(frame=2, face=0).notnull().all()
    assert ds["time"].values.tolist() == [0.0, 0.04, 0.08]
    assert ds["identity"].dtype == np.int64 and ds["aus"].dtype == np.float32


def test_from_frames_rejects_inconsistent_input():
    with pytest.raises(SchemaError, match="disagree"):
        schema.from_frames(
            [{"face_score": np.ones(2), "face_rect": np.ones((1, 4))}], ["a"], [0], [np.nan]
        )
    with pytest.raises(SchemaError, match="unknown variable"):
        schema.from_frames([{"smile": np.ones(1)}], ["a"], [0], [np.nan])
    with pytest.raises(SchemaError, match="does not match"):
        schema.from_frames([{"aus": np.ones((1, 3))}], ["a"], [0], [np.nan])
    with pytest.raises(SchemaError, match="2 source"):
        schema.from_frames([{}], ["a", "b"], [0], [np.nan])


def test_from_frames_accepts_label_subsets():
    ds = schema.from_frames(
        [{"aus": np.full((1, 2), 0.5), "keypoints": np.zeros((1, 6, 2))}],
        ["a"],
        [0],
        [np.nan],
        labels={"au": ["AU12", "AU26"], "keypoint": schema.KEYPOINTS_BLAZEFACE},
        var_attrs={"aus": {"kind": "blendshape-derived"}},
    )
    schema.validate(ds)
    assert list(ds["au"].values) == ["AU12", "AU26"]
    assert ds.sizes["keypoint"] == 6


def test_concat_pads_faces_and_adds_missing_variables(ds):
    other = schema.from_frames(
        [{"face_rect": np.ones((3, 4)), "face_score": np.ones(3)}],
        ["b.png"],
        [0],
        [np.nan],
        frame_start=3,
        attrs={"sources": json.dumps({"b.png": {"fps": None}})},
    )
    out = schema.concat([ds, other])
    schema.validate(out)
    assert out.sizes["frame"] == 4 and out.sizes["face"] == 3
    assert out["aus"].isel(frame=3).isnull().all()
    assert (out["identity"].isel(frame=3) == -1).all()
    assert out["identity"].dtype == np.int64
    assert out["aus"].attrs["kind"] == "probability"
    assert set(json.loads(out.attrs["sources"])) == {"clip.mp4", "b.png"}
    assert list(out["source"].values) == ["clip.mp4"] * 3 + ["b.png"]


def test_concat_of_nothing_fails():
    with pytest.raises(SchemaError):
        schema.concat([])


# Each malformed Dataset breaks one rule; validate must name it.
BREAKERS = {
    "missing-frame-dim": (lambda d: d.isel(frame=0), "dims"),
    "missing-source": (lambda d: d.drop_vars("source"), "coords"),
    "source-not-str": (lambda d: d.assign_coords(source=("frame", [1, 2, 3])), "dtype"),
    "time-not-float": (lambda d: d.assign_coords(time=("frame", [0, 1, 2])), "dtype"),
    "duplicate-frames": (lambda d: d.assign_coords(frame=[0, 0, 1]), "coords"),
    "unknown-variable": (lambda d: d.assign(smile=d["valence"]), "variables"),
    "wrong-dims": (lambda d: d.assign(valence=d["valence"].T), "dims"),
    "au-out-of-range": (lambda d: d.assign(aus=d["aus"] * 3), "range"),
    "score-out-of-range": (lambda d: d.assign(face_score=d["face_score"] - 2), "range"),
    "valence-out-of-range": (lambda d: d.assign(valence=d["valence"] * 5), "range"),
    "pose-out-of-range": (lambda d: d.assign(head_pose=d["head_pose"] * 10), "range"),
    "negative-box": (lambda d: d.assign(face_rect=d["face_rect"] * -1), "range"),
    "bad-au-label": (lambda d: d.assign_coords(au=["Smile"] + list(schema.AUS[1:])), "labels"),
    "emotion-order": (lambda d: d.assign_coords(emotion=list(schema.EMOTIONS[::-1])), "labels"),
    "bad-rect-labels": (lambda d: d.assign_coords(rect=["x1", "y1", "x2", "y2"]), "labels"),
    "missing-kind": (lambda d: d.assign(aus=d["aus"].drop_attrs()), "attrs"),
    "emotions-not-summing": (
        lambda d: d.assign(emotions=(d["emotions"] * 0.5).assign_attrs(kind="probability")),
        "probability",
    ),
    "identity-float": (lambda d: d.assign(identity=d["identity"].astype(float)), "dtype"),
    "aus-int": (
        lambda d: d.assign(aus=(d["aus"] > 2).astype(int).assign_attrs(kind="binary")),
        "dtype",
    ),
    "value-in-empty-slot": (lambda d: d.assign(valence=d["valence"].fillna(0.0)), "empty-slot"),
    "identity-in-empty-slot": (lambda d: d.assign(identity=d["identity"] * 0 + 1), "empty-slot"),
}


@pytest.mark.parametrize("name", list(BREAKERS))
def test_validate_names_the_broken_rule(ds, name):
    breaker, rule = BREAKERS[name]
    broken = breaker(ds)
    with pytest.raises(SchemaError, match=rf"\[{rule}\]"):
        schema.validate(broken)


def test_validate_rejects_non_dataset(ds):
    with pytest.raises(SchemaError, match=r"\[type\]"):
        schema.validate(ds["aus"])


def test_emotion_extra_labels_after_canonical():
    labels = list(schema.EMOTIONS) + ["contempt"]
    ds = schema.from_frames(
        [{"emotions": np.full((1, 8), 0.1)}],
        ["a.txt"],
        [0],
        [0.0],
        labels={"emotion": labels},
        var_attrs={"emotions": {"kind": "score"}},
    )
    schema.validate(ds)
    bad = ds.assign_coords(emotion=["contempt"] + list(schema.EMOTIONS))
    with pytest.raises(SchemaError, match=r"\[labels\]"):
        schema.validate(bad)
