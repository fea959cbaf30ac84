"""Read the constant tensors of a TFLite flatbuffer as float32 numpy arrays (conversion time only).

float16 weights are dequantised, sparse (CSR) tensors densified, so every returned array equals
what the LiteRT interpreter computes with its DEQUANTIZE/DENSIFY ops. Needs the ``tflite``
package (``pip install featx[convert]``); featx never imports this module at run time.

Example
-------
>>> tensors = read_tflite(Path("face_detection_short_range.tflite").read_bytes())  # doctest: +SKIP
>>> tensors["model_1/model/conv2d/Conv2D"].shape                                    # doctest: +SKIP
(24, 5, 5, 3)
"""

from __future__ import annotations

import numpy as np
import tflite

_DTYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
    tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT8: np.int8,
}


def _union_vector(dim, kind: str) -> np.ndarray:
    """The uint8/uint16/int32 vector stored in a SparsityParameters dim's union field."""
    vec_type = getattr(dim, f"{kind}Type")()
    table = getattr(dim, kind)()
    classes = {
        tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
        tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
        tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
    }
    vec = classes[vec_type]()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def _densify(values: np.ndarray, shape: tuple[int, ...], sparsity) -> np.ndarray:
    """Expand a CSR tensor (dense dims 0..n-2, sparse last dim), as LiteRT's DENSIFY does."""
    traversal = sparsity.TraversalOrderAsNumpy().tolist()
    if traversal != list(range(len(shape))) or sparsity.BlockMapLength():
        raise ValueError(f"unsupported sparsity layout: traversal {traversal}, block map")
    last = sparsity.DimMetadata(len(shape) - 1)
    if last.Format() != tflite.DimensionType.SPARSE_CSR:
        raise ValueError("only a SPARSE_CSR last dimension is supported")
    segments = _union_vector(last, "ArraySegments")
    indices = _union_vector(last, "ArrayIndices")
    rows = int(np.prod(shape[:-1]))
    dense = np.zeros((rows, shape[-1]), dtype=values.dtype)
    for r in range(rows):
        k0, k1 = segments[r], segments[r + 1]
        dense[r, indices[k0:k1]] = values[k0:k1]
    return dense.reshape(shape)


def read_tflite(data: bytes) -> dict[str, np.ndarray]:
    """All constant tensors of the first subgraph by name, float ones as float32.

    Parameters
    ----------
    data
        The flatbuffer's bytes (a ``.tflite`` file or a member of a ``.task`` zip).
    """
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    out = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        buf = model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            continue  # activations and graph inputs have no data
        dtype = _DTYPES[t.Type()]
        values = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype)
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        sparsity = t.Sparsity()
        arr = _densify(values, shape, sparsity) if sparsity is not None else values.reshape(shape)
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        out[t.Name().decode()] = arr
    return out
