"""img2pose: face detection and 6DoF head pose in one two-stage network (Albiero et al. 2021).

A Faster R-CNN whose second stage regresses a head pose per proposal instead of a box:

1. :func:`featx.nn.ops.rcnn_transform` normalises, resizes (shorter side ``min_size``, longer at
   most ``max_size``) and pads the RGB [0, 1] images;
2. a ResNet-18 with frozen BatchNorm and a feature pyramid (levels ``0, 1, 2, 3, pool``);
3. the region proposal network (:func:`anchors`, :func:`decode_boxes`, :func:`select_proposals`:
   per-level top-k, clipping, per-level NMS);
4. RoIAlign over levels ``0..3`` (:func:`multiscale_roi_align`) feeding two heads: a pose head
   (6 numbers per class) and a face/background classifier;
5. :func:`postprocess_detections`: the pose, relative to its proposal, becomes a pose in the
   image's camera (:func:`local_to_global`), and the face box is the projection of 68 3D
   reference points (:func:`project_boxes`).

:meth:`Img2Pose.detect` runs 1-5; :func:`detect_faces` adds Py-Feat Detectorv1's last step
(:func:`detector_postprocess`) and returns boxes, scores and the head pose in featx's signs on
RGB uint8 frames. Stages 2-4 live in :mod:`featx.nn.img2pose_rcnn`, stage 5 in
:mod:`featx.nn.img2pose_pose` and the rotation maths in :mod:`featx.nn.rotations`; their
names are importable from here too. The module keeps the key names of the published
``py-feat/img2pose`` file; the constructor settings, pose statistics and reference points
come from its ``config.json`` (:class:`Img2PoseConfig`).

Example
-------
>>> net = Img2Pose().eval()
>>> objectness, deltas = net(torch.rand(1, 3, 60, 80))
>>> objectness.shape[1] == deltas.shape[1], deltas.shape[2]
(True, 4)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from featx.nn import ops

# The stages live in their own modules; every name stays importable from here.
from featx.nn.img2pose_pose import (  # noqa: F401
    MIN_DETECTION_SIDE,
    local_to_global,
    postprocess_detections,
    project_boxes,
    rescale_boxes,
)
from featx.nn.img2pose_rcnn import (  # noqa: F401
    ANCHOR_SIZES,
    ASPECT_RATIOS,
    BOX_CODER_CLIP,
    CANONICAL_LEVEL,
    CANONICAL_SCALE,
    FPN,
    NUM_CLASSES,
    ROI_ALIGNED,
    ROI_LEVELS,
    ROI_OUTPUT_SIZE,
    ROI_SAMPLING_RATIO,
    BasicBlock,
    FrozenBatchNorm2d,
    ResNet18Body,
    RPNHead,
    TwoMLPHead,
    anchors,
    clip_boxes,
    decode_boxes,
    multiscale_roi_align,
    roi_levels,
    select_proposals,
)
from featx.nn.rotations import (  # noqa: F401
    matrix_to_rotvec,
    rotvec_to_euler,
    rotvec_to_matrix,
    to_featx_pose,
)

#: ImageNet statistics of the [0, 1] RGB input, and the padding multiple.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
SIZE_DIVISIBLE = 32
#: Py-Feat Detectorv1's own pass over the model's detections.
NMS_INCLUSION_THRESHOLD = 0.05
DETECTOR_NMS_IOU = 0.3
DETECTION_THRESHOLD = 0.5
#: Names of forward's outputs, in order.
OUTPUTS = ("rpn_objectness", "rpn_deltas")

_POSE_REQUIRED = ("pose_mean", "pose_stddev", "threed_points")


@dataclass(frozen=True)
class Img2PoseConfig:
    """Settings of one img2pose model: sizes, proposal and detection limits, pose statistics.

    The defaults are Py-Feat's; ``pose_mean``, ``pose_stddev`` (6 each: rotation vector, then
    translation) and the 68 ``threed_points`` (x, y, z) have none and come from the model's
    ``config.json`` (:meth:`from_dict`). Without them the network runs but cannot detect.

    Examples
    --------
    >>> cfg = Img2PoseConfig.from_dict(
    ...     {"min_size": 400, "pose_mean": [0] * 6, "pose_stddev": [1] * 6,
    ...      "threed_points": [[0.0, 0.0, 0.0]] * 68, "notes": "ignored"})
    >>> cfg.min_size, cfg.max_size, len(cfg.threed_points)
    (400, 1400, 68)
    """

    min_size: int = 400
    max_size: int = 1400
    rpn_pre_nms_top_n_test: int = 6000
    rpn_post_nms_top_n_test: int = 1000
    rpn_nms_thresh: float = 0.4
    rpn_min_box_size: float = 1e-3
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 1000
    bbox_x_factor: float = 1.1
    bbox_y_factor: float = 1.1
    expand_forehead: float = 0.3
    pose_mean: tuple[float, ...] | None = None
    pose_stddev: tuple[float, ...] | None = None
    threed_points: tuple[tuple[float, float, float], ...] | None = None

    @classmethod
    def from_dict(cls, values: Mapping) -> Img2PoseConfig:
        """The config of a ``config.json`` mapping; other keys are ignored.

        ``pose_mean``, ``pose_stddev`` and ``threed_points`` are required; a missing one or a
        value of the wrong shape raises ``ValueError`` naming it.
        """
        missing = [k for k in _POSE_REQUIRED if k not in values]
        if missing:
            raise ValueError(f"img2pose config lacks {', '.join(missing)}")
        kwargs = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            if f.name in ("pose_mean", "pose_stddev"):
                value = _float_array(value, (6,), f.name)
                kwargs[f.name] = tuple(value.tolist())
            elif f.name == "threed_points":
                value = _float_array(value, (68, 3), f.name)
                kwargs[f.name] = tuple(tuple(p) for p in value.tolist())
            else:
                kwargs[f.name] = type(f.default)(value)
        return cls(**kwargs)


def _float_array(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape or not np.isfinite(array).all():
        raise ValueError(
            f"img2pose config {name} must be {shape} finite numbers, got {array.shape}"
        )
    return array


class Img2Pose(nn.Module):
    """The img2pose network (``FasterDoFRCNN`` key layout) and its detection pipeline.

    ``forward(images (B, 3, H, W) RGB in [0, 1])`` returns the region proposal outputs
    ``(rpn_objectness (B, A), rpn_deltas (B, A, 4))`` for the anchors of
    ``featx.nn.img2pose_rcnn.anchors``; :meth:`detect` returns faces with their pose.

    Parameters
    ----------
    config : sizes, limits and pose statistics (``featx.nn.img2pose.Img2PoseConfig``; its
        defaults when omitted, which cannot detect).

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("img2pose").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, Img2Pose), sum(p.numel() for p in net.parameters())
    (True, 42427357)
    """

    def __init__(self, config: Img2PoseConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else Img2PoseConfig()
        self.backbone = nn.ModuleDict({"body": ResNet18Body(), "fpn": FPN()})
        self.rpn = nn.ModuleDict({"head": RPNHead()})
        dof_pred = nn.Sequential(
            nn.Linear(1024, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 6 * NUM_CLASSES)
        )
        self.roi_heads = nn.ModuleDict(
            {
                "box_head": TwoMLPHead(),
                "box_predictor": nn.ModuleDict({"dof_pred": dof_pred}),
                "class_head": TwoMLPHead(),
                "class_predictor": nn.ModuleDict({"cls_score": nn.Linear(1024, NUM_CLASSES)}),
            }
        )

    def transform(self, images) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """The padded, normalised batch and each image's resized size (before padding).

        Examples
        --------
        >>> cfg = Img2PoseConfig.from_dict({"min_size": 64, "max_size": 64, "pose_mean": [0] * 6,
        ...     "pose_stddev": [1] * 6, "threed_points": [[0.0, 0.0, 0.0]] * 68})
        >>> net = Img2Pose(cfg).eval()  # random weights, small images: fast
        >>> batch, sizes = net.transform(torch.zeros(1, 3, 48, 96))
        >>> tuple(batch.shape), sizes
        ((1, 3, 32, 64), [(32, 64)])
        """
        return ops.rcnn_transform(
            images,
            self.config.min_size,
            self.config.max_size,
            IMAGE_MEAN,
            IMAGE_STD,
            SIZE_DIVISIBLE,
        )

    def features(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Pyramid levels ``0, 1, 2, 3, pool`` (256 channels) of a transformed batch.

        Examples
        --------
        >>> cfg = Img2PoseConfig.from_dict({"min_size": 64, "max_size": 64, "pose_mean": [0] * 6,
        ...     "pose_stddev": [1] * 6, "threed_points": [[0.0, 0.0, 0.0]] * 68})
        >>> net = Img2Pose(cfg).eval()  # random weights, small images: fast
        >>> batch, _ = net.transform(torch.zeros(1, 3, 64, 64))
        >>> [tuple(f.shape) for f in net.features(batch)]
        [(1, 256, 16, 16), (1, 256, 8, 8), (1, 256, 4, 4), (1, 256, 2, 2), (1, 256, 1, 1)]
        """
        return self.backbone["fpn"](self.backbone["body"](batch))

    def forward(self, images) -> tuple[torch.Tensor, torch.Tensor]:
        """Region-proposal objectness and box deltas of all anchors of (B, 3, H, W) images.

        Examples
        --------
        >>> cfg = Img2PoseConfig.from_dict({"min_size": 64, "max_size": 64, "pose_mean": [0] * 6,
        ...     "pose_stddev": [1] * 6, "threed_points": [[0.0, 0.0, 0.0]] * 68})
        >>> net = Img2Pose(cfg).eval()  # random weights, small images: fast
        >>> [tuple(t.shape) for t in net(torch.zeros(1, 3, 64, 64))]
        [(1, 1023), (1, 1023, 4)]
        """
        batch, _ = self.transform(images)
        return self.rpn["head"](self.features(batch))

    def roi_outputs(
        self,
        features: list[torch.Tensor],
        proposals: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (N, 2) and pose regression (N, 12: 6 per class) of all proposals.

        ``features`` are the pyramid levels (at least ``0..3``), ``proposals`` one (K_i, 4)
        tensor per image in resized-image pixels, ``image_sizes`` the resized sizes.

        Examples
        --------
        >>> cfg = Img2PoseConfig.from_dict({"min_size": 64, "max_size": 64, "pose_mean": [0] * 6,
        ...     "pose_stddev": [1] * 6, "threed_points": [[0.0, 0.0, 0.0]] * 68})
        >>> net = Img2Pose(cfg).eval()  # random weights, small images: fast
        >>> batch, sizes = net.transform(torch.zeros(1, 3, 64, 64))
        >>> proposals = [torch.tensor([[8.0, 8, 40, 40]])]  # one box, resized-image pixels
        >>> logits, pose = net.roi_outputs(net.features(batch), proposals, sizes)
        >>> tuple(logits.shape), tuple(pose.shape)
        ((1, 2), (1, 12))
        """
        pooled = multiscale_roi_align(features[: len(ROI_LEVELS)], proposals, image_sizes)
        heads = self.roi_heads
        dofs = heads["box_predictor"]["dof_pred"](heads["box_head"](pooled))
        logits = heads["class_predictor"]["cls_score"](heads["class_head"](pooled))
        return logits, dofs

    def detect(self, images) -> list[dict[str, torch.Tensor]]:
        """Faces and poses in a batch of RGB [0, 1] images (the network's own output).

        Parameters
        ----------
        images : (B, 3, H, W) tensor or a sequence of (3, H, W) tensors, on the model's device.

        Returns
        -------
        One dict per image: ``boxes`` (N, 4) x1, y1, x2, y2 in input pixels, ``scores`` (N,),
        ``dofs`` (N, 6) global rotation vector (radians) and translation in the resized image's
        camera, ``labels`` (N,) all 1; by descending score.

        Examples
        --------
        >>> cfg = Img2PoseConfig.from_dict({"min_size": 64, "max_size": 64, "pose_mean": [0] * 6,
        ...     "pose_stddev": [1] * 6, "threed_points": [[0.0, 0.0, 0.0]] * 68})
        >>> net = Img2Pose(cfg).eval()  # random weights, small images: fast
        >>> sorted(net.detect(torch.zeros(1, 3, 64, 64))[0])
        ['boxes', 'dofs', 'labels', 'scores']
        """
        if any(getattr(self.config, k) is None for k in _POSE_REQUIRED):
            raise ValueError(
                "img2pose needs pose_mean, pose_stddev and threed_points to detect: load it with "
                "hub.card('img2pose').load() (reads config.json) or pass an Img2PoseConfig"
            )
        originals = [tuple(im.shape[-2:]) for im in images]
        batch, sizes = self.transform(images)
        feats = self.features(batch)
        objectness, deltas = self.rpn["head"](feats)
        anchor_boxes, counts = anchors(tuple(batch.shape[-2:]), [f.shape[-2:] for f in feats])
        boxes = decode_boxes(deltas, anchor_boxes.to(deltas.device))
        proposals = select_proposals(objectness, boxes, counts, sizes, self.config)
        logits, dofs = self.roi_outputs(feats, proposals, sizes)
        results = []
        per_image = [len(p) for p in proposals]
        parts = zip(proposals, logits.split(per_image), dofs.split(per_image), strict=True)
        for (props, lg, dof), size, original in zip(parts, sizes, originals, strict=True):
            found = postprocess_detections(lg, dof, props, size, self.config)
            found["boxes"] = rescale_boxes(found["boxes"], size, original)
            results.append(found)
        return results


def rename_legacy_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Older torchvision's FPN key spelling ``backbone.fpn.{inner,layer}_blocks.{i}.{weight,
    bias}`` renamed to the current ``...blocks.{i}.0.{weight,bias}``; other keys unchanged.

    >>> list(rename_legacy_keys({"backbone.fpn.inner_blocks.2.bias": 0}))
    ['backbone.fpn.inner_blocks.2.0.bias']
    """
    out = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if (
            len(parts) == 5
            and parts[:2] == ["backbone", "fpn"]
            and parts[2] in ("inner_blocks", "layer_blocks")
            and parts[4] in ("weight", "bias")
        ):
            key = ".".join([*parts[:4], "0", parts[4]])
        out[key] = value
    return out


def detector_postprocess(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    dofs: torch.Tensor,
    *,
    inclusion_threshold: float = NMS_INCLUSION_THRESHOLD,
    nms_iou: float = DETECTOR_NMS_IOU,
    threshold: float = DETECTION_THRESHOLD,
) -> dict[str, torch.Tensor]:
    """Py-Feat Detectorv1's pass over one image's detections (:meth:`Img2Pose.detect`).

    Scores above ``inclusion_threshold``, by descending score; NMS at ``nms_iou``; scores of
    at least ``threshold``; rotation vectors turned into Euler angles (:func:`rotvec_to_euler`).

    Returns
    -------
    ``boxes`` (K, 4), ``scores`` (K,), ``dofs`` (K, 6) = a, b, c (radians), then the
    translation; by descending score.
    """
    keep = torch.nonzero(scores > inclusion_threshold).flatten()
    keep = keep[torch.argsort(scores[keep], descending=True, stable=True)]
    keep = keep[ops.nms(boxes[keep], scores[keep], nms_iou)]
    keep = keep[scores[keep] >= threshold]
    euler = torch.cat([rotvec_to_euler(dofs[keep, :3]), dofs[keep, 3:]], dim=1)
    return {"boxes": boxes[keep], "scores": scores[keep], "dofs": euler}


@torch.no_grad()
def detect_faces(
    model: Img2Pose,
    images: Sequence[np.ndarray],
    *,
    threshold: float = DETECTION_THRESHOLD,
    inclusion_threshold: float = NMS_INCLUSION_THRESHOLD,
    nms_iou: float = DETECTOR_NMS_IOU,
) -> list[dict[str, np.ndarray]]:
    """Faces and head poses in RGB uint8 frames, as Py-Feat Detectorv1 reports them.

    Frames run through ``model`` (on its device) divided by 255, one batch per group of
    equally sized frames (so a frame's result never depends on the others), then
    :func:`detector_postprocess`.

    Parameters
    ----------
    model : Img2Pose
        With real weights and config (``hub.card("img2pose").load()``), in eval mode.
    images : sequence of (H, W, 3) uint8 RGB arrays.
    threshold, inclusion_threshold, nms_iou
        As :func:`detector_postprocess`.

    Returns
    -------
    One dict per frame, in input order, faces by descending score: ``boxes`` (K, 4) float32
    x1, y1, x2, y2 pixels; ``scores`` (K,); ``head_pose`` (K, 3) pitch, roll, yaw in degrees,
    featx signs (pitch = -a, roll = -c, yaw = +b of :func:`rotvec_to_euler`);
    ``head_translation`` (K, 3) x, y, z in img2pose's camera units of the resized image.

    Example
    -------
    >>> cfg = Img2PoseConfig(pose_mean=(0.0,) * 6, pose_stddev=(1.0,) * 6,
    ...                      threed_points=((0.0, 0.0, 0.0),) * 68)
    >>> faces = detect_faces(Img2Pose(cfg).eval(), [np.zeros((48, 64, 3), np.uint8)])
    >>> sorted(faces[0])
    ['boxes', 'head_pose', 'head_translation', 'scores']
    """
    ops.check_frames(images)
    device = next(model.parameters()).device
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.shape[:2], []).append(i)
    results: list[dict[str, np.ndarray]] = [{} for _ in images]
    for members in groups.values():
        frames = np.stack([images[i] for i in members])
        x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float() / 255
        for i, found in zip(members, model.detect(x), strict=True):
            det = detector_postprocess(
                found["boxes"],
                found["scores"],
                found["dofs"],
                inclusion_threshold=inclusion_threshold,
                nms_iou=nms_iou,
                threshold=threshold,
            )
            pose = to_featx_pose(det["dofs"]).float().cpu().numpy()
            results[i] = {
                "boxes": det["boxes"].float().cpu().numpy(),
                "scores": det["scores"].float().cpu().numpy(),
                "head_pose": np.degrees(pose[:, :3]),
                "head_translation": pose[:, 3:],
            }
    return results


# ---------------------------------------------------------------------------------------------
# Model card loader (``featx.hub`` imports it when the card is used)


def load(card, paths: dict) -> Img2Pose:
    """The ``img2pose`` card's loader: ``config.json`` (sizes, limits, pose statistics, 3D
    points) and the flat state dict, loaded strictly; older torchvision's FPN key spelling is
    accepted."""
    import json

    from featx.nn.weights import WeightsError, load_into, read_state_dict

    weights, config_path = paths[card.files[0]], paths[card.files[1]]
    try:
        config = Img2PoseConfig.from_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"cannot read img2pose config {config_path}: {e}") from e
    state = rename_legacy_keys(read_state_dict(weights))
    return load_into(Img2Pose(config), state, strict=True, path=weights)
