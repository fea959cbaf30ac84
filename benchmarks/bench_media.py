"""Decode speed and memory of featx.media on a synthetic video, and a folder of images.

The folder part times ``probe`` and then ``iter_frames`` over the same folder of JPEGs (what
``detect()`` does) and counts the ``cv2.imdecode`` calls: one per image.

Usage: .venv/bin/python benchmarks/bench_media.py [n_frames] [width] [height] [n_images]
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


def bench_folder(n_images: int, width: int, height: int) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n_images):
            cv2.imwrite(str(Path(tmp) / f"{i:05d}.jpg"), np.roll(base, i, axis=0))
        decode, calls = cv2.imdecode, []
        cv2.imdecode = lambda *a, **k: calls.append(1) or decode(*a, **k)
        try:
            t0 = time.perf_counter()
            media.probe(tmp)
            t1 = time.perf_counter()
            count = sum(len(b) for b in media.iter_frames(tmp, batch_size=16))
            t2 = time.perf_counter()
        finally:
            cv2.imdecode = decode
        print(
            f"folder of {count} {width}x{height} JPEGs: probe {1e3 * (t1 - t0) / count:.2f} ms "
            f"per image, iter_frames {1e3 * (t2 - t1) / count:.2f} ms per image, "
            f"{len(calls)} decodes"
        )


def main(n_frames: int = 600, width: int = 640, height: int = 360, n_images: int = 200) -> None:
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
    bench_folder(n_images, width, height)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
