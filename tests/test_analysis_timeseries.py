"""featx.analysis time series: annotate, smooth, resample, baseline, clean (and ds.feat)."""

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr
from analysis_data import AUS, FPS, STUDY, annotated, bridged, series, session
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal, stats

from featx import analysis, schema
from featx.analysis import AnalysisError

TOL = 1e-8
SOURCES = ("s1.mp4", "s2.mp4", "s3.mp4", "s4.mp4")


@pytest.fixture(scope="module")
def ds():
    return annotated()


def each_series(ds, name="aus"):
    labels = ds[name].coords[ds[name].dims[-1]].values if ds[name].ndim == 3 else [None]
    for source in SOURCES:
        for face in (0, 1):
            for label in labels:
                yield source, face, label


def check_series(out, ds, reference, name="aus"):
    """Every series of ``out`` equals ``reference(t, x)`` on the gap-bridged input, re-masked."""
    checked = 0
    for source, face, label in each_series(ds, name):
        t, x = series(ds, name, source, face, label)
        _, got = series(out, name, source, face, label)
        ok = np.isfinite(x)
        assert np.array_equal(np.isfinite(got), ok)
        if ok.sum() < 2:
            continue
        expected = reference(t, bridged(t, x))
        np.testing.assert_allclose(got[ok], expected[ok], rtol=0, atol=TOL)
        checked += 1
    assert checked >= 8


# --- annotate ----------------------------------------------------------------------------------


def test_annotate_adds_per_frame_study_coordinates(ds):
    plain = session()
    before = plain.copy(deep=True)
    out = analysis.annotate(plain, STUDY)
    assert plain.identical(before)
    for row in STUDY.itertuples():
        rows = out["source"].values == row.source
        assert set(out["subject"].values[rows]) == {row.subject}
        assert set(out["condition"].values[rows]) == {row.condition}
    assert out["subject"].dims == ("frame",)
    schema.validate(out)
    assert analysis.annotate(plain, STUDY.set_index("source"))["subject"].equals(out["subject"])


def test_annotate_rejects_bad_tables():
    plain = session()
    with pytest.raises(AnalysisError, match=r"no row for source\(s\) \['s4.mp4'\]"):
        analysis.annotate(plain, STUDY.iloc[:3])
    with pytest.raises(AnalysisError, match="several rows"):
        analysis.annotate(plain, pd.concat([STUDY, STUDY.iloc[:1]]))
    with pytest.raises(AnalysisError, match="'source' column"):
        analysis.annotate(plain, STUDY.drop(columns="source"))
    with pytest.raises(AnalysisError, match=r"\['time'\] would replace"):
        analysis.annotate(plain, STUDY.assign(time=1.0))
    with pytest.raises(TypeError, match="DataFrame"):
        analysis.annotate(plain, STUDY.to_dict())


# --- smooth ------------------------------------------------------------------------------------


def rolling(kind, window):
    return lambda t, x: getattr(
        pd.Series(x).rolling(window, center=True, min_periods=1), kind
    )().to_numpy()


@pytest.mark.parametrize(
    ("kwargs", "reference"),
    [
        ({"method": "mean", "window": 5}, rolling("mean", 5)),
        ({"method": "median", "window": 4}, rolling("median", 4)),
        (
            {"method": "savgol", "window": 7, "polyorder": 2},
            lambda t, x: signal.savgol_filter(x, 7, 2),
        ),
        (
            {"method": "butter", "cutoff": 3.0, "order": 4},
            lambda t, x: signal.sosfiltfilt(signal.butter(4, 3.0, fs=FPS, output="sos"), x),
        ),
        (
            {"method": "exponential", "alpha": 0.25},
            lambda t, x: pd.Series(x).ewm(alpha=0.25, adjust=False).mean().to_numpy(),
        ),
    ],
    ids=["mean", "median", "savgol", "butter", "exponential"],
)
def test_smooth_matches_pandas_and_scipy(ds, kwargs, reference):
    before = ds.copy(deep=True)
    out = analysis.smooth(ds, variables=["aus", "valence"], **kwargs)
    assert ds.identical(before)
    check_series(out, ds, reference, "aus")
    check_series(out, ds, reference, "valence")
    assert out["emotions"].identical(ds["emotions"])  # not asked for: unchanged
    assert out["aus"].dtype == np.float64 and out["aus"].attrs == ds["aus"].attrs
    xr.testing.assert_identical(out.coords.to_dataset(), ds.coords.to_dataset())


def test_smooth_defaults_to_the_expression_measures(ds):
    out = analysis.smooth(ds)
    for name in ("aus", "emotions", "valence"):
        assert out[name].dtype == np.float64
    assert out["face_rect"].identical(ds["face_rect"])
    assert out["identity"].identical(ds["identity"])


def test_smooth_rejects_bad_arguments(ds):
    with pytest.raises(AnalysisError, match="unknown smoothing method 'gauss'"):
        analysis.smooth(ds, "gauss")
    with pytest.raises(AnalysisError, match="odd window"):
        analysis.smooth(ds, "savgol", window=6)
    with pytest.raises(AnalysisError, match="needs cutoff"):
        analysis.smooth(ds, "butter")
    with pytest.raises(AnalysisError, match=r"outside \(0, 12.5\) for source 's1.mp4'"):
        analysis.smooth(ds, "butter", cutoff=20.0)
    with pytest.raises(AnalysisError, match="no variable 'blendshapes'"):
        analysis.smooth(ds, variables="blendshapes")
    with pytest.raises(TypeError, match="xarray.Dataset"):
        analysis.smooth(ds["aus"])


@pytest.mark.parametrize(
    ("method", "option"),
    [
        ("mean", {"cutoff": 1.0}),
        ("median", {"alpha": 0.5}),
        ("savgol", {"order": 3}),
        ("butter", {"window": 3, "cutoff": 2.0}),
        ("exponential", {"polyorder": 2}),
        ("mean", {"polyorder": 2}),  # the old default value is refused too: it is not used
    ],
)
def test_smooth_refuses_an_option_the_method_does_not_use(ds, method, option):
    unused = next(k for k in option if k != "cutoff" or method != "butter")
    with pytest.raises(AnalysisError, match=rf"smooth\(method='{method}'\) does not use {unused}="):
        analysis.smooth(ds, method, **option)


def test_smooth_defaults_are_the_documented_values(ds):
    xr.testing.assert_identical(analysis.smooth(ds, "mean"), analysis.smooth(ds, "mean", window=5))
    xr.testing.assert_identical(
        analysis.smooth(ds, "savgol"), analysis.smooth(ds, "savgol", window=5, polyorder=2)
    )
    xr.testing.assert_identical(
        analysis.smooth(ds, "butter", cutoff=2.0),
        analysis.smooth(ds, "butter", cutoff=2.0, order=5),
    )
    xr.testing.assert_identical(
        analysis.smooth(ds, "exponential"), analysis.smooth(ds, "exponential", alpha=0.3)
    )


def test_clean_refuses_a_filter_order_without_a_filter(ds):
    with pytest.raises(AnalysisError, match=r"clean\(order=...\) is the filter's order"):
        analysis.clean(ds, order=3)
    xr.testing.assert_identical(
        analysis.clean(ds, low_pass=2.0), analysis.clean(ds, low_pass=2.0, order=5)
    )


# --- resample ----------------------------------------------------------------------------------


def test_resample_samples_is_block_aggregation(ds):
    out = analysis.resample(ds, samples=4, method="mean")
    assert out["frame"].values.tolist() == list(range(out.sizes["frame"]))
    assert "identity" not in out  # integer variables cannot be averaged
    for source, n in zip(SOURCES, (60, 60, 50, 50), strict=True):
        rows = out["source"].values == source
        assert rows.sum() == -(-n // 4)
        t, _ = series(ds, "aus", source, 0, "AU12")
        assert np.array_equal(out["time"].values[rows], t[::4])
        assert out["source_frame"].values[rows].tolist() == list(range(0, n, 4))
        assert set(out["subject"].values[rows]) == set(ds["subject"].values[ds["source"] == source])
    for source, face, label in each_series(ds):
        _, x = series(ds, "aus", source, face, label)
        _, got = series(out, "aus", source, face, label)
        expected = pd.Series(x).groupby(np.arange(len(x)) // 4).mean().to_numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)  # all-NaN bins stay NaN


def test_resample_hz_bins_time_and_seconds_is_the_same_grid(ds):
    out = analysis.resample(ds, hz=5, method="median")
    same = analysis.resample(ds, seconds=0.2, method="median")
    xr.testing.assert_identical(out, same)
    for source, face, label in each_series(ds):
        t, x = series(ds, "aus", source, face, label)
        grid, got = series(out, "aus", source, face, label)
        np.testing.assert_allclose(grid, np.arange(len(grid)) * 0.2, rtol=0, atol=1e-12)
        bins = np.floor(np.round(t * 5, 9)).astype(int)  # 5 frames of 25 fps per bin
        expected = pd.Series(x).groupby(bins).median().to_numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_resample_linear_upsamples_between_frames_with_a_face(ds):
    out = analysis.resample(ds, hz=50, method="linear", variables="valence")
    assert list(out.data_vars) == ["valence"]
    for source in SOURCES:
        for face in (0, 1):
            t, x = series(ds, "valence", source, face)
            grid, got = series(out, "valence", source, face)
            assert np.allclose(grid, np.arange(2 * len(t) - 1) / 50)
            even, odd = got[::2], got[1::2]
            np.testing.assert_allclose(even, x, rtol=0, atol=TOL, equal_nan=True)
            np.testing.assert_allclose(odd, (x[:-1] + x[1:]) / 2, rtol=0, atol=TOL, equal_nan=True)


def test_resample_units_are_never_ambiguous(ds):
    with pytest.raises(AnalysisError, match="exactly one of hz=, seconds= or samples= .got none"):
        analysis.resample(ds)
    with pytest.raises(AnalysisError, match="got hz=5, samples=3"):
        analysis.resample(ds, hz=5, samples=3)
    with pytest.raises(AnalysisError, match="samples= must be a positive integer"):
        analysis.resample(ds, samples=2.5)
    with pytest.raises(AnalysisError, match="linear' needs a rate"):
        analysis.resample(ds, samples=2, method="linear")
    stills = schema.from_frames([{}] * 3, ["a.jpg", "b.jpg", "c.jpg"], [0] * 3, [np.nan] * 3)
    with pytest.raises(AnalysisError, match="source 'a.jpg' has no time"):
        analysis.resample(stills, hz=2)


# --- baseline ----------------------------------------------------------------------------------


def first_finite(x):
    return x[np.isfinite(x)][0]


@pytest.mark.parametrize(
    ("reference", "normalize", "expected"),
    [
        ("median", None, lambda x: x - np.nanmedian(x)),
        ("mean", None, lambda x: x - np.nanmean(x)),
        ("first", None, lambda x: x - first_finite(x)),
        ("mean", "pct", lambda x: 100 * (x - np.nanmean(x)) / np.nanmean(x)),
        ("median", "db", lambda x: 10 * np.log10(x / np.nanmedian(x))),
    ],
)
def test_baseline_per_source_and_face(ds, reference, normalize, expected):
    out = analysis.baseline(ds, reference, normalize)
    checked = 0
    for source, face, label in each_series(ds):
        _, x = series(ds, "aus", source, face, label)
        _, got = series(out, "aus", source, face, label)
        np.testing.assert_allclose(got, expected(x), rtol=0, atol=TOL, equal_nan=True)
        checked += 1
    assert checked == 32
    xr.testing.assert_identical(out.coords.to_dataset(), ds.coords.to_dataset())


def test_baseline_with_a_reference_dataset_per_source(ds):
    first_second = ds.where(ds["time"] < 1.0, drop=True)
    means = first_second[["aus"]].astype(np.float64).groupby("source").mean("frame")
    out = analysis.baseline(ds, means, variables="aus")
    for source, face, label in each_series(ds):
        t, x = series(ds, "aus", source, face, label)
        _, got = series(out, "aus", source, face, label)
        np.testing.assert_allclose(got, x - np.nanmean(x[t < 1.0]), rtol=0, atol=TOL)
    assert out["aus"].dims == ds["aus"].dims


def test_baseline_pct_is_nan_only_where_documented():
    frames = [{"valence": np.array([v])} for v in (0.0, 0.5, -0.5, 0.25)]
    ds = schema.from_frames(frames, ["a.mp4"] * 4, range(4), np.arange(4) / 10)
    out = analysis.baseline(ds, "first", "pct")  # the first value is 0: undefined
    assert np.isnan(out["valence"].values).all()
    out = analysis.baseline(ds, "first", "db")
    assert out["valence"].values.ravel().tolist()[0] == pytest.approx(np.nan, nan_ok=True)
    with pytest.raises(AnalysisError, match="normalize must be one of"):
        analysis.baseline(ds, "first", "percent")
    with pytest.raises(AnalysisError, match="reference must be one of"):
        analysis.baseline(ds, "start")


# --- clean -------------------------------------------------------------------------------------


def test_clean_matches_scipy_pipeline_on_a_full_source():
    ds = session(lengths=(80, 70), missing=0.0, second_face=(10, 20))
    rng = np.random.default_rng(3)
    confounds = rng.normal(size=(ds.sizes["frame"], 2))
    out = analysis.clean(ds, confounds=confounds, low_pass=4.0, high_pass=0.5, variables="aus")
    sos = signal.butter(5, [0.5, 4.0], "bandpass", fs=FPS, output="sos")
    for source in ("s1.mp4", "s2.mp4"):
        rows = ds["source"].values == source
        conf = signal.sosfiltfilt(sos, signal.detrend(confounds[rows], axis=0), axis=0)
        design = np.column_stack([conf, np.ones(rows.sum())])
        for label in AUS:
            _, x = series(ds, "aus", source, 0, label)
            y = signal.sosfiltfilt(sos, signal.detrend(x))
            y = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
            _, got = series(out, "aus", source, 0, label)
            np.testing.assert_allclose(got, stats.zscore(y, ddof=1), rtol=0, atol=TOL)
        second = np.isfinite(series(out, "aus", source, 1, "AU01")[1])
        assert np.flatnonzero(second).tolist() == list(range(10, 20))  # empty slots stay empty


def test_clean_with_nan_frames_uses_frames_with_a_face(ds):
    out = analysis.clean(ds, variables="aus")
    for source, face, label in each_series(ds):
        t, x = series(ds, "aus", source, face, label)
        ok = np.isfinite(x)
        _, got = series(out, "aus", source, face, label)
        assert np.array_equal(np.isfinite(got), ok)
        if ok.sum() < 3:
            continue
        resid = sm.OLS(x[ok], sm.add_constant(t[ok])).fit().resid
        np.testing.assert_allclose(got[ok], stats.zscore(resid, ddof=1), rtol=0, atol=TOL)


def test_clean_rejects_bad_confounds_and_cutoffs(ds):
    with pytest.raises(AnalysisError, match=r"one row per frame \(220\)"):
        analysis.clean(ds, confounds=np.ones((10, 2)))
    with pytest.raises(AnalysisError, match="must be below low_pass"):
        analysis.clean(ds, low_pass=1.0, high_pass=2.0)
    with pytest.raises(AnalysisError, match="confounds must be finite"):
        analysis.clean(ds, confounds=np.full(220, np.nan))


# --- ds.feat pass-throughs ---------------------------------------------------------------------


def test_accessor_passes_through_to_the_functions(ds):
    before = ds.copy(deep=True)
    xr.testing.assert_identical(
        ds.feat.smooth("median", window=3), analysis.smooth(ds, "median", window=3)
    )
    xr.testing.assert_identical(ds.feat.resample(samples=3), analysis.resample(ds, samples=3))
    xr.testing.assert_identical(ds.feat.baseline("mean"), analysis.baseline(ds, "mean"))
    xr.testing.assert_identical(ds.feat.summary("aus"), analysis.summary(ds, "aus"))
    assert ds.feat.quality_report() == analysis.quality_report(ds)
    assert ds.identical(before)


def test_docstring_examples_run():
    modules = ("regression", "ttests", "multivariate", "descriptive")
    for module in ("_core", "timeseries", "events", *modules, "wavelets", "quality", "__init__"):
        name = "featx.analysis" + ("" if module == "__init__" else f".{module}")
        result = doctest.testmod(
            importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE
        )
        assert result.failed == 0, name
        assert result.attempted > 0, name


# --- properties --------------------------------------------------------------------------------


@st.composite
def datasets(draw):
    """1-2 sources of 2-30 frames at 25 fps, 0-2 faces per frame, random values."""
    n_sources = draw(st.integers(1, 2))
    lengths = [draw(st.integers(2, 30)) for _ in range(n_sources)]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    frames, source, index, time = [], [], [], []
    for s, n in enumerate(lengths):
        for i in range(n):
            k = int(rng.choice([0, 1, 1, 2]))
            values = rng.random((k, 2))
            values[rng.random((k, 2)) < 0.1] = np.nan  # a label missing, not the whole face
            frames.append({"aus": values})
            source.append(f"v{s}.mp4")
            index.append(i)
            time.append(i / FPS)
    return schema.from_frames(
        frames,
        source,
        index,
        time,
        labels={"au": ("AU06", "AU12")},
        var_attrs={"aus": {"kind": "probability"}},
    )


def assert_same_coords(a, b):
    xr.testing.assert_identical(a.coords.to_dataset(), b.coords.to_dataset())


def assert_finite_kept(out, ds):
    """Finite values stay finite and NaN stays NaN (same mask)."""
    assert np.array_equal(np.isfinite(out["aus"].values), np.isfinite(ds["aus"].values))


PROPERTY = settings(max_examples=25, deadline=None)


@PROPERTY
@given(
    datasets(),
    st.sampled_from(
        [
            ("mean", {}),
            ("median", {"window": 4}),
            ("savgol", {"window": 5}),
            ("butter", {"cutoff": 5.0}),
            ("exponential", {"alpha": 0.5}),
        ]
    ),
)
def test_property_smoothing_keeps_coords_and_finiteness(ds, method):
    name, kwargs = method
    out = analysis.smooth(ds, name, **kwargs)
    assert_same_coords(out, ds)
    assert_finite_kept(out, ds)


@PROPERTY
@given(datasets(), st.sampled_from([("median", None), ("mean", None), ("first", None)]))
def test_property_baselining_keeps_coords_and_finiteness(ds, args):
    out = analysis.baseline(ds, *args)
    assert_same_coords(out, ds)
    assert_finite_kept(out, ds)


@PROPERTY
@given(datasets(), st.integers(1, 6))
def test_property_resampling_nan_only_for_bins_without_values(ds, k):
    out = analysis.resample(ds, samples=k)
    assert set(out.coords) == set(ds.coords)
    assert out.sizes["face"] == ds.sizes["face"] and list(out["au"].values) == ["AU06", "AU12"]
    for source in np.unique(ds["source"].values):
        x = ds["aus"].values[ds["source"].values == source]
        got = out["aus"].values[out["source"].values == source]
        bins = np.arange(len(x)) // k
        anything = np.stack([np.isfinite(x[bins == b]).any(axis=0) for b in np.unique(bins)])
        assert np.array_equal(np.isfinite(got), anything)


@PROPERTY
@given(datasets(), st.sampled_from([5.0, 12.5, 50.0]))
def test_property_resampling_by_rate_keeps_coords_and_sources(ds, hz):
    out = analysis.resample(ds, hz=hz)
    assert set(out.coords) == set(ds.coords)
    assert list(pd.unique(out["source"].values)) == list(pd.unique(ds["source"].values))
    assert np.isfinite(out["time"].values).all()
