"""Studies: frames/s of one process vs a 2-worker LocalCluster, and open_study's memory curve.

1. Throughput. ``--videos`` clips of the demo media (``--frames`` frames each, 640x360 MJPG)
   through ``MPDetector``: ``detect`` on each clip in turn in this process (torch's default
   threads) against ``featx.detect_many`` on a ``LocalCluster(n_workers=2,
   threads_per_worker=1)`` started beforehand. Both are warmed up once (models built; the
   workers keep theirs), then timed ``--repeat`` times each, interleaved, each detect_many
   into a fresh study folder. The ratio is cluster frames/s over one-process frames/s.
2. Memory. For 50, 100 and 200 synthetic videos (``tests/study_data.py``: 600 frames each,
   2 AUs, the 478-vertex mesh; no detection) a fresh interpreter runs ``open_study`` +
   ``smooth`` + ``regress_mixed(groups="subject")`` and reports its peak RSS (VmHWM) before and
   after, the seconds of each step and the data size.

Usage: .venv/bin/python benchmarks/bench_study.py [--videos 4 --frames 30 --repeat 2]
       [--skip-throughput] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PROBE = r"""
import json, re, sys, time
import numpy as np
import dask.array, statsmodels.regression.mixed_linear_model, zarr
import featx

def peak():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1)) / 1024

base, t0 = peak(), time.perf_counter()
ds = featx.open_study(sys.argv[1])
t1, after_open = time.perf_counter(), peak()
smooth = ds.feat.smooth(window=5, variables="aus")
fit = smooth.feat.regress_mixed(np.sin(np.arange(ds.sizes["frame"]) / 50.0), "aus",
                                groups="subject")
t2 = time.perf_counter()
print(json.dumps({"base": base, "after_open": after_open, "peak": peak(),
                  "open_s": t1 - t0, "analysis_s": t2 - t1, "frames": ds.sizes["frame"]}))
"""


def write_clips(folder: Path, n_videos: int, n_frames: int) -> list[Path]:
    import cv2

    from featx.demo import astronaut, clip_frames

    folder.mkdir(parents=True, exist_ok=True)
    frames = clip_frames(astronaut(), n=n_frames)
    paths = []
    for k in range(n_videos):
        path = folder / f"clip{k}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
        for frame in frames:
            writer.write(frame[..., ::-1])
        writer.release()
        paths.append(path)
    return paths


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    from distributed import Client, LocalCluster

    import featx

    clips = write_clips(tmp / "videos", args.videos, args.frames)
    total = args.videos * args.frames
    detector = featx.MPDetector()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        runs = {"one process": [], "2-worker LocalCluster": []}

        def one_process() -> float:
            start = time.perf_counter()
            for clip in clips:
                detector.detect(clip, progress=False)
            return time.perf_counter() - start

        def cluster_run(k: int) -> float:
            start = time.perf_counter()
            out = tmp / f"study{k}"
            manifest = featx.detect_many(
                tmp / "videos", detector, out, client=client, progress=False
            )
            assert (manifest["status"] == "done").all()
            return time.perf_counter() - start

        one_process()  # warm-up: models built here and on both workers
        cluster_run(-1)
        for k in range(args.repeat):
            runs["one process"].append(one_process())
            runs["2-worker LocalCluster"].append(cluster_run(k))
    print(f"throughput: {args.videos} clips x {args.frames} frames (640x360), MPDetector")
    best = {}
    for name, seconds in runs.items():
        best[name] = total / min(seconds)
        print(f"  {name:22s} " + ", ".join(f"{total / s:.2f}" for s in seconds) + " frames/s")
    ratio = best["2-worker LocalCluster"] / best["one process"]
    print(f"  ratio (best cluster / best one process): {ratio:.2f}")


def memory(tmp: Path) -> None:
    from study_data import data_bytes, write_study

    spec = {"n_frames": 600, "aus": ("AU06", "AU12")}
    print("memory: open_study + smooth + regress_mixed, 600 frames per video, VmHWM in MiB")
    for n in (50, 100, 200):
        folder = tmp / f"mem{n}"
        write_study(folder, n, **spec)
        run = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", PROBE, str(folder)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        got = json.loads(run.stdout.strip().splitlines()[-1])
        print(
            f"  {n:3d} videos, data {data_bytes(n, **spec) / 2**20:6.0f} MiB: base "
            f"{got['base']:.0f}, after open_study {got['after_open']:.0f}, peak {got['peak']:.0f};"
            f" open_study {got['open_s']:.1f} s, smooth + regress_mixed {got['analysis_s']:.1f} s"
        )
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()))  # fmt: skip
    tmp = Path(tempfile.mkdtemp())
    try:
        if not args.skip_throughput:
            throughput(args, tmp)
        if not args.skip_memory:
            memory(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("load average at the end " + " ".join(f"{v:.1f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
