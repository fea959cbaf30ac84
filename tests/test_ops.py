import torch

from featx.nn import ops


def test_box_iou_known_values():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 5, 5]])
    iou = ops.box_iou(a, b)
    expected = torch.tensor([[1 / 7, 1.0, 0.0], [0.0, 0.25, 0.0]])
    torch.testing.assert_close(iou, expected)
