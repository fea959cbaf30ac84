"""featx.study: many videos through one detector on Dask, one zarr store each, opened lazily."""

from __future__ import annotations

import os
import re
import signal
import time

import cv2
import numpy as np
import pandas as pd
import pytest

import featx
from featx import schema, study
from featx.detectors.base import BaseDetector

pytestmark = [pytest.mark.requires("distributed"), pytest.mark.requires("zarr")]


class Squares(BaseDetector):
    """Stand-in face model: every bright square of a frame is a face (left to right)."""

    name = "squares"
    built = 0  # detectors built, over all instances (the workers run in this process)
    frames = 0  # frames analysed, over all instances

    def __init__(
        self,
        level: int = 200,
        die_at: str = "",
        device: str = "cpu",
        pause: float = 0.0,
        log: str = "",
    ) -> None:
        super().__init__(device=device)
        Squares.built += 1
        self.level, self.pause, self.log = level, pause, log  # log: file of the workers' names
        self.die_at = die_at  # "<frames>:<marker file>": SIGKILL its process once, there
        self.labels = {"au": ["AU12"]}
        self.var_attrs = {"aus": {"kind": "score"}}

    def config(self) -> dict:
        options = {"level": self.level, "die_at": self.die_at, "pause": self.pause, "log": self.log}
        return {"detector": f"{__name__}.Squares", "options": options}

    def process_batch(self, images):
        from distributed import get_worker

        Squares.frames += len(images)
        if self.log:
            with open(self.log, "a") as log:
                log.write(f"{get_worker().name}\n")
        time.sleep(self.pause)
        if self.die_at:
            frames, marker = self.die_at.split(":", 1)
            if Squares.frames > int(frames) and not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        results = []
        for img in images:
            bright = (img[..., 0] > self.level).astype("u1")
            n, _, stats, _ = cv2.connectedComponentsWithStats(bright)
            boxes = stats[1:, :4].astype(float)
            boxes = boxes[np.argsort(boxes[:, 0])]
            results.append(
                {
                    "face_rect": boxes,
                    "face_score": np.full(n - 1, 0.9),
                    "aus": (boxes[:, :1] / 100.0),
                }
            )
        return results


def write_video(path, n_frames, start=0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    for i in range(n_frames):
        frame = np.zeros((64, 96, 3), np.uint8)
        frame[10:22, start + 2 * i : start + 2 * i + 12] = 255
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        yield c


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "p1.avi", 12, start=0)
    write_video(folder / "p2.avi", 8, start=20)
    (folder / "p3.avi").write_bytes(b"not a video at all")
    return folder


def test_each_video_gets_a_store_and_a_manifest_row_a_bad_one_does_not_stop_the_others(
    videos, tmp_path, client
):
    out = tmp_path / "study"
    manifest = featx.detect_many(videos, Squares(), out, client=client, progress=False)
    by_name = manifest.set_index("store")
    assert list(by_name["status"]) == ["done", "done", "failed"]
    assert list(by_name["frames"]) == [12, 8, 0]
    assert "p3.avi" in by_name.loc["p3.zarr", "error"]
    assert (by_name["detector"] == "Squares").all()
    assert by_name["featx_version"].eq(featx.__version__).all()
    assert (out / "p1.zarr").is_dir() and (out / "p2.zarr").is_dir()
    assert pd.read_csv(out / "manifest.csv")["status"].tolist() == ["done", "done", "failed"]

    ds = featx.open_study(out)
    assert ds["face_rect"].chunks is not None  # lazy: dask arrays
    alone = [Squares().detect(videos / f"p{i}.avi", progress=False) for i in (1, 2)]
    expected = schema.concat(alone)
    assert ds["frame"].values.tolist() == list(range(20))
    assert ds["source"].values.tolist() == expected["source"].values.tolist()
    np.testing.assert_array_equal(ds["face_rect"].values, expected["face_rect"].values)
    np.testing.assert_array_equal(ds["aus"].values, expected["aus"].values)


def test_a_rerun_skips_done_videos_and_retries_failed_ones(videos, tmp_path, client):
    out = tmp_path / "study"
    featx.detect_many(videos, Squares(), out, client=client, progress=False)
    frames, built = Squares.frames, Squares.built
    write_video(videos / "p3.avi", 5)  # the broken video is fixed
    manifest = featx.detect_many(videos, Squares(), out, client=client, progress=False)
    assert manifest["status"].tolist() == ["done", "done", "done"]
    assert Squares.frames - frames == 5  # only the retried video ran
    assert Squares.built - built == 1  # the caller's detector; the worker kept its own
    assert featx.open_study(out).sizes["frame"] == 25


def test_the_worker_builds_the_detector_once_from_its_config(videos, tmp_path, client):
    study._WORKER_DETECTORS.clear()
    before = Squares.built
    featx.detect_many(videos, Squares(level=100), tmp_path / "a", client=client, progress=False)
    assert Squares.built - before == 2  # the caller's and one on the worker, for three videos
    built = [d for d in study._WORKER_DETECTORS.values() if isinstance(d, Squares)]
    assert [d.level for d in built] == [100]


def test_a_second_run_on_the_same_folder_is_refused(videos, tmp_path, client):
    out = tmp_path / "study"
    out.mkdir()
    with study._locked(out), pytest.raises(study.StudyError, match="being written by process"):
        featx.detect_many(videos, Squares(), out, client=client, progress=False)
    featx.detect_many(videos, Squares(), out, client=client, progress=False)  # lock released


def test_metadata_columns_become_coordinates_along_frame(videos, tmp_path, client):
    meta = tmp_path / "participants.csv"
    pd.DataFrame(
        {"source": ["p1", "p2.avi", "p3"], "subject": ["s1", "s2", "s3"], "age": [31, 42, 25]}
    ).to_csv(meta, index=False)
    out = tmp_path / "study"
    featx.detect_many(videos, Squares(), out, metadata=meta, client=client, progress=False)
    ds = featx.open_study(out)
    assert ds["subject"].dims == ("frame",)
    assert ds["subject"].values.tolist() == ["s1"] * 12 + ["s2"] * 8
    assert ds["age"].values.tolist() == [31] * 12 + [42] * 8
    means = ds["aus"].sel(face=0).groupby("subject").mean("frame").compute()
    assert means.sizes["subject"] == 2


def test_metadata_that_does_not_match_the_videos_is_refused(videos, tmp_path, client):
    table = pd.DataFrame({"source": ["p1", "p2", "nobody"], "subject": ["a", "b", "c"]})
    with pytest.raises(study.StudyError, match=r"match no video: \['nobody'\].*no row: .*p3.avi"):
        featx.detect_many(videos, Squares(), tmp_path / "s", metadata=table, client=client)
    with pytest.raises(study.StudyError, match="'source' column"):
        featx.detect_many(videos, Squares(), tmp_path / "s", metadata=table.drop(columns="source"))


def test_errors_before_any_work(tmp_path, client):
    with pytest.raises(study.StudyError, match="no video files"):
        featx.detect_many(tmp_path, Squares(), tmp_path / "s", client=client)
    with pytest.raises(TypeError, match="sets output"):
        featx.detect_many(tmp_path, Squares(), tmp_path / "s", output="x.nc")
    with pytest.raises(study.StudyError, match="no finished video"):
        featx.open_study(tmp_path)


@pytest.fixture
def opened(videos, tmp_path, client):
    featx.detect_many(videos, Squares(), tmp_path / "study", client=client, progress=False)
    lazy = featx.open_study(tmp_path / "study")
    return lazy, lazy.compute()  # load() would load the lazy one in place


@pytest.mark.parametrize(
    "step",
    [
        lambda ds: ds.feat.smooth(window=3, variables="aus"),
        lambda ds: ds.feat.smooth("butter", cutoff=2.0, order=2, variables="aus"),
        lambda ds: ds.feat.baseline(variables="aus"),
        lambda ds: ds.feat.clean(variables="aus"),
        lambda ds: ds.feat.resample(samples=3, variables="aus"),
        lambda ds: ds.feat.resample(hz=4.0, method="linear", variables="aus"),
    ],
    ids=["smooth", "butter", "baseline", "clean", "resample", "resample-linear"],
)
def test_per_source_steps_stay_lazy_and_equal_the_in_memory_path(opened, step):
    lazy, eager = opened
    out = step(lazy)
    assert out["aus"].chunks is not None  # nothing computed yet
    np.testing.assert_allclose(out["aus"].values, step(eager)["aus"].values, atol=1e-10)


def test_summaries_and_regression_on_a_lazy_study_equal_the_in_memory_path(opened):
    lazy, eager = opened
    np.testing.assert_allclose(
        lazy.feat.summary("aus")["mean"].values, eager.feat.summary("aus")["mean"].values
    )
    design = pd.DataFrame({"x": np.linspace(0, 1, lazy.sizes["frame"])})
    a, b = lazy.feat.regress(design, "aus"), eager.feat.regress(design, "aus")
    np.testing.assert_allclose(a["beta"].values, b["beta"].values, atol=1e-10, equal_nan=True)


def test_two_level_regression_across_videos_equals_per_video_fits_and_a_t_test(opened):
    from scipy import stats

    lazy, eager = opened
    x = np.sin(np.arange(lazy.sizes["frame"]) / 3.0)
    fit = lazy.feat.regress_two_level(np.column_stack([x]), "aus", by="source")
    assert fit["group_beta"].dims == ("source", "face", "regressor", "au")
    per_video = []
    for source in dict.fromkeys(eager["source"].values.tolist()):
        rows = np.flatnonzero(eager["source"].values == source)
        one = eager.isel(frame=rows)
        design = pd.DataFrame({"x0": x[rows], "intercept": 1.0})
        per_video.append(one.feat.regress(design, "aus", intercept=False)["beta"].values)
    per_video = np.stack(per_video)
    np.testing.assert_allclose(fit["group_beta"].values, per_video, atol=1e-10)
    t = stats.ttest_1samp(per_video, 0.0, axis=0).statistic
    np.testing.assert_allclose(fit["t"].values, t, atol=1e-10)
    assert fit.attrs["model"] == "two-level" and fit.attrs["by"] == "source"


def test_a_worker_killed_mid_video_is_replaced_and_the_store_holds_every_frame_once(
    videos, tmp_path
):
    from distributed import Client, LocalCluster

    (videos / "p3.avi").unlink()
    write_video(videos / "long.avi", 30, start=4)
    marker = tmp_path / "killed"
    det = Squares(die_at=f"10:{marker}")  # the worker dies in its 6th batch of 2 frames
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        with Client(c) as client:
            manifest = featx.detect_many(
                videos, det, tmp_path / "study", client=client, progress=False, batch_size=2
            )
    assert marker.exists()  # a worker process was killed
    assert manifest["status"].tolist() == ["done"] * 3
    ds = featx.open_study(tmp_path / "study").compute()
    for name, n in (("long.avi", 30), ("p1.avi", 12), ("p2.avi", 8)):  # each frame once
        frames = ds["source_frame"].values[ds["source"].values == str(videos / name)]
        assert sorted(frames.tolist()) == list(range(n)), name
    long = ds.where(ds["source"] == str(videos / "long.avi"), drop=True)
    alone = Squares().detect(videos / "long.avi", progress=False)
    np.testing.assert_array_equal(long["face_rect"].values, alone["face_rect"].values)


def test_frames_done_are_read_from_the_parts_a_running_video_has_committed(tmp_path):
    from featx.detectors.runstore import RunStore

    store = tmp_path / "v.zarr"
    assert study._frames_written(store, 3) == 0  # nothing written yet
    runs = RunStore(store)
    for start in (0, 3):
        batch = schema.from_frames(
            [{"face_score": np.array([0.9])}] * 3, ["v.avi"] * 3, range(start, start + 3),
            np.arange(start, start + 3) / 10, frame_start=start,
        )  # fmt: skip
        runs.write(batch)
        assert study._frames_written(store, 3) == start + 3
    runs.finish({}, lambda ds: ds)
    assert study._frames_written(store, 3) == 0  # finished: the manifest row counts


def _bars(text):
    """The last (done, total) drawn of the video bar and of the frame bar."""
    last = {}
    for done, total, unit in re.findall(r"(\d+)/(\d+) \[[^\]]*?(video|frame)", text):
        last[unit] = (int(done), int(total))
    return last.get("video"), last.get("frame")


def test_the_progress_bars_count_videos_and_frames_also_on_a_rerun(videos, tmp_path, client, capfd):
    out = tmp_path / "study"
    capfd.readouterr()
    featx.detect_many(videos, Squares(), out, client=client, batch_size=3)
    videos_bar, frames_bar = _bars(capfd.readouterr().err)
    assert videos_bar == (3, 3)
    assert frames_bar == (20, 20)  # 12 + 8 frames; the broken video has none
    write_video(videos / "p3.avi", 5)  # fixed: the rerun starts at 2 videos and 20 frames
    featx.detect_many(videos, Squares(), out, client=client, batch_size=3)
    err = capfd.readouterr().err
    first = re.search(r"(\d+)/(\d+) \[[^\]]*?video", err)
    assert first.groups() == ("2", "3")
    assert _bars(err) == ((3, 3), (25, 25))


def test_the_frame_bar_counts_the_batches_of_running_videos(videos, tmp_path, client, capfd):
    capfd.readouterr()
    det = Squares(pause=0.3)  # 12 + 8 frames in batches of 2: about 3 s, polled every 0.5 s
    featx.detect_many(videos, det, tmp_path / "study", client=client, batch_size=2)
    drawn = [int(n) for n in re.findall(r"(\d+)/\d+ \[[^\]]*?frame", capfd.readouterr().err)]
    assert drawn == sorted(drawn) and drawn[-1] == 20  # never back, every frame at the end
    assert set(drawn) - {0, 8, 12, 20}  # counts between whole videos: batches seen mid-video


@pytest.mark.slow
def test_mpdetector_on_two_worker_processes_equals_one_detect_per_video(tmp_path):
    """The issue's evidence: six short clips of the demo media and a corrupt file on a
    LocalCluster of two single-threaded worker processes; every video equals
    ``MPDetector().detect(video)`` frame by frame, the corrupt one is recorded as failed, a
    rerun runs nothing."""
    from distributed import Client, LocalCluster

    from featx.demo import astronaut, clip_frames

    folder = tmp_path / "videos"
    folder.mkdir()
    frames = clip_frames(astronaut(), n=18)  # 640x360
    for k in range(6):  # six clips of 3 frames, each its own stretch of the pan
        writer = cv2.VideoWriter(
            str(folder / f"clip{k}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360)
        )
        for frame in frames[3 * k : 3 * k + 3]:
            writer.write(frame[..., ::-1])
        writer.release()
    (folder / "corrupt.avi").write_bytes(b"\x00" * 4096)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        manifest = featx.detect_many(folder, featx.MPDetector(), tmp_path / "s", client=client)
        again = featx.detect_many(folder, featx.MPDetector(), tmp_path / "s", client=client)
    done = manifest["status"] == "done"
    assert again[done].equals(manifest[done])  # done videos skipped: their rows untouched
    by_store = manifest.set_index("store")
    assert by_store.loc["corrupt.zarr", "status"] == "failed"
    assert "corrupt.avi" in by_store.loc["corrupt.zarr", "error"]
    assert (by_store.drop("corrupt.zarr")["status"] == "done").all()
    ds = featx.open_study(tmp_path / "s").compute()
    detector = featx.MPDetector()
    for k in range(6):
        video = str(folder / f"clip{k}.avi")
        alone = detector.detect(video, progress=False)
        got = ds.isel(frame=ds["source"].values == video)
        assert got["source_frame"].values.tolist() == [0, 1, 2]
        assert np.isfinite(alone["mesh"].values).all(axis=(2, 3))[:, 0].all()  # a face each frame
        for name in alone.data_vars:  # same faces, same NaN; values to float32 rounding (the
            # workers run single-threaded, this process not: sums run in another order)
            np.testing.assert_allclose(
                got[name].values, alone[name].values, rtol=1e-4, atol=1e-5, err_msg=name
            )


@pytest.mark.slow  # two worker processes: 25-60 s on the shared 2 cores
def test_a_cuda_detector_runs_only_on_workers_that_declare_a_gpu(videos, tmp_path):
    from distributed import Client, Nanny, Scheduler, SpecCluster

    (videos / "p3.avi").unlink()
    for k in range(4):
        write_video(videos / f"more{k}.avi", 4, start=4 * k)
    options = {"nthreads": 1, "dashboard_address": None}
    specs = {
        "gpu": {"cls": Nanny, "options": {**options, "resources": {"GPU": 1}}},
        "cpu": {"cls": Nanny, "options": options},
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": None}}
    with SpecCluster(workers=specs, scheduler=scheduler) as cluster, Client(cluster) as client:
        names = {w["name"]: w["resources"] for w in client.scheduler_info()["workers"].values()}
        assert names == {"gpu": {"GPU": 1}, "cpu": {}}
        for device, expected in (("cuda", {"gpu"}), ("cpu", {"gpu", "cpu"})):
            log = tmp_path / f"{device}.log"  # a stand-in: Squares computes on the CPU anyway
            det = Squares(device=device, pause=0.1, log=str(log))
            manifest = featx.detect_many(videos, det, tmp_path / device, client=client)
            assert (manifest["status"] == "done").all()
            assert set(log.read_text().split()) == expected  # cpu: both workers take videos


def test_a_run_in_another_process_holds_the_folder_until_it_dies(videos, tmp_path, client):
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "study"
    out.mkdir()
    hold = (
        "import sys, time; from pathlib import Path; from featx import study\n"
        "with study._locked(Path(sys.argv[1])):\n    print('holding', flush=True); time.sleep(120)"
    )
    root = str(Path(__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(study.StudyError, match=f"process {holder.pid} on "):
            featx.detect_many(videos, Squares(), out, client=client, progress=False)
        assert not (out / "manifest.csv").exists()  # refused before writing anything
    finally:
        holder.kill()  # SIGKILL: the kernel drops its lock
        holder.wait()
    manifest = featx.detect_many(videos, Squares(), out, client=client, progress=False)
    assert manifest["status"].tolist() == ["done", "done", "failed"]
