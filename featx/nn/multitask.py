"""face_multitask_v2: Py-Feat's Detectorv2 network, a ConvNeXt V2-Tiny with seven heads.

One forward pass of a 224x224 face crop gives a 478-point face mesh, a 6-DoF head pose, 52
blendshapes, 20 AU scores (an ME-GraphAU-style prototype/graph head), 7 emotion logits,
valence/arousal and a binned gaze estimate from both eyes. The module keeps the key names and
shapes of ``py-feat/face_multitask_v2`` files (the backbone in timm's ``features_only``
layout: ``backbone.stem_0``, ``backbone.stages_3`` ...), so a real file loads strictly.

Papers: Woo et al., "ConvNeXt V2", CVPR 2023 (backbone, :mod:`featx.nn.convnextv2`); Luo et
al., "Learning Multi-dimensional Edge Feature-based AU Relation Graph for Facial Action Unit
Recognition", IJCAI 2022 (AU head, its AFG and FGG parts); Abdelrahman et al., "L2CS-Net",
2022 (binned gaze).

The heads a checkpoint has are set by its config (the JSON under the safetensors metadata key
``"config"``); :class:`MultitaskConfig` holds it, its defaults being the v2.8 checkpoint that
Py-Feat 2.1.5 pins. Around the network:

- :func:`square_crops`: the 256x256 chip of each face (square of 1.2x the longer box side,
  bilinear, reflection padding) and its ``crop_affine`` (origin x, origin y, side);
- :func:`preprocess`: chip -> model input (antialiased resize to 224, ImageNet mean/std);
- ``mesh_to_image``, ``DLIB68_FROM_MP478``: the mesh and 68 landmarks in frame pixels.

Example
-------
>>> net = FaceMultitask().eval()
>>> chips, affine = square_crops(np.zeros((120, 100, 3), np.uint8), [[20.0, 30.0, 70.0, 90.0]])
>>> out = net(preprocess(chips))
>>> out["mesh"].shape, out["p_au"].shape, out["gaze"].shape
(torch.Size([1, 478, 3]), torch.Size([1, 20]), torch.Size([1, 2]))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featx.nn.convnextv2 import (  # noqa: F401  (re-exported: the backbone's own module)
    DIMS,
    GRN,
    ConvNeXtStage,
    ConvNeXtV2Block,
    ConvNeXtV2Features,
    GRNMlp,
    LayerNorm2d,
)
from featx.nn.multitask_heads import (
    AFG,
    FGG,
    SC,
    BlendshapeHead,
    EmotionHead,
    EyeROIEncoder,
    GazeHead,
    LandmarkFusion,
    MLPHead,
)
from featx.nn.resampling import grid_sample_chips
from featx.nn.rotations import rotvec_to_matrix

#: Side of the square face chip cut from the frame, and the enlargement of the box's longer side.
CHIP_SIZE = 256
CROP_EXPAND = 1.2
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Names of the head outputs returned by :meth:`FaceMultitask.forward`, in order.
OUTPUTS = ("p_au", "mesh", "pose", "blendshapes", "emotion_logits", "va", "gaze", "gaze_logits")
#: Intermediate tensors :meth:`FaceMultitask.forward` adds with ``intermediates=True``.
INTERMEDIATES = (
    "feat_stride16", "feat_stride32", "X_proj", "afg_v", "fgg_h", "unified", "pose_6d",
    "eye_box_left", "eye_box_right", "eye_feat_left", "eye_feat_right",
)  # fmt: skip
#: Mesh vertices forming the 68 iBUG/dlib landmarks (jaw, brows, nose, eyes, lips), in order.
DLIB68_FROM_MP478 = (
    127, 234, 93, 132, 58, 172, 136, 150, 176, 148, 152, 377, 400, 379, 365, 397, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 6, 195, 4, 240, 75, 1, 305, 460,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip
#: Mesh vertices whose mean is each eye-box centre: the image-left eye (the subject's right,
#: MediaPipe 33/133) and the image-right eye (362/263).
EYE_CORNERS = {"left": (33, 133), "right": (362, 263)}

_MESH_HIDDEN, _POSE_HIDDEN, _POSE_DIM = 1024, 256, 6


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class MultitaskConfig:
    """The fields of a checkpoint's ``config`` (Py-Feat's ``ModelV2Config``), v2.8 defaults.

    Fields that only matter in training (dropout, drop-path, detaches, MEFL settings when MEFL
    is dropped) are kept so a config round-trips, but do not change the eval forward.
    ``knn_k``, ``gaze_eye_box_frac``, ``gaze_bin_lo_deg``/``gaze_bin_hi_deg``,
    ``mesh_normalized`` and ``image_size`` change the forward without adding parameters, so
    they must come from the file.

    Examples
    --------
    >>> MultitaskConfig.from_dict({"knn_k": 3, "unknown_key": 1}).knn_k
    3
    """

    backbone: str = "convnextv2_tiny.fcmae_ft_in22k_in1k"
    image_size: int = 224
    n_au: int = 20
    n_mesh: int = 478
    n_emotion: int = 7
    n_blendshape: int = 52
    mesh_normalized: bool = True
    bs_use_mesh: bool = True
    knn_k: int = 4
    afg_channels: int = 512
    mefl_channels: int = 512
    gcn_layers: int = 2
    drop_path_rate: float = 0.1
    emotion_head_dropout: float = 0.25
    use_dual_eye_gcn: bool = True
    mefl_identity_init: bool = False
    mefl_use_layer_scale: bool = True
    use_head_v2: bool = False
    use_head_v3: bool = True
    unified_lmk_dim: int = 256
    drop_mefl: bool = True
    emotion_use_au_prob: bool = False
    emotion_au_prob_detach: bool = True
    gaze_eye_roi: bool = True
    gaze_eye_dim: int = 256
    gaze_eye_roi_size: int = 4
    gaze_eye_box_frac: float = 0.18
    gaze_pose_6d: bool = True
    gaze_pose_detach: bool = True
    gaze_head_frame: bool = False
    gaze_hidden: int = 0
    gaze_bins: int = 180
    gaze_bin_lo_deg: float = -180.0
    gaze_bin_hi_deg: float = 180.0

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> MultitaskConfig:
        """The config from a checkpoint's dict: unknown keys (e.g. ``pretrained``) are ignored.

        Raises ValueError when the config asks for a head design featx does not implement.
        """
        known = {f.name for f in fields(cls)}
        out = cls(**{k: v for k, v in config.items() if k in known})
        out.check_supported()
        return out

    def check_supported(self) -> None:
        """Raise ValueError naming every setting whose head design featx does not implement.

        featx implements the design of checkpoints v2.6 and later: the v3 unified head without
        MEFL, emotion without AU probabilities, gaze from eye ROIs + 6D pose with a linear
        binned output.
        """
        bad = [
            f"{k}={getattr(self, k)!r} (featx needs {v!r})"
            for k, v in _DESIGN.items()
            if getattr(self, k) != v
        ]
        if not str(self.backbone).startswith("convnextv2_tiny"):
            bad.append(f"backbone={self.backbone!r} (featx needs convnextv2_tiny)")
        if bad:
            raise ValueError("unsupported face_multitask_v2 config: " + "; ".join(bad))


#: The head design featx implements: config flags and the value each must have.
_DESIGN: dict[str, Any] = {
    "use_head_v3": True,
    "drop_mefl": True,
    "bs_use_mesh": True,
    "emotion_use_au_prob": False,
    "gaze_eye_roi": True,
    "gaze_pose_6d": True,
    "gaze_head_frame": False,
    "gaze_hidden": 0,
}


def rotation_6d(rvec: torch.Tensor) -> torch.Tensor:
    """First two columns of the rotation of each Rodrigues vector (B, 3), row-major (B, 6).

    Examples
    --------
    >>> rotation_6d(torch.zeros(1, 3))
    tensor([[1., 0., 0., 1., 0., 0.]])
    """
    rotation = rotvec_to_matrix(rvec, min_angle=1e-8)
    return rotation[:, :, :2].reshape(-1, 6)


def eye_boxes(mesh01: torch.Tensor, config: MultitaskConfig) -> dict[str, torch.Tensor]:
    """Square xyxy eye boxes (B, 4) in model-input pixels from a mesh (B, V, >=2).

    Each box is centred on the mean of the side's two :data:`EYE_CORNERS` with a half side of
    ``gaze_eye_box_frac * image_size / 2``. The mesh is scaled by ``image_size`` when
    ``mesh_normalized`` (x, y in [0, 1]).
    """
    xy = mesh01[:, :, :2] * config.image_size if config.mesh_normalized else mesh01[:, :, :2]
    half = 0.5 * config.gaze_eye_box_frac * config.image_size
    boxes = {}
    for side, (a, b) in EYE_CORNERS.items():
        centre = (xy[:, a] + xy[:, b]) / 2
        boxes[side] = torch.cat([centre - half, centre + half], dim=1)
    return boxes


class FaceMultitask(nn.Module):
    """The face_multitask_v2 network, built from a :class:`MultitaskConfig` (default v2.8).

    ``forward(x (B, 3, S, S))`` with ``x`` from :func:`preprocess` returns a dict of
    :data:`OUTPUTS`: ``p_au`` (B, n_au) in [0, 1], ``mesh`` (B, V, 3) (x, y over the chip in
    [0, 1] when ``mesh_normalized``, z relative depth), ``pose`` (B, 6) (Rodrigues vector in
    radians, y-down camera, then translation), ``blendshapes`` (B, 52) in [0, 1],
    ``emotion_logits`` (B, 7) in the order of
    ``featx.schema.EMOTION_NATIVE_ORDER["face_multitask_v2"]`` (Neutral first), ``va`` (B, 2)
    valence, arousal in [-1, 1], ``gaze`` (B, 2) yaw, pitch in radians (y-down),
    ``gaze_logits`` (B, 2, bins). With ``intermediates=True`` it also holds :data:`INTERMEDIATES`.
    """

    def __init__(self, config: MultitaskConfig | None = None) -> None:
        super().__init__()
        config = config or MultitaskConfig()
        config.check_supported()
        self.config = config
        n_au, c = config.n_au, config.afg_channels
        self.log_var_au = nn.Parameter(torch.zeros(n_au))
        for task in ("mesh", "pose", "blendshape", "emotion", "va", "gaze"):
            setattr(self, f"log_var_{task}", nn.Parameter(torch.zeros(())))
        self.backbone = ConvNeXtV2Features()
        self.proj = nn.Conv2d(DIMS[3], c, 1, bias=False)
        self.afg = AFG(n_au, c)
        self.fgg = FGG(c, config.knn_k)
        self.sc = SC(n_au, c)
        mesh_xy = 2 * config.n_mesh
        self.lmk = MLPHead(c, _MESH_HIDDEN, 3 * config.n_mesh)
        self.pose = MLPHead(c, _POSE_HIDDEN, _POSE_DIM)
        self.blendshape = BlendshapeHead(c, mesh_xy, config.n_blendshape)
        self.unified = LandmarkFusion(DIMS[3], mesh_xy, config.unified_lmk_dim)
        unified_dim = DIMS[3] + config.unified_lmk_dim
        self.emotion = EmotionHead(unified_dim, config.n_emotion)
        self.gaze_eye_enc = EyeROIEncoder(DIMS[2], config.gaze_eye_dim, config.gaze_eye_roi_size)
        self.gaze = GazeHead(unified_dim + config.gaze_eye_dim + _POSE_DIM, config.gaze_bins)
        self.register_buffer("gaze_bin_centres", gaze_bin_centres(config), persistent=False)

    def gaze_from(
        self,
        unified: torch.Tensor,
        eye_left: torch.Tensor,
        eye_right: torch.Tensor,
        pose_6d: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaze (B, 2) yaw, pitch in radians and its logits (B, 2, bins) from the head inputs."""
        logits = self.gaze(
            torch.cat([unified, eye_left, pose_6d], dim=1),
            torch.cat([unified, eye_right, pose_6d], dim=1),
        )
        return (logits.softmax(-1) * self.gaze_bin_centres).sum(-1), logits

    def forward(self, x: torch.Tensor, intermediates: bool = False) -> dict[str, torch.Tensor]:
        cfg = self.config
        f16, f32 = self.backbone(x)
        xp = self.proj(f32)
        g = xp.mean(dim=(2, 3))
        mesh = self.lmk(g).view(len(x), cfg.n_mesh, 3)
        pose = self.pose(g)
        mesh_xy = mesh[:, :, :2].reshape(len(x), 2 * cfg.n_mesh)
        if not cfg.mesh_normalized:
            mesh_xy = mesh_xy / cfg.image_size
        v = self.afg(xp)
        h = self.fgg(v)
        unified = self.unified(f32.mean(dim=(2, 3)), mesh_xy)
        emotion_logits, va = self.emotion(unified)
        boxes = eye_boxes(mesh, cfg)
        eye = {s: self.gaze_eye_enc(f16, b, cfg.image_size) for s, b in boxes.items()}
        pose_6d = rotation_6d(pose[:, :3])
        gaze, gaze_logits = self.gaze_from(unified, eye["left"], eye["right"], pose_6d)
        out = {
            "p_au": self.sc(h),
            "mesh": mesh,
            "pose": pose,
            "blendshapes": self.blendshape(g, mesh_xy),
            "emotion_logits": emotion_logits,
            "va": va,
            "gaze": gaze,
            "gaze_logits": gaze_logits,
        }
        if intermediates:
            out.update(
                feat_stride16=f16,
                feat_stride32=f32,
                X_proj=xp,
                afg_v=v,
                fgg_h=h,
                unified=unified,
                pose_6d=pose_6d,
                eye_box_left=boxes["left"],
                eye_box_right=boxes["right"],
                eye_feat_left=eye["left"],
                eye_feat_right=eye["right"],
            )
        return out


def gaze_bin_centres(config: MultitaskConfig) -> torch.Tensor:
    """Centres (radians) of ``gaze_bins`` equal bins from ``gaze_bin_lo_deg`` to ``_hi_deg``.

    Examples
    --------
    >>> c = gaze_bin_centres(MultitaskConfig())
    >>> len(c), torch.rad2deg(c[[0, -1]]).round().tolist()
    (180, [-179.0, 179.0])
    """
    edges = torch.linspace(
        config.gaze_bin_lo_deg, config.gaze_bin_hi_deg, config.gaze_bins + 1, dtype=torch.float64
    )
    return torch.deg2rad((edges[:-1] + edges[1:]) / 2).to(torch.float32)


# ---------------------------------------------------------------------------------------------
# Crop, pre-processing, mapping back to the frame


def square_crops(
    image, boxes, size: int = CHIP_SIZE, expand: float = CROP_EXPAND
) -> tuple[torch.Tensor, torch.Tensor]:
    """The square face chips of one RGB frame and their ``crop_affine``.

    For each box the square has side ``max(w, h) * expand`` (at least 1) and is centred on the
    box; it is not clamped to the frame. Chip pixel (row i, col j) samples the frame scaled to
    [0, 1] bilinearly at pixel-index coordinates ``origin + (j + 0.5, i + 0.5) * side / size``
    (pixel centres on integers), reflecting about the frame's edges (-0.5 and W - 0.5); there
    is no antialiasing (:func:`featx.nn.resampling.grid_sample_chips`).

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB frame (array or tensor).
    boxes : (N, 4) x1, y1, x2, y2 face boxes in pixels (array or tensor); the crops are
        computed on the device of ``boxes`` when it is a tensor.
    size : side of the chip.
    expand : enlargement of the box's longer side.

    Returns
    -------
    chips : (N, 3, size, size) float32 in [0, 1].
    crop_affine : (N, 3) float32 ``(origin_x, origin_y, side)``: chip coordinate u in [0, 1]
        maps to frame pixel ``origin + u * side``.

    Examples
    --------
    >>> chips, affine = square_crops(np.zeros((50, 80, 3), np.uint8), [[10.0, 10, 30, 40]])
    >>> chips.shape, affine.tolist()
    (torch.Size([1, 3, 256, 256]), [[2.0, 7.0, 36.0]])
    """
    device = boxes.device if torch.is_tensor(boxes) else None
    frame = torch.as_tensor(image, device=device)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8:
        raise ValueError(
            f"square_crops needs an (H, W, 3) uint8 RGB frame, got {tuple(frame.shape)} "
            f"{frame.dtype}"
        )
    boxes = torch.as_tensor(
        np.asarray(boxes) if not torch.is_tensor(boxes) else boxes,
        dtype=torch.float32,
        device=frame.device,
    ).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.unbind(1)
    side = (torch.maximum(x2 - x1, y2 - y1) * expand).clamp(min=1)
    affine = torch.stack([(x1 + x2) / 2 - side / 2, (y1 + y2) / 2 - side / 2, side], dim=1)
    if len(boxes) == 0:
        return torch.zeros(0, 3, size, size, device=frame.device), affine
    steps = torch.arange(size, dtype=torch.float32, device=frame.device) + 0.5
    sx = affine[:, 0:1] + steps * side[:, None] / size  # (N, size): per column
    sy = affine[:, 1:2] + steps * side[:, None] / size  # (N, size): per row
    picture = frame.permute(2, 0, 1).to(torch.float32) / 255
    return grid_sample_chips(picture, sx, sy).contiguous(), affine


def preprocess(chips: torch.Tensor, image_size: int = 224) -> torch.Tensor:
    """Model input from chips (N, 3, S, S) in [0, 1]: antialiased bilinear resize to
    ``image_size`` (the whole chip, no centre crop), then ImageNet mean/std.

    Examples
    --------
    >>> preprocess(torch.full((1, 3, 256, 256), 0.5)).shape
    torch.Size([1, 3, 224, 224])
    """
    x = F.interpolate(
        chips, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
    )
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - mean) / std


def mesh_to_image(mesh01: torch.Tensor, crop_affine: torch.Tensor) -> torch.Tensor:
    """Mesh (N, V, 3) in chip units -> frame pixels: ``x, y = origin + (x, y) * side``; z is
    returned unchanged (model units).

    Examples
    --------
    >>> mesh_to_image(torch.tensor([[[0.5, 0.25, 0.1]]]), torch.tensor([[10.0, 20.0, 40.0]]))
    tensor([[[30.0000, 30.0000,  0.1000]]])
    """
    side = crop_affine[:, None, 2:3]
    xy = mesh01[:, :, :2] * side + crop_affine[:, None, :2]
    return torch.cat([xy, mesh01[:, :, 2:]], dim=2)


# ---------------------------------------------------------------------------------------------
# Model card loader (``featx.hub`` imports it when the card is used)


def load(card, paths: dict) -> FaceMultitask:
    """The ``face_multitask_v2`` card's loader: the network built from the file's own config,
    then loaded strictly.

    A ``.safetensors`` file holds the config as JSON under its metadata key ``"config"``; a
    legacy torch file (local use) is a dict ``{"config": dict, "model": state dict}``.
    """
    import json

    from featx.nn.weights import WeightsError, load_into, read_state_dict, torch_load

    path = paths[card.files[0]]
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                text = (f.metadata() or {}).get("config")
            config = json.loads(text) if text is not None else None
        except Exception as e:
            raise WeightsError(f"cannot read weight file {path}: {type(e).__name__}: {e}") from e
        state = read_state_dict(path)
    else:
        data = torch_load(path)
        try:
            config, state = data.get("config"), data["model"]
        except Exception as e:
            raise WeightsError(
                f"cannot read weight file {path} (expected a dict with 'config' and 'model'): "
                f"{type(e).__name__}: {e}"
            ) from e
    if not isinstance(config, dict):
        raise WeightsError(
            f"weight file {path} has no model config (a JSON object under the safetensors "
            "metadata key 'config'); face_multitask_v2 cannot be built without it"
        )
    try:
        model = FaceMultitask(MultitaskConfig.from_dict(config))
    except (TypeError, ValueError) as e:
        raise WeightsError(f"weight file {path}: {e}") from e
    return load_into(model, state, strict=True, path=path)
