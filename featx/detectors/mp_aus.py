"""AUs derived from MediaPipe's 52 blendshapes: each AU the mean of the blendshapes that describe
the same movement (:data:`AU_FROM_BLENDSHAPES`)."""

from __future__ import annotations

import numpy as np

from featx import schema

#: AU -> the blendshapes whose mean stands for it (FACS action -> the ARKit-style blendshape that
#: describes the same movement). AUs without a matching blendshape (AU11, AU23, AU25) are left out.
AU_FROM_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),  # inner brow raiser
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),  # outer brow raiser
    "AU04": ("browDownLeft", "browDownRight"),  # brow lowerer
    "AU05": ("eyeWideLeft", "eyeWideRight"),  # upper lid raiser
    "AU06": ("cheekSquintLeft", "cheekSquintRight"),  # cheek raiser
    "AU07": ("eyeSquintLeft", "eyeSquintRight"),  # lid tightener
    "AU09": ("noseSneerLeft", "noseSneerRight"),  # nose wrinkler
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),  # upper lip raiser
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),  # lip corner puller
    "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),  # dimpler
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),  # lip corner depressor
    "AU17": ("mouthShrugLower",),  # chin raiser
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),  # lip stretcher
    "AU24": ("mouthPressLeft", "mouthPressRight"),  # lip pressor
    "AU26": ("jawOpen",),  # jaw drop
    "AU28": ("mouthRollLower", "mouthRollUpper"),  # lip suck
    "AU43": ("eyeBlinkLeft", "eyeBlinkRight"),  # eyes closed
}


def _weights() -> np.ndarray:
    """(AUs, blendshapes) matrix: row i averages the blendshapes of the i-th AU."""
    weights = np.zeros((len(AU_FROM_BLENDSHAPES), len(schema.BLENDSHAPES)))
    for i, names in enumerate(AU_FROM_BLENDSHAPES.values()):
        for name in names:
            weights[i, schema.BLENDSHAPES.index(name)] = 1 / len(names)
    weights.setflags(write=False)
    return weights


#: The (17, 52) averaging matrix of :data:`AU_FROM_BLENDSHAPES`, built once.
WEIGHTS = _weights()


def aus_from_blendshapes(blendshapes: np.ndarray) -> np.ndarray:
    """AU values (labels ``AU_FROM_BLENDSHAPES``, in order) from the 52 blendshapes.

    Each AU is the mean of its blendshapes (:data:`AU_FROM_BLENDSHAPES`), so it stays in [0, 1].

    Parameters
    ----------
    blendshapes : (..., 52) in ``schema.BLENDSHAPES`` order.

    Returns
    -------
    (..., 17) float64.

    Examples
    --------
    >>> b = np.zeros(52); b[schema.BLENDSHAPES.index("jawOpen")] = 0.8
    >>> dict(zip(AU_FROM_BLENDSHAPES, aus_from_blendshapes(b)))["AU26"]
    np.float64(0.8)
    """
    return np.asarray(blendshapes, dtype=np.float64) @ WEIGHTS.T
