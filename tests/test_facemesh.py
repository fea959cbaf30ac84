"""Face Mesh v2, blendshapes and head pose: the geometry around the networks, and conversion.

Cases, sizes and pipeline options come from tests/conformance (facemesh_v2, mp_blendshapes,
mediapipe_pipeline, face_multitask_v2) at run time; the forward passes themselves are checked
by tests/test_conformance.py.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from safetensors.numpy import load_file

from featx import hub
from featx.detectors import mp_image
from featx.media import MediaError
from featx.nn import blendshapes as bs
from featx.nn import facemesh as fm
from featx.nn import mesh_pose as mp

ROOT = Path(__file__).resolve().parents[1]
CONF = Path(__file__).parent / "conformance"
ASSETS = ROOT / "featx" / "assets"
# Tolerances (FACTS): geometry is float64 arithmetic on the stored values.
PX = 1e-3  # image pixels (facemesh_v2 §9: projected landmarks within 1e-3 px)
RAD = 1e-6
ROTATION = 1e-5  # matrix rotation part (mediapipe_pipeline §6: ≤ 3e-6 from the same landmarks)
CM = 1e-3  # matrix translation (≤ 1.1e-4 cm)
DEG = 1e-3  # Euler angles
# Order of `*_euler_featx_deg` in the mediapipe_pipeline refs (its FACTS §5).
REF_EULER = ("pitch", "yaw", "roll")


def _load(name: str) -> dict:
    return dict(np.load(CONF / name, allow_pickle=False))


@pytest.fixture(scope="module")
def mesh_ref():
    return _load("facemesh_v2/ref.npz")


@pytest.fixture(scope="module")
def mesh_manifest():
    return json.loads((CONF / "facemesh_v2" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def blend_ref():
    return _load("mp_blendshapes/ref.npz")


@pytest.fixture(scope="module")
def headpose_ref():
    return _load("mediapipe_pipeline/ref_headpose.npz")


@pytest.fixture(scope="module")
def astronaut_ref():
    return _load("mediapipe_pipeline/ref_astronaut.npz")


@pytest.fixture(scope="module")
def face():
    return mp.canonical_face(load_file(str(ASSETS / "mp_geometry.safetensors")))


def _cases(ref: dict, key: str) -> list[str]:
    """The ``caseN_`` prefixes that have ``key``, in case order."""
    found = [m for k in ref if (m := re.fullmatch(r"(case(\d+)_)" + key, k))]
    assert found, f"no caseN_{key} in the ref"
    return [m.group(1) for m in sorted(found, key=lambda m: int(m.group(2)))]


def _wh(hw) -> tuple[int, int]:
    return int(hw[1]), int(hw[0])


def _ref_order(euler: np.ndarray) -> np.ndarray:
    """featx (pitch, roll, yaw) columns reordered as the refs store them."""
    return euler[..., [mp.ANGLE.index(a) for a in REF_EULER]]


def _source_image(ref: dict, prefix: str) -> np.ndarray | None:
    """The case's image when its `sources` entry is an expression of skimage data, else None.

    Entries read ``caseN_: name = EXPRESSION (comment)``; images held elsewhere (a jpg) are None.
    """
    for text in ref["sources"]:
        if text.startswith(prefix + ":"):
            expr = text.split(" = ", 1)[1].rsplit(" (", 1)[0]
            try:
                image = eval(expr, {"__builtins__": {}, "np": np, "skimage": skimage})
            except (NameError, AttributeError, SyntaxError):
                return None
            image = np.ascontiguousarray(image)
            return image if image.shape[:2] == tuple(ref[prefix + "image_hw"]) else None
    return None


def _image_cases(ref: dict) -> list[str]:
    return [p for p in _cases(ref, "input") if _source_image(ref, p) is not None]


MESH_IMAGE_CASES = _image_cases(_load("facemesh_v2/ref.npz"))


# ---------------------------------------------------------------------------------------------
# Region of interest, crop, projection


def test_pipeline_options_are_what_the_functions_implement(mesh_manifest):
    pipe = mesh_manifest["pipeline"]
    det, lm = pipe["roi_from_detection"], pipe["roi_from_landmarks"]
    for opts in (det, lm):
        assert opts["square_long"] and opts["scale_x"] == opts["scale_y"] == fm.ROI_SCALE
        assert opts["rotation_vector_target_angle_degrees"] == 0
    assert det["shift_x"] == det["shift_y"] == 0
    assert fm.DETECTION_ROTATION_POINTS == (
        det["rotation_vector_start_keypoint_index"],
        det["rotation_vector_end_keypoint_index"],
    )
    assert fm.LANDMARK_ROTATION_POINTS == (
        lm["rotation_vector_start_keypoint_index"],
        lm["rotation_vector_end_keypoint_index"],
    )
    assert list(pipe["image_to_tensor"]["output"]) == [fm.INPUT_SIZE] * 2
    assert pipe["image_to_tensor"]["border_mode"] == "BORDER_REPLICATE"
    assert pipe["tensors_to_landmarks"]["num_landmarks"] == fm.NUM_LANDMARKS


def test_roi_from_detection(mesh_ref):
    for p in _cases(mesh_ref, "roi"):
        wh = _wh(mesh_ref[p + "image_hw"])
        roi = fm.roi_from_detection(mesh_ref[p + "det_box"], mesh_ref[p + "det_keypoints"], wh)
        np.testing.assert_allclose(roi[:3], mesh_ref[p + "roi"][:3], rtol=0, atol=PX, err_msg=p)
        np.testing.assert_allclose(roi[3], mesh_ref[p + "roi"][3], rtol=0, atol=RAD, err_msg=p)


def test_roi_from_detection_batched_and_rotated():
    kp = np.zeros((2, 6, 2))
    kp[:, 0], kp[0, 1], kp[1, 1] = (0.4, 0.5), (0.6, 0.5), (0.6, 0.4)  # 2nd: right eye lower
    box = np.array([[0.3, 0.4, 0.7, 0.6]] * 2)
    roi = fm.roi_from_detection(box, kp, (100, 200))
    np.testing.assert_allclose(roi[:, :3], [[50, 100, 60], [50, 100, 60]])
    # Eye line rising to the image right by atan(20/20): the face is turned counter-clockwise.
    np.testing.assert_allclose(roi[:, 3], [0, -np.pi / 4])


def test_roi_from_landmarks(mesh_ref):
    for p in _cases(mesh_ref, "next_roi"):
        wh = _wh(mesh_ref[p + "image_hw"])
        roi = fm.roi_from_landmarks(mesh_ref[p + "landmarks_norm"], wh)
        want = mesh_ref[p + "next_roi"]
        np.testing.assert_allclose(roi[:3], want[:3], rtol=0, atol=PX, err_msg=p)
        np.testing.assert_allclose(roi[3], want[3], rtol=0, atol=RAD, err_msg=p)


def test_crop_matrix(mesh_ref):
    for p in _cases(mesh_ref, "crop_matrix"):
        h, w = mesh_ref[p + "image_hw"]
        size = mesh_ref[p + "input"].shape[1]
        blank = np.zeros((h, w, 3), np.uint8)
        crop, matrix = mp_image.mesh_crop(blank, mesh_ref[p + "roi"], size)
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
        want = mesh_ref[p + "crop_matrix"]
        np.testing.assert_allclose(matrix, want, rtol=1e-9, atol=1e-9, err_msg=p)
        # The analytic inverse maps crop pixels back to the image.
        inverse = np.linalg.inv(matrix)
        np.testing.assert_allclose(
            (inverse / inverse[2, 2])[:2], mesh_ref[p + "tensor_to_image"], atol=1e-6
        )


@pytest.mark.parametrize("prefix", MESH_IMAGE_CASES)
def test_crop_pixels_match_mediapipe(mesh_ref, prefix):
    image = _source_image(mesh_ref, prefix)
    want = mesh_ref[prefix + "input"][0]
    crop, _ = mp_image.mesh_crop(image, mesh_ref[prefix + "roi"], want.shape[0])
    np.testing.assert_array_equal(crop.astype(np.float32) / np.float32(255), want)


def test_crop_of_grey_image_and_bad_input(mesh_ref):
    p = MESH_IMAGE_CASES[0] if MESH_IMAGE_CASES else _cases(mesh_ref, "roi")[0]
    h, w = mesh_ref[p + "image_hw"]
    grey = np.random.default_rng(0).integers(0, 256, (h, w), dtype=np.uint8)
    crop, _ = mp_image.mesh_crop(grey, mesh_ref[p + "roi"])
    rgb, _ = mp_image.mesh_crop(np.repeat(grey[..., None], 3, axis=2), mesh_ref[p + "roi"])
    np.testing.assert_array_equal(crop, rgb)
    with pytest.raises(MediaError, match="frame.png"):
        mp_image.mesh_crop(np.zeros((4, 4, 3)) + 2.0, mesh_ref[p + "roi"], name="frame.png")


def test_landmarks_to_image(mesh_ref):
    for p in _cases(mesh_ref, "landmarks_px"):
        wh = _wh(mesh_ref[p + "image_hw"])
        raw = mesh_ref[p + "Identity"].reshape(-1, 3)
        roi = mesh_ref[p + "roi"]
        np.testing.assert_allclose(fm.z_scale(roi, wh), mesh_ref[p + "z_scale"], rtol=1e-9)
        px = fm.landmarks_to_image(raw, roi, wh)
        np.testing.assert_allclose(px, mesh_ref[p + "landmarks_px"], rtol=0, atol=PX, err_msg=p)
        norm = px / np.array([wh[0], wh[1], wh[0]])
        np.testing.assert_allclose(
            norm, mesh_ref[p + "landmarks_norm"], rtol=0, atol=PX / max(wh), err_msg=p
        )
    # Batched: (B, 478, 3) with (B, 4) ROIs (cases of the first case's image size).
    ps = _cases(mesh_ref, "landmarks_px")
    ps = [p for p in ps if tuple(mesh_ref[p + "image_hw"]) == tuple(mesh_ref[ps[0] + "image_hw"])]
    wh = _wh(mesh_ref[ps[0] + "image_hw"])
    raw = np.stack([mesh_ref[p + "Identity"].reshape(-1, 3) for p in ps])
    rois = np.stack([mesh_ref[p + "roi"] for p in ps])
    want = np.stack([mesh_ref[p + "landmarks_px"] for p in ps])
    np.testing.assert_allclose(fm.landmarks_to_image(raw, rois, wh), want, rtol=0, atol=PX)


def test_dlib68_subset_matches_multitask_manifest():
    manifest = json.loads((CONF / "face_multitask_v2" / "manifest.json").read_text())
    np.testing.assert_array_equal(fm.DLIB68_FROM_MP478, manifest["outputs"]["dlib68_from_mp478"])
    assert fm.DLIB68_FROM_MP478.max() < fm.NUM_LANDMARKS


# ---------------------------------------------------------------------------------------------
# Blendshape input


def test_blendshape_input(blend_ref):
    np.testing.assert_array_equal(bs.LANDMARK_SUBSET, blend_ref["indices"])
    assert len(blend_ref["names"]) == bs.NUM_BLENDSHAPES
    prefixes = _cases(blend_ref, "input")
    for p in prefixes:
        got = bs.blendshape_input(blend_ref[p + "landmarks_px"])
        assert got.dtype == torch.float32
        np.testing.assert_array_equal(got.numpy(), blend_ref[p + "input"], err_msg=p)
    batch = np.stack([blend_ref[p + "landmarks_px"] for p in prefixes])
    want = np.concatenate([blend_ref[p + "input"] for p in prefixes])
    np.testing.assert_array_equal(bs.blendshape_input(batch).numpy(), want)


def test_blendshapes_ignore_translation_and_scale(blend_ref):
    net = hub.card("mp_blendshapes").load()
    p = _cases(blend_ref, "input")[0]
    x = torch.from_numpy(blend_ref[p + "input"])
    with torch.no_grad():
        out = net(torch.cat([x, x * 2.5 + 40.0]))
    np.testing.assert_allclose(out[1].numpy(), out[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out[0].numpy(), blend_ref[p + "output"], atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Head pose


def test_geometry_asset_equals_refs(headpose_ref, face):
    tensors = load_file(str(ASSETS / "mp_geometry.safetensors"))
    for key in ("canonical_vertex_buffer", "procrustes_landmark_ids", "procrustes_weights"):
        np.testing.assert_array_equal(tensors[key], headpose_ref[key], err_msg=key)
    assert face.vertices.shape == (mp.NUM_CANONICAL, 3)
    assert mp.VERTICAL_FOV_DEG == headpose_ref["camera_vertical_fov_deg"]
    assert mp.NEAR == headpose_ref["camera_near"]


def _assert_matrix(got: np.ndarray, want: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(got[..., :3, :3], want[..., :3, :3], atol=ROTATION, err_msg=what)
    np.testing.assert_allclose(got[..., :3, 3], want[..., :3, 3], atol=CM, err_msg=what)
    np.testing.assert_allclose(got[..., 3, :], want[..., 3, :], atol=0, err_msg=what)


def test_head_pose_of_renders_with_known_pose(headpose_ref, face):
    r = headpose_ref
    matrix = mp.head_pose_matrix(
        r["render_landmarks_norm"],
        _wh(r["render_image_hw"]),
        face,
        float(r["camera_vertical_fov_deg"]),
        float(r["camera_near"]),
    )
    _assert_matrix(matrix, r["render_matrix"], "render")
    euler = _ref_order(mp.euler_featx_deg(matrix))
    np.testing.assert_allclose(euler, r["render_euler_featx_deg"], atol=DEG)
    # Every rotation the renders were made with comes back with its sign.
    expected = r["render_expected_featx_deg"]
    moved = expected != 0
    np.testing.assert_array_equal(np.sign(euler[moved]), np.sign(expected[moved]))


def test_euler_of_real_images(headpose_ref):
    euler = _ref_order(mp.euler_featx_deg(headpose_ref["real_matrix"]))
    np.testing.assert_allclose(euler, headpose_ref["real_euler_featx_deg"], atol=DEG)


def test_head_pose_of_pipeline_landmarks(astronaut_ref, mesh_ref, face):
    a = astronaut_ref
    prefixes = [k.removesuffix("image_hw") for k in a if k.endswith("image_hw")]
    assert prefixes
    for p in prefixes:
        wh = _wh(a[p + "image_hw"])
        for landmarks, want in (
            ("tasks_lm_landmarks_norm", "tasks_lm_matrix_from_landmarks_numpy"),
            ("litert_lm_landmarks_norm", "litert_lm_matrix"),
        ):
            matrix = mp.head_pose_matrix(a[p + landmarks], wh, face)
            _assert_matrix(matrix, a[p + want], p + want)
            euler = _ref_order(mp.euler_featx_deg(matrix))
            key = p + want.split("_matrix")[0] + "_euler_featx_deg"
            np.testing.assert_allclose(euler, a[key], atol=DEG, err_msg=key)
    for p in _cases(mesh_ref, "matrix"):
        wh = _wh(mesh_ref[p + "image_hw"])
        matrix = mp.head_pose_matrix(mesh_ref[p + "landmarks_norm"], wh, face)
        _assert_matrix(matrix, mesh_ref[p + "matrix"], p + "matrix")


# ---------------------------------------------------------------------------------------------
# The whole chain on the cases whose image is available


@pytest.mark.parametrize("prefix", MESH_IMAGE_CASES)
def test_image_to_landmarks_and_pose(mesh_ref, face, prefix):
    # From the stored ROI: the ROI from the float32-stored detection differs by ~1e-5 px, which
    # moves a few crop pixels by one grey level and landmarks by ~2e-3 px.
    r, p = mesh_ref, prefix
    image = _source_image(r, p)
    wh = _wh(r[p + "image_hw"])
    roi = r[p + "roi"]
    crop, _ = mp_image.mesh_crop(image, roi, r[p + "input"].shape[1])
    net = hub.card("facemesh_v2").load()
    with torch.no_grad():
        raw, logit, _ = net(torch.from_numpy(crop[None].astype(np.float32) / np.float32(255)))
    assert float(torch.sigmoid(logit).squeeze()) == pytest.approx(
        float(r[p + "presence"]), abs=1e-4
    )
    px = fm.landmarks_to_image(raw.reshape(-1, 3).numpy(), roi, wh)
    np.testing.assert_allclose(px, r[p + "landmarks_px"], rtol=0, atol=PX)
    norm = px / np.array([wh[0], wh[1], wh[0]])
    _assert_matrix(mp.head_pose_matrix(norm, wh, face), r[p + "matrix"], p)


# ---------------------------------------------------------------------------------------------
# Conversion


@pytest.fixture(scope="module")
def converter():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import convert_assets
        import convert_facemesh
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return convert_assets, convert_facemesh


@pytest.mark.requires("tflite")
def test_conversion_is_reproducible(converter, tmp_path, monkeypatch):
    convert_assets, convert_facemesh = converter
    monkeypatch.setattr(convert_assets, "converters", lambda: convert_facemesh.CONVERTERS)
    sums = convert_assets.convert(ROOT / "tools" / "sources", tmp_path)
    assert set(sums) == {f"{k}.safetensors" for k in convert_facemesh.CONVERTERS}
    committed = (ASSETS / "SHA256SUMS").read_text().splitlines()
    for name, digest in sums.items():
        assert (tmp_path / name).read_bytes() == (ASSETS / name).read_bytes(), name
        assert f"{digest}  {name}" in committed


@pytest.mark.parametrize(
    ("model_id", "member", "fn"),
    [
        ("facemesh_v2", "MESH_MEMBER", "facemesh_state_dict"),
        ("mp_blendshapes", "BLENDSHAPES_MEMBER", "blendshapes_state_dict"),
    ],
)
@pytest.mark.requires("tflite")
def test_conversion_consumes_every_manifest_tensor(converter, model_id, member, fn):
    _, cf = converter
    manifest = json.loads((CONF / model_id / "manifest.json").read_text())
    data = cf.read_member(ROOT / "tools" / "sources", getattr(cf, member))
    state, used = getattr(cf, fn)(data)
    assert used == set(manifest["tensors"])
    module = hub.card(model_id).build()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        k: tuple(v.shape) for k, v in module.state_dict().items()
    }
