"""Each network Detectorv2 compiles with OpenVINO, torch against OpenVINO, same process.

    HF_HOME=HUB HF_HUB_OFFLINE=1 python benchmarks/bench_openvino_nets.py

Loads Detectorv2 with backend="torch" (weights from the hub cache, e.g. the fake hub of
../shared/pyfeat_bench), compiles each network (featx.nn.openvino_runtime, cached), checks the
largest output difference and prints the best of two timed calls per backend at batch 16
(RetinaFace: 4 frames of 640x360) and batch 1, with torch.set_num_threads(2).
"""

from __future__ import annotations

import time

import numpy as np
import torch

import featx
from featx.nn.openvino_runtime import OpenVINOModule
from featx.nn.retinaface import preprocess


def _best(f, x, n: int = 2) -> float:
    f(x)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f(x)
        times.append(time.perf_counter() - t)
    return min(times)


def compare(name: str, net: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.inference_mode():
        compiled = OpenVINOModule(
            net.eval(), x[:1], dynamic=(0, 2, 3) if x.shape[2] != x.shape[3] else (0,)
        )
        want, got = net(x), compiled(x)
        want = want if isinstance(want, tuple) else (want,)
        got = got if isinstance(got, tuple) else (got,)
        rel = max(
            float((a - b).abs().max() / a.abs().max()) for a, b in zip(want, got, strict=True)
        )
        big, one = _best(net, x), _best(net, x[:1])
        big_ov, one_ov = _best(compiled, x), _best(compiled, x[:1])
    print(
        f"{name:9s} batch {len(x):2d}: torch {big:6.2f} s, openvino {big_ov:6.2f} s "
        f"({big / big_ov:.1f}x);"
        f" batch 1: torch {one:5.2f} s, openvino {one_ov:5.2f} s ({one / one_ov:.1f}x);"
        f" largest |diff| / max|out| {rel:.1e}",
        flush=True,
    )


def main() -> None:
    torch.set_num_threads(2)
    det = featx.Detectorv2(device="cpu", backend="torch")
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    compare("backbone", det.nets["multitask"].backbone, torch.rand(16, 3, 224, 224))
    compare("arcface", det.nets["identity"], torch.rand(16, 3, 112, 112))
    compare("retinaface", det.nets["face"], preprocess([frame] * 4))


if __name__ == "__main__":
    main()
