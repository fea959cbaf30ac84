"""Order-free comparison of detections, for every detector conformance test.

Detectors list their faces by descending score, so two faces whose scores differ by an ulp may
come out in either order on another machine, build or weight file. A test that compares the
rows as they come would then fail on a correct result. :func:`match_detections` pairs the rows
as sets instead: the one-to-one assignment of largest total box overlap (:func:`featx.boxes.iou`),
score differences breaking ties between equal boxes; the test then compares matched pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from featx.boxes import iou

#: Weight of a score difference against one unit of (1 - IoU) in the assignment cost.
SCORE_WEIGHT = 1e3


def match_detections(
    got_boxes, want_boxes, got_scores=None, want_scores=None, *, min_iou: float = 0.5
) -> np.ndarray:
    """Index into ``got`` of the detection that matches each ``want`` detection.

    Parameters
    ----------
    got_boxes, want_boxes : (N, 4) x1, y1, x2, y2 (arrays or tensors); the counts must agree.
    got_scores, want_scores : (N,) scores, optional: among boxes that overlap equally, the pair
        with the closer score wins (many detections can share one integer box).
    min_iou : every matched pair must overlap at least this much.

    Returns
    -------
    (N,) int64 ``order`` with ``got[order]`` row-aligned with ``want``.

    Raises
    ------
    AssertionError
        When the counts differ or a wanted detection has no counterpart overlapping it by
        ``min_iou``: the two sets are different, not just ordered differently.
    """
    got = np.asarray(got_boxes, np.float64).reshape(-1, 4)
    want = np.asarray(want_boxes, np.float64).reshape(-1, 4)
    assert len(got) == len(want), f"{len(got)} detections, the reference has {len(want)}"
    overlap = iou(want, got)
    cost = 1.0 - overlap
    if got_scores is not None and want_scores is not None:
        got_s = np.asarray(got_scores, np.float64).reshape(-1)
        want_s = np.asarray(want_scores, np.float64).reshape(-1)
        cost = cost + SCORE_WEIGHT * np.abs(want_s[:, None] - got_s[None, :])
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(len(rows), np.int64)
    order[rows] = cols
    poor = [int(i) for i in np.nonzero(overlap[np.arange(len(want)), order] < min_iou)[0]]
    assert not poor, (
        f"reference detections {poor} have no detection overlapping them by IoU >= {min_iou}"
    )
    return order
