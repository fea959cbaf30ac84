"""``featx.MPDetector``: MediaPipe's Face Landmarker on the bundled models, with no download.

Per frame:

1. BlazeFace on the letterboxed frame, weighted non-maximum suppression: face boxes, 6
   keypoints and scores (``face_rect``, ``keypoints``, ``face_score``). By default both the
   short-range net (MediaPipe Face Landmarker's own) and the full-range net run
   (``FACE_DETECTORS``): faces the Face Landmarker finds get its landmarks, and the
   full-range net adds small and distant faces.
2. Per face a rotated square region (1.5 x the box, eyes level), a 256x256 crop and Face Mesh
   v2: 478 points (``mesh``; the 68 iBUG points in ``landmarks``) and a presence score; faces
   whose presence is below ``min_presence_confidence`` are dropped. Detections whose meshes are
   one face (:func:`featx.detectors.mp_tracking.same_face`) count once: the first kept, in the
   order of ``FACE_DETECTORS`` (short range first), best score first within a detector;
   only then are the ``max_faces`` first kept.
3. From the mesh: the 52 blendshapes, head pose by MediaPipe's canonical-face fit
   (``head_pose``, ``head_translation``), a geometric gaze estimate
   (:func:`featx.detectors.mp_gaze.gaze_angles`) and AUs derived from the blendshapes
   (:data:`featx.detectors.mp_aus.AU_FROM_BLENDSHAPES`).
4. Emotions: mini-Xception (fer's FER2013 model) on fer's 64x64 grey crop of the face box.

The detector runs batched over the frames that need it, Face Mesh batched over every face of
those frames.

Video tracking (consecutive frames of one video, array or tensor; MediaPipe's VIDEO mode,
facemesh_v2 FACTS §7): the detector runs on the first frame; on later frames each face's region
comes from the previous frame's 478 points (their bounding box, turned by the outer eye corners
33 and 263), and the face keeps its ``face`` slot while its presence stays above the threshold.
The detector runs again on a frame where a face was lost (the face is looked for in that same
frame), where no face is tracked, and every ``redetect_every`` frames while fewer than
``max_faces`` faces are tracked (to pick up faces that enter); a detection overlapping a tracked
face is left to the tracker. On tracked frames ``face_rect`` is the last detector box carried
with the mesh's bounding box, ``face_score`` the presence score and ``keypoints`` NaN. Unlike
MediaPipe, the landmarks are not smoothed over time.

Example
-------
>>> import featx, skimage.data
>>> ds = featx.MPDetector().detect(skimage.data.astronaut(), progress=False)  # doctest: +SKIP
>>> round(ds.head_pose.sel(angle="roll").item(), 1)                          # doctest: +SKIP
-3.6
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from featx import hub, media, schema, validators
from featx.boxes import rect_iou, xyxy_to_xywh
from featx.detectors import mp_image, mp_outputs
from featx.detectors.backends import use_openvino
from featx.detectors.base import BaseDetector
from featx.detectors.mp_aus import AU_FROM_BLENDSHAPES
from featx.detectors.mp_tracking import (
    TRACKED_IOU,
    Face,
    SourceRun,
    carried_box,
    relative_box,
    unique_faces,
)
from featx.nn import blazeface as bf
from featx.nn import facemesh as fm
from featx.nn import mesh_pose, openvino_runtime
from featx.nn import mini_xception as mx

#: ``face_detector`` option -> the detectors it runs (stage -> bundled model card), most trusted
#: first. "full+short": a face both find is placed by the short-range detection, the Face
#: Landmarker's own, so its mesh is MediaPipe's; the full-range net adds the faces the short-range
#: one misses (small, distant, many).
FACE_DETECTORS = {
    "full+short": {"face_region": "blazeface_short", "face": "blazeface_full"},
    "full": {"face": "blazeface_full"},
    "short": {"face": "blazeface_short"},
}
#: Weighted-NMS overlap threshold per detector: MediaPipe's FaceDetector default (full range)
#: and the value inside its Face Landmarker (short range).
NMS_IOU = {"blazeface_full": 0.3, "blazeface_short": 0.5}
#: A detection of a less trusted detector whose box overlaps one of a more trusted detector by
#: more than this is kept as that face's fallback: meshed when the first detection's mesh fails.
SAME_FACE_IOU = 0.5


def _detection_threshold(threshold: float | None, deprecated: float | None) -> float:
    """``face_detection_threshold`` from it or its deprecated name ``min_detection_confidence``
    (which warns); 0.5 when neither is given."""
    if deprecated is None:
        return 0.5 if threshold is None else threshold
    if threshold is not None:
        raise TypeError(
            "give face_detection_threshold or its deprecated name min_detection_confidence, "
            "not both"
        )
    warnings.warn(
        "MPDetector(min_detection_confidence=...) is deprecated; use face_detection_threshold",
        FutureWarning,
        stacklevel=3,
    )
    return deprecated


class MPDetector(BaseDetector):
    """MediaPipe-style face analysis on models bundled with featx: no download, CPU friendly.

    Produces ``face_rect``, ``face_score``, ``keypoints`` (6 BlazeFace points), ``landmarks``
    (68), ``mesh`` (478), ``blendshapes`` (52), ``aus`` (derived from blendshapes),
    ``emotions``, ``head_pose``, ``head_translation`` and ``gaze``. See ``docs/mpdetector.md``.

    Parameters
    ----------
    face_detector
        ``"full+short"`` (the default): BlazeFace full range (192x192) finds faces from
        close-ups down to ~20 px, and BlazeFace short range (128x128, the Face Landmarker's own
        detector) places every face it also finds, so that those faces get MediaPipe's landmarks
        (``FACE_DETECTORS``). ``"full"``: the full-range detector alone (MediaPipe's
        FaceDetector with its full-range model). ``"short"``: the short-range detector alone,
        like MediaPipe's Face Landmarker: fastest, for faces filling much of the frame.
    face_detection_threshold
        Smallest BlazeFace score of a new face (0..1); stored as ``face_detection_threshold``.
    min_presence_confidence
        Smallest Face Mesh presence score to keep a face (0..1), also while tracking.
    max_faces
        Most faces per frame.
    emotions
        Run the emotion model.
    tracking
        Carry faces from frame to frame within a video, array or tensor (see the module
        docstring); ``False`` analyses every frame as a still image.
    redetect_every
        While fewer than ``max_faces`` faces are tracked, run the detector every this many
        frames to find faces that enter; 0 only on the first frame and when a face is lost.
    nms_iou
        Weighted-NMS overlap threshold; None: ``NMS_IOU`` of each face detector.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
    backend
        What runs the face detectors, Face Mesh and mini-Xception: ``"torch"``, ``"openvino"``
        (CPU only, 3-4x faster; :mod:`featx.nn.openvino_runtime`) or ``"auto"`` (OpenVINO on
        the CPU when it is installed and compiles the networks, else torch). On a still image
        both give the same landmarks to about 1e-3 px.
    min_detection_confidence
        Deprecated name of ``face_detection_threshold`` (MediaPipe's name); warns
        (``FutureWarning``).
    lock
        A lock file (``featx models --lock``): refuse a bundled file whose sha256 differs
        from it; None: ``FEATX_LOCK``, if set.

    Examples
    --------
    >>> det = MPDetector(max_faces=2)                                      # doctest: +SKIP
    >>> ds = det.detect("clip.mp4", output="clip.nc")                       # doctest: +SKIP
    >>> ds.aus.sel(au="AU12").plot.line(x="time")                          # doctest: +SKIP
    """

    name = "MPDetector"
    track = False  # faces keep their slots through this detector's own tracking
    #: Tracking goes frame by frame whatever the batch; batches only share the cost of the
    #: batched stages (blendshapes, emotions) and of building the Dataset.
    default_batch_size = 32

    def __init__(
        self,
        face_detector: str = "full+short",
        *,
        face_detection_threshold: float | None = None,
        min_presence_confidence: float = 0.5,
        max_faces: int = 10,
        emotions: bool = True,
        tracking: bool = True,
        redetect_every: int = 30,
        nms_iou: float | None = None,
        device: str = "auto",
        backend: str = "auto",
        min_detection_confidence: float | None = None,
        lock: str | Path | None = None,
    ) -> None:
        super().__init__(device=device)
        self.load_options = {"lock": None if lock is None else str(lock)}
        threshold = _detection_threshold(face_detection_threshold, min_detection_confidence)
        self.backend = "openvino" if use_openvino(backend, self.device) else "torch"
        self.face_detector = validators.choice("face_detector", face_detector, FACE_DETECTORS)
        self.face_detection_threshold = validators.unit_interval(
            "face_detection_threshold", threshold
        )
        self.min_presence_confidence = validators.unit_interval(
            "min_presence_confidence", min_presence_confidence
        )
        self.max_faces = validators.integer("max_faces", max_faces, least=1)
        self.tracking = bool(tracking)
        self.redetect_every = validators.integer("redetect_every", redetect_every, least=0)
        if nms_iou is not None:
            nms_iou = validators.unit_interval("nms_iou", nms_iou)
        self.detectors = FACE_DETECTORS[face_detector]
        self.nms_iou = {
            stage: NMS_IOU[model_id] if nms_iou is None else nms_iou
            for stage, model_id in self.detectors.items()
        }
        stages = self.detectors | {"mesh": "facemesh_v2", "blendshape": "mp_blendshapes"}
        if emotions:
            stages["emotion"] = "mini_xception"
        for stage, model_id in stages.items():
            self.load_stage(stage, hub.card(model_id), lock=lock)
        if self.backend == "openvino":
            try:
                compiled = self._openvino_nets()
            except Exception as error:  # an optional accelerator must not stop the detector
                if backend == "openvino":
                    raise
                warnings.warn(
                    f"OpenVINO could not compile the networks ({type(error).__name__}: {error});"
                    " running them with torch instead (backend='torch')",
                    stacklevel=2,
                )
                self.backend = "torch"
            else:
                for stage, net in compiled.items():
                    self.nets[stage] = net
                    self.models[stage]["runtime"] = f"openvino {openvino_runtime.version()}"
        geometry = hub.ASSETS_DIR / "mp_geometry.safetensors"
        hub.integrity.verify(hub.card("facemesh_v2"), geometry)  # bundled: SHA256SUMS
        self.canonical_face = mesh_pose.canonical_face(hub.read_state_dict(geometry))
        self.models["facepose"] = {
            "name": "mediapipe_geometry",
            "repo": None,
            "revision": None,
            "sha256": {geometry.name: hub.sha256(geometry)},
            "license": "Apache-2.0",
            "non_commercial": False,
        }
        self._anchors = {
            stage: torch.from_numpy(bf.ssd_anchors(bf.ANCHOR_OPTIONS[model_id]))
            for stage, model_id in self.detectors.items()
        }
        self._emotion_order = schema.emotion_order("mini_xception")
        self.options = {
            "face_detector": face_detector,
            "face_detection_threshold": self.face_detection_threshold,
            "min_presence_confidence": self.min_presence_confidence,
            "max_faces": self.max_faces,
            "emotions": bool(emotions),
            "tracking": self.tracking,
            "redetect_every": self.redetect_every,
            "nms_iou": None if nms_iou is None else float(nms_iou),
            "backend": self.backend,
        }
        self._sequence: SourceRun | None = None
        #: Per-face shape of every output variable.
        self._shapes = {k: v for k, v in mp_outputs.SHAPES.items() if emotions or k != "emotions"}
        self.labels = {"keypoint": schema.KEYPOINTS_BLAZEFACE, "au": list(AU_FROM_BLENDSHAPES)}
        self.var_attrs = mp_outputs.var_attrs(", ".join(self.detectors.values()))

    def _openvino_nets(self) -> dict[str, openvino_runtime.OpenVINOModule]:
        """The detectors, Face Mesh and mini-Xception compiled by OpenVINO, by stage. The
        blendshape network stays on torch: it is small and runs batched, where torch is as fast."""
        examples = {
            stage: torch.zeros(1, bf.INPUT_SIZE[model_id], bf.INPUT_SIZE[model_id], 3)
            for stage, model_id in self.detectors.items()
        }
        examples["mesh"] = torch.zeros(1, fm.INPUT_SIZE, fm.INPUT_SIZE, 3)
        examples["emotion"] = torch.zeros(1, mx.INPUT_SIZE, mx.INPUT_SIZE, 1)
        return {
            stage: openvino_runtime.OpenVINOModule(self.nets[stage], examples[stage])
            for stage in examples
            if stage in self.nets
        }

    # ------------------------------------------------------------------------------------------
    # The loop's hook: frames in order, with their sources

    def process_batch(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Analyse frames as unrelated still images (no tracking).

        Examples
        --------
        The bundled models on the torch backend (the OpenVINO one converts its graphs first):

        >>> import cv2
        >>> from featx.demo import astronaut
        >>> det = MPDetector(backend="torch", device="cpu")
        >>> faces = det.process_batch([cv2.resize(astronaut(), (128, 128))])[0]
        >>> faces["face_rect"].shape, faces["aus"].shape
        ((1, 4), (1, 17))
        """
        return self._frames(images, [SourceRun("", 0) for _ in images])

    def run_state(self) -> dict | None:
        """The tracking state of the last frame (``SourceRun.to_json``), or None.

        Examples
        --------
        >>> import numpy as np
        >>> from featx import media
        >>> det = MPDetector(backend="torch", device="cpu")
        >>> det.run_state() is None  # nothing seen yet
        True
        >>> batch = next(media.iter_frames(np.zeros((1, 64, 64, 3), np.uint8)))
        >>> _ = det.process_frames(batch)
        >>> sorted(det.run_state())
        ['frame', 'since_detection', 'source', 'tracks']
        """
        return None if self._sequence is None else self._sequence.to_json()

    def restore_run_state(self, state: dict | None) -> None:
        """Continue tracking from a :meth:`run_state` (None: nothing to continue).

        Examples
        --------
        >>> import numpy as np
        >>> from featx import media
        >>> first = MPDetector(backend="torch", device="cpu")
        >>> _ = first.process_frames(next(media.iter_frames(np.zeros((1, 64, 64, 3), np.uint8))))
        >>> second = MPDetector(backend="torch", device="cpu")
        >>> second.restore_run_state(first.run_state())
        >>> second.run_state() == first.run_state()
        True
        """
        if state is not None:
            self._sequence = SourceRun.from_json(state)

    def process_frames(self, batch: media.FrameBatch) -> list[dict[str, np.ndarray]]:
        """Analyse a batch, carrying faces across consecutive frames of a source.

        Examples
        --------
        Two blank frames of one source: no face, and the tracking state is that source's:

        >>> import numpy as np
        >>> from featx import media
        >>> batch = next(media.iter_frames(np.zeros((2, 64, 64, 3), np.uint8), batch_size=2))
        >>> det = MPDetector(backend="torch", device="cpu")
        >>> [len(f["face_rect"]) for f in det.process_frames(batch)]
        [0, 0]
        >>> det.run_state()["source"], det.run_state()["frame"]
        ('<array>', 1)
        """
        sequences = []
        for source, frame in zip(batch.source, batch.source_frame.tolist(), strict=True):
            seq = self._sequence
            if not (self.tracking and seq and seq.source == source and frame > seq.frame):
                seq = SourceRun(source, frame)
            seq.frame = frame
            sequences.append(seq)
            self._sequence = seq
        return self._frames(batch.images, sequences)

    def _frames(
        self, images: Sequence[np.ndarray], sequences: list[SourceRun]
    ) -> list[dict[str, np.ndarray]]:
        """Faces found frame by frame in waves (each wave takes the next frame of every
        sequence in the batch), then every output of the batch's faces in one pass."""
        faces: list[list[Face]] = [[] for _ in images]
        order: dict[int, list[int]] = {}
        for i, seq in enumerate(sequences):
            order.setdefault(id(seq), []).append(i)
        queues = list(order.values())
        while any(queues):
            wave = [q.pop(0) for q in queues if q]
            found = self._wave([images[i] for i in wave], [sequences[i] for i in wave])
            for i, fs in zip(wave, found, strict=True):
                faces[i] = fs
        return self._outputs(images, faces)

    # ------------------------------------------------------------------------------------------
    # One wave: at most one frame per sequence

    def _wave(self, images: list[np.ndarray], seqs: list[SourceRun]) -> list[list[Face]]:
        """The faces of one frame per sequence, in slot order; updates the sequences."""
        tracked = [[Face(t.next_roi, t.slot, rel_box=t.rel_box) for t in s.tracks] for s in seqs]
        self._mesh(images, tracked)
        kept = [self._deduplicate([f for f in fs if self._present(f)]) for fs in tracked]
        for f in (f for fs in kept for f in fs):  # carry the detector box with the mesh's box
            f.box, f.score = carried_box(f.rel_box, f.mesh), f.presence
        need = [
            k
            for k, s in enumerate(seqs)
            if not kept[k]
            or len(kept[k]) < len(tracked[k])
            or (
                self.redetect_every
                and s.since_detection + 1 >= self.redetect_every
                and len(kept[k]) < self.max_faces
            )
        ]
        new: list[list[Face]] = [[] for _ in images]
        for k, found in zip(need, self._detect([images[k] for k in need]), strict=True):
            boxes = np.array([f.box for f in kept[k]]).reshape(-1, 4)
            new[k] = [f for f in found if not (rect_iou(f.box[None], boxes) > TRACKED_IOU).any()]
        self._mesh_detected(images, new)
        faces = []
        for k, seq in enumerate(seqs):
            # One face per person before the max_faces cut: the tracked faces, then the
            # detections in trust order, each dropped whose mesh is a face already kept.
            present = [f for f in new[k] if self._present(f)]
            unique = unique_faces(kept[k] + present)[len(kept[k]) :]
            added = sorted(unique[: self.max_faces - len(kept[k])], key=lambda f: f.box[0])
            used = {f.slot for f in kept[k]}
            free = (s for s in range(len(used) + len(added)) if s not in used)
            for f, slot in zip(added, free, strict=False):
                f.slot, f.rel_box = slot, relative_box(f.box, f.mesh)
            faces.append(sorted(kept[k] + added, key=lambda f: f.slot))
            height, width = images[k].shape[:2]
            for f in faces[k]:
                f.next_roi = fm.roi_from_landmarks(f.mesh[:, :2] / (width, height), (width, height))
            seq.tracks = faces[k] if self.tracking else []
            seq.since_detection = 0 if k in need else seq.since_detection + 1
        return faces

    def _present(self, face: Face) -> bool:
        return face.presence >= self.min_presence_confidence

    @staticmethod
    def _deduplicate(faces: list[Face]) -> list[Face]:
        """Tracked faces that converged on one face: the lowest slot stays."""
        return unique_faces(sorted(faces, key=lambda f: f.slot))

    def _detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces of every detector (``FACE_DETECTORS``) in trust order, best first per
        detector: a detection overlapping one of a more trusted detector (:data:`SAME_FACE_IOU`)
        becomes its fallback. Not cut to ``max_faces``: detections whose meshes turn out to be
        one face are merged first (:meth:`_wave`)."""
        found: list[list[Face]] = [[] for _ in images]
        for stage in self.detectors if images else ():
            for faces, new in zip(found, self._detections(stage, images), strict=True):
                boxes = np.array([f.box for f in faces]).reshape(-1, 4)
                for f in new:
                    same = np.flatnonzero(rect_iou(f.box[None], boxes)[0] > SAME_FACE_IOU)
                    if not len(same):
                        faces.append(f)
                    elif faces[same[0]].fallback is None:
                        faces[same[0]].fallback = f
        return found

    def _mesh_detected(self, images: list[np.ndarray], faces: list[list[Face]]) -> None:
        """:meth:`_mesh` on detected faces; a face whose mesh presence falls short is tried
        again from its fallback detection (a poor short-range box, say), which replaces it."""
        self._mesh(images, faces)
        failed = [
            [f for f in fs if f.fallback is not None and not self._present(f)] for fs in faces
        ]
        self._mesh(images, [[f.fallback for f in fs] for fs in failed])
        for k, fs in enumerate(failed):
            retried = {id(f) for f in fs}
            faces[k] = [f.fallback if id(f) in retried else f for f in faces[k]]

    def _detections(self, stage: str, images: list[np.ndarray]) -> list[list[Face]]:
        """One BlazeFace net on whole frames (one batch), weighted NMS; faces best first."""
        size = bf.INPUT_SIZE[self.detectors[stage]]
        tensors, pads = zip(*(mp_image.detector_tensor(im, size) for im in images), strict=True)
        with torch.inference_mode():
            x = torch.from_numpy(np.concatenate(tensors)).to(self.device)
            raw_boxes, raw_scores = (t.cpu() for t in self.nets[stage](x))
        boxes, keypoints = bf.decode_boxes(raw_boxes, self._anchors[stage], size)
        scores = bf.sigmoid_scores(raw_scores)
        found = []
        for i, image in enumerate(images):
            det = bf.weighted_nms(
                boxes[i],
                keypoints[i],
                scores[i],
                self.face_detection_threshold,
                self.nms_iou[stage],
                self.max_faces,
            )
            height, width = image.shape[:2]
            box = bf.remove_letterbox(det.boxes, pads[i]).numpy().astype(np.float64)
            kps = bf.remove_letterbox(det.keypoints, pads[i]).numpy().astype(np.float64)
            rois = fm.roi_from_detection(box, kps, (width, height))
            xywh = xyxy_to_xywh(box)
            xywh *= (width, height, width, height)
            kps *= (width, height)
            scores_i = det.scores.tolist()
            found.append(
                [
                    Face(r, box=b, score=s, keypoints=p)
                    for r, b, s, p in zip(rois, xywh, scores_i, kps, strict=True)
                ]
            )
        return found

    def _mesh(self, images: list[np.ndarray], faces: list[list[Face]]) -> None:
        """Face Mesh on every face of the wave (one batch): sets ``mesh`` and ``presence``."""
        crops = [mp_image.mesh_crop(images[k], f.roi)[0] for k, fs in enumerate(faces) for f in fs]
        if not crops:
            return
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(crops)).to(self.device).float() / 255
            points, logits, _ = self.nets["mesh"](x)
            points = points.reshape(len(crops), fm.NUM_LANDMARKS, 3).cpu().numpy()
            presence = torch.sigmoid(logits.reshape(-1)).cpu().numpy()
        i = 0
        for k, fs in enumerate(faces):
            height, width = images[k].shape[:2]
            for f in fs:
                f.mesh = fm.landmarks_to_image(points[i], f.roi, (width, height))
                f.presence = float(presence[i])
                i += 1

    def _outputs(self, images: list[np.ndarray], faces: list[list[Face]]) -> list[dict]:
        """Every output variable of every face of the wave, per frame in slot order."""
        if not any(faces):
            values = {name: np.empty((0, *shape)) for name, shape in self._shapes.items()}
            return mp_outputs.per_frame(values, faces)
        values = mp_outputs.mesh_values(
            images, faces, self.canonical_face, self.nets["blendshape"], self.device
        )
        if "emotion" in self.nets:
            values["emotions"] = self._emotions(images, faces)
        return mp_outputs.per_frame(values, faces)

    def _emotions(self, images: list[np.ndarray], faces: list[list[Face]]) -> np.ndarray:
        """mini-Xception probabilities on fer's crops of the face boxes, canonical order."""
        crops = [
            mx.crop_faces(images[k], np.trunc([f.box for f in fs]).astype(np.int64))
            for k, fs in enumerate(faces)
            if fs
        ]
        with torch.inference_mode():
            x = mx.preprocess(np.concatenate(crops)).to(self.device)
            probs = mx.probabilities(self.nets["emotion"](x)).cpu().numpy()
        return probs[:, self._emotion_order]
