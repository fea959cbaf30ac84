"""The detection loop every featx detector shares.

A detector subclasses :class:`BaseDetector` and implements :meth:`BaseDetector.process_batch`,
which turns a batch of RGB frames into per-frame results (one mapping per frame from schema
variable to an array over that frame's faces). The base class owns everything around it:
loading each stage's model from its card, decoding media in batches, the device, the progress
bar, provenance attrs, per-call options, identity clustering, incremental writes to
``output=`` and resuming an interrupted run. The Dataset is validated once, when it is
returned.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from featx import hub, media, schema, validators
from featx.detectors.backends import full_float32, resolve_device
from featx.detectors.pyfeat_calls import PyFeatCalls
from featx.detectors.runstore import RunStore, run_lock, run_record


def model_provenance(card: hub.ModelCard, paths: Mapping[str, Path]) -> dict[str, Any]:
    """What the ``models`` attr records for one stage: name, repo, revision, files' sha256.

    ``revision`` is the commit the files came from (the hub-cache snapshot), else the card's
    ``revision`` (None for a ``model_dir`` folder), ``"featx-<version>"`` for bundled files.
    """
    return {
        "name": card.id,
        "repo": card.repo,
        "revision": hub.revision_of(card, dict(paths)),
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


class BaseDetector(PyFeatCalls):
    """Shared loop of all detectors; subclasses implement :meth:`BaseDetector.process_batch`.

    A subclass sets the attributes below.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` … or ``"auto"`` (CUDA when present).

    Attributes
    ----------
    name : str
        Written to ``ds.attrs["detector"]``.
    labels : dict
        Label lists that differ from :data:`featx.schema.DEFAULT_LABELS` (e.g. keypoints).
    var_attrs : dict
        Variable attrs such as ``{"aus": {"kind": "probability"}}``.
    models : dict
        Stage → provenance dict (``name``, ``repo``, ``revision``, ``sha256``, ``license``,
        ``non_commercial``), written to the ``models`` and ``licenses`` attrs
        (:meth:`load_stage` fills it and ``nets``).
    face_detection_threshold : float
        Smallest face score kept; ``detect`` can override it for one call.
    face_identity_threshold : float or None
        Cosine similarity for clustering ``embedding`` into ``identity`` in :meth:`finalize`;
        None for detectors without identities.

    Examples
    --------
    A detector is a subclass with a :meth:`process_batch`; :meth:`detect` runs the rest (reading,
    batching, tracking, the Dataset, provenance). This toy one calls the whole frame a face:

    >>> import numpy as np
    >>> class WholeFrame(BaseDetector):
    ...     name = "whole-frame"
    ...     def process_batch(self, images, face_boxes=None):
    ...         return [{"face_rect": np.array([[0.0, 0.0, im.shape[1], im.shape[0]]]),
    ...                  "face_score": np.ones(1)} for im in images]
    >>> ds = WholeFrame(device="cpu").detect(np.zeros((2, 48, 64, 3), np.uint8), progress=False)
    >>> ds.attrs["detector"], ds["face_rect"].sel(frame=1, face=0).values.tolist()
    ('whole-frame', [0.0, 0.0, 64.0, 48.0])
    """

    name = "base"
    #: Keep each face of a video in one ``face`` slot across frames and batches
    #: (``featx.tracking.BoxTracker``); still images keep the detector's order.
    track = True
    #: Frames per batch when ``detect`` is not given ``batch_size``.
    default_batch_size = 1
    #: Whether ``detect`` takes ``face_boxes`` (its later stages can run on any box).
    takes_face_boxes = False
    face_detection_threshold: float = 0.5
    face_identity_threshold: float | None = None

    def __init__(self, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self.labels: dict[str, Sequence] = {}
        self.var_attrs: dict[str, dict] = {}
        self.models: dict[str, dict] = {}
        self.nets: dict[str, Any] = {}
        #: Where the weights came from (``model_dir``, ``lock``): not part of :meth:`config`
        #: (they do not change results) but needed to rebuild the detector elsewhere.
        self.load_options: dict[str, str | None] = {}
        #: Constructor options that change results, as given; subclasses fill it (:meth:`config`).
        self.options: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """What this detector computes: its class and the options that change its results.

        JSON-able: ``{"detector": "module.Class", "options": {...}}``, where ``options`` are
        the constructor's keyword arguments that change results (the device does not), with
        the thresholds as they are now (a per-call copy's own). ``output=`` runs record it and
        refuse to resume parts written under another config.

        Examples
        --------
        >>> BaseDetector(device="cpu").config()["options"]
        {'face_detection_threshold': 0.5}
        """
        options = dict(self.options)
        for name in ("face_detection_threshold", "face_identity_threshold"):
            value = getattr(self, name)
            if name in options or value is not None:
                options[name] = value
        cls = type(self)
        return {"detector": f"{cls.__module__}.{cls.__qualname__}", "options": options}

    def run_state(self) -> Any:
        """What the next batch needs from the batches before (JSON-able), or None.

        Written with each part of an ``output=`` run and given back to
        :meth:`restore_run_state` when the run resumes, so a resumed run computes what an
        uninterrupted one does. Detectors that carry state from frame to frame override both.

        Examples
        --------
        >>> BaseDetector(device="cpu").run_state() is None  # no state between batches
        True
        """
        return None

    def restore_run_state(self, state: Any) -> None:
        """Take back what :meth:`run_state` returned (None: nothing was saved).

        Examples
        --------
        >>> det = BaseDetector(device="cpu")
        >>> det.restore_run_state(det.run_state())  # a stateless detector has nothing to take back
        """

    def load_stage(
        self,
        stage: str,
        card: hub.ModelCard,
        model_dir: str | Path | None = None,
        *,
        paths: Mapping[str, Path] | None = None,
        record_as: str | None = None,
        lock: hub.lock.Lock | None = None,
    ) -> Any:
        """Load ``card``'s model onto the device as ``nets[stage]`` and record its provenance.

        ``paths`` loads those files instead of fetching the card's; either way each file is
        checked against its known hash and ``lock`` (None: ``FEATX_LOCK``). The provenance
        goes under ``models[record_as or stage]``.

        Examples
        --------
        A bundled model loads offline:

        >>> from featx import hub
        >>> det = BaseDetector(device="cpu")
        >>> net = det.load_stage("emotion", hub.card("mini_xception"))
        >>> type(det.nets["emotion"]).__name__, det.models["emotion"]["license"]
        ('MiniXception', 'MIT')
        """
        paths = card.fetch(model_dir, lock) if paths is None else dict(paths)
        self.nets[stage] = card.load(device=self.device, paths=paths, lock=lock)
        self.models[record_as or stage] = model_provenance(card, paths)
        return self.nets[stage]

    def with_options(self, **options: float | None) -> BaseDetector:
        """A shallow copy (sharing the models) with some thresholds changed; None keeps one.

        ``detect`` runs on such a copy, so a per-call option never changes this detector;
        with nothing to change it is the detector itself.

        Examples
        --------
        >>> det = BaseDetector(device="cpu")
        >>> det.with_options(face_detection_threshold=0.9).face_detection_threshold
        0.9
        >>> det.face_detection_threshold
        0.5
        """
        for name in options:
            if name not in ("face_detection_threshold", "face_identity_threshold"):
                raise TypeError(f"{type(self).__name__} has no per-call option {name!r}")
        changed = {k: validators.unit_interval(k, v) for k, v in options.items() if v is not None}
        if not changed:
            return self
        run = copy.copy(self)
        for name, value in changed.items():
            setattr(run, name, value)
        return run

    def process_batch(
        self, images: list[np.ndarray], face_boxes: list[np.ndarray] | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Detect faces in a batch of RGB uint8 frames.

        Returns one mapping per frame from schema variable name to an array whose first
        axis is the faces found in that frame (length 0 when there are none). A detector with
        :attr:`takes_face_boxes` gets ``face_boxes``, one (K, 5) x1, y1, x2, y2, score array
        per frame, and runs its later stages on them instead of its face detector's boxes.

        Examples
        --------
        Each subclass implements it (see the class example); one face in the first frame, none in
        the second:

        >>> import numpy as np
        >>> class Corner(BaseDetector):
        ...     def process_batch(self, images, face_boxes=None):
        ...         return [{"face_rect": np.array([[0.0, 0, 8, 8]])},
        ...                 {"face_rect": np.zeros((0, 4))}]
        >>> [len(f["face_rect"]) for f in Corner(device="cpu").process_batch([None, None])]
        [1, 0]
        >>> BaseDetector(device="cpu").process_batch([])
        Traceback (most recent call last):
        ...
        NotImplementedError: BaseDetector must implement process_batch
        """
        raise NotImplementedError(f"{type(self).__name__} must implement process_batch")

    def process_frames(
        self, batch: media.FrameBatch, face_boxes: list[np.ndarray] | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Results of one batch; the loop calls this with the frames in order.

        The default passes the images (and ``face_boxes``, when given) to
        :meth:`process_batch`. A detector that carries state from frame to frame (video
        tracking) overrides it to read each frame's ``source`` and ``source_frame``.

        Examples
        --------
        >>> import numpy as np
        >>> from featx import media
        >>> class Sizes(BaseDetector):
        ...     def process_batch(self, images, face_boxes=None):
        ...         return [{"face_rect": np.array([[0.0, 0, im.shape[1], im.shape[0]]])}
        ...                 for im in images]
        >>> batch = next(media.iter_frames(np.zeros((2, 6, 8, 3), np.uint8), batch_size=2))
        >>> [f["face_rect"].tolist() for f in Sizes(device="cpu").process_frames(batch)]
        [[[0.0, 0.0, 8.0, 6.0]], [[0.0, 0.0, 8.0, 6.0]]]
        """
        if face_boxes is None:
            return self.process_batch(batch.images)
        return self.process_batch(batch.images, face_boxes)

    def finalize(self, ds: xr.Dataset) -> xr.Dataset:
        """Work on the whole run before it is returned and written.

        Clusters the run's identity embeddings into ``identity``
        (``featx.tracking.assign_identities``) when the detector has a
        ``face_identity_threshold`` and some face has an embedding.

        Examples
        --------
        A detector without identities returns the run as it is:

        >>> import numpy as np
        >>> from featx import schema
        >>> frames = [{"face_rect": np.array([[0.0, 0, 8, 8]])}]
        >>> ds = schema.from_frames(frames, ["<array>"], [0], [0.0])
        >>> BaseDetector(device="cpu").finalize(ds) is ds
        True
        """
        if self.face_identity_threshold is None or "embedding" not in ds:
            return ds
        if not np.isfinite(ds["embedding"].values).all(-1).any():
            return ds
        from featx.tracking import assign_identities

        return assign_identities(ds, threshold=self.face_identity_threshold, validate=False)

    def provenance(
        self, sources: Sequence[media.SourceInfo], report: media.ReadReport | None = None
    ) -> dict[str, Any]:
        """Dataset attrs describing this run: featx version, detector, models, licences,
        creation time, each source's kind, fps, size and announced frame count (and, for a
        video read to its end, ``n_frames_decoded``), and ``failed_sources`` (JSON, source ->
        reason; ``{}`` when none failed), from ``report``.

        Examples
        --------
        >>> import json
        >>> import numpy as np
        >>> from featx import media
        >>> sources = media.probe(np.zeros((3, 6, 8, 3), np.uint8))
        >>> attrs = BaseDetector(device="cpu").provenance(sources)
        >>> attrs["detector"], json.loads(attrs["sources"])["<array>"]["n_frames"]
        ('base', 3)
        >>> attrs["failed_sources"]
        '{}'
        """
        from featx._version import __version__

        report = report or media.ReadReport()
        licenses = {
            info["name"]: {
                "license": info.get("license"),
                "non_commercial": bool(info.get("non_commercial")),
            }
            for info in self.models.values()
        }
        described = {}
        for s in sources:
            described[s.path] = {
                "kind": s.kind,
                "fps": None if math.isnan(s.fps) else s.fps,
                "width": s.width,
                "height": s.height,
                "n_frames": s.n_frames,
            }
            if s.path in report.n_decoded:
                described[s.path]["n_frames_decoded"] = report.n_decoded[s.path]
        return {
            "featx_version": __version__,
            "detector": self.name,
            "models": json.dumps(self.models),
            "licenses": json.dumps(licenses),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "sources": json.dumps(described),
            "failed_sources": json.dumps(report.failed),
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
        face_detection_threshold: float | None = None,
        on_error: str = "skip",
        face_boxes: Any = None,
        face_every: int = 1,
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
            The finished batches are then appended to the file a few MiB at a time, so
            memory does not grow with the video beyond the returned Dataset itself (one
            copy of the result; a detector with identities clusters the whole run in
            memory). Without ``output=`` every batch is kept and joined at the end, so
            memory grows with the video (about twice the result while joining).
        progress
            Show a progress bar.
        face_detection_threshold
            Smallest face score for this call only (0..1); None: the detector's own.
        on_error
            ``"skip"``: with several sources, one that cannot be read is skipped, recorded in
            ``ds.attrs["failed_sources"]`` (JSON, source -> reason) and named in one
            :class:`featx.media.MediaWarning` at the end; the other sources' results are
            kept. ``"raise"``: the first bad source raises. A single source always raises.
        face_boxes
            Faces to describe instead of the face detector's (``featx.Detector`` and
            ``Detectorv2``): one (K, 4) or (K, 5) array of x1, y1, x2, y2[, score] in frame
            pixels for every frame, a list with one 2-D such array per output frame, or a
            featx Dataset whose ``face_rect`` gives them. The face detector does not run;
            every box is kept (no threshold), ``keypoints`` are NaN and a missing score is 1.
            With a per-frame list, a source that cannot be read raises (it would shift the
            frames the boxes belong to).
        face_every
            Video mode (``featx.Detector`` and ``Detectorv2``): run the face detector on every
            this many frames of a video and, in between, take each face's box from its
            landmarks in the frame before (``featx.detectors.video_mode``); a face that is
            lost makes its frame detect again. 1 (the default): every frame. Still images
            always detect.

        Returns
        -------
        xarray.Dataset
            Valid under :func:`featx.schema.validate`, with provenance attrs, in memory
            (with ``output=``: the same values as the file, read back from the parts).

        Raises
        ------
        MediaError
            A single source cannot be read, every source fails, or under
            ``on_error="raise"`` any source fails.

        Examples
        --------
        A toy detector (the class example has one that finds faces) on frames given as an array:

        >>> import numpy as np
        >>> class NoFaces(BaseDetector):
        ...     def process_batch(self, images, face_boxes=None):
        ...         return [{} for _ in images]
        >>> ds = NoFaces(device="cpu").detect(np.zeros((4, 8, 8, 3), np.uint8), progress=False)
        >>> ds.sizes["frame"], ds["source"].values[0]
        (4, '<array>')
        >>> ds = NoFaces(device="cpu").detect(np.zeros((4, 8, 8, 3), np.uint8), skip_frames=2,
        ...                                   progress=False)
        >>> ds["source_frame"].values.tolist()
        [0, 2]
        """
        validators.choice("on_error", on_error, ("skip", "raise"))
        face_every = validators.integer("face_every", face_every, least=1)
        for name, given in (("face_boxes", face_boxes is not None), ("face_every", face_every > 1)):
            if given and not self.takes_face_boxes:
                raise ValueError(
                    f"{type(self).__name__} does not take {name} (its later stages need its own "
                    f"face detector's output); featx.Detector and featx.Detectorv2 do"
                )
        if face_boxes is not None and face_every > 1:
            raise ValueError("face_every needs the face detector: give it or face_boxes, not both")
        run = self.with_options(face_detection_threshold=face_detection_threshold)
        if face_every > 1:  # recorded by output= runs, which resume only under the same
            run = copy.copy(run)
            run.options = {**run.options, "face_every": face_every}
        with run_lock(output):
            return run._run(
                inputs,
                data_type,
                batch_size,
                skip_frames,
                output,
                progress,
                on_error,
                face_boxes,
                face_every,
            )

    def _run(
        self,
        inputs: Any,
        data_type: str | None,
        batch_size: int | None,
        skip_frames: int,
        output: str | Path | None,
        progress: bool,
        on_error: str = "raise",
        face_boxes: Any = None,
        face_every: int = 1,
    ) -> xr.Dataset:
        """:meth:`detect` with this detector's options as they are."""
        from tqdm.auto import tqdm

        from featx.detectors.given_boxes import per_frame
        from featx.detectors.video_mode import VideoMode
        from featx.tracking import BoxTracker

        batch_size = self.default_batch_size if batch_size is None else batch_size
        given = None if face_boxes is None else per_frame(face_boxes)
        if given is not None and given.frames is not None:
            on_error = "raise"  # a skipped source would shift the frames the boxes belong to
        report = media.ReadReport()
        sources = media.probe(inputs, data_type=data_type, on_error=on_error, report=report)
        n_frames = sum(
            math.ceil(s.n_frames / skip_frames) if s.kind in ("video", "array", "tensor") else 1
            for s in sources
        )
        if given is not None:
            given.check_count(n_frames, exact=all(s.kind != "video" for s in sources))
        record = None
        if output is not None:
            record = run_record(self, sources, inputs, skip_frames, given and given.digest())
        store = RunStore(output, record) if output is not None else None
        done, frame_start = store.done() if store else (set(), 0)
        state = store.state() if store else {}
        total = n_frames - len(done)
        parts = []
        tracker = BoxTracker() if self.track else None
        mode = None
        if face_every > 1:
            mode = VideoMode(face_every, skip_frames, {s.path: s.kind for s in sources})
            mode.restore(state.get("video_mode"))
        self.restore_run_state(state.get("detector"))
        if tracker is not None and state.get("tracker"):
            tracker.restore(state["tracker"])
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
                on_error=on_error,
                report=report,
            ):
                if mode is not None:
                    results = mode.process(self, batch.images, batch.source, batch.source_frame)
                elif given is None:
                    results = self.process_frames(batch)
                else:
                    results = self.process_frames(batch, given.take(frame_start, len(batch)))
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
                    tracking = None if tracker is None else tracker.state()
                    saved = {"detector": self.run_state(), "tracker": tracking}
                    if mode is not None:
                        saved["video_mode"] = mode.state()
                    store.write(ds, saved)
                else:
                    parts.append(ds)
                bar.update(len(batch))
        if given is not None:
            given.check_count(frame_start, exact=True)
        failed = "; ".join(f"{path}: {why}" for path, why in report.failed.items())
        if failed and all(s.path in report.failed for s in sources):
            raise media.MediaError(f"every source failed: {failed}")
        attrs = self.provenance(sources, report)
        if mode is not None:
            attrs["face_every"] = face_every
        if store:
            ds = store.finish(attrs, self.finalize)
        elif parts:
            ds = schema.concat(parts)
            ds.attrs.update(attrs)
            ds = self.finalize(ds)
            schema.validate(ds)
        else:
            ds = None
        if ds is None:
            raise media.MediaError(f"{inputs!r}: no frames to process")
        if failed:
            n = len({s.path for s in sources} | report.failed.keys())
            warnings.warn(
                media.MediaWarning(f"{len(report.failed)} of {n} sources were skipped: {failed}"),
                stacklevel=3,
            )
        return ds
