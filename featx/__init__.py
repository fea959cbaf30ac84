"""featx: facial-expression analysis that returns labelled xarray Datasets.

Heavy modules (torch models, detectors, plots) load on first use, so ``import featx`` is fast.

Examples
--------
>>> import featx
>>> featx.schema.AUS[:3]
('AU01', 'AU02', 'AU04')
"""

from __future__ import annotations

import importlib

from featx import accessor as _accessor  # noqa: F401  (registers ds.feat)
from featx._version import __version__, show_versions
from featx.schema import SchemaError

#: Public names and the module that defines each; imported on first access.
_LAZY = {
    "MediaError": "featx.media",
    "MediaWarning": "featx.media",
    "ModelNotFoundError": "featx.hub",
    "WeightsError": "featx.hub",
    "list_models": "featx.hub",
    "licenses": "featx.hub",
    "Detector": "featx.detectors.v1",
    "Detectorv2": "featx.detectors.v2",
    "MPDetector": "featx.detectors.mp",
    "RunLockedError": "featx.detectors.runstore",
    "RunMismatchError": "featx.detectors.runstore",
    "save": "featx.io",
    "open_dataset": "featx.io",
    "to_fex": "featx.io",
    "to_tidy": "featx.io",
    "read_fex": "featx.io",
    "read_openface": "featx.io",
    "read_imotions": "featx.io",
    "read_affectiva": "featx.io",
    "ReaderError": "featx.io",
    "ReaderWarning": "featx.io",
    "AnalysisError": "featx.analysis",
    "detect_many": "featx.study",
    "open_study": "featx.study",
}
_SUBMODULES = (
    "schema", "media", "hub", "io", "nn", "detectors", "cli", "accessor", "plot", "analysis",
    "widgets", "study", "tracking",
)  # fmt: skip

__all__ = ["SchemaError", "__version__", "show_versions", *_LAZY, *_SUBMODULES]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"featx.{name}")
    raise AttributeError(f"module 'featx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
