"""Pure torch modules, one file per model family (no I/O, no Datasets, no pipelines).

The networks below are importable from here; each loads its module on first use. With
weights, a network comes from its model card (``featx.hub.card(id).load()``); the builders
give it with random weights.

Examples
--------
>>> from featx import nn
>>> type(nn.MiniXception()).__module__
'featx.nn.mini_xception'
"""

from __future__ import annotations

import importlib

#: Public network -> the module defining it; imported on first access.
_NETWORKS = {
    "ArcFace": "arcface",
    "BlazeFaceFull": "blazeface",
    "BlazeFaceShort": "blazeface",
    "Blendshapes": "blendshapes",
    "ConvNeXtV2Features": "convnextv2",
    "FaceMesh": "facemesh",
    "FaceMultitask": "multitask",
    "FaceNet": "facenet",
    "Img2Pose": "img2pose",
    "L2CS": "l2cs",
    "MiniXception": "mini_xception",
    "MobileFaceNet": "landmark68",
    "MobileNetGDConv": "landmark68",
    "PFLD": "landmark68",
    "PoseMLP": "pose_mlp",
    "PoseRegressor": "pose_mlp",
    "ResMasking": "resmasknet",
    "RetinaFace": "retinaface",
}

__all__ = list(_NETWORKS)


def __getattr__(name: str):
    if name in _NETWORKS:
        return getattr(importlib.import_module(f"featx.nn.{_NETWORKS[name]}"), name)
    raise AttributeError(f"module 'featx.nn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
