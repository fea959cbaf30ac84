"""Pipelines that compose models: each detector turns frames into one featx Dataset.

The detectors themselves are :class:`featx.Detector`, :class:`featx.Detectorv2` and
:class:`featx.MPDetector`; :class:`BaseDetector` is the detection loop they share (its
``detect`` documents every argument). Nothing is imported until first used.
"""

from __future__ import annotations

__all__ = ["BaseDetector"]


def __getattr__(name: str):
    if name == "BaseDetector":
        from featx.detectors.base import BaseDetector

        return BaseDetector
    raise AttributeError(f"module 'featx.detectors' has no attribute {name!r}")
