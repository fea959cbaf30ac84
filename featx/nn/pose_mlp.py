"""Head pose (6DoF) from 68 landmarks: the MLP distilled from img2pose.

The network maps 136 scale- and translation-free landmark features to a normalised 6-vector
``z``; ``z * std + mean`` is img2pose's raw pose (rotation angles a, b, c in radians, then
translation X, Y, Z). :func:`featx.nn.rotations.to_featx_pose` (importable from here too)
re-labels it into featx's sign convention.

Two published layouts share the key scheme ``net.<i>``:

- v2: blocks Linear -> LayerNorm(eps 1e-5) -> GELU (exact) -> Dropout, then a final Linear;
  keys ``net.0, net.1, net.4, net.5, ...`` (hidden 512, 256, 128 in the released file);
- v1: blocks Linear -> ReLU -> Dropout, then a final Linear; keys ``net.0, net.3, net.6, net.9``.

Example
-------
>>> import torch
>>> net = PoseMLP().eval()
>>> net(landmark_features(torch.rand(2, 68, 2) * 100)).shape
torch.Size([2, 6])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from featx.nn.rotations import to_featx_pose

IN_DIM = 136
OUT_DIM = 6
V2_HIDDEN = (512, 256, 128)
V1_HIDDEN = (256, 128, 64)
# 0-based indices of the two outer eye corners in the 68-point (iBUG/dlib) scheme.
OUTER_EYE_CORNERS = (36, 45)
#: Output order of :class:`PoseRegressor` and :func:`to_featx_pose`.
POSE_COLUMNS = ("pitch", "roll", "yaw", "x", "y", "z")


class PoseMLP(nn.Module):
    """The pose MLP: ``forward(features (B, 136)) -> z (B, 6)``.

    Parameters
    ----------
    hidden : sizes of the hidden layers.
    dropout : dropout probability of every block (identity in eval mode).
    layernorm : True for the v2 layout (LayerNorm + GELU), False for v1 (ReLU only).

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("pose_mlp").build()  # random weights; .load() fetches Py-Feat's
    >>> isinstance(net, PoseMLP), sum(p.numel() for p in net.parameters())
    (True, 236934)
    """

    def __init__(
        self,
        hidden: Sequence[int] = V2_HIDDEN,
        dropout: float = 0.0,
        layernorm: bool = True,
        in_dim: int = IN_DIM,
        out_dim: int = OUT_DIM,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers.append(nn.Linear(width, int(h)))
            if layernorm:
                layers += [nn.LayerNorm(int(h), eps=1e-5), nn.GELU(approximate="none")]
            else:
                layers.append(nn.ReLU())
            layers.append(nn.Dropout(dropout))
            width = int(h)
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.hidden = tuple(int(h) for h in hidden)
        self.layernorm = layernorm

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Normalised pose z (B, 6) of landmark features (B, 136).

        Examples
        --------
        >>> import torch
        >>> net = PoseMLP().eval()
        >>> tuple(net(torch.zeros(1, 136)).shape)
        (1, 6)
        """
        return self.net(features)


def is_v2_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True when the weights use the v2 layout (``net.1.weight`` exists and is 1-D)."""
    w = state_dict.get("net.1.weight")
    return w is not None and w.ndim == 1


def hidden_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    """Hidden sizes read from the Linear weights (every 2-D ``net.<i>.weight``, in order)."""
    linears = sorted(
        (int(k.split(".")[1]), v.shape[0])
        for k, v in state_dict.items()
        if k.startswith("net.") and k.endswith(".weight") and v.ndim == 2
    )
    return tuple(n for _, n in linears[:-1])


def landmark_features(landmarks) -> torch.Tensor:
    """136 pose features from 68 landmarks in pixels.

    Parameters
    ----------
    landmarks : (B, 68, 2) array or tensor of x, y.

    Returns
    -------
    (B, 136) float32 tensor: the 68 centred x's, then the 68 centred y's, each divided by the
    distance between points 36 and 45 (clamped below at 1e-6).
    """
    pts = landmarks if torch.is_tensor(landmarks) else torch.from_numpy(np.asarray(landmarks))
    pts = pts.to(torch.float32)
    centred = pts - pts.mean(dim=1, keepdim=True)
    a, b = OUTER_EYE_CORNERS
    iod = torch.linalg.vector_norm(pts[:, a] - pts[:, b], dim=-1).clamp_min(1e-6)
    scaled = centred / iod[:, None, None]
    return torch.cat([scaled[..., 0], scaled[..., 1]], dim=1)


def denormalize(z, mean, std):
    """``z * std + mean`` (the JSON's output normalisation), for tensors or arrays."""
    if torch.is_tensor(z):
        mean = torch.as_tensor(mean, dtype=z.dtype, device=z.device)
        std = torch.as_tensor(std, dtype=z.dtype, device=z.device)
    else:
        mean, std = np.asarray(mean), np.asarray(std)
    return z * std + mean


class PoseRegressor(nn.Module):
    """Landmarks -> head pose: features, MLP, de-normalisation and re-labelling.

    ``forward(landmarks (B, 68, 2) pixels) -> (B, 6)`` = pitch, roll, yaw (radians, featx
    signs) and X, Y, Z (img2pose translation units).

    Examples
    --------
    The ``pose_mlp`` card's loader builds it from the weights and their metadata; with a random
    network and no normalisation:

    >>> import torch
    >>> net = PoseRegressor(build(), mean=torch.zeros(6), std=torch.ones(6)).eval()
    >>> tuple(net(torch.rand(1, 68, 2) * 100).shape)
    (1, 6)
    """

    def __init__(self, net: PoseMLP, mean, std) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32), persistent=False)

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        """Head pose (B, 6) of 68 landmarks (B, 68, 2) in pixels: pitch, roll, yaw, X, Y, Z.

        Examples
        --------
        >>> import torch
        >>> net = PoseRegressor(build(), mean=torch.zeros(6), std=torch.ones(6)).eval()
        >>> tuple(net(torch.rand(2, 68, 2) * 100).shape)
        (2, 6)
        """
        features = landmark_features(landmarks).to(self.mean.device)
        return to_featx_pose(denormalize(self.net(features), self.mean, self.std))


# ---------------------------------------------------------------------------------------------
# Model card builder and loader (``featx.hub`` imports them when the card is used)


def build() -> PoseMLP:
    """The bare v2 network (random init), as the ``pose_mlp`` card builds it."""
    return PoseMLP(hidden=V2_HIDDEN, layernorm=True)


def load(card, paths: dict) -> PoseRegressor:
    """The ``pose_mlp`` card's loader: the weights file plus its JSON metadata (architecture
    and output normalisation), loaded strictly into a :class:`PoseRegressor`."""
    import json

    from featx.nn.weights import WeightsError, load_into, read_state_dict

    weights, meta_path = paths[card.files[0]], paths[card.files[1]]
    try:
        arch = json.loads(meta_path.read_text())["architecture"]
        norm = arch["output_normalization"]
        mean, std = norm["mean"], norm["std"]
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"cannot read pose MLP metadata {meta_path}: {e!r}") from e
    sd = read_state_dict(weights)
    hidden = arch.get("hidden") or hidden_from_state_dict(sd)
    net = PoseMLP(
        hidden=hidden, dropout=float(arch.get("dropout", 0.0)), layernorm=is_v2_state_dict(sd)
    )
    load_into(net, sd, strict=True, path=weights)
    return PoseRegressor(net, mean, std)
