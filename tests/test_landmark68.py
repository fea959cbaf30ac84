"""The 68-point landmark step of Detectorv1: face crops, the networks, mapping back to pixels.

Every vector, size, box and normalisation comes from ``tests/conformance/<id>/`` (ref.npz and
manifest.json) at run time: the same tests also run against a held-out set of vectors.
Network outputs themselves are checked by tests/test_conformance.py.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from featx import hub
from featx.nn import landmark68, ops

CONF = Path(__file__).parent / "conformance"
if str(CONF) not in sys.path:
    sys.path.insert(0, str(CONF))
detweights = importlib.import_module("detweights")

LANDMARK = [c for c in hub.MODELS.values() if c.task == "landmark"]
IDS = [c.id for c in LANDMARK]
# FACTS: an independent float32 re-derivation of the crops agrees with Py-Feat's within 5e-5.
CROP_ATOL = 5e-5


def _ref(c: hub.ModelCard):
    return np.load(CONF / c.id / "ref.npz")


def _prep(c: hub.ModelCard) -> dict:
    return json.loads((CONF / c.id / "manifest.json").read_text())["preprocessing"]


def _atol(c: hub.ModelCard, want: np.ndarray) -> float:
    scale = max(1.0, float(np.abs(want).max())) if c.tolerance_relative else 1.0
    return c.tolerance * scale


def _raw_crop(c: hub.ModelCard, model_input: np.ndarray) -> np.ndarray:
    """The [0, 1] crop behind a recorded model input (undoing the manifest's normalisation)."""
    norm = _prep(c)["normalize"]
    if not norm:
        return model_input
    mean = np.asarray(norm["mean"], np.float32)[:, None, None]
    std = np.asarray(norm["std"], np.float32)[:, None, None]
    return model_input * std + mean


def _filled(c: hub.ModelCard) -> torch.nn.Module:
    return detweights.fill_module(c.build()).eval()


@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_face_crops_and_rounded_boxes_match_ref(c):
    ref, prep = _ref(c), _prep(c)
    crops, rounded = ops.face_crops(
        ref["image"], ref["boxes"], size=prep["crop_size"], factor=prep["bbox_expand"]
    )
    assert rounded.dtype == torch.int64
    np.testing.assert_array_equal(rounded.numpy(), ref["new_bboxes"])
    assert crops.dtype == torch.float32
    np.testing.assert_allclose(crops.numpy(), _raw_crop(c, ref["input"]), rtol=0, atol=CROP_ATOL)


@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_network_preprocessing_matches_manifest(c):
    ref, prep, net = _ref(c), _prep(c), c.build()
    assert net.crop_size == prep["crop_size"] == ref["input"].shape[-1]
    assert landmark68.EXPAND == prep["bbox_expand"]
    norm = prep["normalize"]
    assert (net.mean, net.std) == (
        (tuple(norm["mean"]), tuple(norm["std"])) if norm else (None,) * 2
    )
    crops = torch.from_numpy(_raw_crop(c, ref["input"]))
    scale = 1.0 / min(net.std) if net.std else 1.0
    np.testing.assert_allclose(
        landmark68.normalize(crops, net).numpy(), ref["input"], rtol=0, atol=CROP_ATOL * scale
    )


@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_to_image_matches_ref(c):
    ref = _ref(c)
    pts = landmark68.to_image(
        torch.from_numpy(ref["landmarks"]), torch.from_numpy(ref["new_bboxes"])
    )
    want = ref["landmarks_image"]
    assert pts.shape == want.shape
    np.testing.assert_allclose(pts.numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_predict_from_frame_and_boxes_matches_ref(c):
    ref = _ref(c)
    net = _filled(c)
    image, boxes = ref["image"], torch.from_numpy(ref["boxes"])
    (pts,) = landmark68.predict(net, [image], [boxes])
    want = ref["landmarks_image"]
    # the network's tolerance in crop units, scaled to pixels by the largest box side
    side = float(np.abs(np.diff(ref["new_bboxes"].reshape(-1, 2, 2), axis=1)).max())
    atol = _atol(c, ref["landmarks"]) * side
    np.testing.assert_allclose(pts.numpy(), want, rtol=1e-5, atol=atol)

    # faces of frames of several sizes in one pass: split back per frame, none gives 0 rows
    per_frame = landmark68.predict(
        net, [image, image[: image.shape[0] // 2], image], [boxes[:1], boxes[:0], boxes[1:]]
    )
    assert [p.shape[0] for p in per_frame] == [1, 0, len(boxes) - 1]
    np.testing.assert_allclose(torch.cat(per_frame).numpy(), want, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_published_key_layout_loads_and_reproduces_ref(c):
    """Every key filled from the manifest independently (as a file would hold them): aliased
    key sets, such as mobilenet's ``pretrain_net.*`` next to ``base_net.0.*``, resolve as in
    Py-Feat and the forward still reproduces ref."""
    manifest = json.loads((CONF / c.id / "manifest.json").read_text())
    sd = {k: torch.from_numpy(v) for k, v in detweights.state_dict_from_manifest(manifest).items()}
    net = hub.load_into(c.build(), sd, strict=True).eval()
    ref = _ref(c)
    with torch.no_grad():
        out = net(torch.from_numpy(ref["input"]))
    got = (out[0] if isinstance(out, tuple) else out).numpy()
    np.testing.assert_allclose(got, ref["landmarks"], rtol=0, atol=_atol(c, ref["landmarks"]))


@pytest.mark.parametrize("prefix", ["", "module."], ids=["plain", "dataparallel"])
@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_card_load_reads_pth_tar_checkpoint(c, prefix, tmp_path, monkeypatch):
    """A torch.save checkpoint shaped like the published file, from FEATX_MODEL_DIR."""
    sd = _filled(c).state_dict()
    checkpoint = {"epoch": 7, "state_dict": {prefix + k: v for k, v in sd.items()}}
    torch.save(checkpoint, tmp_path / c.files[0])
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    net = c.load()
    assert not net.training
    ref = _ref(c)
    with torch.no_grad():
        out = net(torch.from_numpy(ref["input"]))
    out = out if isinstance(out, tuple) else (out,)
    for name, got in zip(c.outputs, out, strict=True):
        want = ref[name]
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=_atol(c, want), err_msg=name)


@pytest.mark.parametrize("c", LANDMARK, ids=IDS)
def test_card_load_rejects_a_file_that_does_not_fit(c, tmp_path):
    sd = _filled(c).state_dict()
    dropped = next(iter(sd))
    del sd[dropped]
    path = tmp_path / c.files[0]
    torch.save({"state_dict": sd}, path)
    with pytest.raises(hub.WeightsError, match=dropped) as err:
        c.load(model_dir=tmp_path)
    assert str(path) in str(err.value)


def test_face_crops_rejects_bad_input():
    frame = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8 RGB frame"):
        ops.face_crops(frame[..., 0], [[1.0, 2.0, 30.0, 35.0]], size=16)
    with pytest.raises(ValueError, match="uint8 RGB frame"):
        ops.face_crops(frame.astype(np.float32), [[1.0, 2.0, 30.0, 35.0]], size=16)
    with pytest.raises(ValueError, match=r"\(N, 4\) boxes"):
        ops.face_crops(frame, [[1.0, 2.0, 30.0]], size=16)
    crops, rounded = ops.face_crops(frame, np.zeros((0, 4)), size=16)
    assert crops.shape == (0, 3, 16, 16) and rounded.shape == (0, 4)


def test_predict_rejects_mismatched_frames_and_boxes():
    net = landmark68.PFLD().eval()
    with pytest.raises(ValueError, match="2 frames but 1 box sets"):
        landmark68.predict(net, [np.zeros((20, 20, 3), np.uint8)] * 2, [torch.zeros(0, 4)])
