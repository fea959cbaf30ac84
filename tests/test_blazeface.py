"""BlazeFace: anchors, decode, scores, weighted NMS, letterbox, image -> tensor, and the converter.

Every case, threshold and option comes from ``tests/conformance/blazeface_{short,full}/`` (ref.npz,
manifest.json); cases are discovered from the files (the same tests run on a held-out set).
The graphs themselves are checked by tests/test_conformance.py.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matching import match_detections

from featx import hub
from featx.detectors.mp_image import detector_tensor, letterbox_pads, sample_u8
from featx.media import MediaError
from featx.nn import blazeface as bf

CONF = Path(__file__).parent / "conformance"
ROOT = Path(__file__).resolve().parents[1]
IDS = ("blazeface_short", "blazeface_full")


def _ref(model_id: str):
    return np.load(CONF / model_id / "ref.npz")


def _manifest(model_id: str) -> dict:
    return json.loads((CONF / model_id / "manifest.json").read_text())


def _cases(model_id: str) -> list[str]:
    found = (re.fullmatch(r"(case(\d+)_)input", k) for k in _ref(model_id).files)
    return [m.group(1) for m in sorted((m for m in found if m), key=lambda m: int(m.group(2)))]


CASES = [(m, c) for m in IDS for c in _cases(m)]


def _nms_runs(model_id: str) -> list[tuple[str, str, float]]:
    """(case, key prefix, IoU threshold) of every ``caseN_nmsXY_det_*`` group; nms03 is 0.3."""
    found = (re.fullmatch(r"(case\d+_)(nms(\d)(\d+))_det_scores", k) for k in _ref(model_id).files)
    return sorted((m.group(1), m.group(2), float(f"{m.group(3)}.{m.group(4)}")) for m in found if m)


NMS_RUNS = [(m, *run) for m in IDS for run in _nms_runs(m)]


def _scale(model_id: str) -> list[float]:
    opts = _manifest(model_id)["pipeline"]["tensors_to_detections"]
    return [opts[k] for k in ("x_scale", "y_scale", "w_scale", "h_scale")]


def _decoded(model_id: str, case: str, raw_boxes=None, raw_scores=None):
    ref, opts = _ref(model_id), _manifest(model_id)["pipeline"]["tensors_to_detections"]
    raw_boxes = ref[case + "raw_boxes"] if raw_boxes is None else raw_boxes
    raw_scores = ref[case + "raw_scores"] if raw_scores is None else raw_scores
    boxes, keypoints = bf.decode_boxes(raw_boxes[0], ref["anchors"], _scale(model_id))
    return boxes, keypoints, bf.sigmoid_scores(raw_scores[0], opts["score_clipping_thresh"])


# ---------------------------------------------------------------------------------------------
# Anchors, decode, scores


@pytest.mark.parametrize("model_id", IDS)
def test_anchors_match_ref(model_id):
    ref, pipeline = _ref(model_id), _manifest(model_id)["pipeline"]
    anchors = bf.ssd_anchors(pipeline["ssd_anchors"])
    assert anchors.dtype == np.float32
    assert anchors.shape == (pipeline["ssd_anchors"]["num_anchors"], 4)
    np.testing.assert_array_equal(anchors, ref["anchors"])
    # the options featx ships for the pipeline are the manifest's
    shipped = bf.ANCHOR_OPTIONS[model_id]
    assert {k: pipeline["ssd_anchors"][k] for k in shipped} == shipped
    np.testing.assert_array_equal(bf.ssd_anchors(shipped), ref["anchors"])
    assert bf.INPUT_SIZE[model_id] == _manifest(model_id)["input"]["shape"][1]
    assert [bf.INPUT_SIZE[model_id]] * 4 == _scale(model_id)


def test_anchors_refuse_unsupported_options():
    opts = dict(bf.ANCHOR_OPTIONS["blazeface_short"], fixed_anchor_size=False)
    with pytest.raises(ValueError, match="fixed_anchor_size"):
        bf.ssd_anchors(opts)
    with pytest.raises(ValueError, match="strides"):
        bf.ssd_anchors(dict(bf.ANCHOR_OPTIONS["blazeface_short"], num_layers=3))


@pytest.mark.parametrize(("model_id", "case"), CASES)
def test_decode_and_scores_match_ref(model_id, case):
    ref, tol = _ref(model_id), hub.card(model_id).tolerance
    boxes, keypoints, scores = _decoded(model_id, case)
    np.testing.assert_allclose(boxes.numpy(), ref[case + "boxes"], rtol=0, atol=tol)
    np.testing.assert_allclose(keypoints.numpy(), ref[case + "keypoints"], rtol=0, atol=tol)
    np.testing.assert_allclose(scores.numpy(), ref[case + "scores"], rtol=0, atol=tol)
    # batched input decodes each image alike
    both, _ = bf.decode_boxes(np.concatenate([ref[case + "raw_boxes"]] * 2), ref["anchors"], 1.0)
    torch.testing.assert_close(both[0], both[1])


@pytest.mark.parametrize("model_id", IDS)
def test_sigmoid_clips_logits(model_id):
    opts = _manifest(model_id)["pipeline"]["tensors_to_detections"]
    assert bf.SCORE_CLIP == opts["score_clipping_thresh"]
    logits = torch.tensor([[-10.0], [0.0], [1.5], [10.0]])
    want = torch.sigmoid(torch.tensor([-2.0, 0.0, 1.5, 2.0]))
    torch.testing.assert_close(bf.sigmoid_scores(logits, clip=2.0), want)


# ---------------------------------------------------------------------------------------------
# Weighted NMS and letterbox removal


def _check_detections(model_id, case, key, det, image_hw, tol):
    """The detections equal the reference's as a set (faces whose scores tie may swap);
    returns the image boxes in the reference's order."""
    ref = _ref(model_id)
    prefix = f"{case}{key}_det_"
    letterbox = ref[case + "letterbox"]
    boxes = bf.remove_letterbox(det.boxes, letterbox).numpy()
    keypoints = bf.remove_letterbox(det.keypoints, letterbox).numpy()
    scores = det.scores.numpy()
    order = match_detections(boxes, ref[prefix + "boxes"], scores, ref[prefix + "scores"])
    np.testing.assert_array_equal(det.anchor.numpy()[order], ref[prefix + "anchor"])
    np.testing.assert_array_equal(det.num_merged.numpy()[order], ref[prefix + "num_merged"])
    np.testing.assert_allclose(scores[order], ref[prefix + "scores"], rtol=0, atol=tol)
    np.testing.assert_allclose(boxes[order], ref[prefix + "boxes"], rtol=0, atol=tol)
    np.testing.assert_allclose(keypoints[order], ref[prefix + "keypoints"], rtol=0, atol=tol)
    return boxes[order]


@pytest.mark.parametrize(("model_id", "case", "key", "iou"), NMS_RUNS)
def test_weighted_nms_matches_ref(model_id, case, key, iou):
    ref = _ref(model_id)
    boxes, keypoints, scores = _decoded(model_id, case)
    det = bf.weighted_nms(boxes, keypoints, scores, float(ref["min_score_thresh"]), iou)
    tol = hub.card(model_id).tolerance
    image_boxes = _check_detections(model_id, case, key, det, ref[case + "image_hw"], tol)
    # MediaPipe Tasks' integer boxes: int(xmin W), int(ymin H), int(w W), int(h H)
    height, width = ref[case + "image_hw"]
    xywh = np.concatenate([image_boxes[:, :2], image_boxes[:, 2:] - image_boxes[:, :2]], axis=1)
    tasks = (xywh * np.array([width, height, width, height], np.float32)).astype(np.int32)
    np.testing.assert_array_equal(tasks, ref[f"{case}{key}_det_boxes_int"])


@pytest.mark.parametrize(("model_id", "case", "key", "iou"), NMS_RUNS)
def test_graph_to_detections_end_to_end(model_id, case, key, iou):
    """The shipped graph's own outputs give the same detections as the reference runtime."""
    ref, c = _ref(model_id), hub.card(model_id)
    with torch.no_grad():
        raw_boxes, raw_scores = c.load()(torch.from_numpy(ref[case + "input"]))
    boxes, keypoints, scores = _decoded(model_id, case, raw_boxes.numpy(), raw_scores.numpy())
    det = bf.weighted_nms(boxes, keypoints, scores, float(ref["min_score_thresh"]), iou)
    _check_detections(model_id, case, key, det, ref[case + "image_hw"], c.tolerance)


def test_weighted_nms_blends_and_limits():
    boxes = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.5], [2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]]
    )
    keypoints = torch.arange(8.0).reshape(4, 1, 2)
    scores = torch.tensor([0.9, 0.6, 0.7, 0.3])
    det = bf.weighted_nms(boxes, keypoints, scores, min_score=0.5, iou_threshold=0.3)
    assert det.anchor.tolist() == [0, 2]  # anchor 3 is below min_score
    assert det.num_merged.tolist() == [2, 1]
    torch.testing.assert_close(det.scores, torch.tensor([0.9, 0.7]))
    w = torch.tensor([0.9, 0.6]) / 1.5
    torch.testing.assert_close(det.boxes[0], w[0] * boxes[0] + w[1] * boxes[1])
    torch.testing.assert_close(det.keypoints[0], w[0] * keypoints[0] + w[1] * keypoints[1])
    # IoU of anchors 0 and 1 is 0.5: not above a 0.5 threshold, so no blending
    alone = bf.weighted_nms(boxes, keypoints, scores, 0.5, 0.5)
    assert alone.anchor.tolist() == [0, 2, 1] and alone.num_merged.tolist() == [1, 1, 1]
    first = bf.weighted_nms(boxes, keypoints, scores, 0.5, 0.3, max_detections=1)
    assert first.anchor.tolist() == [0]
    # equal scores keep anchor order
    assert bf.weighted_nms(
        boxes[[2, 0]], keypoints[:2], torch.tensor([0.8, 0.8]), 0.5, 0.3
    ).anchor.tolist() == [0, 1]


def test_weighted_nms_edge_cases():
    keypoints = torch.zeros(2, 6, 2)
    none = bf.weighted_nms(torch.rand(2, 4), keypoints, torch.tensor([0.1, 0.2]), 0.5, 0.3)
    assert none.boxes.shape == (0, 4) and none.keypoints.shape == (0, 6, 2)
    assert none.scores.shape == none.anchor.shape == none.num_merged.shape == (0,)
    # a zero-area seed overlaps nothing, not even itself: emitted unchanged, and the search ends
    flat = torch.tensor([[0.5, 0.5, 0.5, 0.9], [0.0, 0.0, 1.0, 1.0]])
    det = bf.weighted_nms(flat, keypoints, torch.tensor([0.9, 0.8]), 0.5, 0.3)
    assert det.anchor.tolist() == [0] and det.num_merged.tolist() == [1]
    torch.testing.assert_close(det.boxes[0], flat[0])


def test_remove_letterbox_inverts_the_letterbox():
    height, width = 300, 512
    pads = letterbox_pads(height, width)
    pixels = torch.tensor([[0.0, 0.0], [512.0, 300.0], [100.0, 250.0]])
    side = max(height, width)  # tensor-normalised = (pixel + centring offset) / side
    tensor_xy = (pixels + torch.tensor([side - width, side - height]) / 2) / side
    image_xy = bf.remove_letterbox(tensor_xy, pads) * torch.tensor([width, height])
    torch.testing.assert_close(image_xy, pixels)
    box = bf.remove_letterbox(tensor_xy[:2].flatten(), pads)
    torch.testing.assert_close(box, torch.tensor([0.0, 0.0, 1.0, 1.0]))


# ---------------------------------------------------------------------------------------------
# Image -> tensor (featx.detectors.mp_image)


@pytest.mark.parametrize(("model_id", "case"), CASES)
def test_letterbox_pads_match_ref(model_id, case):
    ref = _ref(model_id)
    height, width = (int(v) for v in ref[case + "image_hw"])
    np.testing.assert_array_equal(
        np.float32(letterbox_pads(height, width)), ref[case + "letterbox"]
    )


def _fixed_point_letterbox(image: np.ndarray, n: int) -> np.ndarray:
    """An independent, literal reading of the resampling rule (blazeface_short FACTS §7)."""
    h, w = image.shape[:2]
    s = max(h, w)
    u = np.arange(n) / n - 0.5
    fx = np.rint((w / 2 + u * s) * 32).astype(int)[None, :]  # columns
    fy = np.rint((h / 2 + u * s) * 32).astype(int)[:, None]  # rows
    x0, ax, y0, ay = fx // 32, fx % 32, fy // 32, fy % 32
    acc = np.zeros((n, n, 3), np.int64)
    for dx, dy, weight in (
        (0, 0, (32 - ax) * (32 - ay)),
        (1, 0, ax * (32 - ay)),
        (0, 1, (32 - ax) * ay),
        (1, 1, ax * ay),
    ):
        x, y = np.broadcast_arrays(x0 + dx, y0 + dy)
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        pixel = np.where(inside[..., None], image[y.clip(0, h - 1), x.clip(0, w - 1)], 0)
        acc += weight[..., None] * pixel
    return np.clip((acc + 512) // 1024, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("model_id", IDS)
@pytest.mark.parametrize("hw", [(61, 47), (40, 73), (33, 33), (9, 200)])
def test_detector_tensor_follows_the_resampling_rule(model_id, hw):
    n = _manifest(model_id)["input"]["shape"][1]
    image = np.random.default_rng(sum(hw)).integers(0, 256, (*hw, 3), dtype=np.uint8)
    tensor, pads = detector_tensor(image, n)
    assert tensor.shape == (1, n, n, 3) and tensor.dtype == np.float32
    assert pads == letterbox_pads(*hw)
    want = _fixed_point_letterbox(image, n).astype(np.float32) * np.float32(2 / 255) - 1
    np.testing.assert_array_equal(tensor[0], want)


def test_detector_tensor_decimates_an_exact_multiple():
    image = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    tensor, _ = detector_tensor(image, 128)
    np.testing.assert_array_equal(tensor[0], image[::4, ::4] * np.float32(2 / 255) - 1)


def test_detector_tensor_converts_and_rejects():
    grey = np.random.default_rng(2).integers(0, 256, (60, 80), dtype=np.uint8)
    tensor, _ = detector_tensor(grey, 128)
    rgb, _ = detector_tensor(np.repeat(grey[:, :, None], 3, axis=2), 128)
    np.testing.assert_array_equal(tensor, rgb)
    with pytest.raises(MediaError, match="photo.png"):
        detector_tensor(np.zeros((5, 5, 2), np.uint8), 128, name="photo.png")
    with pytest.raises(ValueError, match="border"):
        sample_u8(grey[:, :, None], np.zeros((1, 1)), np.zeros((1, 1)), border="reflect")


def test_sample_u8_replicates_the_edge():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    x, y = np.array([[-5.0, 10.0]]), np.array([[1.0, -3.0]])
    assert sample_u8(image, x, y, border="replicate")[..., 0].tolist() == [[4, 3]]
    assert sample_u8(image, x, y, border="zero")[..., 0].tolist() == [[0, 0]]


def _stored_images() -> list[tuple[str, str, Path]]:
    """(model id, case, npz) where a conformance file stores the very image a case was made from."""
    pairs = []
    for path in sorted((CONF / "mediapipe_pipeline").glob("*.npz")):
        data = np.load(path)
        if "image" not in data.files or "source" not in data.files:
            continue
        for model_id in IDS:
            ref = _ref(model_id)
            for entry in ref["sources"] if "sources" in ref.files else []:
                case, _, recipe = str(entry).partition(": ")
                same_size = tuple(ref[case + "image_hw"]) == data["image"].shape[:2]
                if same_size and recipe.endswith(str(data["source"])):
                    pairs.append((model_id, case, path))
    return pairs


@pytest.mark.parametrize(("model_id", "case", "path"), _stored_images())
def test_detector_tensor_reproduces_stored_input(model_id, case, path):
    ref = _ref(model_id)
    tensor, pads = detector_tensor(np.load(path)["image"], ref[case + "input"].shape[1])
    np.testing.assert_array_equal(tensor, ref[case + "input"])
    np.testing.assert_array_equal(np.float32(pads), ref[case + "letterbox"])


# ---------------------------------------------------------------------------------------------
# Conversion (tools/convert_blazeface.py through tools/convert_assets.py)


@pytest.fixture(scope="module")
def tools():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        yield (
            importlib.import_module("convert_assets"),
            importlib.import_module("convert_blazeface"),
        )
    finally:
        sys.path.remove(str(ROOT / "tools"))


def test_conversion_is_reproducible(tools, tmp_path, monkeypatch):
    convert_assets, convert_blazeface = tools
    monkeypatch.setattr(convert_assets, "converters", lambda: convert_blazeface.CONVERTERS)
    sums = convert_assets.convert(ROOT / "tools" / "sources", tmp_path)
    assert set(sums) == {f"{m}.safetensors" for m in IDS}
    committed = (ROOT / "featx" / "assets" / "SHA256SUMS").read_text().splitlines()
    for name, digest in sums.items():
        assert (tmp_path / name).read_bytes() == (ROOT / "featx" / "assets" / name).read_bytes()
        assert f"{digest}  {name}" in committed
        assert hub.sha256(ROOT / "featx" / "assets" / name) == digest


@pytest.mark.parametrize("model_id", IDS)
def test_converter_uses_every_weight_once(tools, model_id):
    _, convert_blazeface = tools
    spec = _manifest(model_id)
    floats = {k for k, v in spec["tensors"].items() if v["stored_dtype"].startswith("float")}
    tensors = {
        k: np.zeros(v["shape"], np.float32 if k in floats else np.int32)
        for k, v in spec["tensors"].items()
    }
    module = hub.card(model_id).build()
    state, used = convert_blazeface.map_tensors(tensors, spec["layers"], module)
    assert used == floats
    assert set(state) == set(module.state_dict())
    # a float tensor left over, or a layer out of order, is refused
    with pytest.raises(ValueError, match="unused"):
        convert_blazeface.map_tensors(
            {**tensors, "extra": np.zeros(3, np.float32)}, spec["layers"], module
        )
    convs = [i for i, layer in enumerate(spec["layers"]) if "weight" in layer]
    swapped = list(spec["layers"])
    swapped[convs[0]], swapped[convs[1]] = swapped[convs[1]], swapped[convs[0]]
    with pytest.raises(ValueError, match="does not fit"):
        convert_blazeface.map_tensors(tensors, swapped, module)
