"""mini-Xception: fer's FER2013 emotion classifier (64x64 grey face -> 7 emotions).

The network (Arriaga et al. 2017, weights from fer's ``emotion_model.hdf5``) with Keras
semantics: BatchNorm epsilon 1e-3, TensorFlow "same" padding (asymmetric for the 3x3/2 max
pools, padded values never win), no activation after each residual add, global average pooling
of the last conv. ``forward`` returns the logits; :func:`probabilities` applies the softmax.

The classes come out in FER2013 order (angry, disgust, fear, happy, sad, surprise, neutral), which
lines up position by position with ``schema.EMOTIONS``; ``schema.EMOTION_NATIVE_ORDER
["mini_xception"]`` records it.

Around the network, fer's face crop: the grey image is padded by 40 px with the mean of its
bottom two rows (:func:`pad_value`), the face box is made square and grown by a 10 px margin
(:func:`crop_boxes`), the crop is resized to 64x64 with OpenCV's bilinear rule
(:func:`featx.nn.resampling.resize_linear_u8`, also named :data:`resize_linear` here) and
scaled to [-1, 1] (:func:`preprocess`).

Example
-------
>>> import numpy as np
>>> image = np.full((120, 160, 3), 128, np.uint8)
>>> crops = crop_faces(image, np.array([[40, 20, 60, 70]]))
>>> crops.shape, crops.dtype
((1, 64, 64), dtype('uint8'))
>>> MiniXception().eval()(preprocess(crops)).shape
torch.Size([1, 7])
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featx.nn.resampling import resize_linear_u8

INPUT_SIZE = 64
#: fer pads the grey image by this many pixels on every side before cropping.
IMAGE_PADDING = 40
#: fer grows the squared face box by this many pixels on every side.
MARGIN = 10
NUM_CLASSES = 7
BN_EPS = 1e-3
BLOCK_CHANNELS = ((8, 16), (16, 32), (32, 64), (64, 128))


# ---------------------------------------------------------------------------------------------
# The network


class KerasBatchNorm(nn.Module):
    """Inference-only BatchNorm with Keras' epsilon: ``γ·(x − mean)/sqrt(var + 1e-3) + β``.

    Holds exactly the four tensors Keras stores (no ``num_batches_tracked`` counter).
    """

    def __init__(self, channels: int, eps: float = BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def _maxpool_same(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-2 max pool with TensorFlow "same" padding (extra pad bottom/right, -inf)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: left, right, top, bottom
        out = -(-size // 2)
        total = max((out - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel_size=3, stride=2)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D 3x3 "same", depth multiplier 1, no bias: depthwise then 1x1."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """Two separable convs and a same-padded max pool, plus a strided 1x1 conv shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut_conv = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.shortcut_bn = KerasBatchNorm(cout)
        self.sep1 = SeparableConv(cin, cout)
        self.bn1 = KerasBatchNorm(cout)
        self.sep2 = SeparableConv(cout, cout)
        self.bn2 = KerasBatchNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.relu(self.bn1(self.sep1(x)))
        main = _maxpool_same(self.bn2(self.sep2(main)))
        return main + self.shortcut_bn(self.shortcut_conv(x))


class MiniXception(nn.Module):
    """``forward(x (N, H, W, 1) NHWC grey in [-1, 1]) -> logits (N, 7)``, FER2013 class order.

    Trained on 64x64 inputs (``featx.nn.mini_xception.preprocess``); being fully convolutional
    it runs on any size.

    Examples
    --------
    >>> from featx import hub
    >>> net = hub.card("mini_xception").build()  # bundled: .load() reads its real weights offline
    >>> isinstance(net, MiniXception), sum(p.numel() for p in net.parameters())
    (True, 56951)
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = KerasBatchNorm(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = KerasBatchNorm(8)
        self.blocks = nn.ModuleList(ResidualBlock(cin, cout) for cin, cout in BLOCK_CHANNELS)
        self.head = nn.Conv2d(BLOCK_CHANNELS[-1][1], NUM_CLASSES, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Emotion logits (N, 7) of (N, H, W, 1) grey crops in [-1, 1].

        Examples
        --------
        >>> import torch
        >>> net = MiniXception().eval()
        >>> tuple(net(torch.zeros(1, 64, 64, 1)).shape)
        (1, 7)
        """
        if x.ndim != 4 or x.shape[-1] != 1:
            raise ValueError(f"mini_xception expects (N, H, W, 1) NHWC input, got {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the 7 classes (the ``predictions`` layer of the Keras model)."""
    return torch.softmax(logits, dim=-1)


# ---------------------------------------------------------------------------------------------
# fer's face crop


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey of an RGB (H, W, 3) or grey (H, W) uint8 image, as OpenCV computes it.

    ``Y = (9798 R + 19235 G + 3735 B + 2**14) >> 15`` (0.299, 0.587, 0.114 in fixed point).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ):
        raise ValueError(
            f"expected an (H, W) or (H, W, 3) RGB uint8 image, got {image.dtype} {image.shape}"
        )
    if image.ndim == 2:
        return image
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def pad_value(grey: np.ndarray) -> float:
    """The constant fer pads the grey image with: the mean of its bottom two rows."""
    return float(np.asarray(grey)[-2:].mean())


def crop_boxes(face_boxes, margin: int = MARGIN, padding: int = IMAGE_PADDING) -> np.ndarray:
    """fer's crop box of each face box, in the coordinates of the unpadded image.

    Parameters
    ----------
    face_boxes : (N, 4) integer x, y, width, height.
    margin : pixels added on every side after squaring.
    padding : the image padding; x1, y1 are clamped at ``-padding`` (the padded image's edge).
        x2, y2 are not clamped: slicing the padded image cuts them.

    Returns
    -------
    (N, 4) int64 x1, y1, x2, y2. The shorter side is grown to the longer one, the box's origin
    moving back by half the difference (floor), then the margin is added.

    Examples
    --------
    >>> crop_boxes([[50, 40, 20, 30]]).tolist()
    [[35, 30, 85, 80]]
    """
    x, y, w, h = np.asarray(face_boxes, dtype=np.int64).reshape(-1, 4).T
    x = np.where(h > w, x - (h - w) // 2, x)
    y = np.where(w > h, y - (w - h) // 2, y)
    side = np.maximum(w, h)
    x1 = np.maximum(x - margin, -padding)
    y1 = np.maximum(y - margin, -padding)
    return np.stack([x1, y1, x + side + margin, y + side + margin], axis=1)


#: ``cv2.resize`` INTER_LINEAR on uint8, bit for bit (the name this module has always had).
resize_linear = resize_linear_u8


def crop_faces(
    image: np.ndarray,
    face_boxes,
    size: int = INPUT_SIZE,
    margin: int = MARGIN,
    padding: int = IMAGE_PADDING,
) -> np.ndarray:
    """fer's grey face crops of one image.

    Parameters
    ----------
    image : (H, W, 3) RGB or (H, W) grey uint8.
    face_boxes : (N, 4) integer x, y, width, height in pixels.
    size, margin, padding : crop side, margin and image padding (fer: 64, 10, 40).

    Returns
    -------
    (N, size, size) uint8 crops, ready for :func:`preprocess`.

    Raises
    ------
    ValueError
        For an image that is not uint8 grey/RGB, or a box whose crop lies outside the image.
    """
    grey = to_grey(image)
    fill = np.clip(np.rint(pad_value(grey)), 0, 255).astype(np.uint8)
    padded = np.pad(grey, padding, constant_values=fill)
    boxes = crop_boxes(face_boxes, margin, padding)
    crops = np.empty((len(boxes), size, size), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes + padding):
        region = padded[y1:y2, x1:x2]
        if region.size == 0:
            raise ValueError(
                f"crop box {boxes[i].tolist()} (x1, y1, x2, y2) of face {i} lies outside the "
                f"{grey.shape[1]}x{grey.shape[0]} image"
            )
        crops[i] = resize_linear(region, size)
    return crops


def preprocess(crops_uint8) -> torch.Tensor:
    """(N, H, W) uint8 grey crops -> (N, H, W, 1) float32 model input ``(x / 255 - 0.5) * 2``."""
    crops = np.asarray(crops_uint8)
    if crops.ndim != 3 or crops.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W) uint8 crops, got {crops.dtype} {crops.shape}")
    x = torch.from_numpy(crops.astype(np.float32))[..., None]
    return (x / 255.0 - 0.5) * 2.0
