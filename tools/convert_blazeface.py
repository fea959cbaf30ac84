"""BlazeFace short- and full-range TFLite graphs -> state dicts of featx.nn.blazeface's modules.

The convolutions of each graph, taken in graph order from ``manifest.json → layers`` (in
``tests/conformance/<id>/``), are assigned to the module's ``Conv2d`` layers in registration
order, which follows the graph. Kernels go from TFLite's layouts to torch's (CONV_2D
``[out, kh, kw, in]`` -> ``[out, in, kh, kw]``, DEPTHWISE_CONV_2D ``[1, kh, kw, C]`` ->
``[C, 1, kh, kw]``); every float constant of the graph must be used exactly once. The int32
constants (paddings, reshape shapes) are structure the modules hold in code.

Called by ``tools/convert_assets.py`` through :data:`CONVERTERS`.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
from tflite_reader import read_tflite
from torch import nn

from featx.nn.blazeface import BlazeFaceFull, BlazeFaceShort

ROOT = Path(__file__).resolve().parents[1]
#: The short-range graph is this member of face_landmarker.task.
SHORT_MEMBER = ("face_landmarker.task", "face_detector.tflite")
SHORT_MEMBER_SHA256 = "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f"
FULL_FILE = "face_detection_full_range_sparse.tflite"
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def manifest(model_id: str) -> dict:
    """The conformance manifest of ``model_id`` (graph layers and tensors)."""
    return json.loads((ROOT / "tests" / "conformance" / model_id / "manifest.json").read_text())


def map_tensors(
    tensors: dict[str, np.ndarray], layers: list[dict], module: nn.Module
) -> tuple[dict[str, np.ndarray], set[str]]:
    """Assign the graph's conv weights to ``module``; return (state dict, graph tensors used).

    Raises ValueError naming the layer when op kind, stride or shapes do not line up.
    """
    convs = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    graph = [layer for layer in layers if layer["op"] in CONV_OPS]
    if len(convs) != len(graph):
        raise ValueError(f"{len(graph)} conv ops in the graph, {len(convs)} in the module")
    state: dict[str, np.ndarray] = {}
    used: list[str] = []
    for (name, conv), layer in zip(convs, graph, strict=True):
        depthwise = layer["op"] == "DEPTHWISE_CONV_2D"
        kernel = tensors[layer["weight"]]
        kernel = kernel.transpose(3, 0, 1, 2) if depthwise else kernel.transpose(0, 3, 1, 2)
        bias = tensors[layer["bias"]]
        expected = (tuple(conv.weight.shape), tuple(conv.bias.shape), conv.stride[0])
        if (depthwise != (conv.groups > 1)) or (kernel.shape, bias.shape, layer["stride"]) != (
            expected
        ):
            raise ValueError(
                f"graph layer {layer['node']} ({layer['op']}, kernel {kernel.shape}, stride "
                f"{layer['stride']}) does not fit module layer {name} ({conv})"
            )
        state[f"{name}.weight"] = np.ascontiguousarray(kernel, dtype=np.float32)
        state[f"{name}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
        used += [layer["weight"], layer["bias"]]
    twice = sorted({t for t in used if used.count(t) > 1})
    unused = sorted(k for k, v in tensors.items() if v.dtype == np.float32 and k not in used)
    if twice or unused:
        raise ValueError(f"graph tensors used twice: {twice}; float tensors unused: {unused}")
    return state, set(used)


def _convert(model_id: str, data: bytes, module: nn.Module) -> dict[str, np.ndarray]:
    tensors = read_tflite(data)
    spec = manifest(model_id)["tensors"]
    if {k: tuple(v.shape) for k, v in tensors.items()} != {
        k: tuple(v["shape"]) for k, v in spec.items()
    }:
        raise ValueError(f"{model_id}: the graph's constant tensors differ from its manifest")
    state, _ = map_tensors(tensors, manifest(model_id)["layers"], module)
    return state


def convert_short(sources: Path) -> dict[str, np.ndarray]:
    """State dict of :class:`BlazeFaceShort` from ``face_landmarker.task``."""
    archive, member = SHORT_MEMBER
    with zipfile.ZipFile(sources / archive) as zf:
        data = zf.read(member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHORT_MEMBER_SHA256:
        raise ValueError(f"{sources / archive}:{member}: sha256 {digest} != {SHORT_MEMBER_SHA256}")
    return _convert("blazeface_short", data, BlazeFaceShort())


def convert_full(sources: Path) -> dict[str, np.ndarray]:
    """State dict of :class:`BlazeFaceFull` from the full-range sparse graph."""
    return _convert("blazeface_full", (sources / FULL_FILE).read_bytes(), BlazeFaceFull())


CONVERTERS = {"blazeface_short": convert_short, "blazeface_full": convert_full}
