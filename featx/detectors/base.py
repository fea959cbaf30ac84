"""The detection loop every featx detector shares (DESIGN §4).

A detector subclasses :class:`BaseDetector` and implements :meth:`BaseDetector.process_batch`,
which turns a batch of RGB frames into per-frame results. The base class owns everything
around it: decoding media in batches, the device, the progress bar, provenance attrs,
incremental writes to ``output=`` and resuming an interrupted run.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from featx import hub, media, schema


def resolve_device(device: str = "auto") -> str:
    """Return the torch device to use: ``"auto"`` picks CUDA when present, else CPU.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def full_float32() -> Iterator[None]:
    """Turn TensorFloat-32 off in CUDA convolutions and matrix products while inside.

    PyTorch lets cuDNN convolutions round float32 inputs to TF32 (10-bit mantissa) by default;
    detectors run in full float32 so that a GPU gives the CPU's numbers to float rounding. The
    previous settings come back on exit.
    """
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def model_provenance(card: hub.ModelCard, paths: Mapping[str, Path]) -> dict[str, Any]:
    """What the ``models`` attr records for one stage: name, repo, revision, files' sha256."""
    return {
        "name": card.id,
        "repo": card.repo,
        "revision": card.revision,
        "sha256": {Path(p).name: hub.sha256(p) for p in paths.values()},
        "license": card.license,
        "non_commercial": card.non_commercial,
    }


def split_faces(
    values: Mapping[str, np.ndarray], counts: Sequence[int]
) -> list[dict[str, np.ndarray]]:
    """Per-frame dicts from arrays holding the faces of all frames in order.

    Examples
    --------
    >>> [len(f["face_score"]) for f in split_faces({"face_score": np.ones(3)}, [2, 0, 1])]
    [2, 0, 1]
    """
    edges = np.cumsum([0, *counts])
    return [
        {k: v[a:b] for k, v in values.items()} for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


class RunStore:
    """Results of one run on disk: finished batches as parts beside ``output``, then one file.

    Each batch is written atomically to ``<output>.parts/part-NNNNNN.nc`` as soon as it is
    done, so an interrupted run loses nothing; :meth:`done` tells a new run which
    (source, source_frame) pairs to skip; :meth:`finish` joins everything into ``output``
    (netCDF, or zarr for a ``.zarr`` suffix) and removes the parts.
    """

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.parts_dir = self.output.with_name(self.output.name + ".parts")

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.nc")) if self.parts_dir.exists() else []

    def _datasets(self) -> list[xr.Dataset]:
        from featx.io import open_dataset

        found = [open_dataset(self.output)] if self.output.exists() else []
        return found + [open_dataset(p) for p in self._parts()]

    def done(self) -> tuple[set[tuple[str, int]], int]:
        """Pairs already on disk, and the next free ``frame`` number."""
        pairs: set[tuple[str, int]] = set()
        next_frame = 0
        for ds in self._datasets():
            sources = ds["source"].values.tolist()
            pairs.update(zip(sources, ds["source_frame"].values.tolist(), strict=True))
            if ds.sizes["frame"]:
                next_frame = max(next_frame, int(ds["frame"].max()) + 1)
        return pairs, next_frame

    def write(self, ds: xr.Dataset) -> None:
        """Write one finished batch as the next part."""
        from featx.io import save

        self.parts_dir.mkdir(parents=True, exist_ok=True)
        parts = self._parts()
        index = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        save(ds, self.parts_dir / f"part-{index:06d}.nc")

    def finish(
        self, attrs: Mapping[str, Any], finalize: Callable[[xr.Dataset], xr.Dataset]
    ) -> xr.Dataset | None:
        """Join what is on disk, apply ``finalize``, write ``output``; None if nothing is there."""
        from featx.io import save

        datasets = self._datasets()
        if not datasets:
            return None
        ds = schema.concat(datasets).sortby("frame")
        ds.attrs.update(attrs)
        ds.attrs["sources"] = schema.merge_sources(*(d.attrs for d in datasets), attrs)
        ds = finalize(ds)
        save(ds, self.output)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return ds


class BaseDetector:
    """Shared loop of all detectors; subclasses implement :meth:`process_batch`.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` … or ``"auto"`` (CUDA when present).

    Attributes a subclass sets
    --------------------------
    name : str
        Written to ``ds.attrs["detector"]``.
    labels : dict
        Label lists that differ from :data:`featx.schema.DEFAULT_LABELS` (e.g. keypoints).
    var_attrs : dict
        Variable attrs such as ``{"aus": {"kind": "probability"}}``.
    models : dict
        Stage → provenance dict (``name``, ``repo``, ``revision``, ``sha256``, ``license``,
        ``non_commercial``), written to the ``models`` and ``licenses`` attrs.
    """

    name = "base"
    #: Keep each face of a video in one ``face`` slot across frames and batches
    #: (:class:`featx.tracking.BoxTracker`); still images keep the detector's order.
    track = True
    #: Frames per batch when ``detect`` is not given ``batch_size``.
    default_batch_size = 1

    def __init__(self, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.labels: dict[str, Sequence] = {}
        self.var_attrs: dict[str, dict] = {}
        self.models: dict[str, dict] = {}

    def process_batch(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Detect faces in a batch of RGB uint8 frames.

        Returns one mapping per frame from schema variable name to an array whose first
        axis is the faces found in that frame (length 0 when there are none).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement process_batch")

    def process_frames(self, batch: media.FrameBatch) -> list[dict[str, np.ndarray]]:
        """Results of one batch; the loop calls this with the frames in order.

        The default passes the images to :meth:`process_batch`. A detector that carries state
        from frame to frame (video tracking) overrides it to read each frame's ``source`` and
        ``source_frame``.
        """
        return self.process_batch(batch.images)

    def finalize(self, ds: xr.Dataset) -> xr.Dataset:
        """Work on the whole run before it is returned and written (e.g. identities)."""
        return ds

    def provenance(self, sources: Sequence[media.SourceInfo]) -> dict[str, Any]:
        """Dataset attrs describing this run (DESIGN §1 attrs)."""
        from featx._version import __version__

        licenses = {
            info["name"]: {
                "license": info.get("license"),
                "non_commercial": bool(info.get("non_commercial")),
            }
            for info in self.models.values()
        }
        return {
            "featx_version": __version__,
            "detector": self.name,
            "models": json.dumps(self.models),
            "licenses": json.dumps(licenses),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "sources": json.dumps(
                {
                    s.path: {
                        "kind": s.kind,
                        "fps": None if math.isnan(s.fps) else s.fps,
                        "width": s.width,
                        "height": s.height,
                        "n_frames": s.n_frames,
                    }
                    for s in sources
                }
            ),
        }

    def detect(
        self,
        inputs: Any,
        *,
        data_type: str | None = None,
        batch_size: int | None = None,
        skip_frames: int = 1,
        output: str | Path | None = None,
        progress: bool = True,
    ) -> xr.Dataset:
        """Run the detector over images, videos or arrays and return one Dataset.

        Parameters
        ----------
        inputs
            A path, list of paths, folder, video, numpy array or torch tensor
            (see :func:`featx.media.iter_frames`).
        data_type
            Force ``"image"``, ``"video"``, ``"array"`` or ``"tensor"`` instead of inferring it.
        batch_size
            Frames decoded and passed through the models together; None: the detector's
            ``default_batch_size``.
        skip_frames
            Keep every n-th frame of a video.
        output
            ``"run.nc"`` or ``"run.zarr"``: each batch is written as it finishes and an
            interrupted run resumes from what is on disk (frames already there are skipped).
        progress
            Show a progress bar.

        Returns
        -------
        xarray.Dataset
            Valid under :func:`featx.schema.validate`, with provenance attrs.
        """
        from tqdm.auto import tqdm

        from featx.tracking import BoxTracker

        batch_size = self.default_batch_size if batch_size is None else batch_size
        sources = media.probe(inputs, data_type=data_type)
        store = RunStore(output) if output is not None else None
        done, frame_start = store.done() if store else (set(), 0)
        total = sum(
            math.ceil(s.n_frames / skip_frames) if s.kind in ("video", "array", "tensor") else 1
            for s in sources
        ) - len(done)
        parts = []
        tracker = BoxTracker() if self.track else None
        with (
            full_float32(),
            tqdm(total=max(total, 0), disable=not progress, unit="frame", desc=self.name) as bar,
        ):
            for batch in media.iter_frames(
                inputs,
                batch_size=batch_size,
                skip_frames=skip_frames,
                data_type=data_type,
                exclude=done,
            ):
                results = self.process_frames(batch)
                if tracker is not None:
                    results = tracker.update(results, batch.source)
                ds = schema.from_frames(
                    results,
                    batch.source,
                    batch.source_frame,
                    batch.time,
                    frame_start=frame_start,
                    labels=self.labels,
                    var_attrs=self.var_attrs,
                )
                frame_start += len(batch)
                if store:
                    store.write(ds)
                else:
                    parts.append(ds)
                bar.update(len(batch))
        attrs = self.provenance(sources)
        if store:
            ds = store.finish(attrs, self.finalize)
        elif parts:
            ds = schema.concat(parts)
            ds.attrs.update(attrs)
            ds = self.finalize(ds)
        else:
            ds = None
        if ds is None:
            raise media.MediaError(f"{inputs!r}: no frames to process")
        schema.validate(ds)
        return ds
