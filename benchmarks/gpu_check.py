"""The detectors on a CUDA GPU against the CPU: same numbers, and how fast.

Run on a machine with CUDA (falls back to comparing the CPU with itself elsewhere):

1. MPDetector (torch backend on CUDA) vs the CPU torch backend on the astronaut photo and the
   5-face composite: largest mesh, blendshape and head-pose differences; then frames/s on a
   300-frame 640x360 one-face video.
2. Detectorv2's network under bfloat16 autocast vs float32 on the conformance input
   (``bench_v2.py amp``).
3. featx.Detector (RetinaFace, mobilefacenet, pose_mlp, resmasknet, arcface, l2cs; deterministic
   weights from an offline hub cache built like tests/test_detector_v1.py) on CUDA vs CPU.

4. Detectorv2 and Detector (defaults) at batch 1 / 16 / 64 in float32 and bfloat16
   (Detectorv2(amp=True), CUDA only; Detector has no bfloat16 mode): frames/s end to end on a
   64-frame 640x360 clip with one face box given (``face_boxes``), ms per frame of the face
   detector (RetinaFace) and of the other stages, and the largest difference from the CPU
   torch backend at batch 16. Needs the Py-Feat weights under HF_HOME (the fake hub of
   ../shared/pyfeat_bench/make_fake_hub.py will do: ``HF_HOME=DIR HF_HUB_OFFLINE=1``).

Usage: python benchmarks/gpu_check.py [--device cuda|cpu] [--no-tf32] [--only matrix]
[--frames 64]
(from the repository root, featx importable). ``--device`` defaults to CUDA when present;
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
if "--device" in sys.argv:
    DEVICE = sys.argv[sys.argv.index("--device") + 1]
BOX = [222.0, 98.0, 378.0, 302.0]
N_FRAMES = int(sys.argv[sys.argv.index("--frames") + 1]) if "--frames" in sys.argv else 64


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


def _clip(n: int = 64) -> np.ndarray:
    """n 640x360 frames: a smooth pattern that moves (no faces needed: the box is given)."""
    y, x = np.mgrid[0:360, 0:640]
    return np.stack(
        [np.dstack([(x + 4 * i) % 256, (y + 2 * i) % 256, (x + y) % 256]) for i in range(n)]
    ).astype(np.uint8)


def _timed(fn) -> float:
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _stage_seconds(det, face_net, frames: np.ndarray, batch: int) -> tuple[float, float]:
    """Seconds of detect() with the box given, and of RetinaFace alone, over ``frames``."""
    from featx.nn.retinaface import detect_faces

    def run() -> None:
        det.detect(frames, batch_size=batch, progress=False, face_boxes=[BOX])

    def faces() -> None:
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                detect_faces(face_net, list(frames[i : i + batch]))

    run()  # warm-up
    return _timed(run), _timed(faces)


def check_matrix() -> None:
    import featx

    frames = _clip(N_FRAMES)
    names = {"v2": ["mesh", "aus", "emotions", "gaze"], "v1": ["landmarks", "aus", "emotions"]}
    for key, cls in (("v2", featx.Detectorv2), ("v1", featx.Detector)):
        reference = cls(device="cpu", backend="torch").detect(
            frames[:16], batch_size=16, progress=False, face_boxes=[BOX]
        )
        for dtype in ("float32", "bfloat16"):
            if dtype == "bfloat16" and (key == "v1" or not DEVICE.startswith("cuda")):
                why = "Detector has no bfloat16 mode" if key == "v1" else "needs CUDA"
                print(f"{cls.__name__} {dtype} on {DEVICE}: unmeasured ({why})")
                continue
            kw = {"amp": True} if dtype == "bfloat16" else {}
            det = cls(device=DEVICE, **kw)
            face_net = det.nets["face"] if key == "v2" else det.nets["face_model"]
            for batch in (1, 16, 64):
                total, face = _stage_seconds(det, face_net, frames, batch)
                print(
                    f"{cls.__name__} {dtype} on {DEVICE} (backend {det.backend}) batch {batch}:"
                    f" {len(frames) / (total + face):.1f} frames/s with RetinaFace,"
                    f" {len(frames) / total:.1f} with the box given; ms/frame: face detector "
                    f"{1000 * face / len(frames):.1f}, others {1000 * total / len(frames):.1f}"
                )
            got = det.detect(frames[:16], batch_size=16, progress=False, face_boxes=[BOX])
            diffs = largest_differences(got, reference, names[key])
            print(f"  largest |difference| vs CPU torch at batch 16: {diffs}")
    if not DEVICE.startswith("cuda"):
        print("GPU: unmeasured (no CUDA device here)")


def main() -> None:
    if "--no-tf32" in sys.argv:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    print(f"TF32 in cuDNN, matmul: {tf32}")
    print(f"torch {torch.__version__}, device {DEVICE}", end="")
    print(f" ({torch.cuda.get_device_name()})" if DEVICE == "cuda" else "")
    checks = (check_mp, check_v2_amp, check_v1, check_matrix)
    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1]
        checks = tuple(c for c in checks if c.__name__ == f"check_{only}")
    for check in checks:
        try:
            check()
        except Exception as error:  # report every check, even when one fails
            print(f"{check.__name__} FAILED: {type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
