"""Speed of Detectorv2 on this machine (crops/s and frames/s at batch 1 and 16), and the
accuracy cost of bfloat16 autocast.

Weights do not change the speed, so nothing is downloaded:

- ``crops``: one face's path through face_multitask_v2 (square crop of a 640x480 frame,
  pre-processing, network, mapping to pixels), ``batch`` faces per call, random weights.
- ``frames``: ``Detectorv2.process_batch`` on ``batch`` 640x480 frames per call (RetinaFace,
  crops, network, post-processing; no identity model). The weight files are written to a
  temporary folder: face_multitask_v2 with random weights and its config in the metadata, and
  a RetinaFace whose heads report exactly one face per frame (every anchor but the first of the
  stride-32 level is switched off and that anchor's box covers the frame, so NMS keeps one),
  so the network runs once per frame as it would on a one-person video.
- ``amp``: the network on the conformance input (tests/conformance/face_multitask_v2,
  deterministic weights) in float32 and under bfloat16 autocast, on CUDA when present, else
  with CPU autocast as a stand-in; prints the largest difference of every head.

Usage: .venv/bin/python benchmarks/bench_v2.py [crops] [frames] [amp]   (default: all)
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import torch
from bench_v1 import rate  # same timing rule for every benchmark script

from featx import hub
from featx.nn import multitask as mt

BATCH_SIZES = (1, 16)
ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "tests" / "conformance"
FRAME = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
BOX = np.array([[245.0, 150.0, 395.0, 330.0]], np.float32)


@torch.inference_mode()
def _crops_step(net: mt.FaceMultitask, batch: int) -> None:
    from featx.detectors.v2 import faces_from_outputs

    chips, affine = mt.square_crops(FRAME, np.repeat(BOX, batch, axis=0))
    faces_from_outputs(net(mt.preprocess(chips)), affine)


def bench_crops() -> None:
    torch.manual_seed(0)
    net = hub.card("face_multitask_v2").build()
    for batch in BATCH_SIZES:
        median, best = rate(partial(_crops_step, net, batch), batch)
        print(f"face_multitask_v2 batch {batch:2d}: {median:6.2f} crops/s median, {best:6.2f} best")


def _one_face_retinaface() -> dict[str, torch.Tensor]:
    """Random RetinaFace weights whose heads report one face per 640x480 frame."""
    from featx.nn import retinaface as rf

    torch.manual_seed(0)
    state = hub.card("retinaface").build().state_dict()
    for head in ("ClassHead", "BboxHead", "LandmarkHead"):
        for level in range(3):
            state[f"{head}._convs.{level}.weight"].zero_()
            state[f"{head}._convs.{level}.bias"].zero_()
    for level in range(2):
        state[f"ClassHead._convs.{level}.bias"][:] = torch.tensor([8.0, -8, 8, -8])
    state["ClassHead._convs.2.bias"][:] = torch.tensor([-8.0, 8, 8, -8])
    anchor, step = rf.MIN_SIZES[2][0], rf.STEPS[2]
    # The first prior (centre step/2) moved to the frame centre, 3000 px wide: every other
    # prior's box overlaps it by IoU > 0.4, so NMS keeps one face.
    dx = (FRAME.shape[1] / 2 - step / 2) / (rf.VARIANCE[0] * anchor)
    dy = (FRAME.shape[0] / 2 - step / 2) / (rf.VARIANCE[0] * anchor)
    log_scale = math.log(3000 / anchor) / rf.VARIANCE[1]
    state["BboxHead._convs.2.bias"][:4] = torch.tensor([dx, dy, log_scale, log_scale])
    return state


def bench_frames() -> None:
    from safetensors.torch import save_file

    import featx

    torch.manual_seed(0)
    multitask = hub.card("face_multitask_v2")
    config = json.dumps(dataclasses.asdict(mt.MultitaskConfig()))
    with tempfile.TemporaryDirectory() as folder:
        state = {k: v.contiguous() for k, v in multitask.build().state_dict().items()}
        save_file(state, f"{folder}/{multitask.files[0]}", metadata={"config": config})
        save_file(_one_face_retinaface(), f"{folder}/model.safetensors")
        det = featx.Detectorv2(identity_model=None, device="cpu", model_dir=folder)
    faces = det.process_batch([FRAME])
    print(f"Detectorv2 640x480: {len(faces[0]['face_score'])} face(s) per frame")
    for batch in BATCH_SIZES:
        median, best = rate(partial(det.process_batch, [FRAME] * batch), batch)
        print(f"Detectorv2 batch {batch:2d}: {median:6.2f} frames/s median, {best:6.2f} best")


def bench_amp() -> None:
    if str(CONF) not in sys.path:
        sys.path.insert(0, str(CONF))
    detweights = importlib.import_module("detweights")
    ref = np.load(CONF / "face_multitask_v2" / "ref.npz")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = detweights.fill_module(hub.card("face_multitask_v2").build()).to(device).eval()
    x = torch.from_numpy(ref["input"]).to(device)
    with torch.inference_mode():
        full = net(x)
        with torch.autocast(device, dtype=torch.bfloat16):
            half = net(x)
    print(f"bfloat16 autocast on {device} vs float32, max |difference| (max |float32|):")
    for name in mt.OUTPUTS:
        a, b = full[name].float(), half[name].float()
        print(f"  {name:15s} {float((a - b).abs().max()):.3g} ({float(a.abs().max()):.3g})")


BENCHES = {"crops": bench_crops, "frames": bench_frames, "amp": bench_amp}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHES):
        BENCHES[name]()
