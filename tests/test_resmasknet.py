"""resmasknet around the network: the 224 crop, the masking blocks, aliased keys, the checkpoint.

Vectors, boxes and sizes come from ``tests/conformance/resmasknet/`` at run time (the same tests
run against a held-out set). The forward pass on ``input`` is checked by test_conformance.py.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from featx import hub, schema
from featx.nn import ops, resmasknet

CONF = Path(__file__).parent / "conformance"
if str(CONF) not in sys.path:
    sys.path.insert(0, str(CONF))
detweights = importlib.import_module("detweights")

CROP_ATOL = 5e-5  # as the landmark crops: float32 grid_sample vs Py-Feat's
LOGITS_ATOL, PROBS_ATOL = 1e-4, 1e-5  # FACTS' suggested tolerances
CHMEAN_ATOL = 1e-4


@pytest.fixture(scope="module")
def ref():
    return np.load(CONF / "resmasknet" / "ref.npz")


@pytest.fixture(scope="module")
def manifest():
    return json.loads((CONF / "resmasknet" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def published(manifest):
    """The network with every key of the manifest filled independently, as a file holds them:
    the aliased ``maskI.downsampleK`` and ``maskI.convJ.downsample`` copies differ."""
    sd = {k: torch.from_numpy(v) for k, v in detweights.state_dict_from_manifest(manifest).items()}
    return hub.load_into(hub.card("resmasknet").build(), sd, strict=True).eval()


def test_crop_and_box_match_ref(ref, manifest):
    size = ref["input"].shape[-1]
    assert size == manifest["config"]["image_size"] == resmasknet.CROP_SIZE
    crops, rounded = ops.face_crops(ref["image"], ref["box"][None], size, resmasknet.EXPAND)
    np.testing.assert_array_equal(rounded.numpy(), ref["new_box"])
    np.testing.assert_allclose(crops.numpy(), ref["input"], rtol=0, atol=CROP_ATOL)


def test_preprocessing_and_labels_match_manifest(manifest):
    prep = manifest["preprocessing"]
    assert prep["color"] == "RGB" and prep["scale"] == "[0,1]"
    assert prep["normalization"] == "none" and prep["grayscale"] is False
    assert tuple(manifest["output_columns"]) == schema.EMOTIONS
    assert schema.EMOTION_NATIVE_ORDER["resmasknet"] == schema.EMOTIONS
    assert manifest["config"]["num_classes"] == resmasknet.N_CLASSES


def test_aliased_shortcuts_are_one_module():
    net = resmasknet.ResMasking()
    for i, depth in enumerate(resmasknet.MASK_DEPTHS, 1):
        mask = getattr(net, f"mask{i}")
        for j in range(1, 2 * depth + 1):
            assert getattr(mask, f"downsample{j}") is getattr(mask, f"conv{j}").downsample


def test_published_layout_reproduces_ref_from_the_image(ref, published):
    """Whole path: frame + box -> 224 crop -> network (aliases resolved as Py-Feat loads them)
    -> softmax; every stage's channel means on the way."""
    means = {}
    hooks = [
        getattr(published, f"{kind}{i}").register_forward_hook(
            lambda _m, _in, out, key=f"{kind}{i}_chmean": means.__setitem__(key, out.mean((2, 3)))
        )
        for kind in ("layer", "mask")
        for i in range(1, 5)
    ]
    try:
        (probs,) = resmasknet.predict(published, [ref["image"]], [torch.from_numpy(ref["box"])])
    finally:
        for h in hooks:
            h.remove()
    for key, got in means.items():
        np.testing.assert_allclose(got.numpy(), ref[key], rtol=0, atol=CHMEAN_ATOL, err_msg=key)
    np.testing.assert_allclose(probs.numpy(), ref["probs"], rtol=0, atol=PROBS_ATOL)
    with torch.no_grad():
        logits = published(torch.from_numpy(ref["input"]))
    np.testing.assert_allclose(logits.numpy(), ref["logits"], rtol=0, atol=LOGITS_ATOL)
    # several frames in one pass, one without faces
    box = torch.from_numpy(ref["box"])[None]
    per_frame = resmasknet.predict(published, [ref["image"]] * 2, [box[:0], box])
    assert [p.shape for p in per_frame] == [(0, 7), (1, 7)]
    np.testing.assert_allclose(per_frame[1].numpy(), ref["probs"], rtol=0, atol=PROBS_ATOL)


def _constant_checkpoint(manifest) -> dict[str, torch.Tensor]:
    """A state dict shaped like the published one, each key a distinct constant (stored as an
    expanded scalar, so the file stays small)."""
    sd = {}
    for i, (key, spec) in enumerate(manifest["tensors"].items()):
        dtype = getattr(torch, spec.get("dtype", "float32"))
        sd[key] = torch.tensor(i * 1e-3 if dtype.is_floating_point else 0, dtype=dtype).expand(
            spec["shape"]
        )
    return sd


def test_card_load_reads_the_pth_checkpoint(manifest, tmp_path, monkeypatch, hf_home):
    c = hub.card("resmasknet")
    sd = _constant_checkpoint(manifest)
    torch.save({"net": sd, "epoch": 3}, tmp_path / c.files[1])
    (tmp_path / "config.json").write_text(json.dumps(manifest["config"]))
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(tmp_path))
    net = c.load()
    assert isinstance(net, resmasknet.ResMasking) and not net.training
    loaded = net.state_dict()
    for key, value in sd.items():
        if ".downsample" in key and not key.startswith("layer"):
            continue  # aliases: checked below
        assert torch.equal(loaded[key], value), key
    # one module under two names: the convJ.downsample values are loaded last and kept
    for key in (k for k in sd if k.startswith("mask") and ".conv" in k and ".downsample." in k):
        mask, conv = key.split(".")[:2]
        alias = key.replace(f"{conv}.downsample.", f"downsample{conv.removeprefix('conv')}.")
        assert torch.equal(loaded[alias], sd[key]) and torch.equal(loaded[key], sd[key]), key


def test_card_load_errors_name_the_file(manifest, tmp_path, hf_home):
    c = hub.card("resmasknet")
    sd = _constant_checkpoint(manifest)
    del sd["fc.1.bias"]
    torch.save({"net": sd}, tmp_path / c.files[1])
    (tmp_path / "config.json").write_text(json.dumps(manifest["config"]))
    with pytest.raises(hub.WeightsError, match=r"ResMaskNet_Z.*\.pth.*fc\.1\.bias"):
        c.load(model_dir=tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**manifest["config"], "num_classes": 8}))
    with pytest.raises(hub.WeightsError, match=r"config\.json.*num_classes=8"):
        c.load(model_dir=tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(hub.ModelNotFoundError, match="config.json"):
        c.load(model_dir=tmp_path)
