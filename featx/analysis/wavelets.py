"""Time-frequency features: complex Morlet wavelets and the bag of temporal features (BOFT).

The wavelet at frequency ``f`` (Hz) for a source sampled at ``fs`` is

    w(t) = exp(2πi·f·t) · exp(−t² / (2σ²)),  σ = num_cyc / (2πf),
    t = −num_cyc/f, −num_cyc/f + 1/fs, ... (< num_cyc/f)

(not normalised). :func:`wavelet` convolves each series with it (same length as the series);
:func:`boft` follows Bartlett et al. (2014): for each frequency, from high to low, it convolves
with the real part (full length), squares the result keeping its sign, cuts the signal at its
zero crossings and histograms the Simpson-rule areas of the positive and the negative segments
(absolute values) into 6 logarithmic bins with edges ``logspace(0, 5, 7)``. Sources without
time use one sample per frame, so frequencies are then in cycles per frame.

Examples
--------
>>> w = morlet(1.0, num_cyc=1, sampling_freq=4)
>>> np.abs(w).round(3).tolist()
[0.0, 0.0, 0.007, 0.291, 1.0, 0.291, 0.007, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal
from scipy.integrate import simpson

from featx import validators
from featx.analysis._core import (
    MEASURES,
    AnalysisError,
    Source,
    as_array,
    bridged,
    check_dataset,
    feature_dim,
    fill_gaps,
    map_series,
    select,
    sources,
)

WAVELET_MODES = ("complex", "filtered", "phase", "magnitude", "power")
#: Histogram edges of the BOFT segment areas.
BOFT_EDGES = np.logspace(0, 5, 7)


def morlet(freq: float, num_cyc: float = 3, sampling_freq: float = 30.0) -> np.ndarray:
    """The complex Morlet wavelet sampled at ``sampling_freq`` (formula in the module doc).

    Examples
    --------
    >>> len(morlet(1.0, num_cyc=3, sampling_freq=30.0))
    180
    """
    if not freq > 0 or not num_cyc > 0 or not sampling_freq > 0:
        raise AnalysisError("freq, num_cyc and sampling_freq must be positive")
    sigma = num_cyc / (2 * np.pi * freq)
    t = np.arange(-num_cyc / freq, num_cyc / freq, 1 / sampling_freq)
    return np.exp(2j * np.pi * freq * t) * np.exp(-(t**2) / (2 * sigma**2))


def _checked_rate(src: Source, freq: float) -> float:
    rate = src.require_rate()
    if not 0 < freq < rate / 2:
        unit = "Hz" if src.unit == "s" else "cycles per frame"
        raise AnalysisError(
            f"frequency {freq:g} {unit} is not below the Nyquist frequency {rate / 2:g} of "
            f"source {src.source!r}"
        )
    return rate


def wavelet(
    ds: xr.Dataset,
    freq: float,
    *,
    num_cyc: float = 3,
    mode: str = "complex",
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """Convolve each series with a complex Morlet wavelet, per source and face slot.

    Gaps (frames without a face) are bridged before convolving and NaN again afterwards.

    Parameters
    ----------
    freq
        Wavelet frequency in Hz (cycles per frame for sources without time); must be below
        each source's Nyquist frequency.
    num_cyc
        Number of cycles, which sets the width ``σ = num_cyc / (2πf)``.
    mode
        ``"complex"`` (the convolution), ``"filtered"`` (its real part), ``"phase"`` (angle,
        radians), ``"magnitude"`` (absolute value) or ``"power"`` (squared magnitude).
    variables
        Default every present variable of :data:`featx.analysis.MEASURES`.

    Returns
    -------
    xarray.Dataset
        The transformed variables only (complex128 for ``"complex"``, else float64), with the
        frame coordinates, and attrs ``freq``, ``num_cyc``, ``mode``.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> t = np.arange(60) / 30
    >>> frames = [{"valence": np.array([np.sin(2 * np.pi * 2 * x)])} for x in t]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 60, range(60), t)
    >>> wavelet(ds, 2.0, mode="magnitude")["valence"].shape
    (60, 1)
    """
    names = select(ds, variables, MEASURES)
    validators.choice("mode", mode, WAVELET_MODES, AnalysisError)
    transform = {
        "complex": lambda z: z,
        "filtered": np.real,
        "phase": np.angle,
        "magnitude": np.abs,
        "power": lambda z: np.abs(z) ** 2,
    }[mode]

    def run(block: np.ndarray, src: Source) -> np.ndarray:
        kernel = morlet(freq, num_cyc, _checked_rate(src, freq))[:, None]
        return bridged(block, src.axis, lambda x: transform(signal.convolve(x, kernel, "same")))

    dtype = np.complex128 if mode == "complex" else np.float64
    out = map_series(ds, names, run, dtype=dtype)[names]
    attrs = {"freq": float(freq), "num_cyc": float(num_cyc), "mode": mode}
    for name in names:
        out[name].attrs = dict(attrs)
    return out.assign_attrs(attrs)


def multi_wavelet(
    ds: xr.Dataset,
    min_freq: float = 0.06,
    max_freq: float = 0.66,
    bank: int = 8,
    *,
    num_cyc: float = 3,
    mode: str = "complex",
    variables: str | Sequence[str] | None = None,
) -> xr.Dataset:
    """:func:`wavelet` at ``bank`` frequencies spaced geometrically from min to max.

    Returns
    -------
    xarray.Dataset
        The transformed variables with a leading ``freq`` dimension.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"valence": np.array([np.cos(x)])} for x in range(40)]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 40, range(40), np.arange(40) / 5)
    >>> multi_wavelet(ds, 0.1, 1.0, 3)["freq"].values.round(3).tolist()
    [0.1, 0.316, 1.0]
    """
    freqs = np.geomspace(min_freq, max_freq, int(bank))
    parts = [wavelet(ds, f, num_cyc=num_cyc, mode=mode, variables=variables) for f in freqs]
    out = xr.concat(parts, dim=pd.Index(freqs, name="freq"), combine_attrs="drop")
    for name in out.data_vars:
        out[name].attrs = {"num_cyc": float(num_cyc), "mode": mode}
    return out.assign_attrs(num_cyc=float(num_cyc), mode=mode)


def signed_areas(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simpson-rule areas of the positive and of the negative runs of ``x`` (absolute values).

    A run is a maximal stretch of samples of one sign; zeros belong to no run. Areas use a
    sample spacing of 1.

    Examples
    --------
    >>> pos, neg = signed_areas(np.array([1.0, 4.0, 1.0, -2.0, -2.0, 0.0, 3.0]))
    >>> pos.tolist(), neg.tolist()
    ([6.0, 0.0], [2.0])
    """
    sign = np.sign(x)
    starts = np.flatnonzero(np.diff(sign) != 0) + 1
    runs = np.split(x, starts)
    pos = [simpson(r) for r in runs if r[0] > 0]
    neg = [-simpson(r) for r in runs if r[0] < 0]
    return np.asarray(pos, np.float64), np.asarray(neg, np.float64)


def _boft_series(x: np.ndarray, axis: np.ndarray, freqs: np.ndarray, num_cyc: float, rate: float):
    """(freq, polarity, bin) counts for one series; NaN if it has no finite value."""
    ok = np.flatnonzero(np.isfinite(x))
    counts = np.full((len(freqs), 2, len(BOFT_EDGES) - 1), np.nan)
    if not len(ok):
        return counts
    span = slice(ok[0], ok[-1] + 1)
    x = fill_gaps(x[span, None], axis[span])[:, 0]
    for i, f in enumerate(freqs):
        y = np.convolve(x, morlet(f, num_cyc, rate).real, mode="full")
        for j, areas in enumerate(signed_areas(y * np.abs(y))):
            counts[i, j] = np.histogram(areas, bins=BOFT_EDGES)[0]
    return counts


def boft(
    ds: xr.Dataset,
    variable: str = "aus",
    min_freq: float = 0.06,
    max_freq: float = 0.66,
    bank: int = 8,
    *,
    num_cyc: float = 3,
) -> xr.DataArray:
    """Bag of temporal features (Bartlett et al. 2014), per source, face slot and label.

    For each of ``bank`` frequencies (geometric from ``max_freq`` down to ``min_freq``) the
    series is convolved with the real Morlet wavelet (full length); ``y·|y|`` is cut at its
    zero crossings and the Simpson areas of the positive and the negative segments are
    counted into 6 logarithmic bins (edges ``logspace(0, 5, 7)``; areas below 1 or above
    1e5 are not counted). Leading and trailing frames without a face are dropped and inner gaps
    bridged by linear interpolation.

    Returns
    -------
    xarray.DataArray
        Counts over (``source``, ``face``, label, ``freq``, ``polarity`` = pos/neg, ``bin``),
        with the bin edges as coordinates ``bin_low``/``bin_high``; NaN for a face slot that is
        empty throughout a source.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> t = np.arange(300) / 30
    >>> frames = [{"valence": np.array([0.8 * np.sin(2 * np.pi * 0.5 * x)])} for x in t]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 300, range(300), t)
    >>> boft(ds, "valence", 0.25, 1.0, 3).sizes["bin"]
    6
    """
    da = as_array(check_dataset(ds), variable)
    feat = feature_dim(da)
    freqs = np.geomspace(min_freq, max_freq, int(bank))[::-1]
    groups = sources(ds)
    values = da.transpose("frame", "face", ...).values.astype(np.float64)
    values = values.reshape(values.shape[0], values.shape[1], -1)
    n_face, n_feat = values.shape[1:]
    out = np.full((len(groups), n_face, n_feat, len(freqs), 2, len(BOFT_EDGES) - 1), np.nan)
    for s, src in enumerate(groups):
        rate = _checked_rate(src, float(freqs[0]))
        for f in range(n_face):
            for k in range(n_feat):
                x = values[src.index, f, k]
                out[s, f, k] = _boft_series(x, src.axis, freqs, num_cyc, rate)
    dims = ["source", "face", "label", "freq", "polarity", "bin"]
    coords = {
        "source": [src.source for src in groups],
        "face": da["face"].values,
        "freq": freqs,
        "polarity": ["pos", "neg"],
        "bin": np.arange(len(BOFT_EDGES) - 1),
        "bin_low": ("bin", BOFT_EDGES[:-1]),
        "bin_high": ("bin", BOFT_EDGES[1:]),
    }
    if feat is None:
        dims.remove("label")
        out = out[:, :, 0]
    else:
        dims[2] = feat
        coords[feat] = da[feat].values
    return xr.DataArray(out, dims=dims, coords=coords, name="boft", attrs={"num_cyc": num_cyc})
