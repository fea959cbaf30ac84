"""``ds.feat``: a stateless table of one-line pass-throughs to featx's plain functions.

The accessor keeps no state and never writes into the Dataset (xarray rebuilds accessors
freely). Every method calls a function that also exists on its own; that function is the
single source of truth.

Examples
--------
>>> import featx, numpy as np
>>> ds = featx.schema.from_frames([{"face_score": np.array([0.9])}], ["a.png"], [0], [np.nan])
>>> ds.feat.validate()
"""

from __future__ import annotations

import json

import xarray as xr


@xr.register_dataset_accessor("feat")
class FeatAccessor:
    """Face-analysis methods on a featx Dataset (``ds.feat.<name>``)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def __repr__(self) -> str:
        ds = self._ds
        lines = [
            f"<featx accessor: {ds.sizes.get('frame', 0)} frames x {ds.sizes.get('face', 0)} "
            f"face slots>",
            f"  detector:  {ds.attrs.get('detector', 'unknown')}",
            f"  variables: {', '.join(ds.data_vars) or 'none'}",
        ]
        try:
            models = json.loads(ds.attrs.get("models", "{}"))
        except json.JSONDecodeError:
            models = {}
        for stage, info in models.items():
            name = info.get("name", info) if isinstance(info, dict) else info
            lines.append(f"  {stage + ':':<10} {name}")
        return "\n".join(lines)

    def validate(self) -> None:
        """Check the Dataset against the featx schema; see :func:`featx.schema.validate`."""
        from featx.schema import validate

        validate(self._ds)

    def save(self, path, **kwargs) -> None:
        """Write the Dataset to netCDF or zarr; see :func:`featx.io.save`."""
        from featx.io import save

        save(self._ds, path, **kwargs)

    def to_fex(self, **kwargs):
        """Py-Feat's Fex columns as a DataFrame; see :func:`featx.io.to_fex`."""
        from featx.io import to_fex

        return to_fex(self._ds, **kwargs)

    def to_tidy(self, *args, **kwargs):
        """One row per frame x face x measure, for R/SPSS; see :func:`featx.io.to_tidy`."""
        from featx.io import to_tidy

        return to_tidy(self._ds, *args, **kwargs)

    def annotate(self, *args, **kwargs):
        """Per-source study metadata as coordinates; see :func:`featx.analysis.annotate`."""
        from featx.analysis import annotate

        return annotate(self._ds, *args, **kwargs)

    def smooth(self, *args, **kwargs):
        """Smooth each series in time; see :func:`featx.analysis.smooth`."""
        from featx.analysis import smooth

        return smooth(self._ds, *args, **kwargs)

    def resample(self, *args, **kwargs):
        """Resample with explicit units; see :func:`featx.analysis.resample`."""
        from featx.analysis import resample

        return resample(self._ds, *args, **kwargs)

    def baseline(self, *args, **kwargs):
        """Express each series relative to a baseline; see :func:`featx.analysis.baseline`."""
        from featx.analysis import baseline

        return baseline(self._ds, *args, **kwargs)

    def clean(self, *args, **kwargs):
        """Detrend, filter, deconfound, z-score; see :func:`featx.analysis.clean`."""
        from featx.analysis import clean

        return clean(self._ds, *args, **kwargs)

    def epochs(self, *args, **kwargs):
        """Event-locked windows; see :func:`featx.analysis.epochs`."""
        from featx.analysis import epochs

        return epochs(self._ds, *args, **kwargs)

    def design_matrix(self, *args, **kwargs):
        """Boxcar regressors of events; see :func:`featx.analysis.design_matrix`."""
        from featx.analysis import design_matrix

        return design_matrix(self._ds, *args, **kwargs)

    def regress(self, *args, **kwargs):
        """OLS of every label of a variable on a design; see :func:`featx.analysis.regress`."""
        from featx.analysis import regress

        return regress(self._ds, *args, **kwargs)

    def regress_mixed(self, *args, **kwargs):
        """Mixed model, random intercept per group; see :func:`featx.analysis.regress_mixed`."""
        from featx.analysis import regress_mixed

        return regress_mixed(self._ds, *args, **kwargs)

    def ttest_1samp(self, *args, **kwargs):
        """One-sample t-test along a dimension; see :func:`featx.analysis.ttest_1samp`."""
        from featx.analysis import ttest_1samp

        return ttest_1samp(self._ds, *args, **kwargs)

    def ttest_ind(self, *args, **kwargs):
        """Two-sample t-test between two groups; see :func:`featx.analysis.ttest_ind`."""
        from featx.analysis import ttest_ind

        return ttest_ind(self._ds, *args, **kwargs)

    def isc(self, *args, **kwargs):
        """Inter-subject correlation between sources; see :func:`featx.analysis.isc`."""
        from featx.analysis import isc

        return isc(self._ds, *args, **kwargs)

    def decompose(self, *args, **kwargs):
        """PCA / ICA / NMF / FA of a variable's labels; see :func:`featx.analysis.decompose`."""
        from featx.analysis import decompose

        return decompose(self._ds, *args, **kwargs)

    def distance(self, *args, **kwargs):
        """Pairwise distances between observations; see :func:`featx.analysis.distance`."""
        from featx.analysis import distance

        return distance(self._ds, *args, **kwargs)

    def summary(self, *args, **kwargs):
        """Descriptive statistics per group; see :func:`featx.analysis.summary`."""
        from featx.analysis import summary

        return summary(self._ds, *args, **kwargs)

    def occurrence(self, *args, **kwargs):
        """Fraction of frames above a threshold per group; see :func:`featx.analysis.occurrence`."""
        from featx.analysis import occurrence

        return occurrence(self._ds, *args, **kwargs)

    def wavelet(self, *args, **kwargs):
        """Complex Morlet wavelet transform of each series; see :func:`featx.analysis.wavelet`."""
        from featx.analysis import wavelet

        return wavelet(self._ds, *args, **kwargs)

    def multi_wavelet(self, *args, **kwargs):
        """Wavelet transforms at a bank of frequencies; see :func:`featx.analysis.multi_wavelet`."""
        from featx.analysis import multi_wavelet

        return multi_wavelet(self._ds, *args, **kwargs)

    def boft(self, *args, **kwargs):
        """Bag of temporal features per source; see :func:`featx.analysis.boft`."""
        from featx.analysis import boft

        return boft(self._ds, *args, **kwargs)

    def box_jumps(self, *args, **kwargs):
        """Faces whose box jumps away from its source mean; see :func:`featx.analysis.box_jumps`."""
        from featx.analysis import box_jumps

        return box_jumps(self._ds, *args, **kwargs)

    def quality(self, *args, **kwargs):
        """Per-source quality figures of a detection run; see :func:`featx.analysis.quality`."""
        from featx.analysis import quality

        return quality(self._ds, *args, **kwargs)

    def quality_report(self, *args, **kwargs):
        """A plain-text quality table; see :func:`featx.analysis.quality_report`."""
        from featx.analysis import quality_report

        return quality_report(self._ds, *args, **kwargs)

    def plot_aus(self, *args, **kwargs):
        """AU time series; see :func:`featx.plot.plot_aus`."""
        from featx.plot import plot_aus

        return plot_aus(self._ds, *args, **kwargs)

    def plot_emotions(self, *args, **kwargs):
        """Emotion time series; see :func:`featx.plot.plot_emotions`."""
        from featx.plot import plot_emotions

        return plot_emotions(self._ds, *args, **kwargs)

    def plot_bars(self, *args, **kwargs):
        """One frame's values as bars; see :func:`featx.plot.plot_bars`."""
        from featx.plot import plot_bars

        return plot_bars(self._ds, *args, **kwargs)

    def plot_epochs(self, *args, **kwargs):
        """Event-locked averages of an epochs Dataset; see :func:`featx.plot.plot_epochs`."""
        from featx.plot import plot_epochs

        return plot_epochs(self._ds, *args, **kwargs)

    def plot_detections(self, *args, **kwargs):
        """One frame with its detections; see :func:`featx.plot.plot_detections`."""
        from featx.plot import plot_detections

        return plot_detections(self._ds, *args, **kwargs)

    def view(self, **kwargs):
        """An interactive viewer of frames and detections; see :func:`featx.widgets.view`."""
        from featx.widgets import view

        return view(self._ds, **kwargs)

    def compare(self, other, **kwargs):
        """This run and another side by side; see :func:`featx.widgets.compare`."""
        from featx.widgets import compare

        return compare(self._ds, other, **kwargs)
