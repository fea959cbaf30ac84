"""img2pose: transform, pyramid, anchors, proposals, RoI heads, pose post-processing, Detectorv1's
pass, RoIAlign and loading real files.

Every size, threshold and case comes from tests/conformance/img2pose (ref.npz, manifest.json)
at run time; the forward pass (region proposal outputs) is also checked by test_conformance.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hubcache import CONF, detweights, put_in_hub_cache, safetensors_bytes
from matching import match_detections

from featx import hub
from featx.nn import img2pose as ip
from featx.nn import ops

MODEL_ID = "img2pose"
LEVELS = ("0", "1", "2", "3", "pool")
REL = 1e-4  # FACTS: |Δ| ≤ 1e-4·max|ref| for features, logits and regressions
PROPOSAL_PX = 1e-2  # FACTS: proposals match within ~1e-2 px
BOX_PX = 1.0  # FACTS: projected boxes are integer-truncated, allow ~1 px


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(CONF / MODEL_ID / "ref.npz"))


@pytest.fixture(scope="module")
def manifest():
    return json.loads((CONF / MODEL_ID / "manifest.json").read_text())


@pytest.fixture(scope="module")
def config(manifest):
    return ip.Img2PoseConfig.from_dict(manifest["config"])


@pytest.fixture(scope="module")
def post(manifest):
    """Detectorv1's thresholds, by :func:`ip.detector_postprocess` keyword."""
    p = manifest["detector_postprocess"]
    return {
        "inclusion_threshold": p["nms_inclusion_threshold"],
        "nms_iou": p["nms_threshold"],
        "threshold": p["detection_threshold"],
    }


@pytest.fixture(scope="module")
def model(config):
    return detweights.fill_module(ip.Img2Pose(config)).eval()


@pytest.fixture(scope="module")
def stages(model, ref):
    """Transform, pyramid and proposal-network outputs of the reference input, computed once."""
    with torch.no_grad():
        batch, sizes = model.transform(torch.from_numpy(ref["input"]))
        features = model.features(batch)
        objectness, deltas = model.rpn["head"](features)
    return {
        "batch": batch,
        "sizes": sizes,
        "features": features,
        "objectness": objectness,
        "deltas": deltas,
    }


def _close(got, want, rel=REL, what=""):
    got = got.detach().cpu().numpy() if torch.is_tensor(got) else np.asarray(got)
    atol = rel * max(1.0, float(np.abs(want).max())) if want.size else rel
    np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=what)


def _columns_close(got, want, rel=REL, what=""):
    """Each column within rel * max|column| (translations are far larger than rotations)."""
    got = got.detach().cpu().numpy() if torch.is_tensor(got) else np.asarray(got)
    for j in range(want.shape[1]):
        _close(got[:, j], want[:, j], rel, f"{what} column {j}")


def _grid_sizes(ref) -> list[tuple[int, int]]:
    return [tuple(ref[f"fpn_{name}_ch0to3"].shape[-2:]) for name in LEVELS]


# ---------------------------------------------------------------------------------------------
# Constants and config


def test_constants_match_manifest(manifest):
    cfg = manifest["config"]
    assert list(ip.IMAGE_MEAN) == cfg["image_mean"]
    assert list(ip.IMAGE_STD) == cfg["image_std"]
    assert ip.SIZE_DIVISIBLE == cfg["size_divisible"]
    assert [[s] for s in ip.ANCHOR_SIZES] == cfg["anchor_sizes"]
    assert list(ip.ASPECT_RATIOS) == cfg["anchor_aspect_ratios"]
    assert len(ip.ASPECT_RATIOS) == cfg["anchors_per_location"]
    roi = cfg["roi_align"]
    assert list(ip.ROI_LEVELS) == roi["featmap_names"]
    assert ip.ROI_OUTPUT_SIZE == roi["output_size"]
    assert ip.ROI_SAMPLING_RATIO == roi["sampling_ratio"]
    assert ip.ROI_ALIGNED == roi["aligned"]
    assert (ip.CANONICAL_SCALE, ip.CANONICAL_LEVEL) == (
        roi["canonical_scale"],
        roi["canonical_level"],
    )
    p = manifest["detector_postprocess"]
    assert ip.NMS_INCLUSION_THRESHOLD == p["nms_inclusion_threshold"]
    assert ip.DETECTOR_NMS_IOU == p["nms_threshold"]
    assert ip.DETECTION_THRESHOLD == p["detection_threshold"]


def test_config_reads_every_setting(manifest, config):
    cfg = manifest["config"]
    for key in (
        "min_size",
        "max_size",
        "rpn_pre_nms_top_n_test",
        "rpn_post_nms_top_n_test",
        "rpn_nms_thresh",
        "rpn_min_box_size",
        "box_score_thresh",
        "box_nms_thresh",
        "box_detections_per_img",
        "bbox_x_factor",
        "bbox_y_factor",
        "expand_forehead",
    ):
        assert getattr(config, key) == cfg[key], key
    np.testing.assert_array_equal(config.pose_mean, cfg["pose_mean"])
    np.testing.assert_array_equal(config.pose_stddev, cfg["pose_stddev"])
    np.testing.assert_array_equal(config.threed_points, cfg["threed_points"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"threed_points": None}, "lacks threed_points"),
        ({"pose_mean": [0.0] * 5}, "pose_mean must be"),
        ({"threed_points": [[0.0, 0.0]] * 68}, "threed_points must be"),
        ({"pose_stddev": [1.0] * 5 + [float("nan")]}, "pose_stddev must be"),
    ],
)
def test_config_rejects_missing_or_malformed_pose_data(manifest, change, message):
    values = dict(manifest["config"])
    for key, value in change.items():
        if value is None:
            del values[key]
        else:
            values[key] = value
    with pytest.raises(ValueError, match=message):
        ip.Img2PoseConfig.from_dict(values)


def test_detect_needs_pose_data(ref):
    bare = ip.Img2Pose().eval()
    with pytest.raises(ValueError, match="config.json"):
        bare.detect(torch.from_numpy(ref["input"]))


# ---------------------------------------------------------------------------------------------
# Transform, pyramid, anchors, proposals


def test_transform_matches_ref(ref, stages):
    assert tuple(stages["batch"].shape) == tuple(ref["transformed_shape"])
    assert stages["sizes"] == [tuple(s) for s in ref["image_sizes"].tolist()]
    _close(stages["batch"][:, :, ::8, ::8], ref["transformed_sub8"], what="transformed_sub8")


def test_transform_caps_the_long_side_and_pads_each_image(config):
    """Short side to min_size unless the long side would pass max_size; zero padding after
    normalisation to the batch's largest size, rounded up to SIZE_DIVISIBLE."""
    wide_w = int(config.max_size * 3)
    wide = torch.rand(3, 10, wide_w)
    square = torch.rand(3, 50, 50)
    batch, sizes = ops.rcnn_transform(
        [wide, square], config.min_size, config.max_size, ip.IMAGE_MEAN, ip.IMAGE_STD, 32
    )
    s_wide = min(config.min_size / 10, config.max_size / wide_w)
    assert sizes[0] == (math.floor(10 * s_wide), math.floor(wide_w * s_wide))
    assert sizes[1] == (config.min_size, config.min_size)
    assert batch.shape[-2] % 32 == 0 and batch.shape[-1] % 32 == 0
    assert batch.shape[-2] >= config.min_size and batch.shape[-1] >= sizes[0][1]
    h, w = sizes[1]
    assert torch.all(batch[1, :, h:, :] == 0) and torch.all(batch[1, :, :, w:] == 0)
    # A constant image stays that constant, normalised, inside its resized area.
    flat, (size,) = ops.rcnn_transform(
        [torch.full((3, 20, 30), 0.5)], 40, 1000, [0.25] * 3, [0.5] * 3
    )
    assert size == (40, 60)
    torch.testing.assert_close(flat[0, :, :40, :60], torch.full((3, 40, 60), 0.5))
    with pytest.raises(ValueError, match="image 0"):
        ops.rcnn_transform([torch.rand(4, 8, 8)], 40, 100, [0.0] * 3, [1.0] * 3)


@pytest.mark.parametrize("level", LEVELS)
def test_fpn_features_match_ref(ref, stages, level):
    f = stages["features"][LEVELS.index(level)]
    _close(f.mean((2, 3)), ref[f"fpn_{level}_chmean"], what=f"fpn_{level}_chmean")
    _close(f[:, :4], ref[f"fpn_{level}_ch0to3"], what=f"fpn_{level}_ch0to3")


def test_anchors_match_ref(ref):
    boxes, counts = ip.anchors(tuple(ref["transformed_shape"][-2:]), _grid_sizes(ref))
    np.testing.assert_array_equal(boxes.numpy(), ref["anchors"])
    assert counts == [len(ip.ASPECT_RATIOS) * h * w for h, w in _grid_sizes(ref)]


def test_rpn_outputs_match_ref(ref, stages):
    _close(stages["objectness"], ref["rpn_objectness"], what="rpn_objectness")
    _close(stages["deltas"], ref["rpn_deltas"], what="rpn_deltas")


def test_decode_boxes_clamps_log_scale():
    reference = torch.tensor([[0.0, 0.0, 16.0, 8.0]])
    big = ip.decode_boxes(torch.tensor([[0.0, 0.0, 50.0, 50.0]]), reference)
    width, height = (big[0, 2] - big[0, 0]).item(), (big[0, 3] - big[0, 1]).item()
    assert width == pytest.approx(16 * 1000 / 16) and height == pytest.approx(8 * 1000 / 16)


def _assert_same_proposals(got: torch.Tensor, want: np.ndarray):
    order = match_detections(got.numpy(), want)
    np.testing.assert_allclose(got.numpy()[order], want, rtol=0, atol=PROPOSAL_PX)


def test_proposals_from_recorded_rpn_outputs(ref, config):
    _, counts = ip.anchors(tuple(ref["transformed_shape"][-2:]), _grid_sizes(ref))
    boxes = ip.decode_boxes(torch.from_numpy(ref["rpn_deltas"]), torch.from_numpy(ref["anchors"]))
    sizes = [tuple(s) for s in ref["image_sizes"].tolist()]
    (got,) = ip.select_proposals(
        torch.from_numpy(ref["rpn_objectness"]), boxes, counts, sizes, config
    )
    _assert_same_proposals(got, ref["proposals"])


def test_proposals_end_to_end(ref, stages, config):
    feats = stages["features"]
    anchors, counts = ip.anchors(tuple(stages["batch"].shape[-2:]), [f.shape[-2:] for f in feats])
    boxes = ip.decode_boxes(stages["deltas"], anchors)
    (got,) = ip.select_proposals(stages["objectness"], boxes, counts, stages["sizes"], config)
    _assert_same_proposals(got, ref["proposals"])


# ---------------------------------------------------------------------------------------------
# RoI heads and the model's own post-processing


def test_roi_heads_on_recorded_proposals(ref, model, stages):
    proposals = [torch.from_numpy(ref["proposals"])]
    feats, sizes = stages["features"], stages["sizes"]
    with torch.no_grad():
        pooled = ip.multiscale_roi_align(feats[: len(ip.ROI_LEVELS)], proposals, sizes)
        logits, dofs = model.roi_outputs(feats, proposals, sizes)
    n = len(ref["roi_pool_first2"])
    _close(pooled[:n], ref["roi_pool_first2"], what="roi_pool_first2")
    _close(logits, ref["class_logits"], what="class_logits")
    _close(dofs, ref["dof_regression"], what="dof_regression")


def _assert_same_detections(found, ref, boxes_key, px):
    order = match_detections(found["boxes"], ref[boxes_key], found["scores"], ref["out_scores"])
    np.testing.assert_allclose(found["boxes"].numpy()[order], ref[boxes_key], rtol=0, atol=px)
    # scores are softmaxed class logits: FACTS' |d| <= 1e-4 * max|ref| (max 1). End to end, the
    # proposals may move by ~1e-2 px (FACTS), which moves low scores by up to ~1e-4 on some CPUs
    np.testing.assert_allclose(found["scores"].numpy()[order], ref["out_scores"], rtol=0, atol=REL)
    _columns_close(found["dofs"][order], ref["out_dofs"], what="out_dofs")
    np.testing.assert_array_equal(found["labels"].numpy(), ref["out_labels"])


def test_postprocess_on_recorded_head_outputs(ref, config):
    size = tuple(ref["image_sizes"][0].tolist())
    found = ip.postprocess_detections(
        torch.from_numpy(ref["class_logits"]),
        torch.from_numpy(ref["dof_regression"]),
        torch.from_numpy(ref["proposals"]),
        size,
        config,
    )
    _assert_same_detections(found, ref, "roi_boxes", BOX_PX)
    original = ref["image"].shape[:2]
    found["boxes"] = ip.rescale_boxes(found["boxes"], size, original)
    ratio = max(o / s for o, s in zip(original, size, strict=True))
    _assert_same_detections(found, ref, "out_boxes", BOX_PX * ratio)


def test_detect_end_to_end(ref, model):
    with torch.no_grad():
        (found,) = model.detect(torch.from_numpy(ref["input"]))
    original = ref["image"].shape[:2]
    ratio = max(o / s for o, s in zip(original, ref["image_sizes"][0], strict=True))
    _assert_same_detections(found, ref, "out_boxes", BOX_PX * ratio)


def test_no_proposals_give_no_faces(model, config, stages):
    with torch.no_grad():
        logits, dofs = model.roi_outputs(stages["features"], [torch.zeros(0, 4)], stages["sizes"])
    found = ip.postprocess_detections(logits, dofs, torch.zeros(0, 4), stages["sizes"][0], config)
    assert {k: tuple(v.shape) for k, v in found.items()} == {
        "boxes": (0, 4),
        "scores": (0,),
        "dofs": (0, 6),
        "labels": (0,),
    }
    det = ip.detector_postprocess(found["boxes"], found["scores"], found["dofs"])
    assert tuple(det["dofs"].shape) == (0, 6)


# ---------------------------------------------------------------------------------------------
# Pose geometry


def test_local_to_global_keeps_a_centred_full_image_box():
    """A box covering the whole image, centred on the principal point, changes nothing."""
    size = (200, 300)
    box = torch.tensor([[0.0, 0.0, 300.0, 200.0]], dtype=torch.float64)
    dofs = torch.tensor([[0.1, -0.2, 0.05, 0.3, -0.1, 5.0]], dtype=torch.float64)
    torch.testing.assert_close(ip.local_to_global(dofs, box, size), dofs)


def test_local_to_global_moves_an_off_centre_box():
    """K^-1 K_b shifts x, y by (box centre - principal point) / focal times the rescaled depth;
    with no local rotation the global rotation is half the shear's antisymmetric part."""
    size = (200, 300)
    focal, cx, cy = 500.0, 150, 100
    box = torch.tensor([[20.0, 30.0, 80.0, 70.0]], dtype=torch.float64)
    dofs = torch.tensor([[0.0, 0.0, 0.0, 0.3, -0.1, 5.0]], dtype=torch.float64)
    depth = 5.0 * focal / (60.0 + 40.0)
    bx, by = 50.0, 50.0
    want_t = [0.3 + (bx - cx) * depth / focal, -0.1 + (by - cy) * depth / focal, depth]
    want_r = [-(by - cy) / focal / 2, (bx - cx) / focal / 2, 0.0]
    got = ip.local_to_global(dofs, box, size)[0]
    np.testing.assert_allclose(got.numpy(), want_r + want_t, rtol=1e-12, atol=1e-12)


def test_project_boxes_frame_the_points(config):
    """Without rotation, at depth z the points project to K·(p + t); the box is their extent
    times the factors, extended on the forehead side (|rvec z| <= 1: the top)."""
    size = (400, 500)
    dofs = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 10.0]], dtype=torch.float64)
    pts = np.asarray(config.threed_points, np.float64) + [0.0, 0.0, 10.0]
    focal, cx, cy = sum(size), size[1] // 2, size[0] // 2
    u, v = focal * pts[:, 0] / pts[:, 2] + cx, focal * pts[:, 1] / pts[:, 2] + cy
    half_w = int((u.max() - u.min()) * config.bbox_x_factor) / 2
    half_h = int((v.max() - v.min()) * config.bbox_y_factor) / 2
    mid_u, mid_v = (u.max() + u.min()) / 2, (v.max() + v.min()) / 2
    top = mid_v - half_h - config.expand_forehead * (v.max() - v.min())
    want = np.trunc([mid_u - half_w, top, mid_u + half_w, mid_v + half_h])
    want = np.clip(want, 0, [size[1], size[0], size[1], size[0]])
    np.testing.assert_array_equal(ip.project_boxes(dofs, size, config).numpy()[0], want)


# ---------------------------------------------------------------------------------------------
# Detectorv1's pass and detect_faces


def test_detector_postprocess_on_recorded_output(ref, post):
    det = ip.detector_postprocess(
        torch.from_numpy(ref["out_boxes"]),
        torch.from_numpy(ref["out_scores"]),
        torch.from_numpy(ref["out_dofs"]),
        **post,
    )
    order = match_detections(det["boxes"], ref["det_boxes"], det["scores"], ref["det_scores"])
    det = {k: v[torch.from_numpy(order)] for k, v in det.items()}
    np.testing.assert_allclose(det["boxes"].numpy(), ref["det_boxes"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(det["scores"].numpy(), ref["det_scores"], rtol=0, atol=1e-6)
    _columns_close(det["dofs"], ref["det_dofs_euler"], what="det_dofs_euler")


def test_detect_faces_reports_detections_in_featx_signs(ref, model, post):
    (faces,) = ip.detect_faces(model, [ref["image"]], **post)
    order = match_detections(faces["boxes"], ref["det_boxes"], faces["scores"], ref["det_scores"])
    faces = {k: v[order] for k, v in faces.items()}
    original = ref["image"].shape[:2]
    ratio = max(o / s for o, s in zip(original, ref["image_sizes"][0], strict=True))
    np.testing.assert_allclose(faces["boxes"], ref["det_boxes"], rtol=0, atol=BOX_PX * ratio)
    np.testing.assert_allclose(faces["scores"], ref["det_scores"], rtol=0, atol=1e-5)
    a, b, c = ref["det_dofs_euler"][:, :3].T
    # featx signs (+pitch = up): Detectorv1 re-labels pitch = -a, yaw = +b, roll = -c
    _columns_close(faces["head_pose"], np.degrees(np.stack([-a, -c, b], axis=1)), what="pose")
    _columns_close(faces["head_translation"], ref["det_dofs_euler"][:, 3:], what="translation")
    assert {k: v.dtype for k, v in faces.items()} == dict.fromkeys(faces, np.float32)


def test_detect_faces_rejects_non_rgb_frames(model):
    with pytest.raises(ValueError, match="frame 1"):
        ip.detect_faces(model, [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match="frame 0"):
        ip.detect_faces(model, [np.zeros((8, 8, 3), np.float32)])


# ---------------------------------------------------------------------------------------------
# RoIAlign on hand-made features


def _naive_roi_align(features, rois, out, scale, ratio, aligned):
    """torchvision's RoIAlign written sample by sample in plain Python (the reference)."""
    _, channels, height, width = features.shape
    f = features.double().numpy()
    result = np.zeros((len(rois), channels, out, out))
    for k, (b, x1, y1, x2, y2) in enumerate(rois.double().numpy()):
        off = 0.5 if aligned else 0.0
        sx, sy, ex, ey = x1 * scale - off, y1 * scale - off, x2 * scale - off, y2 * scale - off
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / out, rh / out
        gh = ratio if ratio > 0 else math.ceil(rh / out)
        gw = ratio if ratio > 0 else math.ceil(rw / out)
        for ph in range(out):
            for pw in range(out):
                total = np.zeros(channels)
                for iy in range(gh):
                    y = sy + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        x = sx + pw * bw + (ix + 0.5) * bw / gw
                        if y < -1 or y > height or x < -1 or x > width:
                            continue
                        yy, xx = max(y, 0.0), max(x, 0.0)
                        y0, x0 = int(yy), int(xx)
                        if y0 >= height - 1:
                            y0 = y1_ = height - 1
                            yy = float(y0)
                        else:
                            y1_ = y0 + 1
                        if x0 >= width - 1:
                            x0 = x1_ = width - 1
                            xx = float(x0)
                        else:
                            x1_ = x0 + 1
                        ly, lx = yy - y0, xx - x0
                        img = f[int(b)]
                        total += (
                            (1 - ly) * (1 - lx) * img[:, y0, x0]
                            + (1 - ly) * lx * img[:, y0, x1_]
                            + ly * (1 - lx) * img[:, y1_, x0]
                            + ly * lx * img[:, y1_, x1_]
                        )
                result[k, :, ph, pw] = total / max(gh * gw, 1)
    return result


def test_roi_align_of_a_ramp_is_the_mean_sample_position():
    """Bilinear interpolation of a linear ramp is exact: each bin is 4·mean(y) + mean(x)."""
    ramp = torch.arange(16.0).reshape(1, 1, 4, 4)  # value = 4 y + x
    box = torch.tensor([[0.5, 1.0, 2.5, 3.0]])
    got = ops.roi_align(ramp, [box], (2, 2), spatial_scale=1.0, sampling_ratio=2)
    # bins 1 px wide/tall; samples at x = 0.75, 1.25 | 1.75, 2.25 and y = 1.25, 1.75 | 2.25, 2.75
    want = torch.tensor([[[[4 * 1.5 + 1.0, 4 * 1.5 + 2.0], [4 * 2.5 + 1.0, 4 * 2.5 + 2.0]]]])
    torch.testing.assert_close(got, want)
    # aligned shifts every sample by -0.5 cell
    shifted = ops.roi_align(ramp, [box], (2, 2), 1.0, 2, aligned=True)
    torch.testing.assert_close(shifted, want - 4 * 0.5 - 0.5)


def test_roi_align_edges_clamp_and_far_samples_read_zero():
    ones = torch.ones(1, 1, 4, 4)
    # a box straddling the right edge: samples in (3, 4] clamp to the last column (value 1)
    edge = ops.roi_align(ones, [torch.tensor([[2.0, 0.0, 4.0, 2.0]])], 1, 1.0, 2)
    torch.testing.assert_close(edge, torch.ones(1, 1, 1, 1))
    # samples more than one cell outside read 0 but still count in the average
    half = ops.roi_align(ones, [torch.tensor([[0.0, 0.0, 6.0, 2.0]])], (1, 1), 1.0, 4)
    # x samples at 0.75, 2.25, 3.75, 5.25: the last is beyond 4 + 1 -> 3 of 4 count
    torch.testing.assert_close(half, torch.full((1, 1, 1, 1), 0.75))


@pytest.mark.parametrize("ratio", [2, 0, -1])
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_matches_the_sample_by_sample_rule(ratio, aligned):
    gen = torch.Generator().manual_seed(3)
    features = torch.randn(2, 3, 9, 11, generator=gen)
    corners = torch.rand(12, 2, generator=gen) * torch.tensor([50.0, 40.0]) - 5
    sizes = torch.rand(12, 2, generator=gen) * 30
    boxes = torch.cat([corners, corners + sizes], dim=1)
    boxes[0] = torch.tensor([3.0, 3.0, 3.0, 3.0])  # empty box
    rois = torch.cat([(torch.arange(12) % 2)[:, None].float(), boxes], dim=1)
    got = ops.roi_align(features, rois, 3, 0.25, ratio, aligned)
    want = _naive_roi_align(features, rois, 3, 0.25, ratio, aligned)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-5)
    # the per-image list form gives the same rows
    as_list = [boxes[rois[:, 0] == i] for i in (0, 1)]
    regrouped = torch.cat([got[rois[:, 0] == i] for i in (0, 1)])
    torch.testing.assert_close(ops.roi_align(features, as_list, 3, 0.25, ratio, aligned), regrouped)


def test_roi_align_handles_no_boxes_and_rejects_bad_ones():
    features = torch.rand(1, 5, 8, 8)
    assert ops.roi_align(features, [torch.zeros(0, 4)], 7).shape == (0, 5, 7, 7)
    with pytest.raises(ValueError, match="roi_align needs"):
        ops.roi_align(features, torch.zeros(3, 4), 7)


def test_roi_levels_follow_box_size():
    boxes = torch.tensor([[0.0, 0, 224, 224], [0, 0, 448, 448], [0, 0, 20, 20], [0, 0, 4000, 4000]])
    assert ip.roi_levels(boxes, 2, 5).tolist() == [2, 3, 0, 3]


# ---------------------------------------------------------------------------------------------
# Loading real files


@pytest.fixture(scope="module")
def real_files(manifest):
    """model.safetensors bytes (current and old FPN spelling) and config.json text."""
    state = detweights.state_dict_from_manifest(manifest)
    old = {
        k.replace(".0.weight", ".weight").replace(".0.bias", ".bias")
        if k.startswith("backbone.fpn.")
        else k: v
        for k, v in state.items()
    }
    assert old.keys() != state.keys() and any(".inner_blocks.1.weight" in k for k in old)
    config = json.dumps(manifest["config"])
    return safetensors_bytes(state), safetensors_bytes(old), config


def _check_loaded(net, ref, manifest):
    assert not net.training
    np.testing.assert_array_equal(net.config.pose_mean, manifest["config"]["pose_mean"])
    with torch.no_grad():
        objectness, deltas = net(torch.from_numpy(ref["input"]))
    _close(objectness, ref["rpn_objectness"], what="rpn_objectness")
    _close(deltas, ref["rpn_deltas"], what="rpn_deltas")


@pytest.mark.parametrize("spelling", ["current", "old"])
def test_card_loads_files_from_model_dir(
    tmp_path, monkeypatch, real_files, ref, manifest, spelling
):
    weights = real_files[0] if spelling == "current" else real_files[1]
    (tmp_path / "model.safetensors").write_bytes(weights)
    (tmp_path / "config.json").write_text(real_files[2])
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(tmp_path))
    _check_loaded(hub.card(MODEL_ID).load(), ref, manifest)


def test_card_loads_from_the_hub_cache(hf_home, real_files, ref, manifest):
    c = hub.card(MODEL_ID)
    files = {"model.safetensors": real_files[0], "config.json": real_files[2].encode()}
    put_in_hub_cache(hf_home, c.repo, files)
    _check_loaded(c.load(), ref, manifest)


@pytest.mark.parametrize(
    "config_text, message",
    [("{not json", "config.json"), (json.dumps({"min_size": 400}), "lacks pose_mean")],
)
def test_card_rejects_a_bad_config(tmp_path, real_files, config_text, message):
    (tmp_path / "model.safetensors").write_bytes(real_files[0])
    (tmp_path / "config.json").write_text(config_text)
    with pytest.raises(hub.WeightsError, match=message):
        hub.card(MODEL_ID).load(model_dir=tmp_path)


def test_card_rejects_mismatched_weights(tmp_path, real_files):
    (tmp_path / "model.safetensors").write_bytes(safetensors_bytes({"rpn.head.conv.bias": [0.0]}))
    (tmp_path / "config.json").write_text(real_files[2])
    with pytest.raises(hub.WeightsError, match="model.safetensors"):
        hub.card(MODEL_ID).load(model_dir=tmp_path)
