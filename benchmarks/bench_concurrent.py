"""Load: N detect processes at once, sharing the model cache and the OpenVINO graph cache.

First one process runs alone (its own empty OpenVINO cache), then ``--procs`` processes start
together on one fresh, empty OpenVINO cache (``FEATX_CACHE_DIR``), so they all convert and
write the same graphs at the same moment, and all read the same model files (the bundled
assets for ``mp``; the hub cache ``HF_HOME`` for ``v1``). Each saves its Dataset; every one must
equal the lone run's, variable for variable (NaN equal to NaN), and the shared cache must hold
whole graphs only (each ``.xml`` with its ``.bin``, no temporary files left).

- ``mp``: ``MPDetector()`` on ``--frames`` frames of the 320x180 demo clip.
- ``v1``: ``Detector`` with only its face stage, on 64x64 frames of the demo face, with the
  offline fake hub (``HF_HOME=/work/fakehub HF_HUB_OFFLINE=1``); see bench_memory.py.

Every process uses one torch/OpenVINO thread (``OMP_NUM_THREADS=1``).

Usage: ``.venv/bin/python benchmarks/bench_concurrent.py mp --procs 8 --frames 64``,
``HF_HOME=/work/fakehub HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_concurrent.py v1
--procs 8 --frames 4``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_memory import SIZES, detector, write_video  # noqa: E402


def child(kind: str, video: Path, out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    ds = detector(kind).detect(video, progress=False)
    ds.to_netcdf(out)


def start(kind: str, video: Path, out: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "FEATX_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(HERE.parent)  # this checkout's featx
    cmd = [sys.executable, __file__, "--child", kind, "--video", str(video), "--out", str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait(procs: list[subprocess.Popen]) -> list[str]:
    errors = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            errors.append(err.decode()[-2000:])
    return errors


def differences(a, b) -> list[str]:
    out = []
    for name in sorted(set(a.variables) | set(b.variables)):
        if name not in a.variables or name not in b.variables:
            out.append(f"{name}: only in one")
            continue
        x, y = a[name].values, b[name].values
        same = x.shape == y.shape and (
            np.array_equal(x, y, equal_nan=True) if x.dtype.kind in "fc" else np.array_equal(x, y)
        )
        if not same:
            out.append(name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["mp", "v1"])
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--video", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.kind, args.video, args.out)
        return
    import xarray as xr

    print(f"load average {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = write_video(tmp / "clip.avi", args.frames, SIZES[args.kind])
        t0 = time.perf_counter()
        errors = wait([start(args.kind, video, tmp / "lone.nc", tmp / "lone-cache")])
        lone_s = time.perf_counter() - t0
        if errors:
            sys.exit(f"the lone run failed:\n{errors[0]}")
        shared = tmp / "shared-cache"
        t0 = time.perf_counter()
        outs = [tmp / f"run{i}.nc" for i in range(args.procs)]
        errors = wait([start(args.kind, video, out, shared) for out in outs])
        all_s = time.perf_counter() - t0
        lone = xr.load_dataset(tmp / "lone.nc")
        differing = {}
        for out in outs:
            if out.exists():
                diff = differences(lone, xr.load_dataset(out))
                if diff:
                    differing[out.name] = diff
        graphs = sorted((shared / "openvino").glob("*")) if (shared / "openvino").exists() else []
        names = [p.name for p in graphs]
        stray = [n for n in names if n.startswith(".")]
        unpaired = [n for n in names if n.endswith(".xml") and n[:-4] + ".bin" not in names] + [
            n for n in names if n.endswith(".bin") and n[:-4] + ".xml" not in names
        ]
        print(
            f"{args.kind}: {args.frames} frames; lone run {lone_s:.0f} s; {args.procs} at once "
            f"{all_s:.0f} s; failed {len(errors)}; differing from the lone run "
            f"{len(differing)} {differing or ''}; shared OpenVINO cache: "
            f"{sum(n.endswith('.xml') for n in names)} graphs, temporary files {stray}, "
            f"unpaired {unpaired}"
        )
        for err in errors[:2]:
            print(err)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
