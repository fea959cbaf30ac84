"""Accuracy cost of tracking between face detections, where the weights are real: MPDetector
(bundled BlazeFace + Face Mesh) tracking its faces (the default: the face detector runs only
while fewer than ``max_faces`` faces are tracked, and every ``redetect_every`` frames then)
against the same detector with ``tracking=False`` (the face detector on every frame), on the
demo clip (featx.demo: the astronaut panned over 60 frames).

    python benchmarks/video_mode_accuracy.py

Prints the mean and 95th percentile landmark distance in pixels, the AU mean absolute
difference, and the frames where one run has a face and the other has none.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import featx
from featx import demo


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    clip = demo.write_video(folder / "clip.avi", demo.clip_frames(demo.astronaut()))
    runs, seconds = {}, {}
    for name, tracking in (("every_frame", False), ("tracked", True)):
        det = featx.MPDetector(max_faces=1, tracking=tracking)
        t = time.perf_counter()
        runs[name] = det.detect(clip, progress=False)
        seconds[name] = time.perf_counter() - t
    a, b = runs["every_frame"], runs["tracked"]
    la = a["landmarks"].isel(face=0).values
    lb = b["landmarks"].isel(face=0).values
    both = np.isfinite(la).all((1, 2)) & np.isfinite(lb).all((1, 2))
    d = np.linalg.norm(la[both] - lb[both], axis=-1).mean(-1)
    au = np.abs(a["aus"].isel(face=0).values[both] - b["aus"].isel(face=0).values[both])
    print(f"frames {len(la)}, with a face in both runs {both.sum()}")
    print(f"landmark px: mean {d.mean():.2f}, p95 {np.percentile(d, 95):.2f}, max {d.max():.2f}")
    print(f"AU MAE {np.nanmean(au):.4f}, worst AU {np.nanmax(np.nanmean(au, 0)):.4f}")
    print(f"seconds: every frame {seconds['every_frame']:.1f}, tracked {seconds['tracked']:.1f}")


if __name__ == "__main__":
    main()
