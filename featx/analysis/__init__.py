"""Analysis of featx Datasets: plain functions that take and return xarray objects.

Nothing here modifies its input, and frames without a face stay NaN without breaking any
computation. Each function is also available as ``ds.feat.<name>(...)``.

- Study metadata: :func:`annotate`.
- Time series (per source, along ``time``, or the frame index without time): :func:`smooth`,
  :func:`resample`, :func:`baseline`, :func:`clean`.
- Events (BIDS-style tables): :func:`check_events`, :func:`epochs`, :func:`design_matrix`.
- Regression (``regression``): :func:`regress`, :func:`regress_mixed`,
  :func:`regress_two_level`.
- t-tests (``ttests``): :func:`ttest_1samp`, :func:`ttest_ind`.
- Multivariate (``multivariate``): :func:`isc`, :func:`distance`, :func:`decompose`.
- Descriptive (``descriptive``): :func:`summary`, :func:`occurrence`.
- Time-frequency features: :func:`morlet`, :func:`wavelet`, :func:`multi_wavelet`, :func:`boft`.
- Quality control: :func:`box_jumps`, :func:`quality`, :func:`quality_report`.

Examples
--------
>>> import numpy as np
>>> from featx import schema, analysis
>>> frames = [{"valence": np.array([v])} for v in (0.1, 0.2, np.nan, 0.4)]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 4, range(4), [0.0, 0.1, 0.2, 0.3])
>>> analysis.baseline(ds, "first")["valence"].values.ravel().round(2).tolist()
[0.0, 0.1, nan, 0.3]
"""

from featx.analysis._core import MEASURES, AnalysisError, AnalysisWarning
from featx.analysis.descriptive import occurrence, summary
from featx.analysis.events import EventsError, check_events, design_matrix, epochs
from featx.analysis.multivariate import decompose, distance, isc
from featx.analysis.quality import box_jumps, quality, quality_report
from featx.analysis.regression import regress, regress_mixed, regress_two_level
from featx.analysis.timeseries import annotate, baseline, clean, resample, smooth
from featx.analysis.ttests import ttest_1samp, ttest_ind
from featx.analysis.wavelets import boft, morlet, multi_wavelet, signed_areas, wavelet

__all__ = [
    "MEASURES",
    "AnalysisError",
    "AnalysisWarning",
    "EventsError",
    "annotate",
    "baseline",
    "boft",
    "box_jumps",
    "check_events",
    "clean",
    "decompose",
    "design_matrix",
    "distance",
    "epochs",
    "isc",
    "morlet",
    "multi_wavelet",
    "occurrence",
    "quality",
    "quality_report",
    "regress",
    "regress_mixed",
    "regress_two_level",
    "resample",
    "signed_areas",
    "smooth",
    "summary",
    "ttest_1samp",
    "ttest_ind",
    "wavelet",
]
