"""Synthetic study folders for the study tests and benchmarks/bench_study.py (no detection).

:func:`write_study` writes what :func:`featx.detect_many` leaves behind: one zarr store per
video (the layout the run store finishes with: face boxes and scores, 20 AUs, 7 emotions, head
pose and the 478-vertex mesh, float32), ``manifest.csv`` with every video done and
``metadata.csv`` (subject, condition).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from featx import io, schema, study

FPS = 30.0
KINDS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}


def video(
    name: str,
    n_frames: int,
    seed: int,
    *,
    aus: tuple = schema.AUS,
    level: float = 0.0,
    mesh: bool = True,
) -> xr.Dataset:
    """One video's results: smooth random signals, NaN where no face was found (5 % of frames).

    The AUs lie in ``level + [0, 0.6]``; the mesh is one random face held still.
    """
    faces = 1
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FPS
    present = rng.random((n_frames, faces)) > 0.05

    def signal(*shape: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
        phase = rng.random(shape) * 2 * np.pi
        wave = 0.5 + 0.5 * np.sin(t.reshape(-1, *([1] * len(shape))) * 1.3 + phase)
        out = (low + (high - low) * wave).astype(np.float32)
        out[~present] = np.nan
        return out

    rect = np.broadcast_to(np.array([40, 30, 120, 150], np.float32), (n_frames, faces, 4)).copy()
    rect[~present] = np.nan
    emotions = signal(faces, 7) + 0.1
    emotions /= emotions.sum(axis=-1, keepdims=True)
    data = {
        "face_rect": (("frame", "face", "rect"), rect),
        "face_score": (("frame", "face"), signal(faces, low=0.8)),
        "aus": (
            ("frame", "face", "au"),
            signal(faces, len(aus), low=level, high=level + 0.6),
            KINDS["aus"],
        ),
        "emotions": (("frame", "face", "emotion"), emotions, KINDS["emotions"]),
        "head_pose": (("frame", "face", "angle"), signal(faces, 3, low=-20, high=20)),
    }
    if mesh:
        still = np.broadcast_to(
            rng.random((1, faces, schema.N_VERTICES, 3), np.float32),
            (n_frames, faces, schema.N_VERTICES, 3),
        )
        still = np.where(present[..., None, None], still, np.float32(np.nan))
        data["mesh"] = (("frame", "face", "vertex", "xyz"), still)
    coords = {
        "frame": np.arange(n_frames, dtype=np.int64),
        "face": np.arange(faces, dtype=np.int64),
        "source": ("frame", np.full(n_frames, name, dtype=object)),
        "source_frame": ("frame", np.arange(n_frames, dtype=np.int64)),
        "time": ("frame", t),
        "rect": np.array(schema.RECT, dtype=object),
        "au": np.array(aus, dtype=object),
        "emotion": np.array(schema.EMOTIONS, dtype=object),
        "angle": np.array(schema.ANGLE, dtype=object),
    }
    if mesh:
        coords |= {"vertex": np.arange(schema.N_VERTICES), "xyz": np.array(schema.XYZ, object)}
    attrs = {"detector": "synthetic", "sources": json.dumps({name: {"n_frames": n_frames}})}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_study(
    out: Path,
    n_videos: int,
    n_frames: int,
    *,
    subjects: int | None = None,
    aus: tuple = schema.AUS,
    mesh: bool = True,
) -> Path:
    """A done study of ``n_videos`` stores of ``n_frames`` frames each under ``out``.

    Video ``i`` belongs to subject ``s{i % subjects}`` (default: 4 videos per subject), whose
    AUs sit at their own level, and to condition ``a`` or ``b`` (alternating). The stores are
    copies of one with each its own ``source`` and AUs (fast to write). Returns ``out``.
    """
    import zarr

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    subjects = subjects or max(n_videos // 4, 1)
    template = out / ".template.zarr"
    first = video("/videos/v0000.mp4", n_frames, seed=0, aus=aus, mesh=mesh)
    schema.validate(first)
    io.save(first, template, validate=False)
    rows, meta = [], []
    for i in range(n_videos):  # a copy of one store with its own source and AUs: fast to write
        name, store = f"/videos/v{i:04d}.mp4", out / f"v{i:04d}.zarr"
        shutil.copytree(template, store)
        zarr.open_array(store / "source", mode="r+")[:] = np.full(n_frames, name, dtype=object)
        level = (i % subjects % 5) / 10  # each subject has its own AU level
        own = video(name, n_frames, i, aus=aus, level=level, mesh=False)["aus"].values
        zarr.open_array(store / "aus", mode="r+")[:] = own
        zarr.open_group(store, mode="r+").attrs["sources"] = json.dumps({name: {}})
        rows.append(
            {"source": name, "store": store.name, "status": "done", "frames": n_frames,
             "seconds": 0.0, "error": "", "detector": "synthetic", "config": "{}",
             "featx_version": "0"}
        )  # fmt: skip
        meta.append({"source": name, "subject": f"s{i % subjects}", "condition": "ab"[i % 2]})
    shutil.rmtree(template)
    manifest = pd.DataFrame(rows, columns=list(study.MANIFEST_COLUMNS))
    manifest.to_csv(out / study.MANIFEST, index=False)
    pd.DataFrame(meta).to_csv(out / study.METADATA, index=False)
    return out


def data_bytes(n_videos: int, n_frames: int, *, aus: tuple = schema.AUS, mesh: bool = True) -> int:
    """Bytes of every data variable of such a study, as arrays in memory."""
    one = video("x", n_frames, seed=0, aus=aus, mesh=mesh)
    return n_videos * sum(v.nbytes for v in one.data_vars.values())
