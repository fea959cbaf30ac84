"""How far a resumed ``output=`` run is from an uninterrupted one, variable by variable.

Runs the kill sequence of ``tests/test_runs_resume.py`` (MPDetector on a 1,000-frame 160x120
video, a child process SIGKILLed after 3 parts, inside part 8's write and after 13 parts, then
a fourth that finishes) and prints, per variable, the largest difference from an uninterrupted
run and the number of frames where the two differ (NaN in both counts as equal).

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/resume_after_kills.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_runs_resume as kills  # noqa: E402

import featx  # noqa: E402
from featx import io  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    video, out = kills.write_video(tmp / "clip.avi"), tmp / "run.nc"
    kills._run_until(video, out, parts=3)
    kills._run_until(video, out, hang_at=8)
    kills._run_until(video, out, parts=13)
    kills._run_until(video, out, parts=10**6)
    whole = featx.MPDetector(**kills.OPTIONS).detect(video, batch_size=kills.BATCH, progress=False)
    resumed = io.open_dataset(out)
    for name in ("face_rect", "mesh", "aus", "blendshapes", "gaze", "head_pose"):
        a, b = resumed[name].values, whole[name].values
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        diff = np.nanmax(np.abs(a - b)) if not same.all() else 0.0
        frames = int((~same).reshape(len(a), -1).any(1).sum())
        print(f"{name:12s} max |resumed - uninterrupted| {diff:.4g}, frames differing {frames}")


if __name__ == "__main__":
    main()
