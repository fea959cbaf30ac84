"""featx.analysis quality control: box jumps, per-source figures and the printable report."""

import numpy as np
import pytest
from analysis_data import session

from featx import analysis, schema
from featx.analysis import AnalysisError


def run_with_jumps():
    """Two sources: a.mp4 (10 frames, 2 without a face, a jump at frame 6; a second face in
    frames 2-3) and b.jpg-like stills (3 frames, NaN time, no face_score for one face)."""
    xs = [100.0, 101, 99, 100, np.nan, 102, 400, 98, np.nan, 100]
    frames = []
    for i, x in enumerate(xs):
        if np.isnan(x):
            frames.append({})
            continue
        k = 2 if i in (2, 3) else 1
        rect = np.array([[x, 50.0, 40, 40], [300.0, 50, 40, 40]])[:k]
        frames.append({"face_rect": rect, "face_score": np.array([0.9, 0.7])[:k]})
    for x in (10.0, 12.0, 11.0):
        frames.append({"face_rect": np.array([[x, 10.0, 5, 5]]), "face_score": np.array([0.5])})
    source = ["a.mp4"] * 10 + ["b.png"] * 3
    time = list(np.arange(10) / 25) + [np.nan] * 3
    ds = schema.from_frames(frames, source, list(range(10)) + [0, 1, 2], time)
    schema.validate(ds)
    return ds


def test_box_jumps_follow_the_mean_plus_sd_rule_per_source_and_face():
    ds = run_with_jumps()
    jumps = analysis.box_jumps(ds, std=2.0)
    assert jumps.dims == ("frame", "face") and jumps.dtype == bool
    x = ds["face_rect"].sel(rect="x", face=0).values[:10].astype(np.float64)
    ok = np.isfinite(x)
    limit = 2.0 * np.std(x[ok], ddof=1)
    expected = ok & (np.abs(x - np.nanmean(x)) > limit)
    assert np.flatnonzero(expected).tolist() == [6]
    assert jumps.sel(face=0).values[:10].tolist() == expected.tolist()
    assert not jumps.sel(face=1).values.any()  # constant second face, empty slots
    assert not jumps.values[10:].any()  # the stills have their own mean
    assert not analysis.box_jumps(ds, std=3.0).values.any()  # 300 px is within 3 SD of 9 frames
    cleaned = ds.where(~jumps)
    assert np.isnan(cleaned["face_rect"].values[6, 0]).all()


def test_quality_counts_per_source():
    q = analysis.quality(run_with_jumps(), std=2.0)
    assert q["source"].values.tolist() == ["a.mp4", "b.png"]
    assert q["frames"].values.tolist() == [10, 3]
    assert q["frames_with_face"].values.tolist() == [8, 3]
    np.testing.assert_allclose(q["face_fraction"].values, [0.8, 1.0])
    assert q["max_faces"].values.tolist() == [2, 1]
    scores_a = [0.9] * 8 + [0.7, 0.7]  # 8 first faces and 2 second faces
    np.testing.assert_allclose(q["mean_face_score"].values, [np.mean(scores_a), 0.5], atol=1e-7)
    assert q["box_jumps"].values.tolist() == [1, 0]
    assert q.attrs["box_jump_std"] == 2.0


def test_quality_on_a_detector_like_session():
    ds = session()
    q = analysis.quality(ds)
    present = ds["face_rect"].notnull().any("rect")
    for source in ("s1.mp4", "s2.mp4", "s3.mp4", "s4.mp4"):
        rows = ds["source"].values == source
        assert int(q["frames_with_face"].sel(source=source)) == int(present[rows].any("face").sum())
        scores = ds["face_score"].values[rows].astype(np.float64)
        assert float(q["mean_face_score"].sel(source=source)) == pytest.approx(np.nanmean(scores))


def test_quality_report_is_a_pasteable_table():
    ds = run_with_jumps()
    text = analysis.quality_report(ds, std=2.0)
    lines = text.splitlines()
    assert lines[0] == "Quality of 2 source(s), 13 frames: 11 with a face (84.6%)."
    assert lines[1].split() == [
        "source",
        "frames",
        "with",
        "face",
        "face",
        "%",
        "max",
        "faces",
        "mean",
        "score",
        "box",
        "jumps",
    ]
    assert lines[2].split() == ["a.mp4", "10", "8", "80.0", "2", f"{(0.9 * 8 + 1.4) / 10:.3f}", "1"]
    assert lines[3].split() == ["b.png", "3", "3", "100.0", "1", "0.500", "0"]
    assert "more than 2 SD" in text
    assert len({len(line) for line in lines[1:4]}) == 1  # aligned columns


def test_quality_needs_face_boxes():
    ds = schema.from_frames([{"valence": np.array([0.1])}], ["a.mp4"], [0], [0.0])
    with pytest.raises(AnalysisError, match="needs the face_rect variable"):
        analysis.quality(ds)
    with pytest.raises(TypeError, match="xarray.Dataset"):
        analysis.quality({"face_rect": 1})
