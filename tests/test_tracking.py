"""Face slots and identities across frames: synthetic sequences with a known truth.

Scenarios: two faces crossing (the detector lists faces left to right, so its order swaps),
a face missed for one frame, a face leaving for a long time and coming back elsewhere while a
newcomer takes its old place. Clustering is compared with a brute-force reference.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from featx import schema
from featx.boxes import rect_iou
from featx.detectors.base import BaseDetector
from featx.tracking import BoxTracker, assign_identities

SIDE = 20.0
DIM = 32


def _people(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _noisy(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    return vector + noise * rng.normal(size=vector.shape) / np.sqrt(DIM)


def _scene(tracks: dict[int, dict[int, float]], people: np.ndarray, seed: int = 0) -> list[dict]:
    """Frames of a scene: ``tracks[person][t] = x`` (y = 0, 20x20 boxes); faces left to right.

    Each frame dict has ``face_rect``, ``embedding`` (the person's vector plus noise) and
    ``person`` (the truth, not a schema variable).
    """
    rng = np.random.default_rng(seed)
    n_frames = 1 + max(t for xs in tracks.values() for t in xs)
    frames = []
    for t in range(n_frames):
        here = sorted((xs[t], p) for p, xs in tracks.items() if t in xs)
        frames.append(
            {
                "face_rect": np.array([[x, 0.0, SIDE, SIDE] for x, _ in here]).reshape(-1, 4),
                "embedding": np.array([_noisy(people[p], rng) for _, p in here]).reshape(-1, DIM),
                "person": np.array([p for _, p in here], dtype=int),
            }
        )
    return frames


def _crossing() -> dict[int, dict[int, float]]:
    # A moves right, B left, 6 px per frame; they pass each other between t = 8 and t = 9.
    return {0: {t: 6.0 * t for t in range(17)}, 1: {t: 102.0 - 6.0 * t for t in range(17)}}


def _dataset(frames: list[dict], video: bool = True):
    sources = ["clip.mp4"] * len(frames) if video else [f"{t}.png" for t in range(len(frames))]
    variables = [{k: v for k, v in f.items() if k != "person"} for f in frames]
    return schema.from_frames(variables, sources, list(range(len(frames))), [np.nan] * len(frames))


def _person_per_slot(frames: list[dict], out: list[dict]) -> dict[int, set[int]]:
    """Which true persons each output slot held, matched by box."""
    held: dict[int, set[int]] = {}
    for frame, result in zip(frames, out, strict=True):
        for slot, rect in enumerate(result["face_rect"]):
            if np.isnan(rect).all():
                continue
            row = np.flatnonzero((frame["face_rect"] == rect).all(1))
            held.setdefault(slot, set()).add(int(frame["person"][row[0]]))
    return held


def _run_tracker(frames: list[dict], batch: int, tracker: BoxTracker | None = None) -> list[dict]:
    tracker = tracker or BoxTracker()
    out = []
    for start in range(0, len(frames), batch):
        chunk = [{"face_rect": f["face_rect"]} for f in frames[start : start + batch]]
        out += tracker.update(chunk, ["clip.mp4"] * len(chunk))
    return out


# ---------------------------------------------------------------------------------------------
# BoxTracker


def test_crossing_faces_keep_their_slots_across_batches():
    frames = _scene(_crossing(), _people(2))
    # the scene is hard: after the crossing, a face overlaps the *other* face's last box most
    a_before, b_now = frames[8]["face_rect"][0], frames[9]["face_rect"][0]
    assert frames[9]["person"][0] == 1 and rect_iou(a_before[None], b_now[None])[0, 0] == 1
    out = _run_tracker(frames, batch=4)
    assert _person_per_slot(frames, out) == {0: {0}, 1: {1}}


def test_missed_frame_keeps_the_slot_and_leaves_it_empty():
    tracks = _crossing()
    del tracks[0][5], tracks[0][6]  # A is missed twice; B is then the only (leftmost) face
    frames = _scene(tracks, _people(2))
    out = _run_tracker(frames, batch=3)
    assert _person_per_slot(frames, out) == {0: {0}, 1: {1}}
    assert np.isnan(out[5]["face_rect"][0]).all() and len(out[5]["face_rect"]) == 2


def test_slot_is_freed_after_max_misses_and_reused():
    tracks = {0: {t: 0.0 for t in range(5)}, 1: {t: 60.0 for t in range(20)}}
    tracks[2] = {t: 100.0 for t in range(12, 20)}  # arrives after 0 has been gone > max_misses
    frames = _scene(tracks, _people(3))
    out = _run_tracker(frames, batch=20, tracker=BoxTracker(max_misses=5))
    assert _person_per_slot(frames, out) == {0: {0, 2}, 1: {1}}
    assert [len(o["face_rect"]) for o in out][4:13] == [2] + [2] * 7 + [2]


def test_landmarks_refine_the_match_and_new_source_resets():
    # two overlapping faces: boxes alone are ambiguous, landmark positions are not
    pts = np.array([[[0.0, 0], [10, 0]], [[40.0, 0], [50, 0]]])
    rect = np.array([[0.0, 0, 50, 20], [2.0, 0, 50, 20]])
    tracker = BoxTracker()
    first = tracker.update([{"face_rect": rect, "landmarks": pts}], ["v.mp4"])[0]
    swapped = {"face_rect": rect[::-1], "landmarks": (pts + [3.0, 0])[::-1]}
    second = tracker.update([swapped], ["v.mp4"])[0]
    np.testing.assert_array_equal(second["landmarks"][:, 0, 0], first["landmarks"][:, 0, 0] + 3)
    # the next file starts afresh: faces keep the detector's order
    third = tracker.update([swapped], ["other.mp4"])[0]
    np.testing.assert_array_equal(third["face_rect"], swapped["face_rect"])


def test_integer_variables_are_padded_with_their_fill():
    tracker = BoxTracker()
    frame = {"face_rect": np.array([[0.0, 0, 10, 10], [50, 0, 10, 10]]), "identity": [3, 4]}
    tracker.update([frame], ["v"])
    out = tracker.update([{"face_rect": frame["face_rect"][1:], "identity": [4]}], ["v"])[0]
    assert out["identity"].tolist() == [-1, 4] and out["identity"].dtype.kind == "i"
    assert tracker.update([{}], ["v"]) == [{}]


# ---------------------------------------------------------------------------------------------
# assign_identities


def _ids_by_person(frames: list[dict], ds) -> dict[int, set[int]]:
    ids: dict[int, set[int]] = {}
    for t, frame in enumerate(frames):
        for rect, person in zip(frame["face_rect"], frame["person"], strict=True):
            slot = np.flatnonzero((ds["face_rect"].values[t] == rect).all(1))[0]
            ids.setdefault(int(person), set()).add(int(ds["identity"].values[t, slot]))
    return ids


@pytest.mark.parametrize("method", ["gallery", "hdbscan"])
def test_crossing_with_ambiguous_embeddings_keeps_ids(method):
    people = _people(2)
    frames = _scene(_crossing(), people)
    for t in (8, 9):  # while they overlap, both embeddings are a blur of the two people
        frames[t]["embedding"][:] = people.mean(0)
    ds = _dataset(frames)
    out = assign_identities(ds, method=method)
    schema.validate(out)
    assert _ids_by_person(frames, out) == {0: {0}, 1: {1}}
    # faces are ordered by identity: slot 0 is always person 0 (A, moving right)
    np.testing.assert_array_equal(out["identity"].values, [[0, 1]] * len(frames))
    np.testing.assert_allclose(out["face_rect"].sel(rect="x", face=0), 6.0 * np.arange(17))
    assert out["identity"].attrs == {"method": method, "threshold": 0.5}
    assert "identity" not in ds  # the input is left alone


def test_missed_frame_and_poor_embeddings_keep_the_id_through_continuity():
    people = _people(3)
    frames = _scene({0: {t: 3.0 * t for t in range(10) if t != 5}}, people)
    for t in range(6, 9):  # after the miss, the embedding looks like nobody known
        frames[t]["embedding"][:] = people[2]
    video = assign_identities(_dataset(frames))
    assert video["identity"].values[:, 0].tolist() == [0] * 5 + [-1] + [0] * 4
    # the same faces as unrelated stills: without continuity they split into two people
    stills = assign_identities(_dataset(frames, video=False))
    assert stills["identity"].values[:, 0].tolist() == [0] * 5 + [-1] + [1] * 3 + [0]


@pytest.mark.parametrize("method", ["gallery", "hdbscan"])
def test_leaving_and_returning_elsewhere_keeps_the_id(method):
    tracks = {
        0: {**{t: 0.0 for t in range(10)}, **{t: 150.0 for t in range(25, 35)}},
        1: {t: 60.0 for t in range(35)},
        2: {t: 0.0 for t in range(17, 30)},  # a newcomer in 0's old place while 0 is away
    }
    frames = _scene(tracks, _people(3))
    out = assign_identities(_dataset(frames), method=method)
    assert _ids_by_person(frames, out) == {0: {0}, 1: {1}, 2: {2}}


def test_faces_in_one_frame_never_share_an_identity():
    twin = _people(1)[0]
    rects = np.array([[0.0, 0, 20, 20], [50, 0, 20, 20]])
    frames = [
        {"face_rect": rects, "embedding": np.stack([twin, twin])},
        {"face_rect": rects[:1], "embedding": twin[None]},
    ]
    ds = schema.from_frames(frames, ["a.png", "b.png"], [0, 0], [np.nan, np.nan])
    out = assign_identities(ds)
    assert out["identity"].values.tolist() == [[0, 1], [0, -1]]


def test_faces_without_embedding_take_their_tracklet_id_or_their_own():
    frames = _scene({0: {t: 2.0 * t for t in range(6)}}, _people(1))
    frames[3]["embedding"][:] = np.nan
    out = assign_identities(_dataset(frames))
    assert set(out["identity"].values[:, 0].tolist()) == {0}
    out = assign_identities(_dataset(frames, video=False))
    assert sorted(set(out["identity"].values[:, 0].tolist())) == [0, 1]


def _canonical(labels) -> list[int]:
    """Labels renumbered by first appearance (to compare partitions)."""
    first: dict[int, int] = {}
    return [first.setdefault(int(x), len(first)) for x in labels]


def _brute_force_partition(vectors: np.ndarray, threshold: float) -> list[int]:
    """Connected components of the graph 'cosine similarity >= threshold', pair by pair."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    parent = list(range(len(unit)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(unit)):
        for j in range(i + 1, len(unit)):
            if float(unit[i] @ unit[j]) >= threshold:
                parent[root(j)] = root(i)
    return _canonical([root(i) for i in range(len(unit))])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["gallery", "hdbscan"])
def test_clustering_agrees_with_brute_force_reference(seed, method):
    rng = np.random.default_rng(seed)
    n_people, per_person, dim = 5, 6, 64
    centres = rng.normal(size=(n_people, dim))
    truth = rng.permutation(np.repeat(np.arange(n_people), per_person))
    vectors = centres[truth] + 0.35 * np.linalg.norm(centres[truth], axis=1)[:, None] * rng.normal(
        size=(len(truth), dim)
    ) / np.sqrt(dim)
    vectors *= rng.uniform(0.5, 20, (len(truth), 1))  # raw (unnormalised) embeddings
    reference = _brute_force_partition(vectors, 0.5)
    assert reference == _canonical(truth)  # the reference recovers the people
    frames = [{"face_rect": np.array([[0.0, 0, 20, 20]]), "embedding": v[None]} for v in vectors]
    n = len(frames)
    ds = schema.from_frames(frames, [f"{i}.png" for i in range(n)], [0] * n, [np.nan] * n)
    got = assign_identities(ds, threshold=0.5, method=method)["identity"].values[:, 0]
    assert _canonical(got) == reference


def test_hdbscan_outlier_becomes_its_own_person():
    people = _people(3)
    rng = np.random.default_rng(3)
    labels = [0] * 5 + [1] * 5 + [2]
    frames = [
        {"face_rect": np.array([[0.0, 0, 20, 20]]), "embedding": _noisy(people[p], rng)[None]}
        for p in labels
    ]
    n = len(frames)
    ds = schema.from_frames(frames, [f"{i}.png" for i in range(n)], [0] * n, [np.nan] * n)
    got = assign_identities(ds, method="hdbscan")["identity"].values[:, 0]
    assert _canonical(got) == labels


def test_assign_identities_errors():
    ds = schema.from_frames([{"face_rect": np.array([[0.0, 0, 5, 5]])}], ["a.png"], [0], [np.nan])
    with pytest.raises(schema.SchemaError, match="embedding"):
        assign_identities(ds)
    ds = _dataset(_scene({0: {0: 0.0}}, _people(1)))
    with pytest.raises(ValueError, match="method"):
        assign_identities(ds, method="kmeans")


# ---------------------------------------------------------------------------------------------
# In the shared detection loop


class ScriptedDetector(BaseDetector):
    """Stand-in detector: frame t (its pixels hold t) has the faces of ``frames[t]``, listed in
    the order the script gives (left to right, so crossing faces swap)."""

    name = "scripted"

    def __init__(self, frames: list[dict]):
        super().__init__(device="cpu")
        self.frames = frames

    def process_batch(self, images):
        results = []
        for img in images:
            frame = self.frames[int(img[0, 0, 0])]
            n = len(frame["face_rect"])
            results.append({"face_rect": frame["face_rect"], "face_score": np.full(n, 0.9)})
        return results


def _encoded(n: int) -> np.ndarray:
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 8, 8, 3)).copy()


def test_detector_loop_keeps_slots_stable_in_videos():
    tracks = _crossing()
    del tracks[1][4]  # B is missed once
    frames = _scene(tracks, _people(2))
    det = ScriptedDetector(frames)
    ds = det.detect(_encoded(len(frames)), batch_size=4, progress=False)
    schema.validate(ds)
    x = ds["face_rect"].sel(rect="x").values
    np.testing.assert_array_equal(x[:, 0], 6.0 * np.arange(17))
    want_b = 102.0 - 6.0 * np.arange(17)
    want_b[4] = np.nan
    np.testing.assert_array_equal(x[:, 1], want_b)

    det.track = False  # without the tracker, slots follow the detector's left-to-right order
    plain = det.detect(_encoded(len(frames)), batch_size=4, progress=False)
    assert (plain["face_rect"].sel(rect="x").values[:, 0] != x[:, 0]).any()


def test_detector_loop_leaves_still_images_in_detector_order(tmp_path):
    rects = np.array([[0.0, 0, 20, 20], [50, 0, 20, 20]])
    frames = [{"face_rect": rects}, {"face_rect": rects[::-1]}]
    paths = []
    for t in range(2):
        paths.append(tmp_path / f"{t}.png")
        cv2.imwrite(str(paths[-1]), np.full((8, 8, 3), t, np.uint8))
    ds = ScriptedDetector(frames).detect(paths, batch_size=2, progress=False)
    np.testing.assert_array_equal(ds["face_rect"].values[1], rects[::-1])
