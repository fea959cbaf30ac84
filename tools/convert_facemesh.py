"""Converters for the MediaPipe Face Landmarker's mesh, blendshape and geometry members.

``CONVERTERS`` maps an asset id to ``fn(sources_dir) -> state dict`` (numpy arrays):

- ``facemesh_v2``: ``face_landmarks_detector.tflite`` -> :class:`featx.nn.facemesh.FaceMesh`.
  The weighted ops (CONV_2D, DEPTHWISE_CONV_2D, PRELU) are read in graph order and matched to
  the module's Conv2d/PReLU layers in registration order; each layer's kind and shape must agree.
- ``mp_blendshapes``: ``face_blendshapes.tflite`` -> :class:`featx.nn.blendshapes.Blendshapes`,
  by tensor name.
- ``mp_geometry``: ``geometry_pipeline_metadata_landmarks.binarypb`` -> the canonical face and
  Procrustes weights for :mod:`featx.nn.mesh_pose` (a protobuf read with a small wire-format
  reader; no protobuf dependency).

Each converter checks that every constant tensor of its source is consumed: float tensors
become state-dict entries, integer ones (pads, shapes, slices, axes) are structure the module
implements, and the channel pads are checked against the module.

Usage: run through ``tools/convert_assets.py``.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import tflite
import torch
from tflite_reader import read_tflite

from featx.nn.blendshapes import Blendshapes
from featx.nn.facemesh import FaceMesh

TASK_FILE = "face_landmarker.task"
MESH_MEMBER = "face_landmarks_detector.tflite"
BLENDSHAPES_MEMBER = "face_blendshapes.tflite"
GEOMETRY_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def read_member(sources: Path, member: str) -> bytes:
    with zipfile.ZipFile(sources / TASK_FILE) as z:
        return z.read(member)


def graph_ops(data: bytes) -> list[tuple[str, list[str]]]:
    """(op name, names of its constant inputs) of every op but DEQUANTIZE, in graph order.

    A DEQUANTIZE output is replaced by the constant it reads, so weights appear under the
    names ``read_tflite`` gives them.
    """
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)

    def name(i: int) -> str:
        return graph.Tensors(i).Name().decode()

    def constant(i: int) -> bool:
        buf = model.Buffers(graph.Tensors(i).Buffer())
        return buf is not None and buf.DataLength() > 0

    dequantized: dict[int, int] = {}
    ops = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = _OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs = [int(i) for i in op.InputsAsNumpy() if i >= 0]
        if kind == "DEQUANTIZE":
            dequantized[int(op.OutputsAsNumpy()[0])] = inputs[0]
            continue
        inputs = [dequantized.get(i, i) for i in inputs]
        ops.append((kind, [name(i) for i in inputs if constant(i)]))
    return ops


def _check_all_used(tensors: dict[str, np.ndarray], used: set[str], what: str) -> None:
    unused = sorted(k for k in tensors if k not in used)
    if unused:
        raise ValueError(f"{what}: constant tensors not consumed: {unused[:5]}")


# ---------------------------------------------------------------------------------------------
# facemesh_v2


def facemesh_state_dict(data: bytes) -> tuple[dict[str, np.ndarray], set[str]]:
    """The FaceMesh state dict from the mesh tflite, and the names of the tensors consumed."""
    tensors = read_tflite(data)
    ops = graph_ops(data)
    module = FaceMesh()
    layers = [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.PReLU)
    ]
    weighted = [(kind, names) for kind, names in ops if kind in _WEIGHTED]
    if len(weighted) != len(layers):
        raise ValueError(f"{MESH_MEMBER}: {len(weighted)} weighted ops, FaceMesh has {len(layers)}")
    state: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for (kind, names), (prefix, layer) in zip(weighted, layers, strict=True):
        for key, value in _WEIGHTED[kind](names, tensors, layer).items():
            state[f"{prefix}.{key}"] = value
        used.update(names)
    pads = [names for kind, names in ops if kind == "PAD"]
    want = [m.pad_channels for m in module.modules() if getattr(m, "pad_channels", 0)]
    got = [int(tensors[n[0]][-1, 1]) for n in pads]
    if got != want or any(np.any(tensors[n[0]][:-1]) or tensors[n[0]][-1, 0] for n in pads):
        raise ValueError(f"{MESH_MEMBER}: channel pads {got} differ from FaceMesh's {want}")
    used.update(n[0] for n in pads)
    used.update(n for kind, names in ops if kind == "RESHAPE" for n in names)
    _check_all_used(tensors, used, MESH_MEMBER)
    _check_fits(module, state, MESH_MEMBER)
    return state, used


def _conv(names: list[str], tensors: dict, layer) -> dict[str, np.ndarray]:
    weight, bias = (tensors[n] for n in names)
    if isinstance(layer, torch.nn.PReLU) or layer.groups != 1:
        raise ValueError(f"CONV_2D {names[0]} meets {layer}")
    return {"weight": weight.transpose(0, 3, 1, 2), "bias": bias}


def _depthwise(names: list[str], tensors: dict, layer) -> dict[str, np.ndarray]:
    weight, bias = (tensors[n] for n in names)
    if isinstance(layer, torch.nn.PReLU) or layer.groups != layer.in_channels:
        raise ValueError(f"DEPTHWISE_CONV_2D {names[0]} meets {layer}")
    return {"weight": weight.transpose(3, 0, 1, 2), "bias": bias}


def _prelu(names: list[str], tensors: dict, layer) -> dict[str, np.ndarray]:
    if not isinstance(layer, torch.nn.PReLU):
        raise ValueError(f"PRELU {names[0]} meets {layer}")
    return {"weight": tensors[names[0]].reshape(-1)}


_WEIGHTED = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "PRELU": _prelu}


def _check_fits(module: torch.nn.Module, state: dict[str, np.ndarray], what: str) -> None:
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if own != got:
        diff = sorted(set(own.items()) ^ set(got.items()))[:5]
        raise ValueError(f"{what}: converted tensors do not fit {type(module).__name__}: {diff}")


def convert_facemesh(sources: Path) -> dict[str, np.ndarray]:
    return facemesh_state_dict(read_member(sources, MESH_MEMBER))[0]


# ---------------------------------------------------------------------------------------------
# mp_blendshapes

_B = "model_1/GhumMarkerPoserMlpMixerGeneral/"
_M = _B + "MLPMixer/"
_BLOCK = {
    "norm1": "layer_norm1/batchnorm/mul/ReadVariableOp",
    "token_fc1": "mlp_token_mixing/Mlp_1/",
    "token_fc2": "mlp_token_mixing/Mlp_2/",
    "norm2": "layer_norm2/batchnorm/mul/ReadVariableOp",
    "channel_fc1": "mlp_channel_mixing/Mlp_1/",
    "channel_fc2": "mlp_channel_mixing/Mlp_2/",
}


def _blendshape_names(num_blocks: int) -> dict[str, str]:
    """State-dict key -> source tensor name; 1x1 convs are given as their name prefix."""
    names = {
        "points_scale": _B + "tf.math.truediv/truediv;" + _B + "tf.math.truediv/truediv/y",
        "token_projection": _B + "conv2d/",
        "embedding": _M + "input_tokens_embedding/",
        "extra_token": _M + "AddExtraTokens/strided_slice_1",
        # One epsilon constant serves every LayerNorm of the graph.
        "eps": _M + "MixerBlock_0/layer_norm1/batchnorm/add/y",
        "head": _B + "output_blendweights/",
    }
    for k in range(num_blocks):
        names.update({f"blocks.{k}.{key}": f"{_M}MixerBlock_{k}/{v}" for key, v in _BLOCK.items()})
    return names


def blendshapes_state_dict(data: bytes) -> tuple[dict[str, np.ndarray], set[str]]:
    """The Blendshapes state dict from the blendshape tflite, and the tensors consumed."""
    tensors = read_tflite(data)
    module = Blendshapes()
    state: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for key, name in _blendshape_names(len(module.blocks)).items():
        if name.endswith("/"):  # 1x1 conv [out, 1, 1, in] -> Linear
            weight, bias = name + "Conv2D", name + "BiasAdd/ReadVariableOp"
            state[key + ".weight"] = tensors[weight][:, 0, 0, :]
            state[key + ".bias"] = tensors[bias]
            used.update((weight, bias))
        else:
            state[key] = tensors[name].reshape(module.state_dict()[key].shape)
            used.add(name)
    used.update(k for k, v in tensors.items() if v.dtype.kind == "i")  # shapes, slices, axes
    _check_all_used(tensors, used, BLENDSHAPES_MEMBER)
    _check_fits(module, state, BLENDSHAPES_MEMBER)
    return state, used


def convert_blendshapes(sources: Path) -> dict[str, np.ndarray]:
    return blendshapes_state_dict(read_member(sources, BLENDSHAPES_MEMBER))[0]


# ---------------------------------------------------------------------------------------------
# mp_geometry: protobuf GeometryPipelineMetadata


def protobuf_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of every field of a protobuf message, in order.

    Varints come back as int, length-delimited and fixed32/fixed64 fields as their bytes.
    """
    out, pos = [], 0

    def varint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, varint()))
            continue
        size = {1: 8, 5: 4}.get(wire) or (varint() if wire == 2 else None)
        if size is None:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {field})")
        out.append((field, buf[pos : pos + size]))
        pos += size
    if pos != len(buf):
        raise ValueError("truncated protobuf message")
    return out


def _floats(values: list) -> np.ndarray:
    return np.array([struct.unpack("<f", v)[0] for v in values], dtype=np.float32)


def geometry_tensors(data: bytes) -> dict[str, np.ndarray]:
    """Canonical vertex buffer (468, 5) and Procrustes landmark ids and weights."""
    top = protobuf_fields(data)
    meshes = [v for f, v in top if f == 1]
    if len(meshes) != 1:
        raise ValueError(f"{GEOMETRY_MEMBER}: expected one canonical_mesh, found {len(meshes)}")
    mesh = protobuf_fields(meshes[0])
    vertex_buffer = _floats([v for f, v in mesh if f == 3])
    ids, weights = [], []
    for f, v in top:
        if f == 2:
            basis = dict(protobuf_fields(v))
            ids.append(basis.get(1, 0))
            weights.append(basis.get(2, b"\0\0\0\0"))
    if vertex_buffer.size % 5 or not ids:
        raise ValueError(f"{GEOMETRY_MEMBER}: {vertex_buffer.size} vertex floats, {len(ids)} ids")
    return {
        "canonical_vertex_buffer": vertex_buffer.reshape(-1, 5),
        "procrustes_landmark_ids": np.array(ids, dtype=np.float32),  # exact for ids < 2**24
        "procrustes_weights": _floats(weights),
    }


def convert_geometry(sources: Path) -> dict[str, np.ndarray]:
    return geometry_tensors(read_member(sources, GEOMETRY_MEMBER))


CONVERTERS = {
    "facemesh_v2": convert_facemesh,
    "mp_blendshapes": convert_blendshapes,
    "mp_geometry": convert_geometry,
}
