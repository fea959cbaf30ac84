"""tests/matching.py: detections compared as sets, so a tie in score cannot fail a test."""

from __future__ import annotations

import numpy as np
import pytest
from matching import match_detections

BOXES = np.array([[10.0, 10, 50, 60], [100, 20, 140, 70], [30, 80, 60, 120]])
SCORES = np.array([0.9, 0.9 - 1e-7, 0.5])


def test_a_swapped_pair_still_matches():
    # two faces whose scores differ by an ulp or so come out in the other order
    got_boxes, got_scores = BOXES[[1, 0, 2]] + 0.3, SCORES[[1, 0, 2]]
    order = match_detections(got_boxes, BOXES, got_scores, SCORES)
    assert order.tolist() == [1, 0, 2]
    np.testing.assert_allclose(got_boxes[order], BOXES, atol=0.5)
    np.testing.assert_array_equal(got_scores[order], SCORES)


def test_equal_boxes_are_told_apart_by_score():
    boxes = np.repeat(BOXES[:1], 3, axis=0)
    scores = np.array([0.7, 0.3, 0.5])
    order = match_detections(boxes, boxes, scores[[2, 0, 1]], scores)
    np.testing.assert_array_equal(scores[[2, 0, 1]][order], scores)


def test_a_different_set_fails():
    moved = BOXES.copy()
    moved[2] += 200  # one face is somewhere else entirely
    with pytest.raises(AssertionError, match=r"reference detections \[2\] have no matching"):
        match_detections(moved, BOXES, SCORES, SCORES)
    with pytest.raises(AssertionError, match="2 detections, the reference has 3"):
        match_detections(BOXES[:2], BOXES, SCORES[:2], SCORES)


def test_boxes_of_zero_size_match_by_position():
    # boxes clipped to an image corner have no area, so no IoU: their position decides
    points = np.array([[452.0, 248, 452, 248], [452, 217, 452, 217], *BOXES])
    scores = np.array([0.19, 0.19 + 1e-7, *SCORES])
    order = match_detections(points[[1, 0, 2, 3, 4]], points, scores[[1, 0, 2, 3, 4]], scores)
    assert order.tolist() == [1, 0, 2, 3, 4]
    moved = points.copy()
    moved[0] += [90.0, 0, 90, 0]
    with pytest.raises(AssertionError, match=r"\[0\] have no matching"):
        match_detections(moved, points)


def test_no_detections_match_no_reference():
    assert match_detections(np.zeros((0, 4)), np.zeros((0, 4))).tolist() == []
