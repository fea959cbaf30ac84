"""A killed ``output=`` run, resumed, gives what an uninterrupted run gives: MPDetector on a
1,000-frame video killed (SIGKILL) at three points, one of them inside a part's write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import skimage.data
import torch

import featx
from featx import io

N_FRAMES = 1000
BATCH = 50
#: MPDetector options of these runs: one face, no emotion model, so 1,000 frames take seconds.
OPTIONS = {"emotions": False, "max_faces": 1}
#: The face is off the canvas for these frames, so the tracker loses it and detects it again.
GONE = range(400, 406)

# The child: one detect call on the output; with a HANG_AT index it stops inside that part's
# write (its state written, its netCDF temporary file written, not yet moved into place).
CHILD = """
import sys, time, torch
torch.set_num_threads(1)
import featx, xarray
video, output, hang_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
if hang_at >= 0:
    real = xarray.Dataset.to_netcdf
    def to_netcdf(self, path, *args, **kwargs):
        out = real(self, path, *args, **kwargs)
        if f"part-{hang_at:06d}" in str(path):
            open(output + ".hanging", "w").close()
            time.sleep(600)
        return out
    xarray.Dataset.to_netcdf = to_netcdf
det = featx.MPDetector(**{OPTIONS})
det.detect(video, output=output, batch_size={BATCH}, progress=False)
""".replace("{OPTIONS}", repr(OPTIONS)).replace("{BATCH}", str(BATCH))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread, as in the children (see tests/test_mp_detector.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_video(path, n_frames: int = N_FRAMES) -> str:
    """The astronaut's face (72 px) moving over a grey 160x120 canvas, MJPG at 25 fps."""
    face = cv2.resize(skimage.data.astronaut()[20:240, 130:350], (72, 72))[..., ::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for i in range(n_frames):
        frame = np.full((120, 160, 3), 90, np.uint8)
        if i not in GONE:
            x = round(44 + 40 * np.sin(i / 40))
            y = round(24 + 16 * np.sin(i / 23))
            frame[y : y + 72, x : x + 72] = face
        writer.write(frame)
    writer.release()
    return str(path)


def _parts(output) -> int:
    parts = output.with_name(output.name + ".parts")
    return len(list(parts.glob("part-*.nc"))) if parts.exists() else 0


def _run_until(video, output, *, parts: int = 0, hang_at: int = -1, timeout: float = 120):
    """Start a child on ``output`` and SIGKILL it once ``parts`` parts exist or it hangs inside
    part ``hang_at``'s write; None when the child finished first."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, video, str(output), str(hang_at)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    hanging = output.with_name(output.name + ".hanging")
    deadline = time.monotonic() + timeout
    try:
        while child.poll() is None and time.monotonic() < deadline:
            if (hang_at >= 0 and hanging.exists()) or (hang_at < 0 and _parts(output) >= parts):
                child.send_signal(signal.SIGKILL)
                child.wait()
                hanging.unlink(missing_ok=True)
                return child.returncode
            time.sleep(0.005)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, "the child failed"
    return None


@pytest.mark.slow
def test_killed_three_times_gives_the_uninterrupted_result(tmp_path):
    video = write_video(tmp_path / "clip.avi")
    output = tmp_path / "run.nc"
    parts_dir = tmp_path / "run.nc.parts"

    assert _run_until(video, output, parts=3) == -signal.SIGKILL
    first = _parts(output)
    # killed inside a write: part 8's state and netCDF temporary file are there, the part is not
    assert _run_until(video, output, hang_at=8) == -signal.SIGKILL
    assert _parts(output) == 8 and (parts_dir / "state-000008.json").exists()
    assert list(parts_dir.glob(".part-000008.nc*.tmp"))
    assert _run_until(video, output, parts=13) == -signal.SIGKILL
    assert 3 <= first < 8 < _parts(output) < N_FRAMES // BATCH
    assert _run_until(video, output, parts=10**6) is None  # the last run finishes
    assert output.exists() and not parts_dir.exists()

    whole = featx.MPDetector(**OPTIONS).detect(video, batch_size=BATCH, progress=False)
    resumed = io.open_dataset(output)
    assert resumed["source_frame"].values.tolist() == list(range(N_FRAMES))
    assert resumed["frame"].values.tolist() == list(range(N_FRAMES))
    # the face was lost and found again: tracking state really mattered
    found = resumed["face_rect"].notnull().all("rect").values[:, 0]
    assert not found[list(GONE)].any() and found.sum() == N_FRAMES - len(GONE)
    for name in whole.data_vars:
        np.testing.assert_array_equal(resumed[name].values, whole[name].values, err_msg=name)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", 40)


def test_an_interrupted_run_resumes_with_its_tracking_state(tmp_path, clip):
    """In one process: interrupted after two batches, resumed by a new detector, whose tracker
    starts from the saved state, not cold (a cold start detects the face again: other boxes)."""
    det = featx.MPDetector(**OPTIONS)
    whole = det.detect(clip, batch_size=8, progress=False)
    out = tmp_path / "run.nc"
    process, calls = det.process_frames, []

    def fail_third(batch):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(1)
        return process(batch)

    det.process_frames = fail_third
    with pytest.raises(KeyboardInterrupt):
        det.detect(clip, batch_size=8, output=out, progress=False)
    resumed = featx.MPDetector(**OPTIONS).detect(clip, batch_size=8, output=out, progress=False)
    assert resumed["source_frame"].values.tolist() == list(range(40))
    for name in whole.data_vars:
        np.testing.assert_array_equal(resumed[name].values, whole[name].values, err_msg=name)


def test_config_names_what_changes_results_and_rebuilds_the_detector():
    det = featx.MPDetector("short", max_faces=2, redetect_every=10, emotions=False)
    config = det.config()
    assert config["detector"] == "featx.detectors.mp.MPDetector"
    assert config["options"]["max_faces"] == 2 and config["options"]["face_detector"] == "short"
    assert "device" not in config["options"]
    assert json.loads(json.dumps(config)) == config
    rebuilt = featx.MPDetector(**config["options"])
    assert rebuilt.config() == config
    assert det.with_options(face_detection_threshold=0.8).config()["options"] == {
        **config["options"],
        "face_detection_threshold": 0.8,
    }
