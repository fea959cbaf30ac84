"""The detectors on a CUDA GPU against the CPU: same numbers, and how fast.

Run on a machine with CUDA (falls back to comparing the CPU with itself elsewhere):

1. MPDetector (torch backend on CUDA) vs the CPU torch backend on the astronaut photo and the
   5-face composite: largest mesh, blendshape and head-pose differences; then frames/s on a
   300-frame 640x360 one-face video.
2. Detectorv2's network under bfloat16 autocast vs float32 on the conformance input
   (``bench_v2.py amp``).
3. featx.Detector (RetinaFace, mobilefacenet, pose_mlp, resmasknet, arcface, l2cs; deterministic
   weights from an offline hub cache built like tests/test_detector_v1.py) on CUDA vs CPU.

Usage: python benchmarks/gpu_check.py [--no-tf32]   (from the repository root, featx importable)
``--no-tf32`` turns off TensorFloat-32 in cuDNN convolutions and matrix products (PyTorch lets
cuDNN use it by default).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def largest_differences(a, b, names: list[str]) -> str:
    return ", ".join(
        f"{n} {float(np.nanmax(np.abs(a[n].values - b[n].values))):.3g}" for n in names
    )


def check_mp() -> None:
    import bench_mp
    from test_mp_detector import REFS

    import featx
    from featx import demo

    images = {"astronaut": demo.astronaut(), "composite": REFS["composite"]["image"]}
    gpu = featx.MPDetector(device=DEVICE)
    cpu = featx.MPDetector(device="cpu", backend="torch")
    print(f"MPDetector on {DEVICE} (backend {gpu.backend}) vs CPU torch:")
    for name, image in images.items():
        a, b = gpu.detect(image, progress=False), cpu.detect(image, progress=False)
        faces = int(a["face_rect"].notnull().all("rect").sum())
        diffs = largest_differences(a, b, ["mesh", "blendshapes", "head_pose", "emotions"])
        print(f"  {name}: {faces} faces; largest |difference|: {diffs}")
    with tempfile.TemporaryDirectory() as tmp:
        video = bench_mp.write_clip(Path(tmp) / "clip.avi", 300)
        gpu.detect(video, progress=False)  # warm-up
        start = time.perf_counter()
        ds = gpu.detect(video, progress=False)
        seconds = time.perf_counter() - start
    found = float(ds["face_rect"].notnull().all("rect").any("face").mean())
    print(f"  video 640x360 x 300: {300 / seconds:.1f} frames/s, face in {100 * found:.0f}%")


def check_v2_amp() -> None:
    import bench_v2

    bench_v2.bench_amp()


def check_v1() -> None:
    from hubcache import put_in_hub_cache, use_hf_home
    from test_detector_v1 import DEFAULTS, THRESHOLD, _files

    import featx
    from featx import hub

    stages = [m for m in DEFAULTS if m != "xgb_au"]  # xgboost runs on the CPU anyway
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        home = Path(tmp)
        for model_id in stages:
            put_in_hub_cache(home, hub.card(model_id).repo, _files(model_id))
        use_hf_home(mp, home)
        frame = np.load(ROOT / "tests/conformance/retinaface/ref.npz")["image"]
        frames = np.stack([np.roll(frame, s, axis=1) for s in (0, 4, 8, 12)])
        runs = []
        for device in (DEVICE, "cpu"):
            det = featx.Detector(au_model=None, device=device)
            runs.append(det.detect(frames, progress=False, face_detection_threshold=THRESHOLD))
            start = time.perf_counter()
            det.detect(frames, progress=False, face_detection_threshold=THRESHOLD)
            print(
                f"Detector on {device}: {len(frames) / (time.perf_counter() - start):.1f} frames/s"
            )
        names = ["face_rect", "landmarks", "head_pose", "emotions", "embedding", "gaze"]
        print("  largest |difference| vs CPU:", largest_differences(*runs, names))


def main() -> None:
    if "--no-tf32" in sys.argv:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    print(f"TF32 in cuDNN, matmul: {tf32}")
    print(f"torch {torch.__version__}, device {DEVICE}", end="")
    print(f" ({torch.cuda.get_device_name()})" if DEVICE == "cuda" else "")
    for check in (check_mp, check_v2_amp, check_v1):
        try:
            check()
        except Exception as error:  # report every check, even when one fails
            print(f"{check.__name__} FAILED: {type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
