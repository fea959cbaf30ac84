"""featx.analysis on a source where some frames have no time (a blank OpenFace timestamp cell):
the missing times are interpolated from the frame rate with a warning, never read as frames."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import signal

from featx import analysis, schema
from featx.analysis import AnalysisError, AnalysisWarning

FPS = 25.0
N = 250
# 1.0 <= t < 4.04 s: 76 frames at 25 fps
EVENTS = pd.DataFrame({"onset": [1.0], "duration": [3.04], "trial_type": ["joke"]})


def video(missing=(), n=N):
    """One 25 fps source whose AU12 is 0.5 during the event plus noise; ``missing`` frames
    have a NaN time (and everything else as usual)."""
    rng = np.random.default_rng(3)
    t = np.arange(n) / FPS
    on = (t >= 1.0 - 1e-9) & (t < 4.04 - 1e-9)
    aus = rng.uniform(0.1, 0.3, (n, 1, 20))
    aus[:, 0, 9] = 0.2 + 0.5 * on + rng.normal(0, 0.02, n)
    frames = [{"aus": a, "valence": np.sin(np.array([x]))} for a, x in zip(aus, t, strict=True)]
    time = t.copy()
    time[list(missing)] = np.nan
    kinds = {"aus": {"kind": "probability"}}
    return schema.from_frames(frames, ["v.mp4"] * n, range(n), time, var_attrs=kinds)


@pytest.fixture(scope="module")
def full():
    return video()


@pytest.mark.parametrize("missing", [(120,), (0,), (N - 1,), (0, 7, 8, N - 1)])
def test_design_matrix_interpolates_missing_times_and_warns(full, missing):
    holey = video(missing)
    with pytest.warns(AnalysisWarning, match=rf"{len(missing)} of {N} frame\(s\) have no time"):
        X = analysis.design_matrix(holey, EVENTS)
    assert int(X["joke"].sum()) == 76  # not 4 (onset 1.0 read as frame 1)
    pd.testing.assert_frame_equal(X, analysis.design_matrix(full, EVENTS))


def test_regress_with_one_missing_time_matches_the_fully_timed_source(full):
    holey = video((120,))
    with pytest.warns(AnalysisWarning, match="interpolated from source_frame at 25 frames"):
        fit = analysis.regress(holey, EVENTS, "aus")
    beta = float(fit["beta"].sel(face=0, au="AU12", regressor="joke"))
    assert abs(beta - 0.5) < 0.01  # not -0.11
    xr.testing.assert_allclose(fit, analysis.regress(full, EVENTS, "aus"), rtol=0, atol=1e-12)
    # a design indexed by time uses the interpolated times too
    X = analysis.design_matrix(full, EVENTS).set_axis(full["time"].values).rename_axis("time")
    with pytest.warns(AnalysisWarning):
        by_time = analysis.regress(holey, X, "aus")
    xr.testing.assert_allclose(by_time, fit, rtol=0, atol=1e-12)


def test_smooth_butter_cutoff_stays_in_hz_with_a_missing_time(full):
    holey = video((120,))
    with pytest.warns(AnalysisWarning):
        out = analysis.smooth(holey, "butter", cutoff=0.3, variables="aus")
    expected = analysis.smooth(full, "butter", cutoff=0.3, variables="aus")
    np.testing.assert_allclose(out["aus"].values, expected["aus"].values, rtol=0, atol=1e-12)
    x = full["aus"].sel(face=0, au="AU12").values.astype(np.float64)
    sos = signal.butter(5, 0.3, fs=FPS, output="sos")
    reference = signal.sosfiltfilt(sos, x)
    got = out["aus"].sel(face=0, au="AU12").values
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-8)
    assert np.isnan(out["time"].values[120])  # the Dataset's own time is not rewritten


def test_interpolation_follows_the_frame_index_not_the_row_order():
    # frames stored out of order, one time missing: the gap is filled from source_frame
    order = [3, 0, 2, 1, 4]
    time = [3 / FPS, 0.0, np.nan, 1 / FPS, 4 / FPS]
    ds = schema.from_frames([{}] * 5, ["v.mp4"] * 5, order, time)
    with pytest.warns(AnalysisWarning):
        (src,) = analysis._core.sources(ds)
    assert src.unit == "s"
    np.testing.assert_allclose(src.axis, np.arange(5) / FPS, rtol=0, atol=1e-12)


def test_a_source_with_a_single_time_is_refused():
    time = [np.nan, 0.04, np.nan, np.nan]
    ds = schema.from_frames([{"valence": np.array([0.1])}] * 4, ["v.mp4"] * 4, range(4), time)
    events = pd.DataFrame({"onset": [0.0], "duration": [1.0], "trial_type": ["x"]})
    with pytest.raises(AnalysisError, match="'v.mp4' has a time for only 1 of its 4 frames"):
        analysis.design_matrix(ds, events)


def test_sources_without_any_time_still_use_the_frame_index():
    ds = schema.from_frames([{}] * 4, ["img"] * 4, range(4), [np.nan] * 4)
    events = pd.DataFrame({"onset": [1.0], "duration": [2.0], "trial_type": ["x"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: frames are the documented unit here
        X = analysis.design_matrix(ds, events)
    assert X["x"].tolist() == [0.0, 1.0, 1.0, 0.0]
