"""featx.analysis.regress: designs matched by frame, time or position; one least-squares call
per missingness pattern, equal to statsmodels OLS; what was regressed kept in attrs."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.tools.tools as sm_tools
import xarray as xr
from analysis_data import AUS, EVENTS, annotated, boxcar

from featx import analysis
from featx.analysis import AnalysisError

TOL = 1e-8


@pytest.fixture(scope="module")
def ds():
    return annotated(signal=boxcar, second_face=(5, 45))


@pytest.fixture(scope="module")
def X(ds):
    return analysis.design_matrix(ds, EVENTS)


# --- positional designs --------------------------------------------------------------------------


def test_a_positional_design_matches_frames_by_position(ds, X):
    part = ds.isel(frame=slice(60, 170))  # frame coordinate 60..169: labels differ from positions
    by_frame = analysis.regress(part, X.loc[60:169], "aus")
    positional = X.loc[60:169].reset_index(drop=True)
    assert isinstance(positional.index, pd.RangeIndex)
    xr.testing.assert_identical(analysis.regress(part, positional, "aus"), by_frame)
    array = analysis.regress(part, X.loc[60:169].to_numpy(), "aus")
    assert array["regressor"].values.tolist() == ["x0", "x1", "intercept"]
    np.testing.assert_array_equal(array["beta"].values, by_frame["beta"].values)
    one = analysis.regress(part, X.loc[60:169, "joke"].to_numpy(), "aus")  # 1-D: one regressor
    assert one["regressor"].values.tolist() == ["x0", "intercept"]


def test_a_positional_design_of_another_length_shows_both_lengths(ds, X):
    with pytest.raises(AnalysisError, match="it has 219 rows, the Dataset 220 frames"):
        analysis.regress(ds, X.to_numpy()[1:], "aus")
    with pytest.raises(AnalysisError, match="it has 100 rows, the Dataset 220 frames"):
        analysis.regress(ds, X.iloc[:100].reset_index(drop=True), "aus")


def test_an_index_naming_frames_not_in_the_dataset_is_refused(ds, X):
    part = ds.isel(frame=slice(0, 60))
    with pytest.raises(AnalysisError, match=r"names 160 frame\(s\) that are not in the Dataset"):
        analysis.regress(part, X, "aus")
    unnamed = X.loc[60:169].rename_axis(None)  # frame labels without the index name
    xr.testing.assert_identical(
        analysis.regress(ds.isel(frame=slice(60, 170)), unnamed, "aus"),
        analysis.regress(ds.isel(frame=slice(60, 170)), X.loc[60:169], "aus"),
    )
    with pytest.raises(AnalysisError, match="not in the Dataset"):
        analysis.regress(ds, X.set_axis([f"f{i}" for i in range(len(X))]), "aus")


def test_a_repeated_frame_is_an_analysis_error_naming_it(ds, X):
    doubled = pd.concat([X, X.iloc[[3, 7]]])
    with pytest.raises(AnalysisError, match=r"repeats 2 value\(s\), e.g. \[3, 7\]"):
        analysis.regress(ds, doubled, "aus")
    by_time = X.set_axis(ds["time"].values).rename_axis("time")  # 4 sources: times repeat
    with pytest.raises(AnalysisError, match="repeats"):
        analysis.regress(ds, by_time, "aus")


# --- batched least squares -----------------------------------------------------------------------


def holey(ds, X, seed=1):
    """``ds`` with random single labels missing (so labels differ in missingness) and a design
    with a few NaN rows."""
    rng = np.random.default_rng(seed)
    aus = ds["aus"].values.astype(np.float64)
    aus[rng.random(aus.shape) < 0.15] = np.nan
    aus[:, :, 3] = aus[:, :, 2]  # AU25 shares AU12's missing frames (and values)
    design = X.copy()
    design.iloc[rng.choice(len(X), 6, replace=False), 1] = np.nan
    return ds.assign(aus=ds["aus"].copy(data=aus)), design


def test_batched_ols_equals_statsmodels_with_missing_values(ds, X):
    data, design = holey(ds, X)
    fit = analysis.regress(data, design, "aus")
    exog = sm.add_constant(design.to_numpy(), prepend=False)
    for face in (0, 1):
        for label in AUS:
            y = data["aus"].sel(face=face, au=label).values.astype(np.float64)
            ok = np.isfinite(y) & np.isfinite(exog).all(axis=1)
            got = fit.sel(face=face, au=label)
            assert int(got["n"]) == ok.sum()
            if ok.sum() <= 3:
                assert np.isnan(got["beta"]).all()
                continue
            ref = sm.OLS(y[ok], exog[ok]).fit()
            np.testing.assert_allclose(got["beta"], ref.params, rtol=0, atol=TOL)
            np.testing.assert_allclose(got["se"], ref.bse, rtol=0, atol=TOL)
            np.testing.assert_allclose(got["t"], ref.tvalues, rtol=0, atol=TOL)
            np.testing.assert_allclose(got["p"], ref.pvalues, rtol=0, atol=TOL)
            assert float(got["df"]) == ref.df_resid


def test_one_least_squares_call_per_missingness_pattern(ds, X, monkeypatch):
    calls = []
    original = sm_tools.pinv_extended

    def counting(x, *args, **kwargs):
        calls.append(x.shape)
        return original(x, *args, **kwargs)

    monkeypatch.setattr(sm_tools, "pinv_extended", counting)
    analysis.regress(ds, X, "aus")  # whole frames missing: one pattern per face slot
    assert len(calls) == 2
    calls.clear()
    data, design = holey(ds, X)
    analysis.regress(data, design, "aus")
    assert len(calls) == 2 * (len(AUS) - 1)  # AU12 and AU25 share their pattern


def test_the_result_records_what_was_regressed(ds, X):
    fit = analysis.regress(ds, X, "aus")
    assert fit.attrs == {
        "model": "ols",
        "variable": "aus",
        "kind": "probability",
        "detector": "test",
    }
    plain = analysis.regress(ds.drop_attrs(), X, "valence")
    assert plain.attrs == {"model": "ols", "variable": "valence", "kind": "", "detector": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on random data
        mixed = analysis.regress_mixed(ds.sel(face=[0], au=["AU12"]), X, "aus", groups="subject")
    assert mixed.attrs["model"] == "mixedlm" and mixed.attrs["groups"] == "subject"
    assert mixed.attrs["detector"] == "test"
