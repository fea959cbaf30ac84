"""The shared detection loop, driven by a stand-in face model that finds bright squares."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from featx import MediaError, io, schema
from featx.detectors import runstore
from featx.detectors.backends import resolve_device
from featx.detectors.base import BaseDetector
from featx.detectors.identity import IdentityDetector
from featx.detectors.runstore import RunLockedError, RunMismatchError, RunStore, run_lock
from featx.media import MediaWarning

SCORE = 0.9  # every square's face score


class SquareDetector(BaseDetector):
    """Stand-in face model: every bright square is a face; left to right within a frame."""

    name = "squares"

    def __init__(self, fail_after: int | None = None):
        super().__init__(device="cpu")
        self.batches_seen = 0
        self.frames_seen = 0
        self.fail_after = fail_after
        self.var_attrs = {"aus": {"kind": "score"}}
        self.labels = {"au": ["AU12"]}
        self.models = {
            "face": {"name": "squares", "repo": None, "license": "MIT", "non_commercial": False}
        }

    def process_batch(self, images):
        if self.fail_after is not None and self.batches_seen >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.batches_seen += 1
        self.frames_seen += len(images)
        results = []
        for img in images:
            n, _, stats, _ = cv2.connectedComponentsWithStats((img[..., 0] > 200).astype("u1"))
            boxes = stats[1:, :4].astype(float)
            boxes = boxes[np.argsort(boxes[:, 0])]
            n = (n - 1) * (SCORE >= self.face_detection_threshold)
            results.append(
                {
                    "face_rect": boxes[:n],
                    "face_score": np.full(n, SCORE),
                    "aus": np.full((n, 1), 0.5),
                }
            )
        return results


def write_video(path, n_frames, fps=20.0, size=(96, 64)):
    """Frame i has a 10x10 white square at x = 2 + 3*i (and a second one on even frames)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n_frames):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[20:30, 2 + 3 * i : 12 + 3 * i] = 255
        if i % 2 == 0:
            frame[40:50, 70:80] = 255
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "clip.avi", 12)


def test_detect_video_gives_valid_dataset_with_provenance(video):
    det = SquareDetector()
    ds = det.detect(video, batch_size=5, progress=False)
    schema.validate(ds)
    assert ds.sizes["frame"] == 12 and ds.sizes["face"] == 2
    assert det.batches_seen == 3
    np.testing.assert_allclose(ds["time"].values, np.arange(12) / 20.0)
    assert ds["source_frame"].values.tolist() == list(range(12))
    x = ds["face_rect"].sel(face=0, rect="x").values
    np.testing.assert_allclose(x, 2 + 3 * np.arange(12), atol=1)
    # odd frames have only one square: slot 1 is empty
    assert ds["face_rect"].isel(frame=1, face=1).isnull().all()
    assert ds["face_rect"].isel(frame=0, face=1).notnull().all()
    assert ds.attrs["detector"] == "squares"
    assert json.loads(ds.attrs["models"])["face"]["name"] == "squares"
    assert json.loads(ds.attrs["licenses"])["squares"]["non_commercial"] is False
    src = json.loads(ds.attrs["sources"])
    assert src[str(video)]["fps"] == 20.0 and src[str(video)]["n_frames"] == 12
    assert ds["aus"].attrs["kind"] == "score" and list(ds["au"].values) == ["AU12"]


def test_skip_frames_and_images(tmp_path, video):
    ds = SquareDetector().detect(video, skip_frames=4, progress=False)
    assert ds["source_frame"].values.tolist() == [0, 4, 8]
    img = np.zeros((40, 40, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)  # no face
    img[5:15, 5:15] = 255
    cv2.imwrite(str(tmp_path / "b.png"), img)
    ds = SquareDetector().detect(
        [tmp_path / "a.png", tmp_path / "b.png"], batch_size=2, progress=False
    )
    schema.validate(ds)
    assert np.isnan(ds["time"].values).all()
    assert ds["face_rect"].isel(frame=0).isnull().all()
    np.testing.assert_allclose(ds["face_rect"].isel(frame=1, face=0), [5, 5, 10, 10])


def test_output_is_written_per_batch_and_resumes(tmp_path, video):
    out = tmp_path / "run.nc"
    det = SquareDetector(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        det.detect(video, batch_size=3, output=out, progress=False)
    # the two finished batches are on disk; the final file is not yet written
    assert not out.exists()
    done, next_frame = RunStore(out).done()
    assert done == {(str(video), i) for i in range(6)} and next_frame == 6

    resumed = SquareDetector()
    ds = resumed.detect(video, batch_size=3, output=out, progress=False)
    assert resumed.frames_seen == 6  # only the frames that were missing
    assert out.exists() and not (tmp_path / "run.nc.parts").exists()
    full = SquareDetector().detect(video, batch_size=3, progress=False)
    np.testing.assert_array_equal(ds["face_rect"].values, full["face_rect"].values)
    assert ds["source_frame"].values.tolist() == list(range(12))
    on_disk = io.open_dataset(out)
    schema.validate(on_disk)
    np.testing.assert_array_equal(on_disk["face_rect"].values, full["face_rect"].values)

    again = SquareDetector()
    again.detect(video, batch_size=3, output=out, progress=False)
    assert again.frames_seen == 0  # everything was already on disk


@pytest.mark.requires("zarr")
def test_output_zarr(tmp_path, video):
    out = tmp_path / "run.zarr"
    ds = SquareDetector().detect(video, batch_size=4, output=out, progress=False)
    back = io.open_dataset(out)
    np.testing.assert_array_equal(back["face_rect"].values, ds["face_rect"].values)
    again = SquareDetector()
    again.detect(video, batch_size=4, output=out, progress=False)
    assert again.frames_seen == 0  # the finished store's record matches this call
    with pytest.raises(RunMismatchError, match="skip_frames=1 there, 2 now"):
        SquareDetector().detect(video, skip_frames=2, output=out, progress=False)


def test_errors_and_device(tmp_path):
    with pytest.raises(MediaError, match="missing.mp4"):
        SquareDetector().detect(tmp_path / "missing.mp4", progress=False)
    with pytest.raises(NotImplementedError):
        BaseDetector(device="cpu").process_batch([])
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")


def test_detect_runs_in_full_float32_and_restores_the_settings():
    import torch

    seen = []

    class Recorder(SquareDetector):
        def process_batch(self, images):
            seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
            return super().process_batch(images)

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        Recorder().detect(np.zeros((2, 32, 32, 3), np.uint8), progress=False)
        assert len(seen) == 2 and set(seen) == {(False, False)}
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_per_call_threshold_applies_to_that_call_only(video):
    det = SquareDetector()
    strict = det.detect(video, face_detection_threshold=0.95, progress=False)
    assert strict["face_rect"].isnull().all()  # every square scores 0.9
    assert det.face_detection_threshold == 0.5
    later = det.detect(video, progress=False)
    assert later["face_rect"].notnull().any()
    with pytest.raises(ValueError, match=r"face_detection_threshold must be a number in \[0, 1\]"):
        det.detect(video, face_detection_threshold=2.0, progress=False)
    with pytest.raises(TypeError, match="no per-call option 'nms'"):
        det.with_options(nms=0.3)


def test_a_resumable_run_validates_the_dataset_once(tmp_path, video, monkeypatch):
    calls = []
    validate = schema.validate
    monkeypatch.setattr(schema, "validate", lambda ds: calls.append(1) or validate(ds))
    det = SquareDetector(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        det.detect(video, batch_size=3, output=tmp_path / "run.nc", progress=False)
    assert calls == []  # the parts on disk are not validated one by one
    SquareDetector().detect(video, batch_size=3, output=tmp_path / "run.nc", progress=False)
    assert len(calls) == 1
    calls.clear()
    SquareDetector().detect(video, batch_size=3, progress=False)
    assert len(calls) == 1


# --------------------------------------------------------------------------- bad sources


def square_image(x: int) -> np.ndarray:
    img = np.zeros((40, 40, 3), np.uint8)
    img[10:20, x : x + 10] = 255
    return img


@pytest.fixture
def photos(tmp_path):
    """a.png, d.png: one square each; b.png: header fine, pixels cut off; c.jpg: garbage."""
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), square_image(5))
    cv2.imwrite(str(folder / "d.png"), square_image(20))
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = cv2.imencode(".png", noise)[1].tobytes()
    (folder / "b.png").write_bytes(data[: len(data) // 2])
    (folder / "c.jpg").write_bytes(np.random.default_rng(1).bytes(500))
    return folder


BAD = {"b.png": "cannot decode image", "c.jpg": "cannot decode image"}


def failed_names(ds) -> dict:
    return {Path(p).name: why for p, why in json.loads(ds.attrs["failed_sources"]).items()}


def test_bad_files_among_good_ones_are_skipped_and_recorded(photos):
    with pytest.warns(MediaWarning, match="2 of 4 sources were skipped") as got:
        ds = SquareDetector().detect(photos, batch_size=2, progress=False)
    (warning,) = got
    assert f"{photos / 'b.png'}: cannot decode image" in str(warning.message)
    assert f"{photos / 'c.jpg'}: cannot decode image" in str(warning.message)
    schema.validate(ds)
    assert [Path(s).name for s in ds["source"].values] == ["a.png", "d.png"]
    np.testing.assert_allclose(ds["face_rect"].isel(face=0), [[5, 10, 10, 10], [20, 10, 10, 10]])
    assert failed_names(ds) == BAD
    good = SquareDetector().detect([photos / "a.png", photos / "d.png"], progress=False)
    assert json.loads(good.attrs["failed_sources"]) == {}
    np.testing.assert_array_equal(good["face_rect"].values, ds["face_rect"].values)


def test_on_error_raise_fails_fast(photos):
    # c.jpg does not even parse: it stops the run before any frame
    with pytest.raises(MediaError, match=r"c\.jpg: cannot decode image"):
        SquareDetector().detect(photos, on_error="raise", progress=False)
    # b.png's header parses: it stops the run when its pixels are decoded
    det = SquareDetector()
    with pytest.raises(MediaError, match=r"b\.png: cannot decode image"):
        det.detect([photos / "a.png", photos / "b.png"], on_error="raise", progress=False)
    assert det.frames_seen == 1
    with pytest.raises(ValueError, match="on_error must be one of 'skip', 'raise'"):
        SquareDetector().detect(photos, on_error="ignore", progress=False)


def test_a_single_bad_source_raises(photos):
    for single in (photos / "b.png", photos / "c.jpg", [photos / "b.png"]):
        with pytest.raises(MediaError, match="cannot decode image"):
            SquareDetector().detect(single, progress=False)


def test_every_source_failing_raises_naming_them(photos):
    with pytest.raises(MediaError, match="every source failed") as info:
        SquareDetector().detect([photos / "b.png", photos / "c.jpg"], progress=False)
    assert f"{photos / 'b.png'}: cannot decode image" in str(info.value)
    assert f"{photos / 'c.jpg'}: cannot decode image" in str(info.value)


def test_failures_reach_the_output_file_and_a_rerun_retries_them(tmp_path, photos):
    out = tmp_path / "run.nc"
    with pytest.warns(MediaWarning):
        SquareDetector().detect(photos, output=out, progress=False)
    assert failed_names(io.open_dataset(out)) == BAD
    cv2.imwrite(str(photos / "b.png"), square_image(12))  # b.png is fixed, c.jpg is not
    again = SquareDetector()
    with pytest.warns(MediaWarning, match="1 of 4 sources were skipped"):
        ds = again.detect(photos, output=out, progress=False)
    assert again.frames_seen == 1  # only b.png: a and d are on disk
    on_disk = io.open_dataset(out)
    assert failed_names(on_disk) == {"c.jpg": "cannot decode image"}
    assert [Path(s).name for s in on_disk["source"].values] == ["a.png", "d.png", "b.png"]
    np.testing.assert_array_equal(on_disk["face_rect"].values, ds["face_rect"].values)


def test_identity_detectors_take_on_error(photos):
    class IdentitySquares(IdentityDetector, SquareDetector):
        pass

    with pytest.raises(MediaError, match=r"c\.jpg"):
        IdentitySquares().detect(photos, on_error="raise", progress=False)
    with pytest.warns(MediaWarning):
        ds = IdentitySquares().detect(photos, face_identity_threshold=0.5, progress=False)
    assert failed_names(ds) == BAD


# --------------------------------------------------------------------------- videos


def test_short_video_is_recorded_and_warned_about(tmp_path, video):
    rng = np.random.default_rng(2)
    full = tmp_path / "noisy.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(30):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = full.read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    with pytest.warns(MediaWarning, match=r"half\.avi: decoded \d+ of the 30 frames"):
        ds = SquareDetector().detect([half, video], batch_size=4, progress=False)
    src = json.loads(ds.attrs["sources"])
    n = int((ds["source"] == str(half)).sum())
    assert src[str(half)]["n_frames"] == 30 and src[str(half)]["n_frames_decoded"] == n < 30
    assert src[str(video)]["n_frames"] == src[str(video)]["n_frames_decoded"] == 12
    assert json.loads(ds.attrs["failed_sources"]) == {}


VFR = Path(__file__).parent / "data" / "vfr.mkv"  # tests/data/make_vfr.sh
VFR_TIMES = np.r_[np.arange(10) * 0.1, 1.0 + np.arange(10) * 0.5]


def test_time_is_the_frame_timestamp_through_an_interrupted_and_resumed_run(tmp_path):
    out = tmp_path / "vfr.nc"
    with pytest.raises(KeyboardInterrupt):
        SquareDetector(fail_after=2).detect(
            VFR, batch_size=3, skip_frames=2, output=out, progress=False
        )
    ds = SquareDetector().detect(VFR, batch_size=3, skip_frames=2, output=out, progress=False)
    assert ds["source_frame"].values.tolist() == list(range(0, 20, 2))
    np.testing.assert_allclose(ds["time"].values, VFR_TIMES[::2], atol=1e-3)
    np.testing.assert_allclose(io.open_dataset(out)["time"].values, VFR_TIMES[::2], atol=1e-3)
    assert json.loads(ds.attrs["sources"])[str(VFR)]["n_frames_decoded"] == 20


# ---------------------------------------------------------------------------------------------
# One writer per output, resuming only what this call wrote, finishing atomically

HOLD_LOCK = """
import sys, time
from featx.detectors.runstore import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_run_on_the_same_output_is_refused_at_once(tmp_path, video):
    out = tmp_path / "run.nc"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        det = SquareDetector()
        with pytest.raises(RunLockedError, match=rf"run\.nc: process {holder.pid} on .* is writ"):
            det.detect(video, batch_size=3, output=out, progress=False)
        assert det.frames_seen == 0 and not (tmp_path / "run.nc.parts").exists()
        assert isinstance(RunLockedError("x"), MediaError)
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding the lock: the kernel releases it
        holder.wait()
    assert (tmp_path / "run.nc.lock").exists()  # left behind by the killed holder
    ds = SquareDetector().detect(video, batch_size=3, output=out, progress=False)
    assert ds.sizes["frame"] == 12 and not (tmp_path / "run.nc.lock").exists()


def test_the_lock_is_released_when_a_run_fails(tmp_path, video):
    out = tmp_path / "run.nc"
    with pytest.raises(FileNotFoundError, match="folder .*missing does not exist"):
        SquareDetector().detect(video, output=tmp_path / "missing" / "run.nc", progress=False)
    with pytest.raises(KeyboardInterrupt):
        SquareDetector(fail_after=1).detect(video, batch_size=3, output=out, progress=False)
    with run_lock(out), pytest.raises(RunLockedError, match=f"process {os.getpid()} "):
        SquareDetector().detect(video, batch_size=3, output=out, progress=False)
    SquareDetector().detect(video, batch_size=3, output=out, progress=False)


def test_resume_refuses_parts_of_another_call(tmp_path, video):
    out = tmp_path / "run.nc"
    with pytest.raises(KeyboardInterrupt):
        SquareDetector(fail_after=2).detect(video, batch_size=3, output=out, progress=False)
    other = write_video(tmp_path / "other.avi", 12, fps=10.0)
    calls = {
        "source .*clip.avi there, not in this call": dict(inputs=other),
        r"detector config .*'face_detection_threshold': 0.5.* there, .*0.7": dict(
            inputs=video, face_detection_threshold=0.7
        ),
        "skip_frames=1 there, 2 now": dict(inputs=video, skip_frames=2),
    }
    for message, call in calls.items():
        det = SquareDetector()
        with pytest.raises(RunMismatchError, match=message) as err:
            det.detect(call.pop("inputs"), batch_size=3, output=out, progress=False, **call)
        assert "run.nc.parts holds the results of another call" in str(err.value)
        assert "Delete" in str(err.value) and det.frames_seen == 0
    # the same file changed since the parts were written
    os.utime(video, ns=(0, 0))
    with pytest.raises(RunMismatchError, match=r"clip.avi changed .*'mtime_ns': 0"):
        SquareDetector().detect(video, batch_size=3, output=out, progress=False)


def test_a_finished_output_is_not_merged_with_another_call(tmp_path, video):
    out = tmp_path / "run.nc"
    first = SquareDetector().detect(video, batch_size=3, output=out, progress=False)
    assert json.loads(first.attrs["run"])["config"]["detector"].endswith("SquareDetector")
    other = write_video(tmp_path / "other.avi", 5)
    with pytest.raises(RunMismatchError, match=r"run\.nc holds the results of another call"):
        SquareDetector().detect(other, output=out, progress=False)
    array = np.zeros((3, 32, 32, 3), np.uint8)
    io.save(SquareDetector().detect(array, progress=False), tmp_path / "plain.nc")
    with pytest.raises(RunMismatchError, match="plain.nc: exists but was not written by a"):
        SquareDetector().detect(array, output=tmp_path / "plain.nc", progress=False)
    SquareDetector().detect(array, output=tmp_path / "arr.nc", progress=False)
    with pytest.raises(RunMismatchError, match=r"<array> changed .*'sha256'"):
        SquareDetector().detect(array + 1, output=tmp_path / "arr.nc", progress=False)


def test_parts_of_unknown_origin_are_refused_with_what_to_delete(tmp_path, video):
    out = tmp_path / "run.nc"
    parts = tmp_path / "run.nc.parts"
    parts.mkdir()
    # a run record without parts (killed before its first part) blocks nothing
    (parts / "run.json").write_text(json.dumps({"config": {}, "sources": {}, "id": "x"}))
    assert SquareDetector().detect(video, output=out, progress=False).sizes["frame"] == 12
    assert not parts.exists()
    out.unlink()
    parts.mkdir()
    io.save(SquareDetector().detect(video, progress=False), parts / "part-000000.nc")
    with pytest.raises(RunMismatchError, match=r"run\.nc\.parts: parts without .* delete the"):
        SquareDetector().detect(video, output=out, progress=False)


def test_a_kill_between_writing_the_output_and_removing_the_parts(tmp_path, video, monkeypatch):
    out = tmp_path / "run.nc"
    # the run dies after its output is in place, before the parts are gone
    monkeypatch.setattr(runstore.shutil, "rmtree", lambda *a, **k: None)
    whole = SquareDetector().detect(video, batch_size=3, output=out, progress=False)
    monkeypatch.undo()
    assert out.exists() and len(list((tmp_path / "run.nc.parts").glob("part-*.nc"))) == 4
    det = SquareDetector()
    again = det.detect(video, batch_size=3, output=out, progress=False)
    assert det.frames_seen == 0 and not (tmp_path / "run.nc.parts").exists()
    assert again["source_frame"].values.tolist() == list(range(12))
    np.testing.assert_array_equal(again["face_rect"].values, whole["face_rect"].values)


def test_resume_continues_the_box_tracker(tmp_path):
    """Square A (frames 0-5) holds slot 0 while square B holds slot 1; B keeps slot 1 after A
    leaves. A resume at frame 6 that restarted the tracker would put B in slot 0."""
    path = tmp_path / "ab.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (96, 64))
    for i in range(12):
        frame = np.zeros((64, 96, 3), np.uint8)
        frame[40:50, 60 + i : 70 + i] = 255
        if i < 6:
            frame[10:20, 5:15] = 255
        writer.write(frame)
    writer.release()
    whole = SquareDetector().detect(path, batch_size=3, progress=False)
    assert whole["face_rect"].isel(frame=-1, face=0).isnull().all()
    out = tmp_path / "run.nc"
    with pytest.raises(KeyboardInterrupt):
        SquareDetector(fail_after=2).detect(path, batch_size=3, output=out, progress=False)
    state = json.loads((tmp_path / "run.nc.parts" / "state-000001.json").read_text())
    assert [t["slot"] for t in state["tracker"]["tracks"]] == [0, 1]
    resumed = SquareDetector().detect(path, batch_size=3, output=out, progress=False)
    np.testing.assert_array_equal(resumed["face_rect"].values, whole["face_rect"].values)


def test_pyfeat_detect_image_and_detect_video_are_aliases_of_detect(tmp_path, video):
    det = SquareDetector()
    clip = det.detect_video(video, skip_frames=None, progress_bar=False, batch_size=4)
    xr_equal = SquareDetector().detect(video, progress=False, batch_size=4)
    np.testing.assert_array_equal(clip["face_rect"].values, xr_equal["face_rect"].values)
    image = tmp_path / "a.png"
    frame = np.zeros((40, 40, 3), np.uint8)
    frame[5:15, 5:15] = 255
    cv2.imwrite(str(image), frame)
    out = tmp_path / "faces.nc"
    ds = det.detect_image([str(image)], save=out, progress_bar=False)
    assert out.exists() and ds.sizes["frame"] == 1
    np.testing.assert_allclose(ds["face_rect"].values[0, 0], [5, 5, 10, 10])
    with pytest.raises(TypeError, match=r"detect_image\(output_size=...\): featx does not rescale"):
        det.detect_image([str(image)], output_size=512)
    with pytest.raises(TypeError, match="detect_many"):
        det.detect_video(video, num_workers=4)
