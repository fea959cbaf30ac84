"""Convert the raw bundled-model files into featx's safetensors assets.

Reads ``tools/sources/`` (MediaPipe's ``face_landmarker.task`` and full-range detector, fer's
mini-Xception HDF5; provenance in ``tools/sources/SOURCES.md``), checks their sha256, and writes
``featx/assets/<id>.safetensors`` plus ``featx/assets/SHA256SUMS``. Re-running gives
byte-identical files. Needs the conversion extra: ``pip install -e .[convert]``.

Usage: python tools/convert_assets.py [--sources DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[1]
#: sha256 of every raw source file (from SOURCES.md); conversion refuses anything else.
SOURCE_SHA256 = {
    "face_landmarker.task": "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    "face_detection_full_range_sparse.tflite": (
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"
    ),
    "emotion_model.hdf5": "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
}
#: Modules in tools/ that each define CONVERTERS: {asset id: function(sources dir) -> tensors}.
CONVERTER_MODULES = ("convert_blazeface", "convert_facemesh", "convert_mini_xception")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sources(sources: Path) -> None:
    for name, expected in SOURCE_SHA256.items():
        path = sources / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: raw model file missing (see SOURCES.md)")
        if sha256(path) != expected:
            raise ValueError(f"{path}: sha256 {sha256(path)} differs from {expected}")


def converters() -> dict[str, Callable[[Path], dict[str, np.ndarray]]]:
    sys.path.insert(0, str(Path(__file__).parent))
    found: dict[str, Callable] = {}
    for name in CONVERTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue  # that family is not converted yet
        found.update(module.CONVERTERS)
    return found


def convert(sources: Path, out: Path) -> dict[str, str]:
    """Write every asset into ``out``; return {file name: sha256}."""
    check_sources(sources)
    out.mkdir(parents=True, exist_ok=True)
    sums = {}
    for asset_id, fn in sorted(converters().items()):
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in fn(sources).items()}
        path = out / f"{asset_id}.safetensors"
        save_file(tensors, str(path), metadata={"source": "featx tools/convert_assets.py"})
        sums[path.name] = sha256(path)
    (out / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    return sums


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=ROOT / "tools" / "sources")
    parser.add_argument("--out", type=Path, default=ROOT / "featx" / "assets")
    args = parser.parse_args(argv)
    for name, digest in convert(args.sources, args.out).items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
