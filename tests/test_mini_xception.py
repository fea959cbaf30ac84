"""mini-Xception: fer's crop and preprocessing, softmax, intermediate activations, label order.

Every row, size and margin comes from ``tests/conformance/mini_xception`` (ref.npz, manifest); the
network's logits are checked by tests/test_conformance.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from featx import hub, schema
from featx.nn import mini_xception as mx

CONF = Path(__file__).parent / "conformance"
REF = np.load(CONF / "mini_xception" / "ref.npz")
FER = json.loads((CONF / "mini_xception" / "manifest.json").read_text())["fer_preprocessing"]
MARGIN, PADDING = FER["offsets"][0], FER["image_padding"]
SIZE = REF["crops_uint8"].shape[-1]
CARD = hub.card("mini_xception")


def test_crop_boxes_square_and_grow_the_face_boxes():
    got = mx.crop_boxes(REF["face_boxes"], margin=MARGIN, padding=PADDING)
    np.testing.assert_array_equal(got, REF["crop_boxes"])


def test_crop_boxes_grow_the_shorter_side_about_the_centre():
    # tall box: x moves back by half the difference; wide box: y does; near the corner x1, y1 stop
    # at the padded image's edge while x2, y2 keep the full side
    corner = (-PADDING - 5, -PADDING - 8)
    boxes = np.array([[100, 50, 20, 31], [100, 50, 31, 20], [*corner, 30, 30]])
    got = mx.crop_boxes(boxes, margin=MARGIN, padding=PADDING)
    np.testing.assert_array_equal(got[:2, 0], [100 - 5 - MARGIN, 100 - MARGIN])
    np.testing.assert_array_equal(got[:2, 1], [50 - MARGIN, 50 - 5 - MARGIN])
    np.testing.assert_array_equal(got[:2, 2] - got[:2, 0], 31 + 2 * MARGIN)
    np.testing.assert_array_equal(got[:2, 3] - got[:2, 1], 31 + 2 * MARGIN)
    want_corner = [-PADDING, -PADDING, corner[0] + 30 + MARGIN, corner[1] + 30 + MARGIN]
    np.testing.assert_array_equal(got[2], want_corner)


def test_preprocess_reproduces_the_model_input():
    x = mx.preprocess(REF["crops_uint8"])
    assert x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), REF["input"])


def test_preprocess_rejects_float_crops():
    with pytest.raises(ValueError, match="uint8"):
        mx.preprocess(REF["input"][..., 0])


def test_resize_matches_opencv_bilinear():
    rng = np.random.default_rng(0)
    shapes = [tuple(rng.integers(1, 300, 2)) for _ in range(60)]
    shapes += [(SIZE * k, SIZE * k) for k in (1, 2, 3)] + [(SIZE // 2, SIZE // 2)]
    for h, w in shapes:
        image = rng.integers(0, 256, (h, w), dtype=np.uint8)
        want = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(mx.resize_linear(image, SIZE), want, err_msg=f"{h}x{w}")


def test_grey_is_the_fixed_point_formula_for_every_colour():
    # Y = (9798 R + 19235 G + 3735 B + 2**14) >> 15, on all 2**24 RGB values
    rgb = np.indices((256, 256, 256), dtype=np.uint8).reshape(3, -1).T.reshape(4096, 4096, 3)
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    want = ((9798 * r + 19235 * g + 3735 * b + (1 << 14)) >> 15).astype(np.uint8)
    np.testing.assert_array_equal(mx.to_grey(rgb), want)


def test_crop_faces_pads_with_the_bottom_rows_mean():
    # a face in the corner reaches into the padding, which holds the bottom rows' mean rounded
    # to uint8 as OpenCV's copyMakeBorder (fer's padding) does: 7.6 -> 8
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (90, 120), dtype=np.uint8)
    grey[-2:] = 7
    grey[-1, :72] = 9
    assert mx.pad_value(grey) == pytest.approx(7.6)
    padded = cv2.copyMakeBorder(grey, *[PADDING] * 4, cv2.BORDER_CONSTANT, value=mx.pad_value(grey))
    box = np.array([[0, 0, 30, 30]])
    x1, y1, x2, y2 = mx.crop_boxes(box, margin=MARGIN, padding=PADDING)[0] + PADDING
    want = cv2.resize(padded[y1:y2, x1:x2], (SIZE, SIZE))
    got = mx.crop_faces(grey, box, size=SIZE, margin=MARGIN, padding=PADDING)
    assert (got[0] == 8).any()
    np.testing.assert_array_equal(got[0], want)


def test_crop_faces_rejects_a_box_outside_the_image():
    with pytest.raises(ValueError, match="outside"):
        mx.crop_faces(np.zeros((40, 40), np.uint8), [[500, 500, 20, 20]])
    with pytest.raises(ValueError, match="uint8"):
        mx.crop_faces(np.zeros((40, 40, 3), np.float32), [[5, 5, 20, 20]])


def _source_images() -> dict[str, np.ndarray]:
    """The public images ref.npz's rows were cropped from (astronaut, camera, composite)."""
    from skimage import data

    composite = np.load(CONF / "mediapipe_pipeline" / "ref_composite.npz")["image"]
    astronaut = data.astronaut()
    return {
        "astronaut": astronaut,
        "astronaut flipped left-right": np.ascontiguousarray(astronaut[:, ::-1]),
        "camera": data.camera(),
        "composite": composite,
    }


def _rebuildable_rows(images: dict[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
    rows = [(i, images.get(str(s).split(",")[0])) for i, s in enumerate(REF["sources"])]
    return [(i, image) for i, image in rows if image is not None]


def test_every_reference_crop_is_rebuilt():
    # a row whose source image is not found would drop out of the test below unnoticed
    images = _source_images()
    rebuilt = [i for i, _ in _rebuildable_rows(images)]
    missing = [str(s) for i, s in enumerate(REF["sources"]) if i not in rebuilt]
    assert len(rebuilt) == len(REF["sources"]) == len(REF["crops_uint8"]), (
        f"ref.npz rows whose image the test cannot rebuild: {missing}"
    )


def test_crop_faces_reproduces_fer_crops_of_the_public_images():
    rows = _rebuildable_rows(_source_images())
    assert len(rows) == len(REF["sources"])
    for i, image in rows:
        assert mx.pad_value(mx.to_grey(image)) == pytest.approx(REF["pad_value"][i], abs=1e-9)
        crop = mx.crop_faces(image, REF["face_boxes"][i], size=SIZE, margin=MARGIN, padding=PADDING)
        np.testing.assert_array_equal(crop[0], REF["crops_uint8"][i], err_msg=REF["sources"][i])


def test_probabilities_are_the_softmax_of_the_logits():
    probs = mx.probabilities(torch.from_numpy(REF["logits"]))
    np.testing.assert_allclose(probs.numpy(), REF["probs"], rtol=0, atol=CARD.tolerance / 10)


def test_intermediate_channel_means_match():
    model = CARD.load()
    means: dict[str, torch.Tensor] = {}
    model.blocks[0].register_forward_pre_hook(
        lambda m, args: means.__setitem__("stem", args[0].mean(dim=(2, 3)))
    )
    for i, block in enumerate(model.blocks, start=1):
        block.register_forward_hook(
            lambda m, args, out, i=i: means.__setitem__(f"block{i}", out.mean(dim=(2, 3)))
        )
    with torch.no_grad():
        model(torch.from_numpy(REF["input"]))
    keys = [k for k in REF.files if re.fullmatch(r"(stem|block\d+)_chmean", k)]
    assert "stem_chmean" in keys and len(keys) == len(model.blocks) + 1
    for key in keys:
        want = REF[key]
        atol = CARD.tolerance * max(1.0, float(np.abs(want).max()))
        got = means[key.removesuffix("_chmean")].numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=key)


def test_classes_line_up_with_the_canonical_emotions():
    native = schema.EMOTION_NATIVE_ORDER["mini_xception"]
    assert native == tuple(str(label) for label in REF["labels"])
    assert len(native) == len(schema.EMOTIONS) == CARD.build().head.out_channels
    # FER2013 order is the canonical order position by position (angry = anger, happy = ...)
    for fer_label, canonical in zip(native, schema.EMOTIONS, strict=True):
        assert canonical[:3] == fer_label[:3], (fer_label, canonical)
