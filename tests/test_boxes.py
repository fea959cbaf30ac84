import numpy as np
import torch

from featx import boxes


def test_iou_known_values_numpy_and_torch():
    a = np.array([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    b = np.array([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 5, 5]])
    want = np.array([[1 / 7, 1.0, 0.0], [0.0, 0.25, 0.0]])
    np.testing.assert_allclose(boxes.iou(a, b), want)
    got = boxes.iou(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32))


def test_iou_random_boxes_same_in_both_types_and_symmetric():
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 50, (7, 2))
    a = np.c_[corner, corner + rng.uniform(0, 30, (7, 2))]
    corner = rng.uniform(0, 50, (5, 2))
    b = np.c_[corner, corner + rng.uniform(0, 30, (5, 2))]
    got = boxes.iou(a, b)
    assert ((got >= 0) & (got <= 1)).all() and (got > 0).any()
    np.testing.assert_allclose(got, boxes.iou(b, a).T)
    np.testing.assert_allclose(boxes.iou(torch.tensor(a), torch.tensor(b)).numpy(), got)
    np.testing.assert_allclose(np.diag(boxes.iou(a, a)), 1.0)


def test_iou_empty_nan_and_degenerate_boxes_are_zero():
    b = np.array([[0.0, 0, 2, 2]])
    assert boxes.iou(np.full((1, 4), np.nan), b)[0, 0] == 0
    assert boxes.iou(np.array([[1.0, 1, 1, 1]]), np.array([[1.0, 1, 1, 1]]))[0, 0] == 0
    assert boxes.iou(np.zeros((0, 4)), b).shape == (0, 1)
    assert boxes.rect_iou(np.full((1, 4), np.nan), np.array([[0.0, 0, 1, 1]])).max() == 0


def test_layouts_round_trip_and_rect_iou_matches_iou():
    rng = np.random.default_rng(1)
    rects = np.c_[rng.uniform(0, 50, (6, 2)), rng.uniform(1, 30, (6, 2))]
    corners = boxes.xywh_to_xyxy(rects)
    np.testing.assert_allclose(corners[:, 2:], rects[:, :2] + rects[:, 2:])
    np.testing.assert_allclose(boxes.xyxy_to_xywh(corners), rects)
    np.testing.assert_allclose(boxes.rect_iou(rects[:4], rects), boxes.iou(corners[:4], corners))
    t = torch.tensor(corners)
    torch.testing.assert_close(boxes.xyxy_to_xywh(t), torch.tensor(rects))
