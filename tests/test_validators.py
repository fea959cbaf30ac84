"""featx.validators: one wording for every option check, and the modules that use it."""

import math

import numpy as np
import pytest

from featx import validators
from featx.analysis import AnalysisError


@pytest.mark.parametrize("value", [0, 0.0, 1, 0.25, np.float32(0.5)])
def test_unit_interval_accepts_numbers_in_range(value):
    out = validators.unit_interval("t", value)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, True, "0.5", None])
def test_unit_interval_refuses_and_names_the_option(value):
    with pytest.raises(ValueError, match=r"^t must be a number in \[0, 1\], got "):
        validators.unit_interval("t", value)


@pytest.mark.parametrize("value", [2.0, True, "3", 0])
def test_integer_refuses_non_integers_and_small_values(value):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        validators.integer("n", value)


def test_integer_returns_python_int():
    out = validators.integer("n", np.int64(3), least=0)
    assert out == 3 and type(out) is int


def test_choice_uses_the_callers_error_type():
    with pytest.raises(AnalysisError, match="mode must be one of 'a', 'b'; got 'c'"):
        validators.choice("mode", "c", ("a", "b"), AnalysisError)


def test_media_and_io_use_the_same_wording(tmp_path):
    from featx import media, schema
    from featx.io import save

    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        media.iter_frames(np.zeros((2, 4, 4, 3), np.uint8), batch_size=0)
    ds = schema.from_frames([{}], ["a.png"], [0], [np.nan])
    with pytest.raises(ValueError, match="engine must be one of 'netcdf4', 'zarr'; got 'x'"):
        save(ds, tmp_path / "a.nc", engine="x")
