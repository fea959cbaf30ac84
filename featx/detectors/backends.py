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


def use_openvino(backend: str, device: str) -> bool:
    """Whether ``backend`` runs networks with OpenVINO on ``device``: ``"auto"`` does on the
    CPU when OpenVINO is installed; ``"openvino"`` off the CPU or without OpenVINO is an error.

    Examples
    --------
    >>> use_openvino("torch", "cpu")
    False
    """
    import torch

    from featx.nn import openvino_runtime

    validators.choice("backend", backend, BACKENDS)
    on_cpu = torch.device(device).type == "cpu"
    if backend == "openvino" and not on_cpu:
        raise ValueError(f"backend='openvino' runs on the CPU, not on device {device!r}")
    if backend == "openvino" and not openvino_runtime.available():
        raise ImportError("backend='openvino' needs OpenVINO: pip install openvino")
    return backend != "torch" and on_cpu and openvino_runtime.available()


def compile_nets(
    nets: dict[str, Any],
    models: dict[str, dict],
    device: str,
    backend: str,
    compiled: dict[str, bool],
) -> str:
    """Run the networks in ``nets`` that :mod:`featx.nn.accelerate` knows on ``backend``.

    ``"torch"`` leaves them; ``"openvino"`` compiles them (CPU only; an error if OpenVINO
    is missing or fails); ``"auto"`` is OpenVINO on the CPU when installed, and a network
    that fails to compile stays on torch with a warning. Stages already in ``compiled``
    (stage -> whether it compiled; updated here) are left alone, so a detector calls it
    after loading each stage (then only one network's torch weights and graph are in memory
    at once, a lower peak) and once before loading anything (the checks). Returns
    ``"openvino"`` when some network runs on it, else ``"torch"``; each compiled stage's
    ``models`` entry records ``runtime``.

    Examples
    --------
    >>> compile_nets({}, {}, "cpu", "torch", {})
    'torch'
    """
    from featx.nn import accelerate, openvino_runtime

    if not use_openvino(backend, device):
        return "torch"
    runtime = f"openvino {openvino_runtime.version()}"
    for stage in [k for k, net in nets.items() if accelerate.supported(net)]:
        if stage in compiled:
            continue
        compiled[stage] = False
        try:
            accelerate.to_openvino(nets[stage])
        except Exception as error:  # an optional accelerator must not stop the detector
            if backend == "openvino":
                raise
            warnings.warn(
                f"OpenVINO could not compile {stage} ({type(error).__name__}: {error}); "
                "it runs with torch",
                stacklevel=3,
            )
            continue
        compiled[stage] = True
        record = models.get(stage) or models.get(stage.removesuffix("_model"))
        if record is not None:
            record["runtime"] = runtime
    return "openvino" if any(compiled.values()) else "torch"
