"""Random per-frame detector results for tests: every schema variable, in featx units."""

from __future__ import annotations

import numpy as np


def random_faces(
    rng: np.random.Generator, n: int, identity: list[int], skip: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Values for ``n`` faces of one frame; the variables named in ``skip`` are left out."""
    emotions = rng.uniform(0.1, 1, (n, 7))
    faces = {
        "face_rect": np.column_stack([rng.uniform(0, 200, (n, 2)), rng.uniform(20, 90, (n, 2))]),
        "face_score": rng.uniform(0.5, 1, n),
        "keypoints": rng.uniform(0, 300, (n, 5, 2)),
        "landmarks": rng.uniform(0, 300, (n, 68, 2)),
        "mesh": rng.uniform(0, 300, (n, 478, 3)),
        "aus": rng.uniform(0, 1, (n, 20)),
        "au_intensity": rng.uniform(0, 5, (n, 20)),
        "emotions": emotions / emotions.sum(1, keepdims=True),
        "valence": rng.uniform(-1, 1, n),
        "arousal": rng.uniform(-1, 1, n),
        "head_pose": rng.uniform(-60, 60, (n, 3)),
        "head_translation": rng.normal(size=(n, 3)),
        "gaze": rng.uniform(-40, 40, (n, 2)),
        "blendshapes": rng.uniform(0, 1, (n, 52)),
        "embedding": rng.normal(size=(n, 8)),
        "identity": np.array(identity),
    }
    return {k: v for k, v in faces.items() if k not in skip}
