"""Video mode, ``detect(video, face_every=k)``: the face detector on frames 0, k, 2k ... while
faces are tracked by their landmarks, again on a frame where a face is lost; face_every=1 is
the every-frame run; a killed run resumes to the same result."""

import cv2
import numpy as np
import pytest
import torch
from hubcache import CONF, use_hf_home
from test_detector_v1 import THRESHOLD, hub_home  # noqa: F401 (a fixture)

import featx
from featx.detectors import video_mode
from featx.nn import landmark68, retinaface

STAGES = {
    "au_model": None, "emotion_model": None, "identity_model": None, "gaze_model": None,
    "facepose_model": None,
}  # fmt: skip
N_FRAMES = 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    image = np.load(CONF / "retinaface" / "ref.npz")["image"]
    path = tmp_path_factory.mktemp("vm") / "clip.avi"
    size = (image.shape[1], image.shape[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    for shift in range(N_FRAMES):
        writer.write(np.roll(image, 2 * shift, axis=1)[..., ::-1].copy())
    writer.release()
    return path


@pytest.fixture
def detector(hub_home, monkeypatch):  # noqa: F811
    use_hf_home(monkeypatch, hub_home)
    return featx.Detector(device="cpu", **STAGES)


@pytest.fixture
def face_calls(monkeypatch):
    """Frames given to RetinaFace, in order of the calls (their count per call)."""
    calls, real = [], retinaface.detect_faces

    def counting(net, images, **kwargs):
        calls.append(len(images))
        return real(net, images, **kwargs)

    monkeypatch.setattr(retinaface, "detect_faces", counting)
    return calls


def landmarks_in_the_box(monkeypatch, away_on_call: int = -1, fail_on_call: int = -1):
    """The conformance landmark weights are random (their points lie thousands of pixels off the
    frame, so every face is lost): stand in 68 points spread over each box's middle, and on
    landmark call ``away_on_call`` put them off the frame."""
    calls = []
    grid = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 17), np.linspace(0.2, 0.8, 4)), -1)
    grid = torch.from_numpy(grid.reshape(-1, 2)[:68]).float()

    def predict(net, images, boxes):
        calls.append(1)
        if len(calls) - 1 == fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        out = []
        for b in boxes:
            pts = b[:, None, :2] + grid[None] * (b[:, None, 2:] - b[:, None, :2])
            out.append(pts + (1e4 if len(calls) - 1 == away_on_call else 0))
        return out

    monkeypatch.setattr(landmark68, "predict", predict)


def test_every_frame_is_the_default(detector, clip, face_calls):
    kw = {"progress": False, "face_detection_threshold": THRESHOLD, "batch_size": 4}
    default = detector.detect(clip, **kw)
    one = detector.detect(clip, face_every=1, **kw)
    assert face_calls == [4, 4] * 2 and "face_every" not in one.attrs
    for name in default.data_vars:
        np.testing.assert_array_equal(one[name].values, default[name].values, err_msg=name)


def test_random_landmarks_lose_every_face_so_every_frame_detects(detector, clip, face_calls):
    ds = detector.detect(clip, progress=False, face_detection_threshold=THRESHOLD, face_every=3)
    assert sum(face_calls) == N_FRAMES and ds.attrs["face_every"] == 3


def test_tracked_faces_detect_every_kth_frame(detector, clip, face_calls, monkeypatch):
    landmarks_in_the_box(monkeypatch)
    kw = {"progress": False, "face_detection_threshold": THRESHOLD, "batch_size": 3}
    every = detector.detect(clip, **kw)
    face_calls.clear()
    ds = detector.detect(clip, face_every=3, **kw)
    assert face_calls == [1, 1, 1]  # frames 0, 3, 6
    n = every["face_rect"].notnull().all("rect").sum("face").values
    got = ds["face_rect"].notnull().all("rect").sum("face").values
    assert got.tolist() == n[[0, 0, 0, 3, 3, 3, 6, 6]].tolist()
    score = ds["face_score"].values
    np.testing.assert_array_equal(score[1], score[0])  # carried
    for f in (0, 3, 6):  # detection frames are the every-frame run's (slots may differ)
        np.testing.assert_array_equal(_faces(ds, f), _faces(every, f))


def _faces(ds, frame):
    rect = ds["face_rect"].values[frame]
    rect = rect[np.isfinite(rect).all(-1)]
    return rect[np.lexsort(rect.T[::-1])]


def test_a_lost_face_detects_on_its_frame(detector, clip, face_calls, monkeypatch):
    landmarks_in_the_box(monkeypatch, away_on_call=2)  # frame 2, tracked, loses its faces
    detector.detect(clip, progress=False, face_detection_threshold=THRESHOLD, face_every=3)
    # frame 0 detects, 1 tracks, 2 is lost and detects again, 3-4 track, 5 detects, 6-7 track
    assert len(face_calls) == 3


def test_a_killed_run_resumes_to_the_same_result(detector, clip, face_calls, tmp_path, monkeypatch):
    landmarks_in_the_box(monkeypatch)
    kw = {"progress": False, "face_detection_threshold": THRESHOLD, "face_every": 3}
    whole = detector.detect(clip, batch_size=2, **kw)
    n_whole = len(face_calls)
    face_calls.clear()
    landmarks_in_the_box(monkeypatch, fail_on_call=4)  # frame 4 (one call a frame)
    out = tmp_path / "run.nc"
    with pytest.raises(KeyboardInterrupt):
        detector.detect(clip, batch_size=2, output=out, **kw)
    landmarks_in_the_box(monkeypatch)
    n_before = len(face_calls)
    resumed = detector.detect(clip, batch_size=2, output=out, **kw)
    # frames 0 and 3 before, 6 after: frames 4-5 tracked from the saved state (cold: frame 4)
    assert (n_before, len(face_calls)) == (2, n_whole) == (2, 3)
    assert resumed.attrs["face_every"] == 3
    for name in whole.data_vars:
        np.testing.assert_array_equal(resumed[name].values, whole[name].values, err_msg=name)
    with pytest.raises(Exception, match="face_every"):
        detector.detect(clip, batch_size=2, output=out, **{**kw, "face_every": 2})


@pytest.mark.parametrize("bad", [0, -2, 2.5, "3"])
def test_bad_values(bad):
    with pytest.raises((ValueError, TypeError), match="face_every"):
        featx.detectors.BaseDetector(device="cpu").detect(np.zeros((1, 8, 8, 3)), face_every=bad)


def test_refused_where_it_cannot_apply(detector, clip):
    with pytest.raises(ValueError, match="BaseDetector does not take face_every"):
        featx.detectors.BaseDetector(device="cpu").detect(clip, face_every=2)
    with pytest.raises(ValueError, match="not both"):
        detector.detect(clip, face_every=2, face_boxes=[[1, 2, 30, 40]])


def test_next_boxes_loses_degenerate_and_non_finite_faces():
    lm = np.array([[[10.0, 10], [30, 40]]])
    faces = {"face_rect": np.array([[5.0, 5, 30, 40]]), "landmarks": lm, "face_score": [0.9]}
    boxes, rel = video_mode.next_boxes(faces, None, (100, 100))
    assert video_mode.next_boxes({**faces, "landmarks": lm * np.nan}, rel, (100, 100)) is None
    flat = np.array([[[10.0, 10], [30, 10.5]]])
    assert video_mode.next_boxes({**faces, "landmarks": flat}, rel, (100, 100)) is None
    assert video_mode.next_boxes({**faces, "landmarks": lm + 20}, rel, (100, 100)) is not None
