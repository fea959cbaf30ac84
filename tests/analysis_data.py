"""Synthetic sessions for the analysis tests: several sources and subjects, NaN frames, 2 faces."""

from __future__ import annotations

import numpy as np
import pandas as pd

from featx import analysis, schema

FPS = 25.0
AUS = ("AU01", "AU06", "AU12", "AU25")
KINDS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}
STUDY = pd.DataFrame(
    {
        "source": ["s1.mp4", "s2.mp4", "s3.mp4", "s4.mp4"],
        "subject": ["p1", "p2", "p3", "p4"],
        "condition": ["a", "a", "b", "b"],
    }
)


def session(
    lengths=(60, 60, 50, 50),
    seed=0,
    missing=0.1,
    second_face=(20, 30),
    fps=FPS,
    signal=None,
):
    """Frames of several 25 fps videos with four AUs, seven emotions, boxes and scores.

    Face slot 0 is present except in a random ``missing`` share of frames (no face at all);
    a second face appears in frames ``second_face`` of every source. ``signal`` (a function of
    time, 0..1) is added to AU12 of face 0 when given.
    """
    rng = np.random.default_rng(seed)
    frames, source, index, time = [], [], [], []
    for s, n in enumerate(lengths):
        for i in range(n):
            t = i / fps
            present = rng.random() >= missing
            k = (1 + (second_face[0] <= i < second_face[1])) if present else 0
            aus = rng.uniform(0.05, 0.6, (k, len(AUS)))
            if signal is not None and k:
                aus[0, 2] = np.clip(aus[0, 2] * 0.5 + signal(t, s), 0, 1)
            emotions = rng.random((k, 7))
            x = 100 + 5 * rng.standard_normal(k) + 200 * np.arange(k)
            frames.append(
                {
                    "face_rect": np.column_stack(
                        [x, 80 + rng.normal(0, 3, k), [60.0] * k, [70.0] * k]
                    ),
                    "face_score": rng.uniform(0.8, 1.0, k),
                    "aus": aus,
                    "emotions": emotions / emotions.sum(1, keepdims=True),
                    "valence": rng.uniform(-1, 1, k),
                    "identity": np.arange(k),
                }
            )
            source.append(f"s{s + 1}.mp4")
            index.append(i)
            time.append(t)
    ds = schema.from_frames(
        frames, source, index, time, labels={"au": AUS}, var_attrs=KINDS, attrs={"detector": "test"}
    )
    schema.validate(ds)
    return ds


def annotated(**kwargs):
    """:func:`session` with subject and condition coordinates."""
    ds = session(**kwargs)
    table = STUDY[STUDY["source"].isin(set(ds["source"].values))]
    return analysis.annotate(ds, table)


def series(ds, name, source, face, label=None):
    """(axis, float64 values) of one series, straight from the Dataset (no featx.analysis)."""
    rows = ds["source"].values == source
    var = ds[name].isel(frame=rows).sel(face=face)
    if label is not None:
        var = var.sel({var.dims[-1]: label})
    return ds["time"].values[rows], var.values.astype(np.float64)


def bridged(t, x):
    """Gaps of ``x`` filled by linear interpolation over ``t`` (ends: nearest value)."""
    ok = np.isfinite(x)
    return np.interp(t, t[ok], x[ok])


#: Two trials in seconds, and the AU response they drive (:func:`boxcar`) in the regression tests.
EVENTS = pd.DataFrame({"onset": [0.4, 1.2], "duration": [0.6, 0.4], "trial_type": ["joke", "cue"]})


def boxcar(t, s):
    """0.3 during the first trial, 0.1 x ``s`` during the second, else 0."""
    return 0.3 * ((0.4 <= t) & (t < 1.0)) + 0.1 * s * ((1.2 <= t) & (t < 1.6))
