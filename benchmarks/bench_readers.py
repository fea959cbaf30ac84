"""Speed and peak memory of the readers and of to_tidy on files of realistic size.

Writes, in a temporary folder, an OpenFace 2.x CSV of a 5-minute 30 fps video (9000 rows x
714 columns, ", "-separated as OpenFace writes it) and a Py-Feat Detectorv2 CSV of 2000 faces
(2179 columns: Detectorv2's without FrameHeight, FrameWidth and Identity), then times
``read_openface``, ``read_fex`` and ``to_tidy`` (best of ``--repeat`` runs) and traces the
peak Python memory of one more run each.

With ``--affectiva-mib N`` it instead writes an Affectiva JSON array of about N MiB (one
object per video frame, every key the SDK writes) and reports the peak resident memory of
``read_affectiva`` on it, run in a fresh process (each ``--featx PATH`` runs it once more with
that checkout first on the path, to compare before and after).

Usage: ``.venv/bin/python benchmarks/bench_readers.py [--rows 9000] [--repeat 3]``,
``.venv/bin/python benchmarks/bench_readers.py --affectiva-mib 200 [--featx /path/to/checkout]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from featx import io, schema


def openface_csv(path: Path, rows: int, rng: np.random.Generator) -> Path:
    aus_r = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23",
             "25", "26", "45"]  # fmt: skip
    header = [
        "frame", "face_id", "timestamp", "confidence", "success",
        *[f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"], "gaze_angle_x", "gaze_angle_y",
        *[f"eye_lmk_{a}_{i}" for a in "xy" for i in range(56)],
        *[f"eye_lmk_{a}_{i}" for a in "XYZ" for i in range(56)],
        "pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz",
        *[f"{a}_{i}" for a in "xy" for i in range(68)],
        *[f"{a}_{i}" for a in "XYZ" for i in range(68)],
        "p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty", *[f"p_{i}" for i in range(34)],
        *[f"AU{a}_r" for a in aus_r], *[f"AU{a}_c" for a in sorted([*aus_r, "28"])],
    ]  # fmt: skip
    values = rng.uniform(0, 1, (rows, len(header)))
    values[:, 0] = np.arange(1, rows + 1)
    values[:, 1] = 0
    values[:, 2] = np.arange(rows) / 30
    values[:, 4] = rng.uniform(size=rows) > 0.02
    gaze = [header.index(f"gaze_{e}_z") for e in (0, 1)]
    values[:, gaze] = -values[:, gaze] - 0.5
    np.savetxt(path, values, fmt="%.6g", delimiter=", ", header=", ".join(header), comments="")
    print(
        f"OpenFace CSV: {rows} rows x {len(header)} columns, {path.stat().st_size / 2**20:.0f} MiB"
    )
    return path


def fex_csv(path: Path, faces: int, rng: np.random.Generator) -> Path:
    v2 = [
        "FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore",
        *[f"{a}_{i}" for a in "xy" for i in range(68)],
        "Pitch", "Roll", "Yaw", "X", "Y", "Z", *schema.AUS,
        "Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "valence", "arousal",
        "gaze_pitch", "gaze_yaw", "gaze_angle", *[f"Identity_{i}" for i in range(1, 513)],
        *[f"mesh_{a}_{i}" for a in "xyz" for i in range(478)], *schema.BLENDSHAPES,
    ]  # fmt: skip
    table = pd.DataFrame(rng.uniform(0.01, 0.3, (faces, len(v2))), columns=v2)
    emotions = ["Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger"]
    table[emotions] = table[emotions].div(table[emotions].sum(axis=1), axis=0)
    table["input"] = "video.mp4"
    table["frame"] = np.arange(faces)
    table.to_csv(path, index=False)
    size = path.stat().st_size / 2**20
    print(f"Fex v2 CSV: {faces} rows x {table.shape[1]} columns, {size:.0f} MiB")
    return path


AFFECTIVA_KEYS = (
    "joy", "sadness", "disgust", "contempt", "anger", "fear", "surprise", "valence", "engagement",
    "smile", "innerBrowRaise", "browRaise", "browFurrow", "noseWrinkle", "upperLipRaise",
    "lipCornerDepressor", "chinRaise", "lipPucker", "lipPress", "lipSuck", "mouthOpen", "smirk",
    "eyeClosure", "attention", "lidTighten", "jawDrop", "dimpler", "eyeWiden", "cheekRaise",
    "lipStretch",
)  # fmt: skip


def affectiva_json(path: Path, mib: float, rng: np.random.Generator) -> Path:
    """An Affectiva JSON array of about ``mib`` MiB: one object per frame of one video."""
    with path.open("w") as f:
        f.write("[\n")
        frame = 0
        while f.tell() < mib * 2**20:
            values = rng.uniform(0, 100, (1000, len(AFFECTIVA_KEYS))).round(4)
            for row in values:
                record = dict(zip(AFFECTIVA_KEYS, row.tolist(), strict=True))
                record |= {"valence": record["valence"] - 50, "FileName": "video.mp4"}
                record["Timestamp"] = frame / 30
                f.write(("" if frame == 0 else ",\n") + json.dumps(record))
                frame += 1
        f.write("\n]\n")
    print(f"Affectiva JSON: {frame} objects, {path.stat().st_size / 2**20:.0f} MiB")
    return path


def affectiva_peak(path: Path, featx: str | None) -> None:
    """Peak resident memory of read_affectiva(path) in a fresh process."""
    code = (
        "import sys, time, resource, featx; from featx import io; t = time.perf_counter(); "
        f"ds = io.read_affectiva({str(path)!r}); "
        "print(featx.__file__, ds.sizes['frame'], 'frames', "
        "f'{time.perf_counter() - t:.1f} s', "
        "f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB peak RSS')"
    )
    env = dict(os.environ, PYTHONPATH=featx or str(Path(io.__file__).parents[2]))
    subprocess.run([sys.executable, "-c", code], env=env, cwd=path.parent, check=True)


def measure(label: str, call, repeat: int):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{label:<34} best {min(times):6.2f} s   peak traced memory {peak / 2**20:6.0f} MiB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=9000)
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--affectiva-mib", type=float, default=0)
    parser.add_argument("--featx", action="append", help="a checkout to run (repeatable)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.affectiva_mib:
        with tempfile.TemporaryDirectory() as folder:
            path = affectiva_json(Path(folder) / "affectiva.json", args.affectiva_mib, rng)
            for featx in args.featx or [None]:
                affectiva_peak(path, featx)
        return
    with tempfile.TemporaryDirectory() as folder:
        openface = openface_csv(Path(folder) / "openface.csv", args.rows, rng)
        fex = fex_csv(Path(folder) / "fex.csv", args.faces, rng)
        ds = measure("read_openface", lambda: io.read_openface(openface), args.repeat)
        measure("read_fex (Detectorv2 layout)", lambda: io.read_fex(fex), args.repeat)
        tidy = measure("to_tidy(read_openface output)", lambda: io.to_tidy(ds), args.repeat)
        print(f"tidy table: {len(tidy)} rows")


if __name__ == "__main__":
    main()
