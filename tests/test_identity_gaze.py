"""Identity embeddings (arcface, facenet) and gaze (l2cs): the steps around the networks.

Crops, normalisation, alignment, intermediate activations and the gaze decode are checked
against ``tests/conformance/<id>/`` (ref.npz, manifest.json) read at run time; every size,
box, template and tolerance comes from there or from the model card, never from the FACTS
prose, because the same tests also run against a held-out set of vectors. The networks'
final outputs are also checked by tests/test_conformance.py.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from featx import hub, io, schema
from featx.nn import arcface, identity, l2cs, landmark68, ops

CONF = Path(__file__).parent / "conformance"
if str(CONF) not in sys.path:
    sys.path.insert(0, str(CONF))
detweights = importlib.import_module("detweights")

IDS = ["arcface", "facenet", "l2cs"]


def _ref(model_id: str):
    return np.load(CONF / model_id / "ref.npz")


def _manifest(model_id: str) -> dict:
    return json.loads((CONF / model_id / "manifest.json").read_text())


def _atol(c: hub.ModelCard, want: np.ndarray) -> float:
    scale = max(1.0, float(np.abs(want).max())) if c.tolerance_relative else 1.0
    return c.tolerance * scale


def _filled(model_id: str) -> torch.nn.Module:
    return detweights.fill_module(hub.card(model_id).build()).eval()


def _box_crop(ref) -> np.ndarray:
    """The Detectorv1 box crop of the ref image (the crop the landmark model reads)."""
    size = (ref["face_crop"] if "face_crop" in ref.files else ref["input"]).shape[-1]
    crops, _ = ops.face_crops(ref["image"], ref["box"][None], size, landmark68.EXPAND)
    return crops.numpy()


# ---------------------------------------------------------------------------------------------
# Crops and normalisation


@pytest.mark.parametrize("model_id", IDS)
def test_box_crop_matches_ref(model_id):
    """Detectorv1 feeds all three models the 112 box crop of the landmark step."""
    ref = _ref(model_id)
    crop = ref["face_crop"][:1] if "face_crop" in ref.files else ref["input"]
    np.testing.assert_allclose(_box_crop(ref), crop, rtol=0, atol=1e-5)


def test_model_inputs_from_crops_match_ref():
    ref = _ref("arcface")
    got = arcface.ArcFace.preprocess(torch.from_numpy(ref["face_crop"]))
    np.testing.assert_allclose(got.numpy(), ref["input"], rtol=0, atol=1e-6)
    # another crop size is resized to the network's (mobilenet's 224 crops, in Py-Feat)
    big = torch.nn.functional.interpolate(torch.from_numpy(ref["face_crop"]), scale_factor=2)
    assert arcface.ArcFace.preprocess(big).shape == ref["input"].shape

    ref = _ref("facenet")
    net = hub.card("facenet").build()
    np.testing.assert_array_equal(net.preprocess(torch.from_numpy(ref["input"])), ref["input"])

    ref = _ref("l2cs")
    crop = torch.from_numpy(ref["face_crop"])
    np.testing.assert_allclose(l2cs.preprocess(crop).numpy(), ref["input"], rtol=0, atol=1e-5)
    # Py-Feat's range test: uint8, or floats above 1.5, are divided by 255 first
    as_uint8 = torch.round(crop * 255).to(torch.uint8)
    np.testing.assert_allclose(
        l2cs.preprocess(as_uint8).numpy(), l2cs.preprocess(as_uint8.float()).numpy(), atol=1e-6
    )
    np.testing.assert_allclose(l2cs.preprocess(as_uint8).numpy(), ref["input"], atol=0.02)


# ---------------------------------------------------------------------------------------------
# Five-point alignment (the option to the box crop)


def test_template_constant_is_the_manifest_template():
    template = np.asarray(_manifest("arcface")["arcface_template_112"])
    np.testing.assert_allclose(np.asarray(arcface.TEMPLATE_112), template, rtol=0, atol=0)
    assert arcface.INPUT_SIZE == _ref("arcface")["aligned_image"].shape[0]


def test_alignment_matches_ref():
    ref = _ref("arcface")
    template = _manifest("arcface")["arcface_template_112"]
    size = ref["aligned_image"].shape[0]
    matrix = ops.similarity_transform(ref["five_points"], template)
    np.testing.assert_allclose(matrix.numpy(), ref["align_matrix"], rtol=0, atol=1e-4)

    crops, matrices = ops.align_faces(ref["image"], ref["five_points"][None], template, size)
    np.testing.assert_allclose(matrices[0].numpy(), matrix.numpy(), rtol=0, atol=1e-12)
    assert crops.shape == (1, 3, size, size) and crops.dtype == torch.float32
    np.testing.assert_allclose(crops[0].numpy(), ref["face_crop"][1], rtol=0, atol=1 / 255 + 1e-6)
    # Truncation to 8 bits turns float noise near integers into a 1-level difference; the
    # public vectors match exactly, a few such pixels are tolerated.
    levels = np.round(crops[0].numpy().transpose(1, 2, 0) * 255).astype(int)
    diff = np.abs(levels - ref["aligned_image"].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (3, 5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = ops.similarity_transform(src, dst).numpy()
    assert m.shape == (3, 3, 3)
    for k in range(3):
        np.testing.assert_allclose(m[k, :2, :2], rot, atol=1e-9)
        np.testing.assert_allclose(m[k, :2, 2], shift, atol=1e-9)
        np.testing.assert_allclose(m[k, 2], [0, 0, 1])
    # a mirrored target is fitted with a rotation, never a reflection
    mirrored = ops.similarity_transform(src[0], src[0] * [-1, 1]).numpy()
    assert np.linalg.det(mirrored[:2, :2]) > 0


def test_align_faces_identity_and_errors():
    frame = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    points = np.array([[[10.0, 12], [30, 11], [20, 20], [12, 30], [29, 31]]])
    crops, _ = ops.align_faces(frame, points, points[0], 32)
    # the identity warp reads pixel centres exactly (and survives the 8-bit round trip)
    np.testing.assert_array_equal(
        np.round(crops[0].numpy() * 255).astype(np.uint8), frame[:32, :32].transpose(2, 0, 1)
    )
    with pytest.raises(ValueError, match="uint8"):
        ops.align_faces(frame.astype(float), points, points[0], 32)
    with pytest.raises(ValueError, match="points"):
        ops.align_faces(frame, points[:, :4], points[0], 32)


# ---------------------------------------------------------------------------------------------
# Embeddings and their intermediate activations


def _capture(modules: dict[str, torch.nn.Module], inputs: bool = False) -> dict:
    seen: dict[str, torch.Tensor] = {}
    for name, m in modules.items():
        if inputs:
            m.register_forward_pre_hook(lambda _m, args, name=name: seen.__setitem__(name, args[0]))
        else:
            m.register_forward_hook(lambda _m, _a, out, name=name: seen.__setitem__(name, out))
    return seen


def test_arcface_embedding_and_stages_match_ref():
    ref, c = _ref("arcface"), hub.card("arcface")
    net = _filled("arcface")
    stages = _capture({f"layer{i}": getattr(net, f"layer{i}") for i in range(1, 5)})
    fc_out = _capture({"fc_out": net.fc})
    emb = identity.embed(net, torch.from_numpy(ref["face_crop"])).numpy()
    assert not net.l2_normalized
    np.testing.assert_allclose(emb, ref["embedding"], rtol=0, atol=_atol(c, ref["embedding"]))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(unit, ref["embedding_l2"], rtol=0, atol=c.tolerance)
    for name, out in stages.items():
        want = ref[f"{name}_chmean"]
        got = out.mean(dim=(2, 3)).numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=_atol(c, want), err_msg=name)
    want = ref["fc_out"]
    np.testing.assert_allclose(fc_out["fc_out"].numpy(), want, rtol=0, atol=_atol(c, want))


def test_facenet_embedding_and_stages_match_ref():
    ref, c = _ref("facenet"), hub.card("facenet")
    net = _filled("facenet")
    stages = _capture({f"repeat_{i}": getattr(net, f"repeat_{i}") for i in range(1, 4)})
    raw = _capture({"embedding_raw": net.last_bn})
    pooled = _capture({"pooled": net.last_linear}, inputs=True)
    emb = identity.embed(net, torch.from_numpy(_box_crop(ref))).numpy()
    assert net.l2_normalized
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(emb, ref["embedding"], rtol=0, atol=c.tolerance)
    # FACTS: intermediate values are looser than the normalised output (x10)
    loose = 10 * c.tolerance
    for name, out in stages.items():
        got = out.mean(dim=(2, 3)).numpy()
        np.testing.assert_allclose(got, ref[f"{name}_chmean"], rtol=0, atol=loose, err_msg=name)
    np.testing.assert_allclose(raw["embedding_raw"], ref["embedding_raw"], rtol=0, atol=loose)
    np.testing.assert_allclose(pooled["pooled"], ref["pooled"], rtol=0, atol=loose)


def test_embed_empty_batch():
    net = hub.card("facenet").build()
    assert identity.embed(net, torch.zeros(0, 3, 112, 112)).shape == (0, 512)


# ---------------------------------------------------------------------------------------------
# Gaze: decode, whole step, Dataset and Fex output


def test_decode_matches_ref():
    ref, c = _ref("l2cs"), hub.card("l2cs")
    decode = _manifest("l2cs")["decode"]
    pitch = l2cs.decode(torch.from_numpy(ref["pitch_logits"])).numpy()
    yaw = l2cs.decode(torch.from_numpy(ref["yaw_logits"])).numpy()
    assert ref["pitch_logits"].shape[-1] == l2cs.N_BINS == decode["num_bins"]
    assert (l2cs.BIN_WIDTH, l2cs.OFFSET) == (decode["bin_width_deg"], decode["offset_deg"])
    # degrees: the rad tolerance scaled to degrees
    deg_tol = np.rad2deg(c.tolerance)
    np.testing.assert_allclose(pitch, ref["pitch_deg"], rtol=0, atol=deg_tol)
    np.testing.assert_allclose(yaw, ref["yaw_deg"], rtol=0, atol=deg_tol)
    np.testing.assert_allclose(np.deg2rad(pitch), ref["pitch_rad"], rtol=0, atol=c.tolerance)
    np.testing.assert_allclose(np.deg2rad(yaw), ref["yaw_rad"], rtol=0, atol=c.tolerance)


def test_decode_is_the_expected_bin_centre():
    # one-hot logits give the bin centre; uniform logits give the mean of all centres
    logits = torch.full((3, l2cs.N_BINS), -1e4)
    logits[0, 0], logits[1, 45], logits[2, 89] = 0, 0, 0
    want = [-l2cs.OFFSET, 45 * l2cs.BIN_WIDTH - l2cs.OFFSET, 89 * l2cs.BIN_WIDTH - l2cs.OFFSET]
    np.testing.assert_allclose(l2cs.decode(logits), want, atol=1e-4)
    centres = np.arange(l2cs.N_BINS) * l2cs.BIN_WIDTH - l2cs.OFFSET
    np.testing.assert_allclose(
        l2cs.decode(torch.zeros(1, l2cs.N_BINS)), [centres.mean()], atol=1e-4
    )


def test_estimate_gaze_to_dataset_and_fex_matches_ref():
    ref, c = _ref("l2cs"), hub.card("l2cs")
    net = _filled("l2cs")
    pooled = _capture({"pooled": net.fc_yaw_gaze}, inputs=True)
    gaze = l2cs.estimate_gaze(net, torch.from_numpy(_box_crop(ref))).numpy()
    np.testing.assert_allclose(pooled["pooled"], ref["pooled"], rtol=0, atol=c.tolerance)
    assert gaze.shape == (1, 2) and gaze.dtype == np.float32
    np.testing.assert_allclose(
        np.deg2rad(gaze), np.stack([ref["pitch_rad"], ref["yaw_rad"]], 1), atol=c.tolerance
    )
    x1, y1, x2, y2 = ref["box"]
    ds = schema.from_frames(
        [{"face_rect": np.array([[x1, y1, x2 - x1, y2 - y1]]), "gaze": gaze}],
        ["face.png"],
        [0],
        [np.nan],
    )
    schema.validate(ds)
    assert ds["gaze"].sel(gaze_angle="pitch").item() == pytest.approx(float(gaze[0, 0]))
    fex = io.to_fex(ds, version=2)  # Py-Feat 2's columns, radians
    for column, key in [
        ("gaze_pitch", "pitch_rad"),
        ("gaze_yaw", "yaw_rad"),
        ("gaze_angle", "gaze_angle"),
    ]:
        np.testing.assert_allclose(fex[column].to_numpy(), ref[key], atol=c.tolerance)


def test_estimate_gaze_empty_batch():
    net = hub.card("l2cs").build()
    assert l2cs.estimate_gaze(net, torch.zeros(0, 3, 112, 112)).shape == (0, 2)


# ---------------------------------------------------------------------------------------------
# Real weight-file formats through card.load() and FEATX_MODEL_DIR


def _state(model_id: str) -> dict[str, torch.Tensor]:
    """A full state dict with distinct values (detweights with a salt: not the ref weights)."""
    c = hub.card(model_id)
    return {
        k: torch.from_numpy(detweights.values(k, v["shape"], v.get("dtype", "float32"), salt=7))
        for k, v in _manifest(c.id)["tensors"].items()
    }


def _assert_loaded(model, state):
    got = model.state_dict()
    for k, v in state.items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=0, msg=k)
    assert not model.training


def test_arcface_safetensors_without_batch_counters(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    c = hub.card("arcface")
    state = {k: v for k, v in _state("arcface").items() if not k.endswith("num_batches_tracked")}
    save_file(state, str(tmp_path / c.files[0]))
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(tmp_path))
    _assert_loaded(c.load(), state)

    state["layer1.0.bn1.extra"] = torch.zeros(1)
    save_file(state, str(tmp_path / c.files[0]))
    with pytest.raises(hub.WeightsError, match=c.files[0]) as err:
        c.load()
    assert "unexpected" in str(err.value)


def test_facenet_pth_with_module_prefix(tmp_path):
    c = hub.card("facenet")
    state = _state("facenet")
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / c.files[0])
    _assert_loaded(c.load(model_dir=tmp_path), state)

    del state["last_bn.num_batches_tracked"]  # facenet loads strictly: nothing may be absent
    torch.save(state, tmp_path / c.files[0])
    with pytest.raises(hub.WeightsError, match="missing"):
        c.load(model_dir=tmp_path)


def test_l2cs_safetensors_with_module_prefix_without_fc_finetune(tmp_path):
    from safetensors.torch import save_file

    c = hub.card("l2cs")
    state = {k: v for k, v in _state("l2cs").items() if not k.startswith("fc_finetune.")}
    save_file({"module." + k: v for k, v in state.items()}, str(tmp_path / c.files[0]))
    _assert_loaded(c.load(model_dir=tmp_path), state)

    del state["fc_yaw_gaze.bias"]  # only fc_finetune may be absent
    save_file(state, str(tmp_path / c.files[0]))
    with pytest.raises(hub.WeightsError, match="fc_yaw_gaze.bias"):
        c.load(model_dir=tmp_path)
