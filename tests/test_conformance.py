"""Architecture conformance: every model with a builder against its tests/conformance vectors.

Vectors, sizes and thresholds come from ``tests/conformance/<id>/`` at run time (never from the
FACTS prose): the same tests also run against a held-out set generated with another salt.
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

from featx import hub
from featx.nn import accelerate, pose_mlp

CONF = Path(__file__).parent / "conformance"
if str(CONF) not in sys.path:
    sys.path.insert(0, str(CONF))
detweights = importlib.import_module("detweights")

BUILT = [c for c in hub.MODELS.values() if c.builder]
IDS = [c.id for c in BUILT]
# Py-Feat models: manifests list the state dict, refs come from deterministic weights.
# Bundled models: manifests list the source file's tensors, refs come from the real weights,
# so their forward runs with the shipped asset (loaded strictly) instead of detweights.
HUB_BUILT = [c for c in BUILT if not c.bundled]


def _ref(model_id: str):
    return np.load(CONF / model_id / "ref.npz")


def _manifest(model_id: str) -> dict:
    return json.loads((CONF / model_id / "manifest.json").read_text())


def _atol(c: hub.ModelCard, want: np.ndarray) -> float:
    scale = max(1.0, float(np.abs(want).max())) if c.tolerance_relative and want.size else 1.0
    return c.tolerance * scale


def _cases(keys) -> list[str]:
    """'' when the ref stores one case under ``input``, else the ``caseN_`` prefixes."""
    if "input" in keys:
        return [""]
    found = (re.fullmatch(r"(case(\d+)_)input", k) for k in keys)
    cases = sorted((m for m in found if m), key=lambda m: int(m.group(2)))
    assert cases, "ref.npz has neither `input` nor `caseN_input`"
    return [m.group(1) for m in cases]


def _model(c: hub.ModelCard) -> torch.nn.Module:
    if c.bundled:
        return c.load()
    model = c.build()
    detweights.fill_module(model)
    return model.eval()


def _named(out, names) -> dict:
    if isinstance(out, dict):
        return out
    if torch.is_tensor(out):
        out = (out,)
    assert len(out) == len(names), f"forward returned {len(out)} outputs, card names {names}"
    return dict(zip(names, out, strict=True))


@pytest.mark.parametrize("c", HUB_BUILT, ids=[c.id for c in HUB_BUILT])
def test_state_dict_matches_manifest(c):
    want = {
        k: (tuple(v["shape"]), v.get("dtype", "float32"))
        for k, v in _manifest(c.id)["tensors"].items()
    }
    got = {
        k: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        for k, t in c.build().state_dict().items()
    }
    assert sorted(set(want) - set(got)) == [], "keys missing from the module"
    assert sorted(set(got) - set(want)) == [], "keys not in the manifest"
    assert {k: v for k, v in got.items() if want[k] != v} == {}, "shape/dtype differs"
    assert list(got) == list(want)


#: The cards whose network featx.nn.accelerate runs on OpenVINO (backend="openvino").
OPENVINO = [c for c in HUB_BUILT if accelerate.supported(c.build())]


@pytest.mark.parametrize(
    "c, backend",
    [(c, "torch") for c in BUILT] + [(c, "openvino") for c in OPENVINO],
    ids=IDS + [f"{c.id}-openvino" for c in OPENVINO],
)
def test_forward_matches_ref(c, backend):
    """Every network against its vectors; those featx can compile also on OpenVINO, with the
    same tolerance."""
    ref = _ref(c.id)
    model = _model(c)
    if backend == "openvino":
        accelerate.to_openvino(model)
    for prefix in _cases(ref.files):
        with torch.no_grad():
            out = _named(model(torch.from_numpy(ref[prefix + "input"])), c.outputs)
        for name in c.outputs:
            want = ref[prefix + name]
            got = out[name].detach().cpu().numpy()
            if got.shape != want.shape and got.size == want.size:
                got = got.reshape(want.shape)
            np.testing.assert_allclose(
                got, want, rtol=0, atol=_atol(c, want), err_msg=f"{c.id}: {prefix}{name}"
            )


# ---------------------------------------------------------------------------------------------
# pose_mlp: the steps around the network


def test_pose_mlp_landmark_features():
    ref, c = _ref("pose_mlp"), hub.card("pose_mlp")
    features = pose_mlp.landmark_features(ref["landmarks"])
    assert features.dtype == torch.float32
    np.testing.assert_allclose(features.numpy(), ref["input"], rtol=0, atol=c.tolerance)
    # invariant to translation and uniform scale
    moved = pose_mlp.landmark_features(torch.from_numpy(ref["landmarks"]) * 1.7 + 40.0)
    np.testing.assert_allclose(moved.numpy(), ref["input"], rtol=0, atol=c.tolerance)


def test_pose_mlp_denormalize_and_relabel():
    ref, c = _ref("pose_mlp"), hub.card("pose_mlp")
    pose = pose_mlp.denormalize(ref["output"], ref["test_y_mean"], ref["test_y_std"])
    np.testing.assert_allclose(pose, ref["pose"], rtol=0, atol=c.tolerance)
    canonical = pose_mlp.to_featx_pose(ref["pose"])
    np.testing.assert_allclose(canonical, ref["pose_canonical"], rtol=0, atol=c.tolerance)
    as_tensor = pose_mlp.to_featx_pose(
        pose_mlp.denormalize(torch.from_numpy(ref["output"]), ref["test_y_mean"], ref["test_y_std"])
    )
    np.testing.assert_allclose(as_tensor.numpy(), ref["pose_canonical"], rtol=0, atol=c.tolerance)


def test_pose_mlp_regressor_end_to_end():
    ref, c = _ref("pose_mlp"), hub.card("pose_mlp")
    net = detweights.fill_module(c.build())
    reg = pose_mlp.PoseRegressor(net, ref["test_y_mean"], ref["test_y_std"]).eval()
    with torch.no_grad():
        out = reg(torch.from_numpy(ref["landmarks"]))
    np.testing.assert_allclose(out.numpy(), ref["pose_canonical"], rtol=0, atol=c.tolerance)
