"""Decode speed and memory of featx.media on a synthetic video.

Usage: .venv/bin/python benchmarks/bench_media.py [n_frames] [width] [height]
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from featx import media


def write_video(path: Path, n_frames: int, width: int, height: int, fps: float = 30.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    for i in range(n_frames):
        writer.write(np.roll(base, i, axis=1))
    writer.release()


def main(n_frames: int = 600, width: int = 640, height: int = 360) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.avi"
        write_video(path, n_frames, width, height)
        for batch_size in (1, 16):
            tracemalloc.start()
            t0 = time.perf_counter()
            count = sum(len(b) for b in media.iter_frames(path, batch_size=batch_size))
            dt = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{width}x{height}, {count} frames, batch_size={batch_size}: "
                f"{count / dt:.0f} frames/s, peak traced memory {peak / 2**20:.1f} MiB "
                f"(all frames: {count * width * height * 3 / 2**20:.0f} MiB)"
            )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
