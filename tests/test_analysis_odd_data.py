"""Every analysis on odd data: a documented result or a clear AnalysisError, never a raw one.

The table below pins, for each odd Dataset (an all-NaN column, a single frame, a video frame
listed twice, time going backwards, a face slot that is always empty) and each public function
of ``featx.analysis``, which of the two it is. docs/reliability.md lists the same table.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from analysis_data import EVENTS, annotated

from featx import analysis as A
from featx.analysis import AnalysisError

EMPTY_AU = "AU06"


@functools.cache
def _session() -> xr.Dataset:
    return annotated(lengths=(45, 45, 40, 40), missing=0.1, second_face=(10, 25))


def _base() -> xr.Dataset:
    return _session().copy(deep=True)


def all_nan() -> xr.Dataset:
    """AU06 and valence have no value anywhere (a model that never ran for them)."""
    ds = _base()
    ds["aus"].loc[{"au": EMPTY_AU}] = np.nan
    ds["valence"][:] = np.nan
    return ds


def single_frame() -> xr.Dataset:
    return _base().isel(frame=[0])


def repeated_frame() -> xr.Dataset:
    """Frames 5-14 of s1.mp4 all claim to be its frame 5 (same source_frame and time)."""
    ds = _base()
    index, time = ds["source_frame"].values.copy(), ds["time"].values.copy()
    index[5:15], time[5:15] = index[5], time[5]
    return ds.assign_coords(source_frame=("frame", index), time=("frame", time))


def time_backwards() -> xr.Dataset:
    """s1.mp4's clock jumps back 1 s at its frame 30 (its frames stay in order)."""
    ds = _base()
    time = ds["time"].values.copy()
    time[30:45] -= 1.0
    return ds.assign_coords(time=("frame", time))


def empty_slot() -> xr.Dataset:
    """Face slot 1 exists but no face is ever in it."""
    ds = _base()
    for var in ds.data_vars.values():
        if "face" in var.dims and var.dtype.kind == "f":
            var[{"face": 1}] = np.nan
    return ds


CASES = {
    "all_nan": all_nan,
    "single_frame": single_frame,
    "repeated_frame": repeated_frame,
    "time_backwards": time_backwards,
    "empty_slot": empty_slot,
}

CALLS = {
    "smooth": lambda ds: A.smooth(ds),
    "smooth_savgol": lambda ds: A.smooth(ds, "savgol", window=5, polyorder=2),
    "smooth_butter": lambda ds: A.smooth(ds, "butter", cutoff=4.0),
    "resample": lambda ds: A.resample(ds, hz=5),
    "baseline": lambda ds: A.baseline(ds, "median"),
    "baseline_first_pct": lambda ds: A.baseline(ds, "first", "pct"),
    "clean": lambda ds: A.clean(ds),
    "check_events": lambda ds: A.check_events(EVENTS, ds),
    "epochs": lambda ds: A.epochs(ds, EVENTS, -0.2, 0.4),
    "design_matrix": lambda ds: A.design_matrix(ds, EVENTS),
    "regress": lambda ds: A.regress(ds, A.design_matrix(ds, EVENTS)),
    "regress_mixed": lambda ds: A.regress_mixed(ds, A.design_matrix(ds, EVENTS)),
    "regress_two_level": lambda ds: A.regress_two_level(ds, A.design_matrix(ds, EVENTS)),
    "ttest_1samp": lambda ds: A.ttest_1samp(ds),
    "ttest_ind": lambda ds: A.ttest_ind(ds),
    "isc": lambda ds: A.isc(ds),
    "distance": lambda ds: A.distance(ds),
    "decompose": lambda ds: A.decompose(ds),
    "summary": lambda ds: A.summary(ds),
    "occurrence": lambda ds: A.occurrence(ds),
    "wavelet": lambda ds: A.wavelet(ds, 2.0),
    "multi_wavelet": lambda ds: A.multi_wavelet(ds),
    "boft": lambda ds: A.boft(ds),
    "box_jumps": lambda ds: A.box_jumps(ds),
    "quality": lambda ds: A.quality(ds),
    "quality_report": lambda ds: A.quality_report(ds),
}

NO_RATE = "has 1 frame\\(s\\) and no increasing time: its sampling rate is undefined"
#: (case, function) -> the AnalysisError message; every other pair gives a result.
ERRORS = {
    ("all_nan", "decompose"): r"0 complete observation.*au \['AU06'\] never have a value",
    ("single_frame", "epochs"): NO_RATE,
    ("single_frame", "smooth_butter"): None,  # fewer frames than the filter: returned as is
    ("single_frame", "wavelet"): NO_RATE,
    ("single_frame", "multi_wavelet"): NO_RATE,
    ("single_frame", "boft"): NO_RATE,
    ("single_frame", "regress_two_level"): "at least two 'source' groups",
    ("single_frame", "ttest_ind"): "'condition' has 1 values",
    ("single_frame", "decompose"): "1 complete observation",
}
for _name in CALLS:
    ERRORS[("repeated_frame", _name)] = (
        r"source 's1.mp4': source_frame 5 appears on 10 frames \(positions \[5, 6, .* 14\]"
    )
    ERRORS[("time_backwards", _name)] = (
        r"source 's1.mp4': time goes backwards at source_frame 30 \(0.2 s after 1.16 s"
    )
ERRORS = {k: v for k, v in ERRORS.items() if v is not None}
# Events are checked against the Dataset's time span only, not its frames.
for _case in ("repeated_frame", "time_backwards"):
    del ERRORS[(_case, "check_events")]


def _arrays(result) -> list[xr.DataArray]:
    if isinstance(result, xr.Dataset):
        return list(result.data_vars.values())
    return [result] if isinstance(result, xr.DataArray) else []


#: Counts, not estimates: they stay finite (0) where there is nothing to estimate.
COUNTS = ("n", "df", "frames", "frames_with_face", "max_faces", "face_fraction")


def check_all_nan(result, name: str) -> None:
    """Results for AU06 and valence are NaN; AU01 still has values."""
    for arr in _arrays(result):
        if arr.dtype.kind != "f" or arr.name in COUNTS:
            continue
        label = next((d for d in arr.dims if d in ("au",)), None)
        if label is not None:
            assert arr.sel({label: EMPTY_AU}).isnull().all(), (name, arr.name)
            assert arr.sel({label: "AU01"}).notnull().any(), (name, arr.name)
        elif arr.name == "valence":
            assert arr.isnull().all(), (name, arr.name)


def check_empty_slot(result, name: str) -> None:
    """Face slot 1's results are NaN (jumps: none); slot 0's are not."""
    for arr in _arrays(result):
        if "face" not in arr.dims or arr.name in COUNTS:
            continue
        if arr.dtype.kind == "b":
            assert not arr.sel(face=1).any(), (name, arr.name)
        elif arr.dtype.kind == "f":
            assert arr.sel(face=1).isnull().all(), (name, arr.name)
            assert arr.sel(face=0).notnull().any(), (name, arr.name)


def check_single_frame(result, name: str, ds: xr.Dataset) -> None:
    """Filters return the frame unchanged; estimates from one frame are NaN."""
    if name.startswith(("smooth", "clean", "resample")) and name != "clean":
        kept = result["aus"].values
        np.testing.assert_allclose(kept, ds["aus"].values)
    if name in ("regress", "regress_mixed"):
        assert result["beta"].isnull().all() and (result["n"] <= 1).all()
    if name == "summary":
        np.testing.assert_allclose(
            result["mean"].sel(source="s1.mp4").values, ds["aus"].isel(frame=0).values
        )
        assert result["std"].isnull().all()


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("case", list(CASES))
def test_odd_data_gives_a_documented_result_or_a_clear_error(case, name):
    ds = CASES[case]()
    before = ds.copy(deep=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if (case, name) in ERRORS:
            with pytest.raises(AnalysisError, match=ERRORS[(case, name)]):
                CALLS[name](ds)
            return
        result = CALLS[name](ds)
    xr.testing.assert_identical(ds, before)  # never modifies its input
    # NumPy's / SciPy's "mean of empty slice" style warnings do not reach the user
    raw = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not raw, [str(w.message) for w in raw]
    assert isinstance(result, xr.Dataset | xr.DataArray | pd.DataFrame | str)
    if case == "all_nan":
        check_all_nan(result, name)
    elif case == "empty_slot":
        check_empty_slot(result, name)
    elif case == "single_frame":
        check_single_frame(result, name, ds)


def test_regress_mixed_gives_nan_and_a_warning_where_the_design_is_rank_deficient():
    """The second face exists only during the first trial: its design lacks the second one."""
    ds = _base()
    with pytest.warns(A.AnalysisWarning, match="rank-deficient design"):
        fit = A.regress_mixed(ds, A.design_matrix(ds, EVENTS))
    assert fit["beta"].sel(face=1).isnull().all()
    assert fit["beta"].sel(face=0).notnull().all()
