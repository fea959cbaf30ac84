"""face_boxes= of detect(): the forms it takes, the errors it gives, detectors that refuse it."""

import numpy as np
import pytest

import featx
from featx.detectors.base import BaseDetector
from featx.detectors.given_boxes import as_found, per_frame

BOX = [10.0, 20.0, 50.0, 70.0]


def test_forms():
    every = per_frame([BOX, BOX])
    assert every.every.shape == (2, 5) and every.take(3, 2)[1][0, 4] == 1.0
    assert per_frame(np.array(BOX)).every.shape == (1, 5)
    frames = per_frame([[BOX + [0.5]], [], np.zeros((0, 4))])
    assert [len(f) for f in frames.take(0, 3)] == [1, 0, 0]
    assert frames.take(0, 1)[0][0, 4] == np.float32(0.5)
    assert [len(f) for f in per_frame(np.zeros((4, 2, 4)) + BOX).take(0, 4)] == [2] * 4
    found = as_found(frames.take(0, 1))[0]
    np.testing.assert_array_equal(found["boxes"], [BOX])
    assert found["scores"].tolist() == [0.5] and np.isnan(found["keypoints"]).all()


def test_from_a_dataset():
    rect = np.array([[[10, 20, 40, 50], [np.nan] * 4], [[np.nan] * 4] * 2])
    ds = featx.schema.from_frames(
        [{"face_rect": rect[0, :1], "face_score": np.array([0.7])}, {}], ["a.png", "b.png"],
        [0, 0], [np.nan, np.nan],
    )  # fmt: skip
    got = per_frame(ds).take(0, 2)
    np.testing.assert_allclose(got[0], [[10, 20, 50, 70, 0.7]], rtol=1e-6)
    assert got[1].shape == (0, 5)


@pytest.mark.parametrize(
    "bad, message",
    [
        ([[1, 2, 3]], r"shape \(1, 3\)"),
        ([BOX, [[*BOX]]], r"face_boxes\[0\] is .* not a 2-D array"),
        ("boxes", "got str"),
        ([[1, 2, np.nan, 4]], "NaN"),
        ([[*BOX, 2.0]], r"\[0, 1\]"),
        ([[10, 20, 5, 70]], "not x1 < x2"),
        ([[[*BOX]], [[1, 2, 3]]], r"face_boxes\[1\] has shape"),
    ],
)
def test_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        per_frame(bad)


def test_length_is_checked():
    frames = per_frame([[BOX], [BOX]])
    frames.check_count(2, exact=True)
    frames.check_count(5, exact=False)  # a video's announced count may be off
    with pytest.raises(ValueError, match="2 entries but the input has 3 frames"):
        frames.check_count(3, exact=True)
    with pytest.raises(ValueError, match="frame 2 was decoded"):
        frames.take(1, 2)


def test_a_detector_without_the_option_refuses_it():
    with pytest.raises(ValueError, match="BaseDetector does not take face_boxes"):
        BaseDetector(device="cpu").detect(np.zeros((1, 8, 8, 3), np.uint8), face_boxes=[BOX])


def test_output_runs_record_the_boxes():
    from featx.detectors.runstore import _differences, run_record

    det, sources = BaseDetector(device="cpu"), []
    a = run_record(det, sources, None, 1, per_frame([BOX]).digest())
    b = run_record(det, sources, None, 1, per_frame([[*BOX[:3], 71.0]]).digest())
    assert _differences(a, a, set) == []
    assert _differences(a, b, set) == ["other face_boxes there than in this call"]
