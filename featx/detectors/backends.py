"""Where a detector's networks run: the torch device, full float32, and the OpenVINO backend.

Examples
--------
>>> resolve_device("cpu")
'cpu'
>>> BACKENDS
('auto', 'torch', 'openvino')
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from featx import validators

#: What runs the networks: OpenVINO on the CPU when installed, else torch (see compile_nets).
BACKENDS = ("auto", "torch", "openvino")


def resolve_device(device: str = "auto") -> str:
    """Return the torch device to use: ``"auto"`` picks CUDA when present, else CPU.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def full_float32() -> Iterator[None]:
    """Turn TensorFloat-32 off in CUDA convolutions and matrix products while inside.

    PyTorch lets cuDNN convolutions round float32 inputs to TF32 (10-bit mantissa) by default;
    detectors run in full float32 so that a GPU gives the CPU's numbers to float rounding. The
    previous settings come back on exit.
    """
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def compile_nets(detector: Any, backend: str) -> str:
    """Run ``detector``'s loaded networks that :mod:`featx.nn.accelerate` knows on ``backend``.

    ``"torch"`` leaves them; ``"openvino"`` compiles them (CPU only; an error if OpenVINO
    is missing or fails); ``"auto"`` is OpenVINO on the CPU when installed, and a network
    that fails to compile stays on torch with a warning. Networks seen by an earlier call
    are left alone, so a detector calls it after loading each stage (then only one
    network's torch weights and graph are in memory at once, a lower peak) and once before
    loading anything (the checks). Returns ``"openvino"`` when some network runs on it,
    else ``"torch"``; each compiled stage's ``models`` entry records ``runtime``.
    """
    from featx.nn import accelerate, openvino_runtime

    validators.choice("backend", backend, BACKENDS)
    on_cpu = detector.device == "cpu"
    if backend == "openvino" and not on_cpu:
        raise ValueError(f"backend='openvino' runs on the CPU, not on device {detector.device!r}")
    if backend == "openvino" and not openvino_runtime.available():
        raise ImportError("backend='openvino' needs OpenVINO: pip install openvino")
    if backend == "torch" or not (on_cpu and openvino_runtime.available()):
        return "torch"
    seen: dict[str, bool] = detector.__dict__.setdefault("_openvino_stages", {})
    runtime = f"openvino {openvino_runtime.version()}"
    for stage in [k for k, net in detector.nets.items() if accelerate.supported(net)]:
        if stage in seen:
            continue
        seen[stage] = False
        try:
            accelerate.to_openvino(detector.nets[stage])
        except Exception as error:  # an optional accelerator must not stop the detector
            if backend == "openvino":
                raise
            warnings.warn(
                f"OpenVINO could not compile {stage} ({type(error).__name__}: {error}); "
                "it runs with torch",
                stacklevel=3,
            )
            continue
        seen[stage] = True
        record = detector.models.get(stage) or detector.models.get(stage.removesuffix("_model"))
        if record is not None:
            record["runtime"] = runtime
    return "openvino" if any(seen.values()) else "torch"
