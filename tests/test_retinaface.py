"""RetinaFace: pre-processing, priors, decoding, NMS, post-processing and loading real files.

Sizes, thresholds and parameters come from tests/conformance/retinaface (ref.npz, manifest.json)
at run time; the forward pass itself is checked by tests/test_conformance.py.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matching import match_detections
from safetensors.numpy import save_file

from featx import hub
from featx.boxes import iou
from featx.nn import ops
from featx.nn import retinaface as rf

CONF = Path(__file__).parent / "conformance"
if str(CONF) not in sys.path:
    sys.path.insert(0, str(CONF))
detweights = importlib.import_module("detweights")

MODEL_ID = "retinaface"
PX = 1e-3  # FACTS: decoded boxes and keypoints agree within 1e-3 px


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(CONF / MODEL_ID / "ref.npz"))


@pytest.fixture(scope="module")
def manifest():
    return json.loads((CONF / MODEL_ID / "manifest.json").read_text())


@pytest.fixture(scope="module")
def pp(ref, manifest):
    """The recorded post-processing parameters, by name (pp_params is stored as float32)."""
    names = manifest["recorded_postprocess"]["pp_params_order"]
    values = dict(zip(names, (round(float(v), 6) for v in ref["pp_params"]), strict=True))
    divisor = values.pop("head_scale_divisor")
    for key in ("top_k", "keep_top_k"):
        values[key] = int(values[key])
    return divisor, values


@pytest.fixture(scope="module")
def size(ref):
    return tuple(ref["input"].shape[2:])


@pytest.fixture(scope="module")
def filled_model():
    return detweights.fill_module(rf.RetinaFace()).eval()


def _pp_outputs(ref):
    return [torch.from_numpy(ref[k]) for k in ("pp_loc", "pp_conf", "pp_landms")]


def _assert_matches_det(ref, boxes, scores, keypoints, index=None):
    """The detections equal the reference's as a set (faces whose scores tie may swap)."""
    scores = np.asarray(scores)
    assert (np.diff(scores) <= 0).all(), "faces must come by descending score"
    order = match_detections(boxes, ref["det_boxes"], scores, ref["det_scores"])
    if index is not None:
        np.testing.assert_array_equal(np.asarray(index)[order], ref["det_index"])
    np.testing.assert_allclose(np.asarray(boxes)[order], ref["det_boxes"], rtol=0, atol=PX)
    np.testing.assert_allclose(scores[order], ref["det_scores"], rtol=0, atol=1e-6)
    flat = np.asarray(keypoints).reshape(len(keypoints), -1)[order]
    np.testing.assert_allclose(flat, ref["det_landmarks"], rtol=0, atol=PX)


def _assert_same_index(ref, found, keep=None):
    """``found["index"]`` (rows ``keep``) equals ``det_index``, rows matched by box and score."""
    keep = slice(None) if keep is None else keep
    boxes, scores = found["boxes"][keep], found["scores"][keep]
    order = match_detections(boxes, ref["det_boxes"], scores, ref["det_scores"])
    np.testing.assert_array_equal(found["index"][keep].numpy()[order], ref["det_index"])


# ---------------------------------------------------------------------------------------------
# Constants, pre-processing, priors, decoding


def test_constants_match_manifest(manifest):
    config, defaults = manifest["config"], manifest["postprocess_defaults"]
    assert list(rf.RGB_MEAN) == config["rgb_mean_subtracted"]
    assert [list(s) for s in rf.MIN_SIZES] == config["min_sizes"]
    assert list(rf.STEPS) == config["steps"]
    assert list(rf.VARIANCE) == config["variance"]
    assert rf.CONFIDENCE_THRESHOLD == defaults["confidence_threshold"]
    assert rf.NMS_IOU == defaults["nms_iou"]
    assert rf.TOP_K == defaults["top_k"]
    assert rf.KEEP_TOP_K == defaults["keep_top_k"]
    assert rf.DETECTION_THRESHOLD == defaults["detection_threshold"]
    assert rf.OUTPUTS == hub.card(MODEL_ID).outputs


def test_preprocess_matches_ref_input(ref):
    x = rf.preprocess([ref["image"]])
    assert x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), ref["input"])


def test_priors_match_ref(ref, size):
    anchors = rf.priors(*size)
    assert anchors.dtype == torch.float32
    np.testing.assert_allclose(anchors.numpy(), ref["priors"], rtol=0, atol=1e-7)


def test_priors_count_matches_head_outputs(filled_model):
    # odd sizes: the network's feature maps are ceil(size / stride) as the priors assume
    for height, width in [(65, 97), (33, 40)]:
        with torch.no_grad():
            loc, logits, landms = filled_model(torch.zeros(1, 3, height, width))
        assert loc.shape[1] == logits.shape[1] == landms.shape[1] == len(rf.priors(height, width))


def test_decode_matches_ref(ref, size):
    anchors = rf.priors(*size)
    boxes = rf.decode_boxes(torch.from_numpy(ref["pp_loc"]), anchors, *size)
    np.testing.assert_allclose(boxes.numpy(), ref["pp_boxes_all"], rtol=0, atol=PX)
    points = rf.decode_keypoints(torch.from_numpy(ref["pp_landms"]), anchors, *size)
    assert points.shape == (*ref["pp_landms"].shape[:2], 5, 2)
    flat = points.reshape(ref["pp_landmarks_all"].shape).numpy()
    np.testing.assert_allclose(flat, ref["pp_landmarks_all"], rtol=0, atol=PX)


# ---------------------------------------------------------------------------------------------
# NMS on hand-made boxes


def test_nms_keeps_by_descending_score():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [21, 20, 31, 30]])
    scores = torch.tensor([0.6, 0.9, 0.7, 0.95])
    assert ops.nms(boxes, scores, 0.5).tolist() == [3, 1]


def test_nms_suppresses_only_above_threshold():
    # IoU of these two boxes is exactly 0.5: kept at threshold 0.5, suppressed below it
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5]])
    scores = torch.tensor([0.9, 0.8])
    assert iou(boxes[:1], boxes[1:]).item() == 0.5
    assert ops.nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert ops.nms(boxes, scores, 0.49).tolist() == [0]


def test_nms_is_greedy():
    # A suppresses B; B would suppress C, but B is gone, and A overlaps C only a little
    boxes = torch.tensor([[0.0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]])
    assert ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]


def test_nms_defining_property_on_random_boxes():
    # greedy NMS: in score order, a box is kept iff its IoU with every kept box before it is
    # <= the threshold (checked with boxes.iou on coarse scores, so ties occur)
    g = torch.Generator().manual_seed(0)
    corner = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([corner, corner + torch.rand(300, 2, generator=g) * 30 + 1], dim=1)
    scores = torch.rand(300, generator=g).round(decimals=1)
    kept = ops.nms(boxes, scores, 0.4)
    order = torch.argsort(scores, descending=True, stable=True)
    assert torch.equal(kept, order[torch.isin(order, kept)])
    overlap = iou(boxes[order], boxes[order])
    is_kept = torch.isin(order, kept)
    for rank in range(len(order)):
        overlaps_earlier_kept = bool((overlap[rank, :rank][is_kept[:rank]] > 0.4).any())
        assert bool(is_kept[rank]) == (not overlaps_earlier_kept)


def test_nms_ties_keep_lower_index_and_empty_input():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    assert ops.nms(boxes, torch.tensor([0.5, 0.7, 0.7]), 0.4).tolist() == [1]
    empty = ops.nms(torch.zeros(0, 4), torch.zeros(0), 0.4)
    assert empty.dtype == torch.int64 and empty.numel() == 0


def test_nms_equals_the_greedy_loop_over_boxes_iou_and_max_kept_is_its_prefix():
    # the reference: visit by score, keep a box unless boxes.iou with a kept one is > 0.4;
    # boxes include empty, NaN and identical ones
    g = torch.Generator().manual_seed(1)
    corner = torch.rand(400, 2, generator=g) * 60
    boxes = torch.cat([corner, corner + torch.rand(400, 2, generator=g) * 25], dim=1)
    boxes[::37, 2:] = boxes[::37, :2]  # empty
    boxes[5::53, 1] = float("nan")
    boxes[1::41] = boxes[0]
    scores = torch.rand(400, generator=g).round(decimals=2)
    order = torch.argsort(scores, descending=True, stable=True)
    want: list[int] = []
    for k in order.tolist():
        if not want or not bool((iou(boxes[k : k + 1], boxes[want])[0] > 0.4).any()):
            want.append(k)
    assert ops.nms(boxes, scores, 0.4).tolist() == want
    assert 30 < len(want) < 400
    for limit in (0, 1, 25, len(want), 1000):
        assert ops.nms(boxes, scores, 0.4, max_kept=limit).tolist() == want[:limit]


# ---------------------------------------------------------------------------------------------
# Post-processing


def test_postprocess_matches_ref(ref, pp, size):
    _, params = pp
    (found,) = rf.postprocess(*_pp_outputs(ref), *size, **params)
    _assert_matches_det(ref, found["boxes"], found["scores"], found["keypoints"], found["index"])


def test_postprocess_threshold_before_nms_changes_nothing(ref, pp, size):
    # NMS over every candidate above the confidence threshold, then the detection threshold,
    # equals what postprocess does (drop low scores before NMS)
    _, params = pp
    loose = dict(params, detection_threshold=params["confidence_threshold"])
    (everything,) = rf.postprocess(*_pp_outputs(ref), *size, **loose)
    above = everything["scores"] >= params["detection_threshold"]
    assert 0 < int(above.sum()) < len(above)
    _assert_same_index(ref, everything, above)


def test_postprocess_limits(ref, pp, size):
    _, params = pp
    keep = len(ref["det_index"]) // 2
    (few,) = rf.postprocess(*_pp_outputs(ref), *size, **dict(params, keep_top_k=keep))
    np.testing.assert_array_equal(few["index"].numpy(), ref["det_index"][:keep])
    (none,) = rf.postprocess(*_pp_outputs(ref), *size, **dict(params, detection_threshold=1.01))
    assert none["boxes"].shape == (0, 4) and none["keypoints"].shape == (0, 5, 2)


def test_postprocess_is_per_image(ref, pp, size):
    _, params = pp
    loc, conf, landms = _pp_outputs(ref)
    empty = torch.zeros_like(conf)
    batch = [torch.cat([t, t]) for t in (loc, conf, landms)]
    batch[1] = torch.cat([empty, conf])
    first, second = rf.postprocess(*batch, *size, **params)
    assert first["index"].numel() == 0
    _assert_same_index(ref, second)


# ---------------------------------------------------------------------------------------------
# detect_faces: frames in, faces out


def _scaled_heads(model: torch.nn.Module, divisor: float) -> torch.nn.Module:
    """The heads are 1x1 convs: dividing weights and biases divides the outputs."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.split(".")[0] in ("ClassHead", "BboxHead", "LandmarkHead"):
                p /= divisor
    return model


def test_detect_faces_matches_ref(ref, pp):
    divisor, params = pp
    model = _scaled_heads(detweights.fill_module(rf.RetinaFace()).eval(), divisor)
    params = dict(params)
    threshold = params.pop("detection_threshold")
    (faces,) = rf.detect_faces(model, [ref["image"]], threshold=threshold, **params)
    assert {k: v.dtype for k, v in faces.items()} == dict.fromkeys(faces, np.float32)
    _assert_matches_det(ref, faces["boxes"], faces["scores"], faces["keypoints"])


def test_detect_faces_groups_frames_by_size(ref, pp):
    divisor, params = pp
    model = _scaled_heads(detweights.fill_module(rf.RetinaFace()).eval(), divisor)
    image = ref["image"]
    # shifted by a multiple of every stride: mostly the same faces, another frame size
    crop = np.ascontiguousarray(image[max(rf.STEPS) :, max(rf.STEPS) :])
    params = dict(params)
    threshold = params.pop("detection_threshold")
    batch = rf.detect_faces(model, [image, crop, image], threshold=threshold, **params)
    alone = [rf.detect_faces(model, [im], threshold=threshold, **params)[0] for im in (image, crop)]
    assert len(alone[0]["scores"]) == len(ref["det_index"])
    for got, want in zip(batch, [alone[0], alone[1], alone[0]], strict=True):
        for key in ("boxes", "scores", "keypoints"):
            assert got[key].shape == want[key].shape
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((20, 20), np.uint8), "frame 1: expected an RGB uint8"),
        (np.zeros((20, 20, 3), np.float32), "frame 1: expected an RGB uint8"),
        (np.zeros((20, 20, 4), np.uint8), "frame 1: expected 3 channels"),
    ],
)
def test_detect_faces_rejects_bad_frames(filled_model, frame, message):
    with pytest.raises(ValueError, match=message):
        rf.detect_faces(filled_model, [np.zeros((20, 20, 3), np.uint8), frame])


# ---------------------------------------------------------------------------------------------
# Loading a file in the published format


def test_load_real_format_file(ref, manifest, tmp_path, monkeypatch):
    c = hub.card(MODEL_ID)
    state = detweights.state_dict_from_manifest(manifest)
    assert state["body.bn1.num_batches_tracked"].dtype == np.int64
    save_file(state, str(tmp_path / c.files[0]))
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(tmp_path))
    model = c.load()
    assert isinstance(model, rf.RetinaFace) and not model.training
    with torch.no_grad():
        out = model(torch.from_numpy(ref["input"]))
    for name, got in zip(c.outputs, out, strict=True):
        want = ref[name]
        atol = c.tolerance * float(np.abs(want).max())
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=atol, err_msg=name)


def test_load_mismatched_file_names_it(manifest, tmp_path):
    c = hub.card(MODEL_ID)
    state = detweights.state_dict_from_manifest(manifest)
    state.pop("LandmarkHead._convs.2.bias")
    path = tmp_path / c.fallback_files[0]
    save_file(state, str(path))
    with pytest.raises(hub.WeightsError, match="LandmarkHead._convs.2.bias") as e:
        c.load(model_dir=tmp_path)
    assert str(path) in str(e.value)


def test_cpu_forward_passes_hold_at_most_forward_frames():
    """A large batch runs in chunks on the CPU (lower peak memory) with each frame's result
    unchanged."""
    torch.manual_seed(0)
    net = rf.RetinaFace().eval()
    sizes = []
    forward = net.forward
    net.forward = lambda x: sizes.append(len(x)) or forward(x)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(6)]
    frames.insert(2, rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    together = rf.detect_faces(net, frames)
    assert sorted(sizes) == [1, 2, rf.FORWARD_FRAMES] and rf.FORWARD_FRAMES == 4
    for frame, found in zip(frames, together, strict=True):
        alone = rf.detect_faces(net, [frame])[0]
        for k in ("boxes", "scores", "keypoints"):
            np.testing.assert_allclose(found[k], alone[k], atol=1e-4)
