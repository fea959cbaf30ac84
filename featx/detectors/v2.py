"""``featx.Detectorv2``: RetinaFace finds the faces, one multi-task network describes each.

For every face RetinaFace reports, a square chip of 1.2x the box's longer side is cut from the
frame (:func:`featx.nn.multitask.square_crops`) and the face_multitask_v2 network predicts, in
one pass over all faces of a batch, the 478-point mesh (and from it the 68 landmarks), head
pose, 20 AU scores, 7 emotions, valence and arousal, gaze and 52 blendshapes. An identity model
(ArcFace or FaceNet) can embed the same chips; the embeddings are then clustered into
``identity`` (``featx.tracking.assign_identities``).

Example
-------
>>> import featx                                                     # doctest: +SKIP
>>> ds = featx.Detectorv2(identity_model=None).detect("face.jpg")   # doctest: +SKIP
>>> ds["emotions"].sel(emotion="happiness")                          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from featx import hub, schema, validators
from featx.boxes import xyxy_to_xywh
from featx.detectors.backends import compile_nets
from featx.detectors.base import split_faces
from featx.detectors.given_boxes import as_found
from featx.detectors.identity import IdentityDetector
from featx.nn import multitask as mt
from featx.nn.pose_mlp import to_featx_pose

#: The checkpoints in the hub repo, newest first. Py-Feat 2.1.5 pins the first (the card's
#: file); the older ones (v2.7, v2.6, v2.5) are used only when named with ``weights=``.
CHECKPOINTS = (
    "face_multitask_v28.safetensors",
    "face_multitask_v27.safetensors",
    "face_multitask_v26.safetensors",
    "face_multitask_v2.safetensors",
)
#: Side the 256 chip is resized to for the identity models (bilinear, no antialias).
IDENTITY_SIZE = 112
_EMOTION_ORDER = schema.emotion_order("face_multitask_v2")


def faces_from_outputs(
    out: Mapping[str, Any], crop_affine, config: mt.MultitaskConfig | None = None
) -> dict[str, np.ndarray]:
    """featx variables of each face from the network's outputs and each face's crop.

    - ``mesh``: x, y in frame pixels (``origin + u * side``), z unchanged (model units);
    - ``landmarks``: the 68 mesh vertices ``featx.nn.multitask.DLIB68_FROM_MP478``, x, y;
    - ``head_pose``: pitch = -r0, roll = -r2, yaw = +r1 of the pose head, in degrees;
      ``head_translation``: its t0, t1, t2;
    - ``gaze``: pitch = -raw pitch, yaw = raw yaw, in degrees (+pitch = looking up);
    - ``aus`` as they are (clamped cosine scores), ``emotions`` the softmax of the logits in
      canonical order, ``valence``, ``arousal`` and ``blendshapes`` as they are.

    Parameters
    ----------
    out : the dict :class:`featx.nn.multitask.FaceMultitask` returns (tensors or arrays).
    crop_affine : (N, 3) ``(origin_x, origin_y, side)`` of each face's chip.
    config : the network's config (for ``mesh_normalized`` and ``image_size``).

    Returns
    -------
    One (N, ...) float32 array per variable.

    Examples
    --------
    >>> net = mt.FaceMultitask().eval()
    >>> with torch.no_grad():
    ...     out = net(torch.zeros(1, 3, 224, 224))
    >>> faces = faces_from_outputs(out, [[0.0, 0.0, 100.0]])
    >>> faces["landmarks"].shape, faces["head_pose"].shape
    ((1, 68, 2), (1, 3))
    """
    config = config or mt.MultitaskConfig()
    t = {
        k: torch.as_tensor(np.asarray(v) if not torch.is_tensor(v) else v).float().cpu()
        for k, v in out.items()
    }
    mesh01 = t["mesh"] if config.mesh_normalized else t["mesh"] / config.image_size
    affine = torch.as_tensor(np.asarray(crop_affine, dtype=np.float32)).reshape(-1, 3)
    mesh = mt.mesh_to_image(mesh01, affine)
    pose = to_featx_pose(t["pose"])
    yaw, pitch = t["gaze"].unbind(1)
    faces = {
        "landmarks": mesh[:, list(mt.DLIB68_FROM_MP478), :2],
        "mesh": mesh,
        "aus": t["p_au"],
        "emotions": t["emotion_logits"].softmax(-1)[:, _EMOTION_ORDER],
        "valence": t["va"][:, 0],
        "arousal": t["va"][:, 1],
        "head_pose": torch.rad2deg(pose[:, :3]),
        "head_translation": pose[:, 3:],
        "gaze": torch.rad2deg(torch.stack([-pitch, yaw], dim=1)),
        "blendshapes": t["blendshapes"],
    }
    return {k: v.numpy().astype(np.float32) for k, v in faces.items()}


class Detectorv2(IdentityDetector):
    """Py-Feat's Detectorv2: RetinaFace, then face_multitask_v2 on every face.

    Parameters
    ----------
    identity_model
        ``"arcface"`` (default, as Py-Feat), ``"facenet"`` or None. It embeds each face's chip
        resized to 112 px; the embeddings fill ``embedding`` and are clustered into
        ``identity``. Without it ``embedding`` is NaN and ``identity`` -1.
    face_detection_threshold
        Minimum RetinaFace score (0..1) of a face; ``detect`` can override it for one call.
    face_identity_threshold
        Smallest cosine similarity (0..1) of a face to a person's mean embedding to be that
        person (``featx.tracking.assign_identities``; Py-Feat's default 0.8); ``detect``
        can override it for one call.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
    amp
        Run the multi-task network under bfloat16 autocast (CUDA only; Py-Feat's GPU default).
        Faster on GPU, with output differences around 1e-2 (see docs/detectorv2.md). The
        default, float32, reproduces the reference numerics.
    weights
        None for the checkpoint Py-Feat pins (v2.8), one of ``CHECKPOINTS`` for an older
        one from the same hub repo, or the path of a local checkpoint file.
    model_dir
        A folder of downloaded weight files (else ``FEATX_MODEL_DIR``, else the hub).
    lock
        A lock file (``featx models --lock``): load exactly its revisions and refuse a file
        whose sha256 differs; None: ``FEATX_LOCK``, if set.
    backend
        What runs RetinaFace, the ConvNeXt V2 backbone and ArcFace: ``"auto"`` (OpenVINO on
        the CPU when installed, else torch), ``"torch"`` or ``"openvino"`` (CPU only; 3-8x
        faster per network there, same outputs to float rounding; ``featx.nn.accelerate``).

    Examples
    --------
    >>> det = Detectorv2(identity_model=None, device="cpu")             # doctest: +SKIP
    >>> ds = det.detect("clip.mp4", batch_size=8)                        # doctest: +SKIP
    >>> featx.to_fex(ds).columns[:5].tolist()                            # doctest: +SKIP
    ['FaceRectX', 'FaceRectY', 'FaceRectWidth', 'FaceRectHeight', 'FaceScore']
    """

    name = "Detectorv2"
    takes_face_boxes = True

    def __init__(
        self,
        identity_model: str | None = "arcface",
        *,
        face_detection_threshold: float = 0.5,
        face_identity_threshold: float = 0.8,
        device: str = "auto",
        amp: bool = False,
        weights: str | Path | None = None,
        model_dir: str | Path | None = None,
        lock: str | Path | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__(device=device)
        where = {"model_dir": model_dir, "lock": lock}
        self.load_options = {k: None if v is None else str(v) for k, v in where.items()}
        if amp and not self.device.startswith("cuda"):
            raise ValueError(
                f"amp=True (bfloat16 autocast) needs a CUDA device, but this detector runs on "
                f"{self.device!r}; leave amp=False (float32) on the CPU"
            )
        self.face_detection_threshold = validators.unit_interval(
            "face_detection_threshold", face_detection_threshold
        )
        self.face_identity_threshold = validators.unit_interval(
            "face_identity_threshold", face_identity_threshold
        )
        self.amp = amp
        self.options = {
            "identity_model": identity_model,
            "amp": amp,
            "weights": None if weights is None else str(weights),
        }
        stages = {"face": hub.card("retinaface"), "multitask": hub.card("face_multitask_v2")}
        if identity_model is not None:
            stages["identity"] = hub.card(identity_model, task="identity")
        compiled: dict[str, bool] = {}  # stage -> runs on OpenVINO
        self.backend = compile_nets(self.nets, self.models, self.device, backend, compiled)
        for stage, c in stages.items():
            if stage != "multitask":
                self.load_stage(stage, c, model_dir, lock=lock)
            else:
                c, paths = _multitask_files(c, weights, model_dir, lock)
                _check_labels(
                    self.load_stage(stage, c, paths=paths, lock=lock).config, paths[c.files[0]]
                )
            self.backend = compile_nets(self.nets, self.models, self.device, backend, compiled)
        self.multitask_config: mt.MultitaskConfig = self.nets["multitask"].config
        self.options["backend"] = self.backend
        identity = self.nets.get("identity")
        self.var_attrs = {
            "face_rect": {"fex_box": "v2_square_1.2"},
            "mesh": {"xy_units": "pixels", "z_units": "face_multitask_v2 relative depth"},
            "aus": {"kind": "score"},
            "emotions": {"kind": "probability"},
            "head_pose": {"units": "degrees"},
            "head_translation": {"units": "face_multitask_v2 model units"},
            "gaze": {"units": "degrees"},
            "embedding": {"l2_normalized": int(bool(getattr(identity, "l2_normalized", 0)))},
        }

    def process_batch(
        self, images: list[np.ndarray], face_boxes: list[np.ndarray] | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Faces of a batch of frames: RetinaFace per frame (or ``face_boxes``), the networks
        once over all faces.

        Examples
        --------
        Needs Py-Feat's weights (downloaded from the hub on first use); the other steps of a run
        are :meth:`featx.detectors.BaseDetector.detect`'s:

        >>> import numpy as np
        >>> from featx.demo import astronaut
        >>> det = Detectorv2(identity_model=None, device="cpu")  # doctest: +SKIP
        >>> boxes = [np.array([[170.0, 40, 290, 200]])]  # x1, y1, x2, y2 of the face
        >>> faces = det.process_batch([astronaut()], face_boxes=boxes)  # doctest: +SKIP
        >>> faces[0]["emotions"].shape  # doctest: +SKIP
        (1, 7)
        """
        if face_boxes is None:
            from featx.nn.retinaface import detect_faces

            found = detect_faces(self.nets["face"], images, threshold=self.face_detection_threshold)
        else:
            found = as_found(face_boxes)
        counts = [len(f["scores"]) for f in found]
        crops = [
            mt.square_crops(image, torch.from_numpy(f["boxes"]).to(self.device))
            for image, f in zip(images, found, strict=True)
        ]
        chips = torch.cat([c for c, _ in crops])
        affine = torch.cat([a for _, a in crops]).cpu()
        xyxy = np.concatenate([f["boxes"] for f in found]).reshape(-1, 4)
        faces = {
            "face_rect": xyxy_to_xywh(xyxy),
            "face_score": np.concatenate([f["scores"] for f in found]),
            "keypoints": np.concatenate([f["keypoints"] for f in found]).reshape(-1, 5, 2),
        }
        with torch.inference_mode():
            x = mt.preprocess(chips, self.multitask_config.image_size)
            autocast = (
                torch.autocast("cuda", dtype=torch.bfloat16)
                if self.amp
                else contextlib.nullcontext()
            )
            with autocast:
                out = self.nets["multitask"](x)
            faces.update(faces_from_outputs(out, affine, self.multitask_config))
            faces["embedding"] = self._embed(chips)
        faces["identity"] = np.full(len(xyxy), schema.INTEGER_FILL["identity"], np.int64)
        return split_faces(faces, counts)

    def _embed(self, chips: torch.Tensor) -> np.ndarray:
        net = self.nets.get("identity")
        if net is None:
            return np.full((len(chips), 512), np.nan, np.float32)
        from featx.nn.identity import embed

        small = F.interpolate(
            chips, size=(IDENTITY_SIZE, IDENTITY_SIZE), mode="bilinear", align_corners=False
        )
        return embed(net, small).float().cpu().numpy()


def _multitask_files(
    c: hub.ModelCard, weights: str | Path | None, model_dir: str | Path | None, lock=None
) -> tuple[hub.ModelCard, dict[str, Path]]:
    """The card and file paths of the checkpoint ``weights`` names (see :class:`Detectorv2`)."""
    if weights is None:
        return c, c.fetch(model_dir, lock)
    if str(weights) in CHECKPOINTS:
        c = dataclasses.replace(c, files=(str(weights),))
        return c, c.fetch(model_dir, lock)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise hub.ModelNotFoundError(
            f"weights={str(weights)!r} is neither a file nor one of the hub checkpoints "
            f"{', '.join(CHECKPOINTS)}"
        )
    return c, {c.files[0]: path}


def _check_labels(config: mt.MultitaskConfig, path: Path) -> None:
    sizes = (config.n_au, config.n_emotion, config.n_blendshape)
    labelled = (len(schema.AUS), len(schema.EMOTIONS), len(schema.BLENDSHAPES))
    if sizes != labelled:
        raise hub.WeightsError(
            f"{path}: the checkpoint predicts {sizes} AUs, emotions and blendshapes; featx "
            f"knows the labels of {labelled} only"
        )
