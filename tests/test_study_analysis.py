"""A lazy study (featx.open_study over synthetic stores): epochs, plots and mixed models read
only what they use, equal the in-memory path, and 200 videos fit in a small, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from study_data import data_bytes, write_study

import featx
from featx import analysis, plot

pytestmark = [pytest.mark.requires("dask"), pytest.mark.requires("zarr")]

N_VIDEOS, N_FRAMES = 6, 40  # one chunk per store along frame: chunk i is video i


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_study(tmp_path_factory.mktemp("study"), N_VIDEOS, N_FRAMES, subjects=3)


@pytest.fixture
def opened(folder):
    lazy = featx.open_study(folder)
    assert [len(c) for c in lazy["aus"].chunks[:1]] == [N_VIDEOS]
    return lazy, lazy.compute()


def loaded_chunks(lazy, compute):
    """(variable, frame chunk), sorted, of every chunk of ``lazy`` (an opened study) read from the
    stores while ``compute()`` runs: the tasks that read a store chunk are named
    ``open_dataset-...`` and carry the token of the variable's joined array."""
    import dask
    from dask.callbacks import Callback

    tokens = {lazy[name].data.name.rsplit("-", 1)[1]: name for name in lazy.data_vars}
    seen = []

    class Reads(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(key, tuple) and str(key[0]).startswith("open_dataset-"):
                names = [v for t, v in tokens.items() if t in key[0]]
                assert len(names) == 1, key
                seen.append((names[0], key[1]))

    with dask.config.set(scheduler="sync"), Reads():
        out = compute()
    return sorted(seen), out


def events_for(videos):
    """Two smiles in each of ``videos`` (by number)."""
    rows = [
        {"onset": onset, "duration": 0.2, "trial_type": kind, "source": f"/videos/v{v:04d}.mp4"}
        for v in videos
        for onset, kind in ((0.3, "smile"), (0.8, "frown"))
    ]
    return pd.DataFrame(rows)


def test_epochs_of_a_lazy_study_are_lazy_equal_the_in_memory_path_and_read_only_their_videos(
    opened,
):
    lazy, eager = opened
    events = events_for([1, 4])
    kwargs = {"tmin": -0.2, "tmax": 0.5, "baseline": (-0.2, 0.0), "variables": ["aus", "emotions"]}
    ep = analysis.epochs(lazy, events, **kwargs)
    assert ep["aus"].chunks is not None  # nothing computed yet
    reads, computed = loaded_chunks(lazy, ep.compute)
    assert reads == sorted((v, c) for v in ("aus", "emotions") for c in (1, 4))  # once each
    expected = analysis.epochs(eager, events, **kwargs)
    assert computed["source"].values.tolist() == expected["source"].values.tolist()
    for name in ("aus", "emotions"):
        assert np.isfinite(expected[name].values).any()
        np.testing.assert_allclose(computed[name].values, expected[name].values, atol=1e-10)
    mean = ep["aus"].groupby("trial_type").mean("epoch").compute()
    np.testing.assert_allclose(
        mean.values, expected["aus"].groupby("trial_type").mean("epoch").values, atol=1e-10
    )


def test_epochs_of_events_for_every_video_match_and_windows_outside_a_video_are_nan(opened):
    lazy, eager = opened
    events = pd.DataFrame({"onset": [0.5, 5.0], "duration": [0.1, 0.1], "trial_type": ["a", "b"]})
    ep = analysis.epochs(lazy, events, -0.1, 0.1, variables="aus").compute()
    expected = analysis.epochs(eager, events, -0.1, 0.1, variables="aus")
    assert ep.sizes["epoch"] == 2 * N_VIDEOS
    assert np.isnan(ep["aus"].values[ep["trial_type"].values == "b"]).all()  # after the end
    np.testing.assert_allclose(ep["aus"].values, expected["aus"].values, atol=1e-10)


def test_event_locked_average_plot_of_lazy_epochs_draws_the_in_memory_curves(opened):
    lazy, eager = opened
    events = events_for(range(N_VIDEOS))
    figs = [
        plot.plot_epochs(analysis.epochs(d, events, -0.2, 0.5), "aus", ["AU12"]) for d in opened
    ]
    lines = [[line.get_ydata() for line in fig.axes[0].lines[:2]] for fig in figs]
    np.testing.assert_allclose(lines[0], lines[1], atol=1e-10)


@pytest.mark.parametrize(
    ("select", "draw", "variable", "videos"),
    [
        (lambda ds: ds.where(ds["subject"] == "s1", drop=True), plot.plot_aus, "aus", {1, 4}),
        (
            lambda ds: ds.isel(frame=ds["condition"].values == "a"),
            plot.plot_emotions,
            "emotions",
            {0, 2, 4},
        ),
        (lambda ds: ds, lambda ds: plot.plot_aus(ds, source="/videos/v0003.mp4"), "aus", {3}),
    ],  # fmt: skip
    ids=["subject-aus", "condition-emotions", "source-aus"],
)
def test_a_plot_of_one_subject_or_condition_reads_only_what_it_draws(
    opened, select, draw, variable, videos
):
    import matplotlib.pyplot as plt

    lazy, eager = opened
    reads, fig = loaded_chunks(lazy, lambda: draw(select(lazy)))
    assert reads == sorted((variable, v) for v in videos)  # each chunk once, nothing else
    reference = draw(select(eager))
    drawn = [line.get_ydata() for line in fig.axes[0].lines]
    assert len(drawn) == len(reference.axes[0].lines) > 0
    np.testing.assert_array_equal(drawn, [r.get_ydata() for r in reference.axes[0].lines])
    plt.close("all")


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_regress_mixed_on_a_lazy_study_equals_the_in_memory_path(opened):
    lazy, eager = opened
    design = np.cos(np.arange(lazy.sizes["frame"]) / 7.0)
    fits = [
        analysis.regress_mixed(analysis.smooth(d, window=3, variables="aus"), design, "aus")
        for d in (lazy, eager)
    ]
    for name in ("beta", "se", "group_var"):
        np.testing.assert_allclose(fits[0][name].values, fits[1][name].values, atol=1e-10)


#: The 200-video study of the memory test: 600 frames each, 2 AUs, with the 478-vertex mesh.
BIG = {"n_videos": 200, "n_frames": 600, "aus": ("AU06", "AU12")}
#: Peak resident memory allowed for open_study + smooth + regress_mixed over it.
RSS_BOUND_MIB = 400

PROBE = """
import json, re, sys
import numpy as np
import dask.array, statsmodels.regression.mixed_linear_model, zarr  # imported before the base
import featx

def peak():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))

base = peak()
ds = featx.open_study(sys.argv[1])
smooth = ds.feat.smooth(window=5, variables="aus")
design = np.sin(np.arange(ds.sizes["frame"]) / 50.0)
fit = smooth.feat.regress_mixed(design, "aus", groups="subject")
print(json.dumps({"base": base, "peak": peak(), "frames": ds.sizes["frame"],
                  "beta": fit["beta"].sel(regressor="intercept").values.ravel().tolist()}))
"""


@pytest.mark.slow
def test_a_200_video_study_is_opened_smoothed_and_fitted_in_bounded_memory(tmp_path):
    """Peak RSS (VmHWM of a fresh process) stays under RSS_BOUND_MIB while the study's
    data variables are 664 MiB: open_study reads no array data and the analysis loads only the
    AUs, one video at a time for smooth."""
    write_study(tmp_path, **BIG)
    total_mib = data_bytes(**BIG) / 2**20
    assert total_mib > 1.6 * RSS_BOUND_MIB
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["frames"] == BIG["n_videos"] * BIG["n_frames"]
    assert all(0.2 < b < 0.8 for b in got["beta"])  # the AUs' mean level: a real fit
    peak_mib = got["peak"] / 1024
    assert peak_mib < RSS_BOUND_MIB, (peak_mib, got["base"] / 1024, total_mib)


def test_open_study_refuses_metadata_that_do_not_match_its_videos(folder):
    table = pd.read_csv(folder / "metadata.csv")
    extra = pd.concat([table, pd.DataFrame({"source": ["nobody"], "subject": ["x"]})])
    with pytest.raises(featx.study.StudyError, match=r"match no video: \['nobody'\]"):
        featx.open_study(folder, metadata=extra)
    with pytest.raises(featx.study.StudyError, match=r"videos with no row: \['/videos/v0005"):
        featx.open_study(folder, metadata=table.iloc[:5])
    ds = featx.open_study(folder, metadata=table.assign(age=range(N_VIDEOS)))
    assert ds["age"].values.tolist() == np.repeat(np.arange(N_VIDEOS), N_FRAMES).tolist()
