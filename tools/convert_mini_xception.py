"""fer's mini-Xception HDF5 (Keras 2.0.5) -> the state dict of ``featx.nn.mini_xception``.

Reads ``emotion_model.hdf5`` with h5py (conversion time only; no TensorFlow). Weights live in
``model_weights/<layer>/<layer>_1/<param>:0``; every one of them must be used exactly once, and
the result must have exactly the keys and shapes of :class:`featx.nn.mini_xception.MiniXception`.
Layouts: Conv2D HWIO -> OIHW, depthwise (kh, kw, C, 1) -> (C, 1, kh, kw), pointwise
(1, 1, in, out) -> (out, in, 1, 1); BatchNorm gamma/beta/moving_mean/moving_variance ->
weight/bias/running_mean/running_var.

Example
-------
>>> state = CONVERTERS["mini_xception"](Path("tools/sources"))  # doctest: +SKIP
>>> state["conv1.weight"].shape                                 # doctest: +SKIP
(8, 1, 3, 3)
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

SOURCE = "emotion_model.hdf5"
_BN_PARAMS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            weights[name] = np.asarray(obj[()])

    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(visit)
    return weights


def convert_mini_xception(sources: Path) -> dict[str, np.ndarray]:
    """The torch state dict (float32 numpy arrays) of fer's mini-Xception."""
    from featx.nn.mini_xception import BLOCK_CHANNELS, MiniXception

    path = Path(sources) / SOURCE
    stored = _read_weights(path)
    used: set[str] = set()
    out: dict[str, np.ndarray] = {}

    def take(layer: str, param: str) -> np.ndarray:
        key = f"{layer}/{layer}_1/{param}:0"
        if key not in stored:
            raise ValueError(f"{path}: no weight {key!r}")
        if key in used:
            raise ValueError(f"{path}: weight {key!r} used twice")
        used.add(key)
        return stored[key]

    def conv(prefix: str, layer: str, bias: bool = False) -> None:
        out[f"{prefix}.weight"] = take(layer, "kernel").transpose(3, 2, 0, 1)
        if bias:
            out[f"{prefix}.bias"] = take(layer, "bias")

    def separable(prefix: str, layer: str) -> None:
        out[f"{prefix}.depthwise.weight"] = take(layer, "depthwise_kernel").transpose(2, 3, 0, 1)
        out[f"{prefix}.pointwise.weight"] = take(layer, "pointwise_kernel").transpose(3, 2, 0, 1)

    def batchnorm(prefix: str, index: int) -> None:
        for name, keras in _BN_PARAMS.items():
            out[f"{prefix}.{name}"] = take(f"batch_normalization_{index}", keras)

    conv("conv1", "conv2d_1")
    batchnorm("bn1", 1)
    conv("conv2", "conv2d_2")
    batchnorm("bn2", 2)
    for i in range(len(BLOCK_CHANNELS)):  # Keras numbering: see FACTS §2 table
        block = f"blocks.{i}"
        conv(f"{block}.shortcut_conv", f"conv2d_{3 + i}")
        batchnorm(f"{block}.shortcut_bn", 3 + 3 * i)
        separable(f"{block}.sep1", f"separable_conv2d_{1 + 2 * i}")
        batchnorm(f"{block}.bn1", 4 + 3 * i)
        separable(f"{block}.sep2", f"separable_conv2d_{2 + 2 * i}")
        batchnorm(f"{block}.bn2", 5 + 3 * i)
    conv("head", f"conv2d_{3 + len(BLOCK_CHANNELS)}", bias=True)

    unused = sorted(set(stored) - used)
    if unused:
        raise ValueError(f"{path}: {len(unused)} weights not converted: {unused[:5]}")
    want = {k: tuple(v.shape) for k, v in MiniXception().state_dict().items()}
    got = {k: tuple(v.shape) for k, v in out.items()}
    if got != want:
        diff = sorted(set(got.items()) ^ set(want.items()))
        raise ValueError(f"{path}: converted tensors do not fit MiniXception: {diff[:5]}")
    return out


CONVERTERS = {"mini_xception": convert_mini_xception}
