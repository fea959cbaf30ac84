"""MPDetector against MediaPipe's runtime on every reference run in tests/conformance.

For each runtime landmarker run (tests/conformance/mediapipe_pipeline/ref_*.npz) whose image can
be rebuilt: the faces each found, and per runtime face the mean landmark distance (x, y pixels),
the blendshape mean absolute difference and the largest head-pose difference (degrees). featx
runs with its default detectors and the run's presence threshold.

Usage: .venv/bin/python benchmarks/agreement_mp.py [--detector full+short]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="full+short")
    args = parser.parse_args()
    import test_mp_detector as refs  # the reference loading and matching rules of the tests

    import featx

    for name, prefix, run in refs.RUNS:
        ref = refs.REFS[name]
        presence = refs._options(ref, prefix, run)["min_presence_confidence"]
        det = featx.MPDetector(args.detector, min_presence_confidence=presence)
        ds = det.detect(refs._image(ref, prefix), progress=False)
        want = ref[f"{prefix}tasks_{run}_landmarks_px"]
        rows = []
        for i, face in enumerate(refs._match(ds["mesh"].values[0], want)):
            mesh = ds["mesh"].values[0, face]
            px = np.linalg.norm(mesh[:, :2] - want[i, :, :2], axis=-1).mean()
            blend = ds["blendshapes"].values[0, face] - ref[f"{prefix}tasks_{run}_blendshapes"][i]
            pose = refs._ref_euler(ds)[0, face] - ref[f"{prefix}tasks_{run}_euler_featx_deg"][i]
            rows.append(
                f"{px:.4f} px, MAE {np.abs(blend).mean():.5f}, pose {np.abs(pose).max():.4f}"
            )
        found = int(refs._present(ds)[0].sum())
        print(
            f"{name} {prefix or '-'} {run}: runtime {len(want)} faces, featx {found}; "
            + "; ".join(rows)
        )


if __name__ == "__main__":
    main()
