"""How fast the viewer (featx.widgets) scrubs: time per slider step, new frames and revisited ones.

Builds a synthetic video and a Dataset with every overlay, AUs and emotions for two faces, then
moves the slider from Python (what a browser drag sends to the kernel) and times each step:
decoding, drawing the frame with overlays, the two bar panels, the time-series cursor and the
PNG encoding. No browser; the round trip to the page adds to this.

Usage: .venv/bin/python benchmarks/bench_widgets.py [n_frames] [width] [height]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from featx import schema
from featx.widgets import view


def write_video(path: Path, n_frames: int, width: int, height: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    base = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    for i in range(n_frames):
        writer.write(np.roll(base, 4 * i, axis=1))
    writer.release()


def dataset(path: Path, n_frames: int, width: int, height: int):
    rng = np.random.default_rng(1)
    frames = []
    for k in range(n_frames):
        boxes = np.array([[0.1 * width + k, 0.2 * height, 0.25 * width, 0.5 * height],
                          [0.6 * width, 0.25 * height, 0.2 * width, 0.45 * height]])  # fmt: skip
        frames.append({
            "face_rect": boxes,
            "keypoints": boxes[:, None, :2] + rng.uniform(0.2, 0.8, (2, 5, 2)) * boxes[:, None, 2:],
            "landmarks": boxes[:, None, :2] + rng.uniform(0, 1, (2, 68, 2)) * boxes[:, None, 2:],
            "head_pose": rng.uniform(-30, 30, (2, 3)),
            "gaze": rng.uniform(-20, 20, (2, 2)),
            "aus": rng.uniform(0, 1, (2, 20)),
            "emotions": rng.dirichlet(np.ones(7), 2),
        })  # fmt: skip
    attrs = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}
    return schema.from_frames(
        frames, [str(path)] * n_frames, range(n_frames), np.arange(n_frames) / 30.0,
        var_attrs=attrs,
    )  # fmt: skip


def _ms(values: list[float]) -> str:
    return f"median {1000 * statistics.median(values):.0f} ms (best {1000 * min(values):.0f} ms)"


def main(n_frames: int = 120, width: int = 640, height: int = 360) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.avi"
        write_video(path, n_frames, width, height)
        ds = dataset(path, n_frames, width, height)
        t0 = time.perf_counter()
        viewer = view(ds, cache_size=32)
        build = time.perf_counter() - t0

        def step(k: int) -> float:
            t = time.perf_counter()
            viewer.slider.value = k
            return time.perf_counter() - t

        new = [step(k) for k in range(1, min(n_frames, 31))]  # 30 frames, each decoded once
        revisit = [step(k) for k in range(min(n_frames, 31) - 2, 0, -1)]  # back: all cached
        toggles = []
        for name in ("gaze", "pose", "boxes", "labels"):
            for value in (False, True):
                t = time.perf_counter()
                viewer.toggles[name].value = value
                toggles.append(time.perf_counter() - t)
        info = viewer.cache_info()
    print(f"{width}x{height} video, {n_frames} frames, 2 faces, every overlay, AUs and emotions")
    print(f"build the viewer: {1000 * build:.0f} ms")
    print(f"slider step to a new frame: {_ms(new)}")
    print(f"slider step to a cached frame: {_ms(revisit)}")
    print(f"overlay toggle (redraws the frame panel only): {_ms(toggles)}")
    print(f"decoded-frame cache: {info.hits} hits, {info.misses} misses")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
