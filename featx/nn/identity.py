"""Identity embeddings of face crops, for either identity model (:mod:`~featx.nn.arcface`,
:mod:`~featx.nn.facenet`).

Each identity module has a ``preprocess(crops)`` static method (its own input scaling) and an
``l2_normalized`` flag (whether its output already has unit norm); :func:`embed` runs both
steps on a batch of crops.

Example
-------
>>> import torch
>>> from featx.nn.facenet import FaceNet
>>> embed(FaceNet().eval(), torch.rand(3, 3, 112, 112)).shape
torch.Size([3, 512])
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def embed(model: nn.Module, crops: torch.Tensor) -> torch.Tensor:
    """Embeddings (N, 512) of RGB face crops (N, 3, H, W) in [0, 1], as the model emits them.

    Py-Feat's Detectorv1 passes the 112x112 box crop (:func:`featx.nn.ops.face_crops`, the one
    the landmark model reads); :func:`featx.nn.ops.align_faces` gives the five-point aligned
    alternative. Crops are moved to the model's device. ArcFace's output is not normalised,
    FaceNet's is (``model.l2_normalized``).

    Examples
    --------
    >>> from featx.nn.arcface import ArcFace
    >>> embed(ArcFace().eval(), torch.zeros(0, 3, 112, 112)).shape
    torch.Size([0, 512])
    """
    device = next(model.parameters()).device
    return model(model.preprocess(crops.to(device)))
