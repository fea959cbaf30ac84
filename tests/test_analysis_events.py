"""featx.analysis events: the events table, epochs and design matrices on known sessions."""

import numpy as np
import pandas as pd
import pytest
from analysis_data import STUDY

from featx import analysis, schema
from featx.analysis import AnalysisError, EventsError

FPS = 25.0


def clock(lengths=(100, 80), fps=FPS, gaps=((0, 48),)):
    """Sources whose AU12 (face 0) is ``source_frame / 1000``: a value says which frame it is.

    ``gaps`` lists (source number, frame) pairs without a face.
    """
    frames, source, index, time = [], [], [], []
    for s, n in enumerate(lengths):
        for i in range(n):
            if (s, i) in gaps:
                frames.append({})
            else:
                aus = np.full((1, 20), 0.5)
                aus[0, 9] = i / 1000  # AU12
                frames.append({"aus": aus, "valence": np.array([i / 1000 - s])})
            source.append(f"s{s + 1}.mp4")
            index.append(i)
            time.append(i / fps)
    ds = schema.from_frames(frames, source, index, time, var_attrs={"aus": {"kind": "probability"}})
    schema.validate(ds)
    return analysis.annotate(ds, STUDY.iloc[: len(lengths)])


EVENTS = pd.DataFrame(
    {
        "onset": [2.0, 1.4, 3.0],
        "duration": [0.5, 0.2, 0.0],
        "trial_type": ["joke", "cue", "joke"],
        "source": [None, "s2.mp4", "s1.mp4"],
        "stimulus": ["j1.png", "c1.png", "j2.png"],
    }
)


# --- the table ---------------------------------------------------------------------------------


def test_check_events_reads_a_bids_tsv(tmp_path):
    path = tmp_path / "sub-01_events.tsv"
    path.write_text("onset\tduration\ttrial_type\tresponse\n1.5\t0.5\tjoke\tn/a\n3\t1\tcue\t2\n")
    table = analysis.check_events(path)
    assert table["onset"].tolist() == [1.5, 3.0] and table["duration"].dtype == np.float64
    assert table["trial_type"].tolist() == ["joke", "cue"]
    assert np.isnan(table["response"].iloc[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.drop(columns="duration"), r"lacks column\(s\) \['duration'\]"),
        (
            lambda e: e.assign(onset=["1", "x", "2"]),
            r"onset is not a finite number in row\(s\) \[1\]",
        ),
        (lambda e: e.assign(duration=[0.5, -1, 0]), r"negative duration in row\(s\) \[1\]"),
        (
            lambda e: e.assign(trial_type=["a", None, "b"]),
            r"trial_type is missing in row\(s\) \[1\]",
        ),
        (lambda e: e.assign(source=["s9.mp4", None, None]), r"names source\(s\) \['s9.mp4'\]"),
    ],
)
def test_check_events_names_what_is_wrong(change, message):
    with pytest.raises(EventsError, match=message):
        analysis.check_events(change(EVENTS), clock())


def test_check_events_names_the_file(tmp_path):
    missing = tmp_path / "nope.tsv"
    with pytest.raises(EventsError, match="events file '.*nope.tsv' does not exist"):
        analysis.check_events(missing)
    bad = tmp_path / "bad.tsv"
    bad.write_text("start\tend\n1\t2\n")
    with pytest.raises(EventsError, match=r"events file '.*bad.tsv' lacks column\(s\)"):
        analysis.check_events(bad)
    with pytest.raises(TypeError, match="DataFrame or a .tsv path"):
        analysis.check_events([1, 2])


# --- epochs ------------------------------------------------------------------------------------


def test_epochs_cut_exact_lags_around_each_onset():
    ds = clock()
    ep = analysis.epochs(ds, EVENTS, -0.2, 0.4)
    np.testing.assert_allclose(ep["lag"].values, np.arange(-5, 11) / FPS, rtol=0, atol=1e-12)
    # the first event has no source: one epoch per source; the others name theirs
    assert ep["source"].values.tolist() == ["s1.mp4", "s2.mp4", "s2.mp4", "s1.mp4"]
    assert ep["trial_type"].values.tolist() == ["joke", "joke", "cue", "joke"]
    assert ep["stimulus"].values.tolist() == ["j1.png", "j1.png", "c1.png", "j2.png"]
    assert ep["subject"].values.tolist() == ["p1", "p2", "p2", "p1"]
    assert ep["onset"].values.tolist() == [2.0, 2.0, 1.4, 3.0]
    au12 = ep["aus"].sel(au="AU12", face=0).values
    for e, onset in enumerate(ep["onset"].values):
        frames = round(onset * FPS) + np.arange(-5, 11)
        expected = frames / 1000
        expected[(frames >= 80) & (ep["source"].values[e] == "s2.mp4")] = np.nan  # s2 ends
        if ep["source"].values[e] == "s1.mp4":
            expected[frames == 48] = np.nan  # frame 48 of s1 has no face
        np.testing.assert_allclose(au12[e], expected, rtol=0, atol=1e-7)
    assert au12[3, -1] == pytest.approx(0.085, abs=1e-7)  # lag 0.4 after 3.0 s: frame 85
    assert ep["aus"].dims == ("epoch", "lag", "face", "au")
    assert ep.attrs["lag_unit"] == "s"


def test_epochs_nan_outside_the_recording_and_baseline():
    ds = clock()
    events = pd.DataFrame({"onset": [0.12, 3.0], "duration": [1, 1], "trial_type": ["a", "b"]})
    ep = analysis.epochs(ds, events, -0.2, 0.2, baseline=(-0.08, 0.0), variables="valence")
    raw = analysis.epochs(ds, events, -0.2, 0.2, variables="valence")
    v = raw["valence"].sel(face=0).values
    # onset 0.12 s = frame 3: lags -0.2 .. 0.2 reach frames -2..8; before frame 0 is NaN
    assert np.isnan(v[0, :2]).all() and np.isfinite(v[0, 2:]).all()
    # source 2 has frames 0..79: onset 3.0 s (frame 75) + 0.2 s is frame 80, past its end
    assert ep["source"].values.tolist() == ["s1.mp4", "s2.mp4", "s1.mp4", "s2.mp4"]
    assert np.isfinite(v[3, :10]).all() and np.isnan(v[3, 10])
    base = np.nanmean(v[:, 3:6], axis=1, keepdims=True)  # lags -0.08, -0.04, 0
    np.testing.assert_allclose(ep["valence"].sel(face=0).values, v - base, rtol=0, atol=1e-12)


def test_epochs_use_frames_for_sources_without_time():
    frames = [{"valence": np.array([i / 10])} for i in range(10)]
    ds = schema.from_frames(frames, ["seq"] * 10, range(10), [np.nan] * 10)
    events = pd.DataFrame({"onset": [4], "duration": [2], "trial_type": ["x"]})
    ep = analysis.epochs(ds, events, -2, 3)
    assert ep["lag"].values.tolist() == [-2, -1, 0, 1, 2, 3] and ep.attrs["lag_unit"] == "frame"
    np.testing.assert_allclose(ep["valence"].values.ravel(), np.arange(2, 8) / 10, atol=1e-7)


def test_epochs_refuse_mixed_rates_and_bad_windows():
    a = clock(lengths=(30,))
    b = schema.from_frames(
        [{"valence": np.array([0.1])}] * 30,
        ["fast.mp4"] * 30,
        range(30),
        np.arange(30) / 30,
        frame_start=30,
    )
    both = schema.concat([a.drop_vars(["subject", "condition"]), b])
    events = pd.DataFrame({"onset": [0.2], "duration": [0.1], "trial_type": ["x"]})
    with pytest.raises(AnalysisError, match=r"different sampling rates .*resample\(ds, hz=...\)"):
        analysis.epochs(both, events, 0, 0.2)
    with pytest.raises(AnalysisError, match="tmin .0.5. must not exceed tmax"):
        analysis.epochs(a, events, 0.5, 0.2)
    with pytest.raises(AnalysisError, match="contains no lag"):
        analysis.epochs(a, events, 0, 0.2, baseline=(-1, -0.5))


# --- design matrix -----------------------------------------------------------------------------


def test_design_matrix_boxcars_on_the_frame_grid():
    ds = clock()
    X = analysis.design_matrix(ds, EVENTS)
    assert list(X.columns) == ["joke", "cue"] and X.index.name == "frame"
    assert X.index.tolist() == ds["frame"].values.tolist()
    s1, s2 = ds["source"].values == "s1.mp4", ds["source"].values == "s2.mp4"
    joke1 = np.flatnonzero(X["joke"].values[s1])
    # 2.0 <= t < 2.5 s: frames 50..62; the zero-duration joke at 3.0 s marks frame 75
    assert joke1.tolist() == [*range(50, 63), 75]
    assert np.flatnonzero(X["joke"].values[s2]).tolist() == list(range(50, 63))
    assert np.flatnonzero(X["cue"].values[s2]).tolist() == list(range(35, 40))  # 1.4 .. 1.6 s
    assert not X["cue"].values[s1].any()
    assert set(np.unique(X.values)) == {0.0, 1.0}


def test_design_matrix_accepts_the_events_file(tmp_path):
    path = tmp_path / "events.tsv"
    EVENTS.to_csv(path, sep="\t", index=False, na_rep="n/a")
    pd.testing.assert_frame_equal(
        analysis.design_matrix(clock(), path), analysis.design_matrix(clock(), EVENTS)
    )
