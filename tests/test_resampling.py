"""featx.nn.resampling: the samplers' own arithmetic, beyond the models' reference tensors.

Each sampler is also checked bit for bit against its upstream by its model's tests
(test_mp_detector / test_blazeface / test_facemesh: sample_u8; test_mini_xception:
resize_linear_u8; test_classic: bilinear_zero_np; test_identity_gaze: bilinear_zero;
test_landmark68: grid_sample_boxes; test_multitask: grid_sample_chips).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from featx.nn import resampling


def _fixed_point_reference(image, x, y, border):
    """OpenCV's fixed-point bilinear rule written out in NumPy (slow, for the test only)."""
    fx = np.rint(np.asarray(x, np.float64) * 32).astype(np.int64)
    fy = np.rint(np.asarray(y, np.float64) * 32).astype(np.int64)
    height, width, channels = image.shape
    x0, y0, ax, ay = fx >> 5, fy >> 5, fx & 31, fy & 31
    acc = np.zeros((*fx.shape, channels), np.int64)
    for dy, dx, weight in ((0, 0, (32 - ax) * (32 - ay)), (0, 1, ax * (32 - ay)),
                           (1, 0, (32 - ax) * ay), (1, 1, ax * ay)):  # fmt: skip
        xi, yi = x0 + dx, y0 + dy
        if border == "zero":
            weight = weight * ((xi >= 0) & (xi < width) & (yi >= 0) & (yi < height))
        acc += weight[..., None] * image[yi.clip(0, height - 1), xi.clip(0, width - 1)]
    return ((acc + 512) >> 10).astype(np.uint8)


@pytest.mark.parametrize("border", resampling.U8_BORDERS)
def test_sample_u8_is_the_documented_fixed_point_rule(border):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    cols, rows = np.meshgrid(np.arange(64.0), np.arange(48.0))
    for _ in range(6):  # rotated, scaled, shifted grids reaching over every edge
        theta, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3.0)
        x = scale * (np.cos(theta) * cols - np.sin(theta) * rows) + rng.uniform(-60, 160)
        y = scale * (np.sin(theta) * cols + np.cos(theta) * rows) + rng.uniform(-60, 130)
        got = resampling.sample_u8(image, x, y, border)
        np.testing.assert_array_equal(got, _fixed_point_reference(image, x, y, border))


def test_sample_u8_rejects_bad_input():
    with pytest.raises(ValueError, match="border"):
        resampling.sample_u8(np.zeros((2, 2, 1), np.uint8), np.zeros((1, 1)), np.zeros((1, 1)), "x")
    with pytest.raises(ValueError, match="uint8"):
        resampling.sample_u8(np.zeros((2, 2, 1)), np.zeros((1, 1)), np.zeros((1, 1)))


def test_float_samplers_agree_away_from_the_edges():
    # the two zero-padded float samplers differ only in the order of their arithmetic
    rng = np.random.default_rng(3)
    image = rng.random((2, 20, 30))
    x, y = rng.uniform(1, 28, (1, 5, 7)), rng.uniform(1, 18, (1, 5, 7))
    numpy_way = resampling.bilinear_zero_np(image[None], x, y)[0]
    torch_way = resampling.bilinear_zero(torch.from_numpy(image), torch.from_numpy(x[0]),
                                         torch.from_numpy(y[0]))  # fmt: skip
    np.testing.assert_allclose(numpy_way, torch_way.permute(1, 2, 0).numpy(), rtol=0, atol=1e-12)


def test_the_docstring_table_names_every_sampler():
    public = {
        name
        for name, value in vars(resampling).items()
        if callable(value) and not name.startswith("_") and value.__module__ == resampling.__name__
    }
    table = set(re.findall(r"^:func:`(\w+)`", resampling.__doc__, flags=re.MULTILINE))
    assert table == public
