"""Studies: many videos through one detector on a Dask cluster, one zarr store per video.

:func:`detect_many` runs one Dask task per video. The detector travels to the workers as its
class and constructor arguments (``detector.config()``), and each worker process builds it once
and reuses it for every task it runs, so weights are never pickled per task. Each video is
written to ``out/<name>.zarr`` batch by batch through the detectors' resumable run store, and
``out/manifest.csv`` gets one row per video as soon as it ends (done or failed): rerunning the
same call skips done videos and resumes partial ones. A video that fails (a corrupt file, a
decode error) is recorded with its error and never stops the others. A lock file keeps a second
run off the same ``out``.

:func:`open_study` opens the done videos lazily as one Dataset along ``frame`` with the
metadata columns (subject, session, condition, ...) as coordinates.

Examples
--------
>>> from dask.distributed import Client                                    # doctest: +SKIP
>>> manifest = featx.detect_many("videos/", featx.MPDetector(), "study/",
...                              metadata="participants.csv", client=Client())  # doctest: +SKIP
>>> ds = featx.open_study("study/")                                        # doctest: +SKIP
>>> ds.aus.groupby("condition").mean()                                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema

#: The manifest's columns, one row per video.
MANIFEST_COLUMNS = (
    "source", "store", "status", "frames", "seconds", "error", "detector", "config",
    "featx_version",
)  # fmt: skip
MANIFEST = "manifest.csv"
METADATA = "metadata.csv"
LOCK = ".featx-study.lock"


class StudyError(RuntimeError):
    """A study folder that cannot be run or opened as asked (locked, mismatched metadata...)."""


# ----------------------------------------------------------------------------------------------
# Detectors on workers


def detector_spec(detector: Any) -> dict[str, Any]:
    """What rebuilds ``detector`` on a worker: ``{"class": "module.Name", "kwargs": {...}}``.

    The kwargs are the options of ``detector.config()`` (its constructor arguments that change
    results), where its weights come from (``load_options``: ``model_dir``, ``lock``) and its
    device, so a worker builds the same detector from the same files on the same kind of device.
    """
    if not callable(getattr(detector, "config", None)):
        raise TypeError(
            f"{type(detector).__name__} has no config(): detect_many rebuilds the detector on "
            "each worker from its constructor arguments"
        )
    config = detector.config()
    kwargs = dict(config["options"])
    kwargs |= {k: v for k, v in getattr(detector, "load_options", {}).items() if v is not None}
    if getattr(detector, "device", None) is not None:
        kwargs["device"] = detector.device
    spec = {"class": config["detector"], "kwargs": kwargs}
    json.dumps(spec)  # what the manifest and the workers could not carry is refused here
    return spec


_WORKER_DETECTORS: dict[str, Any] = {}
#: Held while a video runs: a worker process runs one video at a time, whatever its threads,
#: because the run store writes its batches with the HDF5 library, which is not thread-safe
#: (two videos in threads of one process can crash it).
_ONE_VIDEO_PER_PROCESS = threading.Lock()


def _worker_detector(spec: dict[str, Any]) -> Any:
    """The detector ``spec`` describes, built once per worker process and kept."""
    key = json.dumps(spec, sort_keys=True)
    if key not in _WORKER_DETECTORS:
        module, name = spec["class"].rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
        _WORKER_DETECTORS[key] = cls(**spec["kwargs"])
    return _WORKER_DETECTORS[key]


def _run_video(spec: dict[str, Any], source: str, store: str, kwargs: dict) -> dict[str, Any]:
    """One task: detect ``source`` into ``store`` (resuming); a manifest row, never raises."""
    from featx._version import __version__

    start = time.perf_counter()
    row = {"source": source, "store": store, "detector": spec["class"].rsplit(".", 1)[1]}
    row |= {"config": json.dumps(spec["kwargs"], sort_keys=True), "featx_version": __version__}
    try:
        with _ONE_VIDEO_PER_PROCESS:
            ds = _worker_detector(spec).detect(source, output=store, progress=False, **kwargs)
        row |= {"status": "done", "frames": int(ds.sizes["frame"]), "error": ""}
    except Exception as error:  # a failing video is recorded, the others go on
        frames = _frames_on_disk(Path(store))
        status = "partial" if frames else "failed"
        last = traceback.format_exception_only(error)[-1].strip()
        row |= {"status": status, "frames": frames, "error": last}
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _frames_on_disk(store: Path) -> int:
    """Frames of a video's run already written (finished batches), 0 if none."""
    from featx.detectors.runstore import RunStore

    try:
        return len(RunStore(store).done()[0])
    except Exception:
        return 0


# ----------------------------------------------------------------------------------------------
# The study folder


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock file while inside; a second holder is refused at once. The kernel
    releases the lock when its process dies, so a killed run leaves no stale lock."""
    with open(out / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise StudyError(
                f"{out} is being written by {holder}: wait for it to finish (two runs on one "
                "study folder would interleave their writes)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(out: str | os.PathLike) -> pd.DataFrame:
    """The manifest of a study folder (empty with the right columns when there is none)."""
    path = Path(out) / MANIFEST
    if not path.exists():
        return pd.DataFrame(columns=list(MANIFEST_COLUMNS))
    return pd.read_csv(path, dtype={"error": str, "config": str}, keep_default_na=False)


def _write_manifest(out: Path, rows: dict[str, dict]) -> pd.DataFrame:
    """Write the manifest atomically (a temporary file moved over the old one)."""
    table = pd.DataFrame(list(rows.values()), columns=list(MANIFEST_COLUMNS))
    tmp = out / f".{MANIFEST}.tmp"
    table.to_csv(tmp, index=False)
    os.replace(tmp, out / MANIFEST)
    return table


def _store_names(sources: Sequence[str], known: dict[str, str]) -> dict[str, str]:
    """Store name per source: the manifest's for known sources, else the file stem, with a
    short hash of the path where two sources share a stem."""
    stems = [Path(s).stem for s in sources]
    names = {}
    for source, stem in zip(sources, stems, strict=True):
        if source in known:
            names[source] = known[source]
        elif stems.count(stem) > 1:
            names[source] = f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:8]}.zarr"
        else:
            names[source] = f"{stem}.zarr"
    return names


def _video_paths(sources: Any) -> list[str]:
    """Video paths from a folder, a path or a list of paths. Files are not opened here: a
    video that cannot be read fails in its own task and is recorded in the manifest."""
    from featx.media import VIDEO_EXTENSIONS

    if isinstance(sources, str | os.PathLike):
        folder = Path(sources)
        if folder.is_dir():
            sources = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
            if not sources:
                raise StudyError(f"{folder}: no video files ({', '.join(VIDEO_EXTENSIONS)})")
        else:
            sources = [folder]
    paths = [str(s) for s in sources]
    if len(set(paths)) != len(paths):
        raise StudyError("detect_many got the same video more than once")
    return paths


def _metadata_table(metadata: Any, sources: Sequence[str]) -> pd.DataFrame:
    """The metadata keyed by source path, one row per video, or a StudyError saying which rows
    match no video and which videos match no row."""
    name = "metadata"
    if isinstance(metadata, str | os.PathLike):
        name = str(metadata)
        metadata = pd.read_csv(metadata, dtype={"source": str})
    table = pd.DataFrame(metadata).copy()
    if "source" not in table.columns:
        raise StudyError(f"{name}: needs a 'source' column (a video's path or file stem)")
    if table["source"].duplicated().any():
        repeated = sorted(set(table["source"][table["source"].duplicated()]))
        raise StudyError(f"{name}: sources listed more than once: {', '.join(repeated)}")
    keys = {}
    for source in sources:
        for key in (source, Path(source).name, Path(source).stem):
            keys.setdefault(key, []).append(source)
    matched, unmatched_rows = {}, []
    for _, row in table.iterrows():
        hits = keys.get(str(row["source"]), [])
        if len(hits) == 1:
            matched[hits[0]] = row
        else:
            unmatched_rows.append(str(row["source"]) + (" (ambiguous)" if hits else ""))
    missing = [s for s in sources if s not in matched]
    if unmatched_rows or missing:
        raise StudyError(
            f"{name}: rows that match no video: {unmatched_rows or 'none'}; videos with no "
            f"row: {missing or 'none'}"
        )
    out = pd.DataFrame([matched[s] for s in sources]).reset_index(drop=True)
    out["source"] = list(sources)
    return out


def detect_many(
    sources: Any,
    detector: Any,
    out: str | os.PathLike,
    *,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
    client: Any = None,
    workers: int | None = None,
    progress: bool = True,
    **detect_kwargs: Any,
) -> pd.DataFrame:
    """Run ``detector`` over many videos on a Dask cluster, one zarr store per video.

    Parameters
    ----------
    sources
        A folder of videos, a video path or a list of them.
    detector
        A featx detector; it is rebuilt on each worker from ``detector.config()``, once per
        worker process. With a CUDA device each task asks for the worker resource ``GPU=1``.
    out
        The study folder: ``<video>.zarr`` per video, ``manifest.csv`` (source, store, status
        done/failed/partial, frames, seconds, error, detector, config, featx_version) and,
        with ``metadata``, ``metadata.csv``.
    metadata
        A CSV path or DataFrame with a ``source`` column (a video's path, file name or stem)
        and one column per attribute (subject, session, condition, ...); every video needs
        exactly one row and every row one video.
    client
        A ``dask.distributed.Client``; None starts a LocalCluster for this call with
        ``workers`` single-threaded worker processes (default one per core, at most one per
        video).
    workers
        The LocalCluster's size when ``client`` is None.
    progress
        Two progress bars: videos ended (failed ones in its postfix) and frames done over all
        videos, the running ones counted from the batches their stores have committed.
    **detect_kwargs
        Passed to ``detector.detect`` (``batch_size``, ``skip_frames``, ...).

    Returns
    -------
    pandas.DataFrame
        The manifest, one row per video of this study folder.

    Raises
    ------
    StudyError
        If another run holds ``out`` or the metadata do not match the videos.
    """
    taken = {"output", "progress"} & set(detect_kwargs)
    if taken:
        raise TypeError(f"detect_many sets {', '.join(sorted(taken))} itself (one store per video)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = _video_paths(sources)
    spec = detector_spec(detector)
    if metadata is not None:
        meta = _metadata_table(metadata, paths)
    with _locked(out):
        if metadata is not None:
            meta.to_csv(out / METADATA, index=False)
        rows = {r["source"]: dict(r) for r in read_manifest(out).to_dict("records")}
        names = _store_names(paths, {s: r["store"] for s, r in rows.items()})
        todo = [
            s
            for s in paths
            if not (rows.get(s, {}).get("status") == "done" and (out / names[s]).exists())
        ]
        resources = {"GPU": 1} if str(getattr(detector, "device", "")).startswith("cuda") else None
        if client is None:
            workers = min(workers or os.cpu_count() or 1, max(len(todo), 1))
        with _client(client, workers) as dask_client:
            from distributed import as_completed

            futures = [
                dask_client.submit(
                    _run_video,
                    spec,
                    source,
                    str(out / names[source]),
                    detect_kwargs,
                    key=f"featx-detect-{names[source]}-{time.time_ns()}",
                    resources=resources,
                    pure=False,
                )
                for source in todo
            ]
            with _Progress(
                {s: out / names[s] for s in paths},
                todo,
                rows,
                detect_kwargs.get("skip_frames", 1),
                detect_kwargs.get("batch_size") or detector.default_batch_size,
                progress,
            ) as bar:
                finished, left = as_completed(futures), len(futures)
                while left:
                    ready = finished.next_batch(block=False) if finished.has_ready() else []
                    for future in ready:
                        row = future.result()
                        row["store"] = names[row["source"]]
                        rows[row["source"]] = row
                        _write_manifest(out, rows)
                        bar.ended(row)
                    left -= len(ready)
                    if left and not ready:
                        bar.poll()
                        time.sleep(POLL_SECONDS)
        return _write_manifest(out, rows)


#: How often detect_many looks at the running videos' stores for the frames bar.
POLL_SECONDS = 0.5


class _Progress:
    """Two bars for :func:`detect_many`: videos ended, and frames done over all videos.

    Frames done are read from the study folder itself: a running video counts one batch per
    part its run store has committed (at most its total), an ended video the frames of its
    manifest row. This needs no channel from the workers beyond the folder they already
    write, whatever the cluster. The frames' total comes from each video's header
    (:func:`featx.media.probe`; a video that cannot be probed counts 0) and becomes the frames
    actually done when a video ends.

    Parameters
    ----------
    stores
        Each video's store path.
    todo
        The videos running in this call; the others are done (their manifest ``rows``).
    """

    def __init__(
        self,
        stores: dict[str, Path],
        todo: Sequence[str],
        rows: dict[str, dict],
        skip_frames: int,
        batch_size: int,
        show: bool,
    ) -> None:
        from tqdm.auto import tqdm

        self.stores, self.active, self.batch = stores, list(todo), batch_size
        self.done = {s: int(rows[s]["frames"]) for s in stores if s not in todo}
        self.total = dict(self.done)
        for source in todo:  # headers are read only for a bar that is shown
            self.total[source] = _expected_frames(source, skip_frames) if show else 0
        self.failed = 0
        self.videos = tqdm(
            total=len(stores), initial=len(stores) - len(todo), unit="video", disable=not show
        )
        self.frames = tqdm(total=sum(self.total.values()), unit="frame", disable=not show)
        self.poll()

    @property
    def frames_done(self) -> int:
        """Frames done over all videos."""
        return sum(self.done.values())

    def poll(self) -> None:
        """Count the committed batches of every running video."""
        for source in self.active:
            found = _frames_written(self.stores[source], self.batch)
            if self.total[source]:
                found = min(found, self.total[source])
            self.done[source] = max(self.done.get(source, 0), found)  # 0 once being finished
        self._draw()

    def ended(self, row: dict) -> None:
        """A video's task returned its manifest row."""
        source = row["source"]
        self.active.remove(source)
        self.done[source] = int(row["frames"])
        if row["status"] == "done":
            self.total[source] = int(row["frames"])
        else:
            self.failed += 1
            self.total[source] = max(self.total[source], int(row["frames"]))
        self.videos.update()
        self.videos.set_postfix(failed=self.failed)
        self._draw()

    def _draw(self) -> None:
        self.frames.total = max(sum(self.total.values()), self.frames_done)
        self.frames.update(self.frames_done - self.frames.n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.frames.close()
        self.videos.close()


def _expected_frames(source: str, skip_frames: int) -> int:
    """The frames ``detect`` will analyse in ``source``, from its header; 0 if it cannot tell."""
    from featx import media

    try:
        info = media.probe(source, data_type="video")[0]
    except Exception:  # its own task records why
        return 0
    return -(-info.n_frames // max(int(skip_frames), 1))


def _frames_written(store: Path, batch_size: int) -> int:
    """Frames a running video's run store has committed: ``batch_size`` per part (every part but
    a video's last holds one whole batch). Only file names are read: a part is written beside
    and moved in whole, and opening it here could race the worker's HDF5 library."""
    parts = store.with_name(store.name + ".parts")
    return len(list(parts.glob("part-*.nc"))) * batch_size if parts.is_dir() else 0


@contextlib.contextmanager
def _client(client: Any, workers: int | None) -> Iterator[Any]:
    """``client``, or for the duration the client of a LocalCluster of ``workers`` processes."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as local:
            yield local


def open_study(
    out: str | os.PathLike, metadata: str | os.PathLike | pd.DataFrame | None = None
) -> xr.Dataset:
    """The done videos of a study folder as one lazy Dataset along ``frame``.

    Data variables stay on disk as dask arrays chunked like the stores (only coordinates are
    read); ``frame`` is renumbered across videos while ``source``, ``source_frame`` and
    ``time`` say where each frame came from. Every metadata column becomes a coordinate along
    ``frame``.

    Parameters
    ----------
    out
        A folder :func:`detect_many` wrote.
    metadata
        As in :func:`detect_many`; None uses the folder's ``metadata.csv`` if there is one.

    Raises
    ------
    StudyError
        If no video is done, or the metadata do not match the done videos.
    """
    out = Path(out)
    manifest = read_manifest(out)
    done = manifest[manifest["status"] == "done"]
    if done.empty:
        raise StudyError(f"{out}: no finished video (see {out / MANIFEST})")
    from featx.io import open_dataset

    datasets = [open_dataset(out / store, lazy=True) for store in done["store"]]
    ds = schema.concat(datasets)
    if metadata is None and (out / METADATA).exists():
        metadata = out / METADATA
    if metadata is not None:
        meta = _metadata_table(metadata, list(manifest["source"])).set_index("source")
        meta = meta.loc[list(done["source"])].reset_index()  # rows of failed videos stay out
        lengths = [d.sizes["frame"] for d in datasets]
        for column in meta.columns.drop("source"):
            values = np.repeat(meta[column].to_numpy(), lengths)
            if values.dtype == object:
                values = np.array([str(v) for v in values], dtype=object)
            ds = ds.assign_coords({column: ("frame", values)})
    return ds
