"""Run the Py-Feat networks' heavy parts on OpenVINO, keeping each torch module as it is called.

:func:`to_openvino` compiles a network (or, for face_multitask_v2, its ConvNeXt V2 backbone)
with :class:`featx.nn.openvino_runtime.OpenVINOModule` and makes the module's ``forward`` call
the compiled graph, so every caller (crops, pre- and post-processing, ``parameters()`` for the
device) is unchanged. Computation stays float32; outputs agree with torch to float rounding
(the conformance tests run on both, with the same tolerances).

Parts that stay on torch: face_multitask_v2's heads (its eye RoIAlign samples a number of points
that depends on each box, which a traced graph would freeze), img2pose, the pose MLP.
"""

from __future__ import annotations

import torch
from torch import nn

from featx.nn import openvino_runtime

#: Class name -> (submodule compiled, "" for the whole network; example input (C, H, W);
#: input axes left dynamic).
PLANS: dict[str, tuple[str, tuple[int, int, int], tuple[int, ...]]] = {
    "RetinaFace": ("", (3, 96, 128), (0, 2, 3)),
    "FaceMultitask": ("backbone", (3, 224, 224), (0,)),
    "ArcFace": ("", (3, 112, 112), (0,)),
    "ResMasking": ("", (3, 224, 224), (0,)),
    "L2CS": ("", (3, 224, 224), (0,)),
    "MobileFaceNet": ("", (3, 112, 112), (0,)),
}


def supported(model: nn.Module) -> bool:
    """Whether :func:`to_openvino` knows this network.

    >>> from featx.nn.retinaface import RetinaFace
    >>> supported(RetinaFace()), supported(nn.Linear(2, 2))
    (True, False)
    """
    return type(model).__name__ in PLANS


def to_openvino(model: nn.Module, threads: int | None = None) -> nn.Module:
    """``model`` with its planned part's ``forward`` running on OpenVINO (CPU, float32).

    The module is changed in place and returned (:func:`attach`). A model with no plan is
    returned unchanged.
    """
    found = compile_part(model, threads)
    if found is not None:
        attach(*found)
    return model


def attach(part: nn.Module, compiled: openvino_runtime.OpenVINOModule) -> None:
    """Make ``part``'s forward call ``compiled`` (an instance attribute ``nn.Module`` runs) and
    free its torch weights, which the compiled graph holds a copy of (each becomes an empty
    tensor of its dtype and device, so ``parameters()`` still tells the device), then warm the
    graph up (:meth:`~featx.nn.openvino_runtime.OpenVINOModule.warm_up`: the plugin's copy of the
    weights is made once the torch copy is gone, and the mapped file's pages are released)."""
    part.forward = compiled
    part.openvino = compiled
    with torch.no_grad():
        for t in [*part.parameters(), *part.buffers()]:
            t.data = torch.empty(0, dtype=t.dtype, device=t.device)
    compiled.warm_up()


def compile_part(
    model: nn.Module, threads: int | None = None
) -> tuple[nn.Module, openvino_runtime.OpenVINOModule] | None:
    """The part of ``model`` :data:`PLANS` names and its compiled graph (None: no plan)."""
    plan = PLANS.get(type(model).__name__)
    if plan is None:
        return None
    attr, shape, dynamic = plan
    part = getattr(model, attr) if attr else model
    if type(model).__name__ == "FaceMultitask":
        size = model.config.image_size
        shape = (3, size, size)
    compiled = openvino_runtime.OpenVINOModule(
        part.eval(), torch.zeros(1, *shape), threads=threads, dynamic=dynamic
    )
    return part, compiled
