"""MPDetector recall on real faces available offline: scikit-image's LFW subset.

``skimage.data.lfw_subset()`` holds 100 face crops and 100 non-face patches, 25x25 grey. Each is
upscaled to 96x96 (bilinear) and centred on a 160x160 mid-grey canvas; a face counts as found
when MPDetector reports at least one face (mesh presence above its threshold). Also: a row of
5 faces side by side (each on a 112x112 canvas: 560x112, 20 such rows), counting the faces found
per row.

Usage: .venv/bin/python benchmarks/recall_mp.py [--detectors full+short full short]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import skimage.data


def canvas(patch: np.ndarray, size: int = 96, side: int = 160) -> np.ndarray:
    """A patch upscaled to ``size`` and centred on a grey ``side`` x ``side`` RGB image."""
    big = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)
    out = np.full((side, side), 128, np.uint8)
    start = (side - size) // 2
    out[start : start + size, start : start + size] = big
    return np.repeat(out[:, :, None], 3, axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=["full+short", "full", "short"])
    args = parser.parse_args()
    from featx import MPDetector

    patches = (skimage.data.lfw_subset() * 255).round().astype(np.uint8)
    faces, others = patches[:100], patches[100:]
    rows = [
        np.concatenate([canvas(f, side=112) for f in faces[i : i + 5]], axis=1)
        for i in range(0, 100, 5)
    ]
    for name in args.detectors:
        det = MPDetector(name, emotions=False, tracking=False)

        def found(images: list[np.ndarray], det: MPDetector = det) -> np.ndarray:
            ds = det.detect(np.stack(images), progress=False)
            return ds["face_rect"].notnull().all("rect").sum("face").values

        on_faces = found([canvas(f) for f in faces])
        on_others = found([canvas(p) for p in others])
        per_row = found(rows)
        print(
            f"{name}: faces found {int((on_faces > 0).sum())}/100, non-face patches with a face "
            f"{int((on_others > 0).sum())}/100, rows of 5: {per_row.mean():.2f} faces per row "
            f"(min {per_row.min()}, max {per_row.max()})"
        )


if __name__ == "__main__":
    main()
