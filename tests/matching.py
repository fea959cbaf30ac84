"""Order-free comparison of detections, for every detector conformance test.

Detectors list their faces by descending score, so two faces whose scores differ by an ulp may
come out in either order on another machine, build or weight file. A test that compares the
rows as they come would then fail on a correct result. :func:`match_detections` pairs the rows
as sets instead: the one-to-one assignment of closest boxes (overlap by :func:`featx.boxes.iou`
and coordinate distance), score differences breaking ties between equal boxes; the test then
compares matched pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from featx.boxes import iou

#: Weight of a score difference against one unit of box distance in the assignment cost.
SCORE_WEIGHT = 100.0


def match_detections(
    got_boxes,
    want_boxes,
    got_scores=None,
    want_scores=None,
    *,
    min_iou: float = 0.5,
    max_shift: float = 0.25,
) -> np.ndarray:
    """Index into ``got`` of the detection that matches each ``want`` detection.

    The assignment (``scipy.optimize.linear_sum_assignment``) minimises, summed over pairs,
    ``(1 - IoU) + shift + SCORE_WEIGHT * |score difference|``, where ``shift`` is the largest
    coordinate difference over the wanted box's longer side (the median side of all wanted
    boxes for a box of zero size, which IoU cannot tell apart). A pair is the same detection
    when its IoU (:func:`featx.boxes.iou`) is at least ``min_iou`` or its shift at most
    ``max_shift``.

    Parameters
    ----------
    got_boxes, want_boxes : (N, 4) x1, y1, x2, y2 (arrays or tensors); the counts must agree.
    got_scores, want_scores : (N,) scores, optional: among equal boxes the pair with the closer
        score wins (many detections can share one integer box).
    min_iou, max_shift : what makes a matched pair the same detection.

    Returns
    -------
    (N,) int64 ``order`` with ``got[order]`` row-aligned with ``want``.

    Raises
    ------
    AssertionError
        When the counts differ or a wanted detection has no counterpart: the two sets are
        different, not just ordered differently.
    """
    got = np.asarray(got_boxes, np.float64).reshape(-1, 4)
    want = np.asarray(want_boxes, np.float64).reshape(-1, 4)
    assert len(got) == len(want), f"{len(got)} detections, the reference has {len(want)}"
    overlap = iou(want, got)
    side = np.maximum(want[:, 2] - want[:, 0], want[:, 3] - want[:, 1])
    fallback = float(np.median(side[side > 0])) if (side > 0).any() else 1.0
    side = np.where(side > 0, side, fallback)
    shift = np.abs(want[:, None, :] - got[None, :, :]).max(-1) / side[:, None]
    cost = (1.0 - overlap) + shift
    if got_scores is not None and want_scores is not None:
        got_s = np.asarray(got_scores, np.float64).reshape(-1)
        want_s = np.asarray(want_scores, np.float64).reshape(-1)
        cost = cost + SCORE_WEIGHT * np.abs(want_s[:, None] - got_s[None, :])
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(len(rows), np.int64)
    order[rows] = cols
    pairs = np.arange(len(want)), order
    same = (overlap[pairs] >= min_iou) | (shift[pairs] <= max_shift)
    poor = [int(i) for i in np.nonzero(~same)[0]]
    assert not poor, f"reference detections {poor} have no matching detection"
    return order
