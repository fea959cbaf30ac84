"""Peak resident memory against input length: detectors on short and long videos, readers on
small and large CSVs.

Every job runs in a fresh process (``--child``); its peak is that process's ``ru_maxrss``, so
it includes Python, torch, OpenVINO, the models and the result. A detector job runs
``detect(video, output=<tmp>.nc)`` (results streamed to disk, the finished file written) and,
with ``--in-memory``, also without ``output=`` (the result kept in memory, as in a notebook).

- ``mp``: ``MPDetector()`` (bundled models) on a 320x180 MJPG video of the demo clip
  (``featx.demo.clip_frames``, one face panning and zooming), repeated to the length asked.
- ``v1`` / ``v2``: ``Detector`` / ``Detectorv2`` on 64x64 frames of the demo face, with the
  weights of the offline fake hub (``HF_HOME=/work/fakehub HF_HUB_OFFLINE=1``); its weights are
  conformance weights, not trained ones, so the face stage reports about fifteen new faces
  per frame, each its own face slot. ``v1`` runs only the face stage (every other
  ``*_model=None``), ``v2`` has no identity model. ``--threshold 1.0`` (no face passes) runs
  the face stage alone on every frame, without the spurious slots.
- ``openface`` / ``fex``: ``read_openface`` / ``read_fex`` on CSVs of about ``--mib`` MiB
  written as ``benchmarks/bench_readers.py`` writes them.

Usage: ``.venv/bin/python benchmarks/bench_memory.py mp --frames 1000 10000``,
``HF_HOME=/work/fakehub HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_memory.py v1
--frames 100 1000``, ``.venv/bin/python benchmarks/bench_memory.py openface fex --mib 20 200``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = {"mp": (320, 180), "v1": (64, 64), "v2": (64, 64)}


def write_video(path: Path, n_frames: int, size: tuple[int, int]) -> Path:
    """An MJPG video of the demo clip, there and back, ``n_frames`` long."""
    import cv2

    from featx import demo

    half = demo.clip_frames(demo.astronaut(), n=60, size=size)
    cycle = np.concatenate([half, half[::-1]])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    for i in range(n_frames):
        writer.write(cv2.cvtColor(cycle[i % len(cycle)], cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def detector(kind: str, threshold: float = 0.5):
    import featx

    if kind == "mp":
        return featx.MPDetector()
    if kind == "v1":
        off = ("landmark_model", "facepose_model", "au_model", "emotion_model")
        none = dict.fromkeys((*off, "identity_model", "gaze_model"))
        return featx.Detector(device="cpu", face_detection_threshold=threshold, **none)
    return featx.Detectorv2(identity_model=None, device="cpu", face_detection_threshold=threshold)


def child(kind: str, path: Path, output: Path | None, threshold: float) -> dict:
    """One job in this process: the peak RSS and what it produced."""
    t0 = time.perf_counter()
    if kind in ("openface", "fex"):
        from featx import io

        ds = getattr(io, f"read_{kind}")(path)
    else:
        ds = detector(kind, threshold).detect(path, output=output, progress=False)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "frames": int(ds.sizes["frame"]),
        "faces": int(ds.sizes.get("face", 0)),
        "result_mib": ds.nbytes / 2**20,
        "seconds": seconds,
        "peak_rss_mib": rss,
    }


def run_child(kind: str, path: Path, output: Path | None, threshold: float = 0.5) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--path", str(path)]
    cmd += ["--threshold", str(threshold)]
    cmd += ["--output", str(output)] if output else []
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}  # this checkout's featx
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def reader_csv(kind: str, tmp: Path, mib: float) -> Path:
    sys.path.insert(0, str(HERE))
    import bench_readers

    rng = np.random.default_rng(0)
    if kind == "openface":  # 9000 rows are 61 MiB
        return bench_readers.openface_csv(tmp / f"of{mib:g}.csv", int(9000 * mib / 61), rng)
    return bench_readers.fex_csv(tmp / f"fex{mib:g}.csv", int(2000 * mib / 82), rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", choices=["mp", "v1", "v2", "openface", "fex"])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--mib", type=float, nargs="+", default=[20, 200])
    parser.add_argument("--in-memory", action="store_true", help="also run without output=")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="v1/v2 face_detection_threshold"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.jobs[0], args.path, args.output, args.threshold)))
        return
    print(f"load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.jobs:
            rows = []
            if kind in SIZES:
                for n in args.frames:
                    video = write_video(tmp / f"{kind}{n}.avi", n, SIZES[kind])
                    for out in [tmp / f"{kind}{n}.nc"] + ([None] if args.in_memory else []):
                        r = run_child(kind, video, out, args.threshold)
                        rows.append((f"{n} frames, output={'file' if out else 'None'}", r))
                        print(kind, rows[-1], flush=True)
                    video.unlink()
            else:
                for mib in args.mib:
                    path = reader_csv(kind, tmp, mib)
                    r = run_child(kind, path, None)
                    size = path.stat().st_size / 2**20
                    rows.append((f"{size:.0f} MiB CSV", r))
                    print(kind, rows[-1], flush=True)
                    path.unlink()
            base = rows[0][1]["peak_rss_mib"]
            for label, r in rows:
                print(
                    f"{kind}: {label}: peak RSS {r['peak_rss_mib']:.0f} MiB "
                    f"({r['peak_rss_mib'] / base:.2f}x the first), result {r['result_mib']:.1f} "
                    f"MiB, {r['frames']} frames x {r['faces']} face slots, {r['seconds']:.0f} s"
                )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
