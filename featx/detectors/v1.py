"""``featx.Detector``: Py-Feat's modular pipeline, one swappable model per stage.

RetinaFace (or img2pose) finds faces; the 68-point landmark model, the pose MLP, the HOG-based
AU classifiers, the emotion model, the identity and gaze models each run once per batch over
every face found in the batch's frames.

Example
-------
>>> det = featx.Detector(au_model="svm", emotion_model=None)        # doctest: +SKIP
>>> ds = det.detect("clip.mp4", batch_size=8, output="clip.nc")      # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from featx import hub, schema, validators
from featx.boxes import xyxy_to_xywh
from featx.detectors.backends import compile_nets
from featx.detectors.base import split_faces
from featx.detectors.given_boxes import as_found
from featx.detectors.identity import IdentityDetector

#: Detector kwarg → (hub task, Py-Feat 2.x default). facepose defaults to img2pose with img2pose.
STAGES: dict[str, tuple[str, str | None]] = {
    "face_model": ("face", "retinaface"),
    "landmark_model": ("landmark", "mobilefacenet"),
    "facepose_model": ("facepose", "pose_mlp"),
    "au_model": ("au", "xgb"),
    "emotion_model": ("emotion", "resmasknet"),
    "identity_model": ("identity", "arcface"),
    "gaze_model": ("gaze", "l2cs"),
}
#: Detector kwarg → the card ids that stage can run (the bundled MPDetector models serve the
#: same tasks in the registry but not this pipeline).
OPTIONS: dict[str, tuple[str, ...]] = {
    "face_model": ("retinaface", "img2pose"),
    "landmark_model": ("mobilefacenet", "mobilenet", "pfld"),
    "facepose_model": ("pose_mlp", "img2pose"),
    "au_model": ("xgb_au", "svm_au"),
    "emotion_model": ("resmasknet", "svm_emo"),
    "identity_model": ("arcface", "facenet"),
    "gaze_model": ("l2cs",),
}
#: Face crop shared by the identity and gaze models (Py-Feat's 112 box crop, box x1.2).
CROP_SIZE, CROP_EXPAND = 112, 1.2
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, stacklevel=3)


class Detector(IdentityDetector):
    """Py-Feat's Detector: face, landmark, pose, AU, emotion, identity and gaze stages.

    Parameters
    ----------
    face_model, landmark_model, facepose_model, au_model, emotion_model, identity_model, gaze_model
        Model names as in Py-Feat 2.x (case-insensitive; see ``featx models``) or None to skip
        the stage. ``facepose_model`` defaults to ``"img2pose"`` when the face model is
        img2pose, else ``"pose_mlp"``.
    face_detection_threshold
        Minimum face score (0..1); ``detect`` can override it for one call.
    face_identity_threshold
        Smallest cosine similarity (0..1) of a face to a person's mean embedding to be that
        person (``featx.tracking.assign_identities``; Py-Feat's 0.8); ``detect`` can
        override it for one call.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
    model_dir
        A folder of downloaded weight files (else ``FEATX_MODEL_DIR``, else the hub).
    lock
        A lock file (``featx models --lock``): load exactly its revisions and refuse a file
        whose sha256 differs; None: ``FEATX_LOCK``, if set.
    backend
        What runs RetinaFace, MobileFaceNet, ResMaskNet, ArcFace and L2CS: ``"auto"``
        (OpenVINO on the CPU when installed, else torch), ``"torch"`` or ``"openvino"`` (CPU
        only; same outputs to float rounding; ``featx.nn.accelerate``).

    Examples
    --------
    >>> det = Detector(identity_model=None, gaze_model=None)           # doctest: +SKIP
    >>> ds = det.detect(["a.jpg", "b.jpg"])                            # doctest: +SKIP
    >>> ds["aus"].sel(au="AU12")                                       # doctest: +SKIP
    """

    name = "Detector"
    takes_face_boxes = True

    def __init__(
        self,
        face_model: str | None = "retinaface",
        landmark_model: str | None = "mobilefacenet",
        facepose_model: str | None = "auto",
        au_model: str | None = "xgb",
        emotion_model: str | None = "resmasknet",
        identity_model: str | None = "arcface",
        gaze_model: str | None = "l2cs",
        *,
        face_detection_threshold: float = 0.5,
        face_identity_threshold: float = 0.8,
        device: str = "auto",
        model_dir: str | Path | None = None,
        lock: str | Path | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__(device=device)
        where = {"model_dir": model_dir, "lock": lock}
        self.load_options = {k: None if v is None else str(v) for k, v in where.items()}
        if face_model is None:
            raise ValueError("Detector needs a face_model ('retinaface' or 'img2pose')")
        if facepose_model == "auto":
            facepose_model = "img2pose" if str(face_model).lower() == "img2pose" else "pose_mlp"
        names = {
            "face_model": face_model, "landmark_model": landmark_model,
            "facepose_model": facepose_model, "au_model": au_model,
            "emotion_model": emotion_model, "identity_model": identity_model,
            "gaze_model": gaze_model,
        }  # fmt: skip
        self.options: dict = dict(names)
        self.cards: dict[str, hub.ModelCard] = {}
        for stage, name in names.items():
            if name is None:
                continue
            c = _stage_card(stage, name)
            if c.loader is None:
                _warn_once(f"{stage}={name!r} is not implemented in featx yet; stage skipped")
                continue
            self.cards[stage] = c
        if "face_model" not in self.cards:
            raise NotImplementedError(f"face_model={face_model!r} is not available yet")
        self.face_detection_threshold = validators.unit_interval(
            "face_detection_threshold", face_detection_threshold
        )
        self.face_identity_threshold = validators.unit_interval(
            "face_identity_threshold", face_identity_threshold
        )
        compiled: dict[str, bool] = {}  # stage -> runs on OpenVINO
        self.backend = compile_nets(self.nets, self.models, self.device, backend, compiled)
        for stage, c in self.cards.items():
            if stage == "facepose_model" and c.id == "img2pose":
                continue  # the face model already predicts the pose
            self.load_stage(stage, c, model_dir, record_as=stage.removesuffix("_model"), lock=lock)
            self.backend = compile_nets(self.nets, self.models, self.device, backend, compiled)
        self.options["backend"] = self.backend
        self._set_labels()

    def _set_labels(self) -> None:
        self.labels = {"keypoint": schema.KEYPOINTS_RETINAFACE}
        self.var_attrs = {
            "face_rect": {"fex_box": "v1_expand_1.2"},
            "head_pose": {"units": "degrees"},
            "head_translation": {"units": "img2pose model units"},
            "gaze": {"units": "degrees"},
        }
        au = self.nets.get("au_model")
        if au is not None:
            self.labels["au"] = list(au.columns)
            self.var_attrs["aus"] = {"kind": au.kind}
        if "emotion_model" in self.nets:
            kind = getattr(self.nets["emotion_model"], "kind", "probability")
            self.var_attrs["emotions"] = {"kind": kind}
        if "identity_model" in self.nets:
            normalized = bool(getattr(self.nets["identity_model"], "l2_normalized", False))
            self.var_attrs["embedding"] = {"l2_normalized": int(normalized)}

    # ------------------------------------------------------------------------------------------

    def _faces(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        face = self.cards["face_model"]
        net = self.nets["face_model"]
        if face.id == "retinaface":
            from featx.nn.retinaface import detect_faces
        else:
            from featx.nn.img2pose import detect_faces
        return detect_faces(net, images, threshold=self.face_detection_threshold)

    def process_batch(
        self, images: list[np.ndarray], face_boxes: list[np.ndarray] | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Run every stage over all faces of the batch's frames (one forward pass per stage);
        ``face_boxes`` replace the face model's boxes (img2pose's pose is then NaN).

        Examples
        --------
        Needs Py-Feat's weights (downloaded from the hub on first use); the other steps of a run
        are :meth:`featx.detectors.BaseDetector.detect`'s:

        >>> from featx.demo import astronaut
        >>> det = Detector(identity_model=None, gaze_model=None)  # doctest: +SKIP
        >>> faces = det.process_batch([astronaut()])[0]  # doctest: +SKIP
        >>> faces["face_rect"].shape, faces["aus"].shape  # doctest: +SKIP
        ((1, 4), (1, 20))
        """
        found = self._faces(images) if face_boxes is None else as_found(face_boxes)
        counts = [len(f["scores"]) for f in found]
        boxes = [torch.as_tensor(f["boxes"], dtype=torch.float32) for f in found]
        out: dict[str, np.ndarray] = {}
        xyxy = np.concatenate([f["boxes"] for f in found]).reshape(-1, 4).astype(np.float32)
        out["face_rect"] = xyxy_to_xywh(xyxy)
        out["face_score"] = np.concatenate([f["scores"] for f in found]).astype(np.float32)
        if "keypoints" in found[0]:
            out["keypoints"] = np.concatenate([f["keypoints"] for f in found]).reshape(-1, 5, 2)
        if "head_pose" in found[0]:  # img2pose predicts the pose with the box
            out["head_pose"] = np.concatenate([f["head_pose"] for f in found]).reshape(-1, 3)
            out["head_translation"] = np.concatenate(
                [f["head_translation"] for f in found]
            ).reshape(-1, 3)

        with torch.inference_mode():
            landmarks = None
            if "landmark_model" in self.nets:
                from featx.nn.landmark68 import predict

                per_frame = predict(self.nets["landmark_model"], images, boxes)
                landmarks = [p.float().cpu().numpy() for p in per_frame]
                out["landmarks"] = np.concatenate(landmarks).reshape(-1, 68, 2)
            if "facepose_model" in self.nets and landmarks is not None:
                out.update(self._pose(out["landmarks"]))
            if "au_model" in self.nets and landmarks is not None:
                out["aus"] = _classify(self.nets["au_model"], images, boxes, landmarks)
            if "emotion_model" in self.nets:
                out["emotions"] = self._emotions(images, boxes, landmarks)
            if "identity_model" in self.nets or "gaze_model" in self.nets:
                out.update(self._identity_gaze(images, boxes))
        return split_faces(out, counts)

    def _pose(self, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        pose = np.full((len(landmarks), 6), np.nan, np.float32)
        ok = np.isfinite(landmarks).all(axis=(1, 2))
        if ok.any():
            net = self.nets["facepose_model"]
            device = next(net.parameters()).device
            pred = net(torch.from_numpy(landmarks[ok]).to(device)).float().cpu().numpy()
            pose[ok] = pred
        return {"head_pose": np.degrees(pose[:, :3]), "head_translation": pose[:, 3:]}

    def _emotions(self, images, boxes, landmarks) -> np.ndarray:
        c, net = self.cards["emotion_model"], self.nets["emotion_model"]
        if c.id == "resmasknet":
            from featx.nn.resmasknet import predict

            probs = [p.float().cpu().numpy() for p in predict(net, images, boxes)]
        elif landmarks is None:
            _warn_once("emotion_model='svm' needs landmarks; emotions skipped")
            return np.full((sum(len(b) for b in boxes), 7), np.nan, np.float32)
        else:
            return _classify(net, images, boxes, landmarks)
        return np.concatenate(probs).reshape(-1, len(schema.EMOTIONS)).astype(np.float32)

    def _identity_gaze(self, images, boxes) -> dict[str, np.ndarray]:
        from featx.nn.ops import face_crops

        crops = [
            face_crops(img, b, CROP_SIZE, CROP_EXPAND)[0]
            for img, b in zip(images, boxes, strict=True)
        ]
        crops_all = torch.cat(crops) if crops else torch.zeros(0, 3, CROP_SIZE, CROP_SIZE)
        out = {}
        if "identity_model" in self.nets:
            from featx.nn.identity import embed

            out["embedding"] = embed(self.nets["identity_model"], crops_all).float().cpu().numpy()
        if "gaze_model" in self.nets:
            from featx.nn.l2cs import estimate_gaze

            out["gaze"] = estimate_gaze(self.nets["gaze_model"], crops_all).float().cpu().numpy()
        return out


def _stage_card(stage: str, name: str) -> hub.ModelCard:
    """The card of ``name`` for a Detector stage; a ValueError naming the stage's options for
    a name the stage cannot run (unknown, or a model of another detector's pipeline)."""
    valid = ", ".join(hub.card(i).name for i in OPTIONS[stage])
    try:
        c = hub.card(name, task=STAGES[stage][0])
    except ValueError:
        raise ValueError(
            f"Unknown {stage} {name!r}. Detector's {stage} options: {valid} or None"
        ) from None
    if c.id not in OPTIONS[stage]:
        raise ValueError(
            f"{stage}={name!r} is a model of featx.MPDetector, not of Detector; "
            f"Detector's {stage} options: {valid} or None"
        )
    return c


def _classify(classifier, images, boxes, landmarks) -> np.ndarray:
    """A HOG classifier's outputs for every face with finite landmarks (NaN for the others)."""
    from featx.classic.models import predict

    n_out = len(classifier.columns)
    ok = [np.isfinite(lm).all(axis=(1, 2)) for lm in landmarks]
    preds = predict(
        classifier,
        images,
        [b[torch.from_numpy(k)] for b, k in zip(boxes, ok, strict=True)],
        [lm[k] for lm, k in zip(landmarks, ok, strict=True)],
    )
    out = [np.full((len(k), n_out), np.nan, np.float32) for k in ok]
    for o, k, p in zip(out, ok, preds, strict=True):
        o[k] = p
    return np.concatenate(out).reshape(-1, n_out)
