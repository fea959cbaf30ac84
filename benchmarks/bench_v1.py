"""Speed of the Detectorv1 stages on this machine: faces/s at batch 1 and 16.

Weights do not change the speed, so the modules run with their random initialisation (no
download). Each stage adds one function to ``STAGES``.

Usage: .venv/bin/python benchmarks/bench_v1.py [stage ...]   (default: every stage)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from featx import hub

BATCH_SIZES = (1, 16)


def rate(step: Callable[[], object], items: int, min_seconds: float = 5.0) -> tuple[float, float]:
    """Items per second of ``step``: (median, best) over single calls timed for ``min_seconds``
    after one warm-up call. The best call is the figure least disturbed by other load."""
    step()
    times: list[float] = []
    t_end = time.perf_counter() + min_seconds
    while time.perf_counter() < t_end or len(times) < 3:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return items / float(np.median(times)), items / min(times)


def bench_landmarks() -> None:
    """Crop + network + mapping to pixels (``landmark68.predict``); one 150x180 px box per
    640x480 frame, ``batch`` frames per call, as the detector batches faces across frames."""
    from featx.nn import landmark68

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = torch.tensor([[245.0, 150.0, 395.0, 330.0]])
    for model_id in landmark68.NETWORKS:
        net = hub.card(model_id).build()
        for batch in BATCH_SIZES:
            step = partial(landmark68.predict, net, [frame] * batch, [box] * batch)
            median, best = rate(step, batch)
            print(
                f"landmarks {model_id:13s} batch {batch:2d}: "
                f"{median:7.1f} faces/s median, {best:7.1f} best"
            )


def bench_retinaface() -> None:
    """``retinaface.detect_faces`` (pre-processing, network, decoding, thresholds, NMS) and the
    network alone, on ``batch`` 300x340 frames per call. With random weights many priors pass
    the 0.5 threshold (the count is printed), so NMS takes more time than with real weights."""
    from featx.nn import retinaface

    frame = np.random.default_rng(0).integers(0, 256, (300, 340, 3), dtype=np.uint8)
    torch.manual_seed(0)
    net = hub.card("retinaface").build()
    with torch.no_grad():
        _, logits, _ = net(retinaface.preprocess([frame]))
    above = int((logits.softmax(-1)[0, :, 1] >= retinaface.DETECTION_THRESHOLD).sum())
    print(f"retinaface: {above} of {logits.shape[1]} priors above the threshold")
    for batch in BATCH_SIZES:
        x = retinaface.preprocess([frame] * batch)
        for what, step in [
            ("detect_faces", partial(retinaface.detect_faces, net, [frame] * batch)),
            ("network only", torch.no_grad()(partial(net, x))),
        ]:
            median, best = rate(step, batch)
            print(
                f"retinaface 300x340 {what} batch {batch:2d}: "
                f"{median:6.1f} frames/s median, {best:6.1f} best"
            )


def _face_with_landmarks() -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """A 640x480 frame, one 150 px face box and 68 plausible landmarks in frame pixels (the
    conformance landmark feed, mapped through the box's 112 crop)."""
    from pathlib import Path

    from featx.nn import landmark68, ops

    ref = np.load(Path(__file__).parents[1] / "tests/conformance/xgb_au/ref.npz")
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = torch.tensor([[245.0, 150.0, 395.0, 330.0]])
    _, rounded = ops.face_crops(frame, box, 112, landmark68.EXPAND)
    return frame, box, landmark68.to_image(torch.from_numpy(ref["landmarks"][:1]), rounded)


def bench_classic() -> None:
    """HOG (112 crop, alignment, mask, HOG) + classifier (``classic.models.predict``), one face
    per frame, ``batch`` frames per call. The classifiers are the conformance fixtures (small
    PCAs, 6 trees per AU); the hub files' larger PCAs and forests add to the classifier part."""
    from pathlib import Path

    from featx.classic import hog, models

    frame, box, pts = _face_with_landmarks()
    conf = Path(__file__).parents[1] / "tests/conformance"
    fixtures = {
        "xgb_au": conf / "xgb_au/fixtures/xgb_au_classifier_v2.skops",
        "svm_au": conf / "svm_au/fixtures/svm_au_classifier_v2.skops",
    }
    for batch in BATCH_SIZES:
        args = ([frame] * batch, [box] * batch, [pts] * batch)
        steps = {"HOG only": partial(hog.frame_features, *args)}
        for model_id, path in fixtures.items():
            steps[f"HOG + {model_id}"] = partial(
                models.predict, models.load_classifier(path, model_id), *args
            )
        for what, step in steps.items():
            median, best = rate(step, batch)
            print(
                f"classic {what:14s} batch {batch:2d}: {median:7.1f} faces/s median, "
                f"{best:7.1f} best"
            )


def bench_resmasknet() -> None:
    """224 crop (x1.1) + network + softmax (``resmasknet.predict``), one face per frame."""
    from featx.nn import resmasknet

    frame, box, _ = _face_with_landmarks()
    net = hub.card("resmasknet").build()
    for batch in BATCH_SIZES:
        step = partial(resmasknet.predict, net, [frame] * batch, [box] * batch)
        median, best = rate(step, batch)
        print(f"resmasknet batch {batch:2d}: {median:7.2f} faces/s median, {best:7.2f} best")


def bench_identity_gaze() -> None:
    """Identity embeddings (``identity.embed``: arcface, facenet) and gaze
    (``l2cs.estimate_gaze``: resize to 224, network, decode) on ``batch`` 112x112 face crops,
    the crops the landmark step already made (cropping is timed under landmarks)."""
    from featx.nn import identity, l2cs

    crops = torch.rand(max(BATCH_SIZES), 3, 112, 112, generator=torch.Generator().manual_seed(0))
    for model_id in ("arcface", "facenet", "l2cs"):
        net = hub.card(model_id).build()
        run = l2cs.estimate_gaze if model_id == "l2cs" else identity.embed
        for batch in BATCH_SIZES:
            median, best = rate(partial(run, net, crops[:batch]), batch)
            print(f"{model_id:8s} batch {batch:2d}: {median:7.2f} faces/s median, {best:7.2f} best")


def bench_img2pose() -> None:
    """``img2pose.detect_faces`` (transform, network, proposals, RoI heads, pose and box
    projection, Detectorv1's NMS) on ``batch`` 640x480 frames per call (resized inside to
    400x533), random-init weights and the conformance config. With random weights every
    proposal scores alike, so the detection count (printed) is far above a real frame's."""
    import json
    from pathlib import Path

    from featx.nn import img2pose

    manifest = Path(__file__).parents[1] / "tests/conformance/img2pose/manifest.json"
    config = img2pose.Img2PoseConfig.from_dict(json.loads(manifest.read_text())["config"])
    torch.manual_seed(0)
    net = img2pose.Img2Pose(config).eval()
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    found = img2pose.detect_faces(net, [frame])[0]
    print(f"img2pose: {len(found['scores'])} faces above the threshold on the random frame")
    for batch in (1, 4):
        median, best = rate(partial(img2pose.detect_faces, net, [frame] * batch), batch)
        print(
            f"img2pose 640x480 detect_faces batch {batch}: "
            f"{median:6.2f} frames/s median, {best:6.2f} best"
        )


STAGES = {
    "retinaface": bench_retinaface,
    "img2pose": bench_img2pose,
    "landmarks": bench_landmarks,
    "classic": bench_classic,
    "resmasknet": bench_resmasknet,
    "identity_gaze": bench_identity_gaze,
}


def main(names: list[str]) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in names or STAGES:
        STAGES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
