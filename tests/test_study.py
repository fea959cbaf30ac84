"""featx.study: many videos through one detector on Dask, one zarr store each, opened lazily."""

from __future__ import annotations

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

    def __init__(self, level: int = 200, device: str = "cpu") -> None:
        super().__init__(device=device)
        Squares.built += 1
        self.level = level
        self.labels = {"au": ["AU12"]}
        self.var_attrs = {"aus": {"kind": "score"}}

    def config(self) -> dict:
        return {"detector": f"{__name__}.Squares", "options": {"level": self.level}}

    def process_batch(self, images):
        Squares.frames += len(images)
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
