"""featx.analysis statistics and wavelets, each against statsmodels / scipy / scikit-learn or a
hand computation on data the test makes (NaN frames included)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr
from analysis_data import AUS, EVENTS, FPS, annotated, boxcar, series
from scipy import signal, stats
from scipy.integrate import simpson
from sklearn.decomposition import PCA, FactorAnalysis, FastICA
from sklearn.metrics import pairwise_distances

from featx import analysis, schema
from featx.analysis import AnalysisError

TOL = 1e-8
SOURCES = ("s1.mp4", "s2.mp4", "s3.mp4", "s4.mp4")


@pytest.fixture(scope="module")
def ds():
    return annotated(signal=boxcar, second_face=(5, 45))


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL)


# --- regression --------------------------------------------------------------------------------


def test_regress_equals_statsmodels_ols_per_face_and_label(ds):
    X = analysis.design_matrix(ds, EVENTS)
    fit = analysis.regress(ds, X, "aus")
    assert fit["beta"].dims == ("face", "regressor", "au")
    assert fit["regressor"].values.tolist() == ["joke", "cue", "intercept"]
    design = sm.add_constant(X.to_numpy(), prepend=False)
    for face in (0, 1):
        for label in AUS:
            y = ds["aus"].sel(face=face, au=label).values.astype(np.float64)
            ok = np.isfinite(y)
            ref = sm.OLS(y[ok], design[ok]).fit()
            got = fit.sel(face=face, au=label)
            close(got["beta"], ref.params)
            close(got["se"], ref.bse)
            close(got["t"], ref.tvalues)
            close(got["p"], ref.pvalues)
            assert got["df"] == ref.df_resid and got["n"] == ok.sum()
    assert float(fit["beta"].sel(face=0, au="AU12", regressor="joke")) > 0.2  # the signal


def test_regress_accepts_events_and_time_indexed_designs(ds):
    X = analysis.design_matrix(ds, EVENTS)
    xr.testing.assert_identical(analysis.regress(ds, EVENTS, "aus"), analysis.regress(ds, X, "aus"))
    one = ds.where(ds["source"] == "s1.mp4", drop=True)
    by_time = X.loc[one["frame"].values].set_index(one["time"].values).rename_axis("time")
    by_frame = X.loc[one["frame"].values]
    xr.testing.assert_identical(
        analysis.regress(one, by_time, "valence"), analysis.regress(one, by_frame, "valence")
    )
    fit = analysis.regress(ds, X[["joke"]], "valence", intercept=False)
    y = ds["valence"].sel(face=0).values.astype(np.float64)
    ok = np.isfinite(y)
    close(fit["t"].sel(face=0), sm.OLS(y[ok], X[["joke"]].to_numpy()[ok]).fit().tvalues)


def test_regress_rejects_misaligned_designs(ds):
    X = analysis.design_matrix(ds, EVENTS)
    with pytest.raises(AnalysisError, match=r"no row for 20 frame\(s\)"):
        analysis.regress(ds, X.iloc[20:], "aus")
    with pytest.raises(AnalysisError, match="it has 215 rows, the Dataset 220 frames"):
        analysis.regress(ds, X.reset_index(drop=True).iloc[5:].reset_index(drop=True), "aus")
    with pytest.raises(AnalysisError, match="index the design by 'frame'"):
        analysis.regress(ds, X.set_axis(X.index + 1000).rename_axis("trial"), "aus")
    with pytest.raises(AnalysisError, match="must be numeric"):
        analysis.regress(ds, X.assign(label="x"), "aus")
    with pytest.raises(AnalysisError, match="no variable 'blendshapes'"):
        analysis.regress(ds, X, "blendshapes")


def test_regress_mixed_equals_statsmodels_mixedlm(ds):
    X = analysis.design_matrix(ds, EVENTS)
    small = ds.sel(au=["AU12", "AU25"], face=[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on random data
        fit = analysis.regress_mixed(small, X, "aus", groups="subject")
        design = sm.add_constant(X.to_numpy(), prepend=False)
        groups = ds["subject"].values
        for label in ("AU12", "AU25"):
            y = small["aus"].sel(face=0, au=label).values.astype(np.float64)
            ok = np.isfinite(y)
            ref = sm.MixedLM(y[ok], design[ok], groups=groups[ok]).fit(reml=True)
            got = fit.sel(face=0, au=label)
            close(got["beta"], ref.fe_params)
            close(got["se"], ref.bse_fe)
            close(got["z"], ref.tvalues[:3])
            close(got["p"], ref.pvalues[:3])
            close(got["group_var"], np.asarray(ref.cov_re)[0, 0])
    with pytest.raises(AnalysisError, match="groups='site' must be a coordinate along 'frame'"):
        analysis.regress_mixed(small, X, "aus", groups="site")


# --- t-tests -----------------------------------------------------------------------------------


def test_ttest_1samp_equals_scipy_with_nan_omitted(ds):
    res = analysis.ttest_1samp(ds, "aus", popmean=0.3)
    assert res["t"].dims == ("face", "au")
    for face in (0, 1):
        for label in AUS:
            y = ds["aus"].sel(face=face, au=label).values.astype(np.float64)
            ref = stats.ttest_1samp(y[np.isfinite(y)], 0.3)
            got = res.sel(face=face, au=label)
            close(got["t"], ref.statistic)
            close(got["p"], ref.pvalue)
            assert got["df"] == np.isfinite(y).sum() - 1
    # the usual design: one mean per subject, then a test across subjects
    means = analysis.summary(ds, "aus", by="subject", stats=["mean"])["mean"]
    across = analysis.ttest_1samp(means, dim="subject", popmean=0.3)
    ref = stats.ttest_1samp(means.sel(face=0).values, 0.3)
    close(across["t"].sel(face=0), ref.statistic)


@pytest.mark.parametrize("equal_var", [True, False])
def test_ttest_ind_equals_scipy_between_conditions(ds, equal_var):
    res = analysis.ttest_ind(ds, "aus", groups="condition", equal_var=equal_var)
    assert (res.attrs["a"], res.attrs["b"]) == ("a", "b")
    cond = ds["condition"].values
    for label in AUS:
        y = ds["aus"].sel(face=0, au=label).values.astype(np.float64)
        a, b = y[(cond == "a") & np.isfinite(y)], y[(cond == "b") & np.isfinite(y)]
        ref = stats.ttest_ind(a, b, equal_var=equal_var)
        close(res["t"].sel(face=0, au=label), ref.statistic)
        close(res["p"].sel(face=0, au=label), ref.pvalue)
    with pytest.raises(AnalysisError, match="'subject' has 4 values"):
        analysis.ttest_ind(ds, "aus", groups="subject")
    swapped = analysis.ttest_ind(ds, "aus", groups="condition", labels=("b", "a"))
    close(swapped["t"].values, -analysis.ttest_ind(ds, "aus", groups="condition")["t"].values)


# --- similarity --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "reference"),
    [("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)],
)
def test_isc_correlates_sources_on_common_times(ds, method, reference):
    out = analysis.isc(ds, "aus", method=method)
    assert out.dims == ("au", "source_a", "source_b")
    assert out["source_a"].values.tolist() == list(SOURCES)
    for label in AUS:
        for a in SOURCES:
            for b in SOURCES:
                ta, xa = series(ds, "aus", a, 0, label)
                tb, xb = series(ds, "aus", b, 0, label)
                common, ia, ib = np.intersect1d(
                    np.round(ta, 6), np.round(tb, 6), return_indices=True
                )
                x, y = xa[ia], xb[ib]
                ok = np.isfinite(x) & np.isfinite(y)
                expected = reference(x[ok], y[ok])[0]
                close(out.sel(au=label, source_a=a, source_b=b), expected)
    # the shared boxcar makes AU12 correlate across subjects
    assert float(out.sel(au="AU12", source_a="s1.mp4", source_b="s2.mp4")) > 0.3


def test_distance_equals_sklearn_between_frames_and_profiles(ds):
    out = analysis.distance(ds, "aus", metric="cityblock")
    assert out.dims == ("frame", "frame_b")
    X = ds["aus"].sel(face=0).values.astype(np.float64)
    ok = np.isfinite(X).all(axis=1)
    close(out.values[np.ix_(ok, ok)], pairwise_distances(X[ok], metric="cityblock"))
    assert np.isnan(out.values[~ok]).all() and np.isnan(out.values[:, ~ok]).all()
    means = analysis.summary(ds, "aus", stats=["mean"])["mean"]
    profile = analysis.distance(means, dim="source", metric="cosine")
    close(profile.values, pairwise_distances(means.sel(face=0).values, metric="cosine"))


# --- decomposition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "estimator", "kwargs"),
    [
        ("pca", PCA, {}),
        ("fa", FactorAnalysis, {"random_state": 0}),
        ("ica", FastICA, {"random_state": 0, "whiten": "unit-variance"}),
    ],
)
def test_decompose_equals_sklearn_on_complete_rows(ds, method, estimator, kwargs):
    out = analysis.decompose(ds, "aus", method=method, n_components=3, **kwargs)
    X = ds["aus"].transpose("frame", "face", "au").values.astype(np.float64).reshape(-1, 4)
    ok = np.isfinite(X).all(axis=1)
    ref = estimator(n_components=3, **kwargs)
    scores = ref.fit_transform(X[ok])
    got = out["scores"].values.reshape(-1, 3)
    close(got[ok], scores)
    assert np.isnan(got[~ok]).all()
    close(out["loadings"].values, ref.components_)
    assert out["loadings"].dims == ("component", "au")
    assert out["component"].values.tolist() == ["c1", "c2", "c3"]


def test_decompose_keeps_every_component_by_default(ds):
    out = analysis.decompose(ds, "emotions")
    assert out.sizes["component"] == 7
    assert float(out["explained_variance_ratio"].sum()) == pytest.approx(1.0)
    with pytest.raises(AnalysisError, match="method must be one of"):
        analysis.decompose(ds, method="svd")


# --- summaries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["source", "subject", "condition"])
def test_summary_equals_pandas_groupby(ds, by):
    out = analysis.summary(ds, "aus", by=by, stats=["count", "mean", "std", "sem", "min", "max"])
    assert out["mean"].dims == (by, "face", "au")
    for face in (0, 1):
        frame = pd.DataFrame(ds["aus"].sel(face=face).values.astype(np.float64), columns=AUS)
        groups = frame.groupby(ds[by].values, sort=False)
        for stat in ("count", "mean", "std", "sem", "min", "max"):
            expected = getattr(groups, stat)()
            got = out[stat].sel(face=face).to_pandas()
            close(got.loc[expected.index, list(AUS)].to_numpy(), expected.to_numpy())


def test_summary_over_all_frames_and_over_epochs(ds):
    whole = analysis.summary(ds, "valence", by=None, stats=["mean"])
    close(whole["mean"].values, np.nanmean(ds["valence"].values.astype(np.float64), axis=0))
    ep = analysis.epochs(ds, EVENTS, -0.2, 0.4, variables="aus")
    per_type = analysis.summary(ep, "aus", by="trial_type", dim="epoch", stats=["mean"])
    assert per_type["mean"].dims == ("trial_type", "lag", "face", "au")
    joke = ep["aus"].values[ep["trial_type"].values == "joke"].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # face 1 is empty at some lags
        expected = np.nanmean(joke, axis=0)
    close(per_type["mean"].sel(trial_type="joke").values, expected)


def test_occurrence_is_the_share_of_frames_with_a_face_above_threshold(ds):
    out = analysis.occurrence(ds, "aus", threshold=0.4)
    for source in SOURCES:
        for face in (0, 1):
            for label in AUS:
                _, x = series(ds, "aus", source, face, label)
                x = pd.Series(x).dropna()
                close(out.sel(source=source, face=face, au=label), (x > 0.4).mean())


# --- wavelets and BOFT -------------------------------------------------------------------------


def test_morlet_matches_its_formula_by_hand():
    w = analysis.morlet(1.0, num_cyc=1, sampling_freq=4.0)
    # t = -1, -0.75, ..., 0.75 s; sigma = 1 / (2 pi); w(0.25) = i * exp(-0.0625 * 2 pi^2)
    assert len(w) == 8 and w[4] == 1
    assert w[5] == pytest.approx(1j * np.exp(-0.0625 * 2 * np.pi**2), abs=1e-12)
    assert w[6] == pytest.approx(-np.exp(-0.25 * 2 * np.pi**2), abs=1e-12)


def impulse_session(n=40, at=20, fps=10.0):
    frames = [{"valence": np.array([1.0 if i == at else 0.0])} for i in range(n)]
    return schema.from_frames(frames, ["a.mp4"] * n, range(n), np.arange(n) / fps)


def test_wavelet_of_an_impulse_is_the_centred_kernel():
    ds = impulse_session()
    out = analysis.wavelet(ds, 1.0, num_cyc=2, variables="valence")
    w = analysis.morlet(1.0, 2, 10.0)  # 40 taps; "same" keeps full[(40 - 1) // 2 :]
    got = out["valence"].values[:, 0]
    for k in range(len(w)):
        i = 20 + k - (len(w) - 1) // 2
        if 0 <= i < 40:
            assert got[i] == pytest.approx(w[k], abs=1e-12)
    power = analysis.wavelet(ds, 1.0, num_cyc=2, mode="power", variables="valence")
    close(power["valence"].values[:, 0], np.abs(got) ** 2)
    phase = analysis.wavelet(ds, 1.0, num_cyc=2, mode="phase", variables="valence")
    close(phase["valence"].values[:, 0], np.angle(got))
    assert out.attrs == {"freq": 1.0, "num_cyc": 2.0, "mode": "complex"}


def test_wavelet_convolves_each_source_with_nan_frames_kept(ds):
    out = analysis.wavelet(ds, 2.0, mode="filtered", variables="aus")
    kernel = analysis.morlet(2.0, 3, FPS)
    for source in SOURCES:
        t, x = series(ds, "aus", source, 0, "AU12")
        ok = np.isfinite(x)
        expected = np.real(signal.convolve(np.interp(t, t[ok], x[ok]), kernel, mode="same"))
        _, got = series(out, "aus", source, 0, "AU12")
        close(got[ok], expected[ok])
        assert np.isnan(got[~ok]).all()
    with pytest.raises(AnalysisError, match="not below the Nyquist frequency 12.5"):
        analysis.wavelet(ds, 20.0)


def test_multi_wavelet_peaks_at_the_signal_frequency():
    t = np.arange(200) / 20
    frames = [{"valence": np.array([0.5 * np.sin(2 * np.pi * 1.0 * x)])} for x in t]
    ds = schema.from_frames(frames, ["a.mp4"] * 200, range(200), t)
    out = analysis.multi_wavelet(ds, 0.25, 4.0, 5, mode="magnitude", variables="valence")
    assert out["freq"].values.tolist() == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0])
    middle = out["valence"].isel(frame=100, face=0)
    assert int(middle.argmax("freq")) == 2
    close(
        middle.sel(freq=1.0),
        np.abs(analysis.wavelet(ds, 1.0, variables="valence")["valence"][100, 0]),
    )


def test_signed_areas_by_hand():
    pos, neg = analysis.signed_areas(np.array([1.0, 4.0, 1.0, -2.0, -2.0, 0.0, 3.0, 3.0, -1.0]))
    # runs: [1, 4, 1] Simpson (1 + 16 + 1) / 3 = 6; [-2, -2] trapezoid 2; [3, 3] trapezoid 3;
    # [-1] one sample, area 0
    assert pos.tolist() == [6.0, 3.0] and neg.tolist() == [2.0, 0.0]


def boft_by_hand(x, fs, freqs, num_cyc=3):
    x = x[np.flatnonzero(np.isfinite(x))[0] : np.flatnonzero(np.isfinite(x))[-1] + 1]
    ok = np.isfinite(x)
    x = np.interp(np.arange(len(x)), np.flatnonzero(ok), x[ok])
    edges = np.logspace(0, 5, 7)
    rows = []
    for f in freqs:
        sigma = num_cyc / (2 * np.pi * f)
        t = np.arange(-num_cyc / f, num_cyc / f, 1 / fs)
        kernel = np.real(np.exp(2j * np.pi * f * t) * np.exp(-(t**2) / (2 * sigma**2)))
        y = np.convolve(x, kernel)
        s = y * np.abs(y)
        pos, neg, run = [], [], [s[0]]
        for value in s[1:]:
            if np.sign(value) == np.sign(run[-1]):
                run.append(value)
                continue
            (pos if run[0] > 0 else neg if run[0] < 0 else []).append(abs(simpson(run)))
            run = [value]
        (pos if run[0] > 0 else neg if run[0] < 0 else []).append(abs(simpson(run)))
        rows.append([np.histogram(pos, edges)[0], np.histogram(neg, edges)[0]])
    return np.array(rows, dtype=np.float64)


def test_boft_matches_the_documented_recipe(ds):
    out = analysis.boft(ds, "aus", 0.5, 4.0, 4)
    assert out.dims == ("source", "face", "au", "freq", "polarity", "bin")
    freqs = np.geomspace(0.5, 4.0, 4)[::-1]
    np.testing.assert_allclose(out["freq"].values, freqs)
    assert out["polarity"].values.tolist() == ["pos", "neg"]
    np.testing.assert_allclose(out["bin_low"].values, np.logspace(0, 5, 7)[:-1])
    counted = 0
    for source in SOURCES:
        for face in (0, 1):
            for label in AUS:
                _, x = series(ds, "aus", source, face, label)
                expected = boft_by_hand(x, FPS, freqs)
                got = out.sel(source=source, face=face, au=label).values
                np.testing.assert_array_equal(got, expected)
                counted += expected.sum()
    assert counted > 100


def test_boft_of_an_empty_face_slot_is_nan():
    frames = [
        {"valence": np.array([0.5 * np.sin(i / 3), 0.1])}
        if i < 5
        else {"valence": np.array([0.5 * np.sin(i / 3)])}
        for i in range(60)
    ]
    ds = schema.from_frames(
        frames * 2, ["a"] * 60 + ["b"] * 60, list(range(60)) * 2, list(np.arange(60) / 10) * 2
    )
    ds = ds.where(~((ds["source"] == "b") & (ds["face"] == 1)))
    out = analysis.boft(ds, "valence", 0.2, 1.0, 2)
    assert np.isnan(out.sel(source="b", face=1)).all()
    assert np.isfinite(out.sel(source="a")).all()
