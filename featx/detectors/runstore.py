"""A detector run's results on disk: finished batches as parts beside the output, then one file.

:class:`RunStore` is what ``detect(..., output=...)`` writes through, so an interrupted run
loses nothing and a rerun resumes from what is on disk. :func:`run_lock` keeps a second run off
the same output while one is writing it.

Beside ``run.nc`` a run keeps:

- ``run.nc.lock``: an OS file lock (``fcntl.flock``) held while the run lasts, with the holder's
  pid in it. The kernel releases it when the process ends, however it ends, so a killed run
  leaves no lock to clear by hand.
- ``run.nc.parts/run.json``: what the parts are the results of (the detector's
  :meth:`~featx.detectors.base.BaseDetector.config`, each source's size and modification time,
  or an array's sha256, and ``skip_frames``) and a run id; a rerun that differs is refused.
- ``run.nc.parts/part-NNNNNN.nc``: one finished batch each, and ``state-NNNNNN.json``: what
  the next batch needs from the ones before (tracking state), written before its part, so a
  resumed run continues exactly where the last part ended.

:meth:`RunStore.finish` appends the parts to a temporary file in ``run.nc.parts`` a block at a
time and moves it onto ``run.nc`` when complete; a run killed before that leaves the parts and
the temporary file, which the next run removes before finishing again.

The finished ``run.nc`` carries the same record (with the run id) in its ``run`` attr: a kill
between writing it and removing the parts leaves parts whose id the output already has, and the
next run removes them instead of joining them twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from featx import schema
from featx.media import MediaError, SourceInfo

try:
    import fcntl
except ImportError:  # Windows: a lock on the file's first byte
    fcntl = None
    import msvcrt

MANIFEST = "run.json"
#: Bytes of parts :meth:`RunStore.finish` joins in memory before appending them to the output.
BLOCK_BYTES = 2 * 2**20


class RunLockedError(MediaError):
    """Another process is writing the same ``output=``; the message names it and its pid.

    Examples
    --------
    Two writers of one ``output=`` (here in one process; the lock is per open file):

    >>> import pathlib, tempfile
    >>> output = pathlib.Path(tempfile.mkdtemp()) / "run.nc"
    >>> with run_lock(output):
    ...     try:
    ...         with run_lock(output):
    ...             pass
    ...     except RunLockedError as err:
    ...         print(type(err).__name__)
    RunLockedError
    """


class RunMismatchError(schema.SchemaError):
    """What is on disk at ``output=`` is not the result of this call (another source, detector
    configuration or ``skip_frames``); the message says what differs and what to delete.

    Examples
    --------
    A run resumed on other frames than the ones it was started on (a toy detector that finds
    no face):

    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from featx.detectors import BaseDetector
    >>> class NoFaces(BaseDetector):
    ...     def process_batch(self, images, face_boxes=None):
    ...         return [{} for _ in images]
    >>> output = pathlib.Path(tempfile.mkdtemp()) / "run.nc"
    >>> det = NoFaces(device="cpu")
    >>> _ = det.detect(np.zeros((2, 8, 8, 3), np.uint8), output=output, progress=False)
    >>> try:
    ...     det.detect(np.ones((2, 8, 8, 3), np.uint8), output=output, progress=False)
    ... except RunMismatchError as err:
    ...     print(type(err).__name__)
    RunMismatchError
    """


# ----------------------------------------------------------------------------------------------
# One writer per output


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


@contextmanager
def run_lock(output: str | Path | None) -> Iterator[None]:
    """Hold ``<output>.lock`` while inside; nothing for ``output=None``.

    Raises
    ------
    RunLockedError
        At once, if a live process holds the lock (a killed one holds none: the kernel
        released it).
    """
    if output is None:
        yield
        return
    output = Path(output)
    path = output.with_name(output.name + ".lock")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"cannot write {output}: folder {output.parent} does not exist")
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            try:
                holder = json.loads(os.read(fd, 4096) or b"{}")
            except (OSError, ValueError):
                holder = {}
            os.close(fd)
            who = "another process"
            if "pid" in holder:
                who = f"process {holder['pid']} on {holder.get('host')}"
            raise RunLockedError(
                f"{output}: {who} is writing this output (lock {path}); wait for it to finish "
                "or choose another output",
                str(output),
            )
        try:  # a holder that released it may have removed the file we opened: open it again
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "host": socket.gethostname()}
        holder["since"] = datetime.now(UTC).isoformat(timespec="seconds")
        os.write(fd, json.dumps(holder).encode())
        yield
    finally:
        try:
            path.unlink()  # while still locked, so no one else holds a lock on it
        except OSError:
            pass
        os.close(fd)


# ----------------------------------------------------------------------------------------------
# What a run is the result of


def source_identity(sources: Sequence[SourceInfo], inputs: Any) -> dict[str, dict]:
    """Per source path: a file's size and modification time, an array's or tensor's sha256."""
    out: dict[str, dict] = {}
    for s in sources:
        if s.kind in ("array", "tensor"):
            data = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else inputs
            data = np.ascontiguousarray(data)
            digest = hashlib.sha256(data.view(np.uint8).reshape(-1)).hexdigest()
            out[s.path] = {"shape": list(data.shape), "dtype": str(data.dtype), "sha256": digest}
        else:
            st = os.stat(s.path)
            out[s.path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out


def run_record(
    detector: Any,
    sources: Sequence[SourceInfo],
    inputs: Any,
    skip_frames: int,
    face_boxes: str | None = None,
) -> dict[str, Any]:
    """What a run's results depend on: detector config, source identities, ``skip_frames``
    and the hash of the given ``face_boxes`` (None: the detector found the faces)."""
    record = {
        "config": detector.config(),
        "sources": source_identity(sources, inputs),
        "skip_frames": skip_frames,
        "face_boxes": face_boxes,
    }
    return json.loads(json.dumps(record))  # as it reads back from disk


def _differences(
    recorded: Mapping[str, Any], record: Mapping[str, Any], on_disk: Callable[[], set[str]]
) -> list[str]:
    """What differs between the recorded run and this call. A source with no frames on disk
    (``on_disk()``: one that failed, say) may change or come and go: nothing of it is mixed."""
    out = []
    if recorded.get("config") != record["config"]:
        out.append(f"detector config {recorded.get('config')} there, {record['config']} now")
    old, new = recorded.get("sources", {}), record["sources"]
    changed = [p for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p)]
    stored = on_disk() if changed else set()
    for path in (p for p in changed if p in stored):
        if path not in new:
            out.append(f"source {path} there, not in this call")
        elif path not in old:
            out.append(f"source {path} in this call, not there")
        elif old[path] != new[path]:
            out.append(f"source {path} changed ({old[path]} there, {new[path]} now)")
    if recorded.get("skip_frames") != record["skip_frames"]:
        out.append(f"skip_frames={recorded.get('skip_frames')} there, {record['skip_frames']} now")
    if recorded.get("face_boxes") != record.get("face_boxes"):
        out.append("other face_boxes there than in this call")
    return out


def _run_attr(path: Path) -> dict | None:
    """The ``run`` attr of a finished output, read without loading its data."""
    try:
        if path.is_dir() or path.suffix == ".zarr":
            with xr.open_zarr(path, consolidated=False) as ds:
                text = ds.attrs.get("run")
        else:
            with xr.open_dataset(path, engine="netcdf4") as ds:
                text = ds.attrs.get("run")
    except (OSError, ValueError) as err:
        raise RunMismatchError(f"{path}: not a netCDF file or zarr store ({err})") from err
    return json.loads(text) if isinstance(text, str) else None


def _write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (a temporary file moved onto ``path``)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# The parts


class RunStore:
    """Results of one run on disk: finished batches as parts beside ``output``, then one file.

    Each batch is written atomically to ``<output>.parts/part-NNNNNN.nc`` as soon as it is
    done, so an interrupted run loses nothing; :meth:`done` tells a new run which
    (source, source_frame) pairs to skip and :meth:`state` what the last part left for the next
    batch; :meth:`finish` joins everything into ``output`` (netCDF, or zarr for a ``.zarr``
    suffix) and removes the parts.

    Parameters
    ----------
    output
        The run's output path.
    record
        What this run's results depend on (:func:`run_record`); parts or an output recording
        something else are refused. None: no check (reading a store).

    Raises
    ------
    RunMismatchError
        If what is there comes from another source, detector configuration or ``skip_frames``,
        or cannot be told (parts without ``run.json``, an output not written by a run).
    """

    def __init__(self, output: str | Path, record: Mapping[str, Any] | None = None) -> None:
        self.output = Path(output)
        self.parts_dir = self.output.with_name(self.output.name + ".parts")
        self.record = None if record is None else dict(record)
        self.run_id = uuid.uuid4().hex
        if record is not None:
            self._check()

    def _check(self) -> None:
        manifest_path = self.parts_dir / MANIFEST
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        finished = _run_attr(self.output) if self.output.exists() else None
        if manifest and finished and finished.get("id") == manifest.get("id"):
            # Killed after writing the output, before removing the parts it already holds.
            shutil.rmtree(self.parts_dir)
            manifest = None
        if manifest and not self._parts():  # killed before its first part: nothing to keep
            shutil.rmtree(self.parts_dir)
            manifest = None
        if self.parts_dir.exists():
            from featx.io.store import remove_path

            for tmp in self.parts_dir.glob(".*.tmp"):  # left by a run killed while writing
                remove_path(tmp)
        if manifest is None and self._parts():
            raise RunMismatchError(
                f"{self.parts_dir}: parts without a record of the run that wrote them "
                f"({MANIFEST}); delete the folder to start again"
            )
        if self.output.exists() and finished is None:
            raise RunMismatchError(
                f"{self.output}: exists but was not written by a featx detector run; delete it "
                "or choose another output"
            )
        recorded = manifest or finished
        if recorded is None:
            return
        differences = _differences(
            recorded, self.record, lambda: {source for source, _ in self.done()[0]}
        )
        if differences:
            where = self.parts_dir if manifest else self.output
            raise RunMismatchError(
                f"{where} holds the results of another call, so this one cannot resume it: "
                + "; ".join(differences)
                + f". Delete {where} (and {self.output} if present) or choose another output"
            )
        self.run_id = recorded.get("id", self.run_id)

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.nc")) if self.parts_dir.exists() else []

    def _paths(self) -> list[Path]:
        """What is on disk, in frame order: a finished output first, then the parts."""
        return ([self.output] if self.output.exists() else []) + self._parts()

    def done(self) -> tuple[set[tuple[str, int]], int]:
        """Pairs already on disk, and the next free ``frame`` number (only coordinates read)."""
        from featx.io import open_dataset

        pairs: set[tuple[str, int]] = set()
        next_frame = 0
        for path in self._paths():
            # Written by this class from validated frames: read back without validating again.
            with open_dataset(path, validate=False, lazy="file") as ds:
                sources = ds["source"].values.tolist()
                pairs.update(zip(sources, ds["source_frame"].values.tolist(), strict=True))
                if ds.sizes["frame"]:
                    next_frame = max(next_frame, int(ds["frame"].max()) + 1)
        return pairs, next_frame

    def state(self) -> dict[str, Any]:
        """What the last part left for the next batch (as given to :meth:`write`); {} if none."""
        parts = self._parts()
        if not parts:
            return {}
        path = self.parts_dir / parts[-1].name.replace("part-", "state-").replace(".nc", ".json")
        return json.loads(path.read_text()) if path.exists() else {}

    def write(self, ds: xr.Dataset, state: Mapping[str, Any] | None = None) -> None:
        """Write one finished batch as the next part, after the ``state`` the next batch needs
        (JSON: lists, numbers, NaN), so a part never exists without its state."""
        from featx.io import save

        self.parts_dir.mkdir(parents=True, exist_ok=True)
        if self.record is not None and not (self.parts_dir / MANIFEST).exists():
            _write_json(self.parts_dir / MANIFEST, {**self.record, "id": self.run_id})
        parts = self._parts()
        index = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        if state is not None:
            _write_json(self.parts_dir / f"state-{index:06d}.json", state)
        save(ds, self.parts_dir / f"part-{index:06d}.nc", validate=False)

    @staticmethod
    def _block(pieces: list[xr.Dataset], start: int, frame_attrs: dict, attrs: dict) -> xr.Dataset:
        """Conformed pieces joined into the output's frames ``start``, ``start + 1`` ..."""
        joined = schema.concat(pieces)
        frames = np.arange(start, start + joined.sizes["frame"], dtype=np.int64)
        joined = joined.assign_coords(frame=frames)
        joined["frame"].attrs = frame_attrs
        joined.attrs = attrs
        schema.validate(joined)
        return joined

    def finish(
        self, attrs: Mapping[str, Any], finalize: Callable[[xr.Dataset], xr.Dataset]
    ) -> xr.Dataset | None:
        """Join what is on disk into ``output``, apply ``finalize``; None if nothing is there.

        The parts are read and appended to a temporary file in the parts folder a block of
        about :data:`BLOCK_BYTES` at a time (each block validated), and copied into the
        returned Dataset, allocated whole at the start: memory holds one copy of the result
        and one block, whatever the run's length. If ``finalize`` returns the Dataset it was
        given, the file is moved onto ``output``; otherwise (identity clustering reorders
        every frame's faces) its result is validated and saved there instead. The parts are
        removed only once ``output`` is in place; a kill before that leaves the parts and a
        temporary file, which the next run removes.
        """
        from featx.io import save
        from featx.io.store import FrameWriter, engine_for, remove_path, replace_path

        paths = self._paths()
        if not paths:
            return None
        n_frames, n_faces, template, part_attrs = _heads(paths)
        out_attrs = {**part_attrs[0], **attrs}
        out_attrs["sources"] = schema.merge_sources(*part_attrs, attrs)
        if self.record is not None:
            out_attrs["run"] = json.dumps({**self.record, "id": self.run_id})

        self.parts_dir.mkdir(exist_ok=True)  # the temporary file goes where _check removes it
        tmp = self.parts_dir / f".{self.output.name}.{uuid.uuid4().hex}.tmp"
        writer = FrameWriter(tmp, engine_for(self.output), n_frames)
        result = None
        try:
            block: list[xr.Dataset] = []
            for i, piece in enumerate(_pieces(paths)):
                block.append(schema.conform(piece, n_faces, template))
                if i == 0:
                    result = _allocate(block[0], n_frames, out_attrs)
                if sum(b.nbytes for b in block) >= BLOCK_BYTES:
                    self._append(block, writer, result)
                    block = []
            if block:
                self._append(block, writer, result)
            writer.close()
            final = finalize(result)
            if final is result:
                replace_path(tmp, self.output)
            else:
                if "run" in out_attrs:
                    final.attrs["run"] = out_attrs["run"]
                schema.validate(final)
                save(final, self.output, validate=False)
                remove_path(tmp)
        except BaseException:
            writer.close()
            remove_path(tmp)
            raise
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return final

    @staticmethod
    def _append(pieces: list[xr.Dataset], writer: Any, result: xr.Dataset) -> None:
        """Join conformed pieces as the next frames, validate, write and copy into ``result``."""
        joined = schema.concat(pieces)
        start, stop = writer.written, writer.written + joined.sizes["frame"]
        joined = joined.assign_coords(frame=result["frame"].variable[start:stop])
        joined.attrs = result.attrs
        schema.validate(joined)
        writer.append(joined)
        for name, var in joined.variables.items():
            if var.dims[:1] == ("frame",) and name != "frame":
                result.variables[name].values[start:stop] = var.values


def _heads(paths: Sequence[Path]) -> tuple[int, int, dict[str, xr.Variable], list[dict]]:
    """Frames, face slots, variables (zero-length stand-ins) and attrs of the files, in order,
    read without their data."""
    from featx.io import open_dataset

    n_frames, n_faces, template, attrs = 0, 0, {}, []
    for path in paths:
        with open_dataset(path, validate=False, lazy="file") as head:
            n_frames += head.sizes["frame"]
            n_faces = max(n_faces, head.sizes["face"])
            for name, var in head.data_vars.items():
                stand_in = np.empty((0, 0, *var.shape[2:]), var.dtype)
                template.setdefault(name, xr.Variable(var.dims, stand_in, var.attrs))
            attrs.append(dict(head.attrs))
    return n_frames, n_faces, template, attrs


def _allocate(first: xr.Dataset, n_frames: int, attrs: dict) -> xr.Dataset:
    """A Dataset shaped like ``first`` with ``n_frames`` frames numbered from 0, to be filled."""

    def full(var: xr.Variable) -> xr.Variable:
        if var.dims[:1] != ("frame",):
            return var
        values = np.empty((n_frames, *var.shape[1:]), var.dtype)
        return xr.Variable(var.dims, values, var.attrs)

    coords = {name: full(c.variable) for name, c in first.coords.items()}
    coords["frame"] = xr.Variable(
        "frame", np.arange(n_frames, dtype=np.int64), first["frame"].attrs
    )
    data = {name: full(v.variable) for name, v in first.data_vars.items()}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _pieces(paths: Sequence[Path]) -> Iterator[xr.Dataset]:
    """Each file's frames in order, loaded about :data:`BLOCK_BYTES` at a time."""
    from featx.io import open_dataset

    for path in paths:
        # Written by this class from validated frames: read back without validating again.
        with open_dataset(path, validate=False, lazy="file") as src:
            n = src.sizes["frame"]
            step = max(1, n * BLOCK_BYTES // max(1, src.nbytes))
            for start in range(0, max(n, 1), step):
                yield src.isel(frame=slice(start, start + step)).load()
