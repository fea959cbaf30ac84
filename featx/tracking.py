"""Who is who across frames: face slots kept stable in videos, and identities from embeddings.

Two tools, both working on what detectors already produce:

- :class:`BoxTracker` follows faces from frame to frame of a video by their boxes (IoU, with a
  constant-velocity prediction, refined by landmark or keypoint distance when the detector gives
  points) and keeps each face in the same ``face`` slot, also through brief misses. The shared
  detection loop (:class:`featx.detectors.base.BaseDetector`) runs one per video, so slots are
  stable even when no identity model runs.
- :func:`assign_identities` turns the ``embedding`` variable into an ``identity`` per face:
  faces are first chained into tracklets by the same box continuity (a person keeps one id
  through missed frames and blurred or turned faces whose embedding is poor), then tracklets
  are grouped by cosine similarity of their mean embeddings, either online against a gallery of
  known people (``method="gallery"``) or by HDBSCAN (``method="hdbscan"``). Two faces seen in
  the same frame never share an identity.

Example
-------
>>> import numpy as np
>>> from featx import schema
>>> a, b = np.eye(4)[:2]  # the embeddings of two people
>>> rects = np.array([[0.0, 0, 10, 10], [50, 0, 10, 10]])
>>> frames = [{"face_rect": rects, "embedding": np.array(e)} for e in ([a, b], [b, a])]
>>> ds = schema.from_frames(frames, ["1.jpg", "2.jpg"], [0, 0], [np.nan, np.nan])
>>> out = assign_identities(ds)
>>> out.identity.values.tolist(), out.face_rect.sel(rect="x").values.tolist()
([[0, 1], [0, 1]], [[0.0, 50.0], [50.0, 0.0]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from featx import schema
from featx.boxes import rect_iou

__all__ = ["BoxTracker", "assign_identities"]

#: Variables whose points refine the box match, in order of preference.
POINT_VARIABLES = ("landmarks", "keypoints")
_NO_MATCH = 1e6


def _match(
    rects: np.ndarray,
    new_rects: np.ndarray,
    points: np.ndarray | None,
    new_points: np.ndarray | None,
    min_iou: float,
) -> list[tuple[int, int]]:
    """Pairs (track, face) of the cheapest one-to-one assignment among pairs with IoU >= min_iou.

    The cost is 1 - IoU, or, when every track and face has points, the mean distance between
    corresponding points divided by the track box's geometric mean side.
    """
    if len(rects) == 0 or len(new_rects) == 0:
        return []
    iou = rect_iou(rects, new_rects)
    cost = 1.0 - iou
    if points is not None and new_points is not None:
        with np.errstate(invalid="ignore"):
            distance = np.linalg.norm(points[:, None] - new_points[None], axis=-1).mean(-1)
            size = np.sqrt(rects[:, 2] * rects[:, 3])[:, None]
            relative = distance / size
        if np.isfinite(relative).all():
            cost = relative
    allowed = iou >= min_iou
    rows, cols = linear_sum_assignment(np.where(allowed, cost, _NO_MATCH))
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j]]


@dataclass
class _Track:
    uid: int
    rect: np.ndarray
    points: np.ndarray | None
    last_seen: int
    velocity: np.ndarray


class BoxTracker:
    """Keeps each face of a video in one ``face`` slot from frame to frame.

    A face joins the track whose predicted box (last box plus its per-frame velocity times the
    frames since) overlaps it most (IoU >= ``min_iou``; among those, the closest landmarks or
    keypoints when the detector gives them); the assignment is one-to-one (Hungarian). A track
    not seen for more than ``max_misses`` frames ends and frees its slot; a new face takes the
    lowest free slot. State is kept across calls, so a video processed in batches keeps its
    slots; a new source (the next file) starts afresh.

    Parameters
    ----------
    min_iou : smallest IoU between a track's predicted box and a face to continue the track.
    max_misses : frames a track may go unseen and still continue.

    Examples
    --------
    >>> tracker = BoxTracker()
    >>> a, b = [0.0, 0, 10, 10], [50.0, 0, 10, 10]
    >>> frames = [{"face_rect": np.array([a, b])}, {"face_rect": np.array([b])}]
    >>> [f["face_rect"][:, 0].tolist() for f in tracker.update(frames, ["v.mp4"] * 2)]
    [[0.0, 50.0], [nan, 50.0]]
    """

    def __init__(self, min_iou: float = 0.3, max_misses: int = 5) -> None:
        self.min_iou = float(min_iou)
        self.max_misses = int(max_misses)
        self._next_uid = 0
        self.reset()

    def reset(self) -> None:
        """Forget every track (the next frame starts a new sequence).

        Examples
        --------
        >>> tracker = BoxTracker()
        >>> _ = tracker.update([{"face_rect": np.array([[50.0, 0, 10, 10]])}], ["v.mp4"])
        >>> tracker.reset()
        >>> tracker.state()["tracks"]
        []
        """
        self._tracks: dict[int, _Track] = {}
        self._source: str | None = None
        self._step = 0

    def state(self) -> dict:
        """Everything the next frame's assignment depends on, as JSON-able values (exact: floats
        round-trip through JSON); :meth:`restore` takes it back.

        Examples
        --------
        >>> import json
        >>> tracker = BoxTracker()
        >>> _ = tracker.update([{"face_rect": np.array([[50.0, 0, 10, 10]])}], ["v.mp4"])
        >>> state = tracker.state()
        >>> state["source"], [t["slot"] for t in state["tracks"]]
        ('v.mp4', [0])
        >>> json.loads(json.dumps(state)) == state
        True
        """
        tracks = [
            {
                "slot": slot,
                "uid": t.uid,
                "rect": t.rect.tolist(),
                "points": None if t.points is None else t.points.tolist(),
                "last_seen": t.last_seen,
                "velocity": t.velocity.tolist(),
            }
            for slot, t in self._tracks.items()
        ]
        return {
            "source": self._source,
            "step": self._step,
            "next_uid": self._next_uid,
            "tracks": tracks,
        }

    def restore(self, state: Mapping) -> None:
        """Continue from a :meth:`state`: the same slots for the same faces from the next frame.

        Examples
        --------
        A face in slot 1 keeps it in a new tracker that restores the first one's state:

        >>> first = BoxTracker()
        >>> a, b = [0.0, 0, 10, 10], [50.0, 0, 10, 10]
        >>> _ = first.update([{"face_rect": np.array([a, b])}], ["v.mp4"])
        >>> second = BoxTracker()
        >>> second.restore(first.state())
        >>> second.update([{"face_rect": np.array([b])}], ["v.mp4"])[0]["face_rect"][:, 0].tolist()
        [nan, 50.0]
        """
        self._source, self._step = state["source"], int(state["step"])
        self._next_uid = int(state["next_uid"])
        self._tracks = {
            int(t["slot"]): _Track(
                int(t["uid"]),
                np.array(t["rect"], float),
                None if t["points"] is None else np.array(t["points"], float),
                int(t["last_seen"]),
                np.array(t["velocity"], float),
            )
            for t in state["tracks"]
        }

    def assign(
        self, rects: np.ndarray, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Slot and track id of each face of the next frame.

        Parameters
        ----------
        rects : (M, 4) face boxes x, y, w, h.
        points : (M, P, 2) landmarks or keypoints of the same faces, or None.

        Returns
        -------
        slots : (M,) int64 ``face`` slot of each face.
        uids : (M,) int64 track id of each face, unique over this tracker's lifetime.

        Examples
        --------
        >>> tracker = BoxTracker()
        >>> tracker.assign(np.array([[0.0, 0, 10, 10], [50.0, 0, 10, 10]]))
        (array([0, 1]), array([0, 1]))
        >>> tracker.assign(np.array([[51.0, 0, 10, 10]]))  # the second face moved a pixel
        (array([1]), array([1]))
        """
        rects = np.asarray(rects, float).reshape(-1, 4)
        points = None if points is None else np.asarray(points, float)
        self._step += 1
        self._tracks = {
            slot: t
            for slot, t in self._tracks.items()
            if self._step - t.last_seen <= self.max_misses + 1
        }
        slots_live = list(self._tracks)
        tracks = [self._tracks[s] for s in slots_live]
        gaps = [self._step - t.last_seen for t in tracks]
        predicted = np.array(
            [t.rect + t.velocity * gap for t, gap in zip(tracks, gaps, strict=True)]
        ).reshape(-1, 4)
        track_points = None
        if points is not None and tracks and all(t.points is not None for t in tracks):
            track_points = np.stack(
                [t.points + t.velocity[:2] * gap for t, gap in zip(tracks, gaps, strict=True)]
            )
        slots = np.full(len(rects), -1, np.int64)
        uids = np.full(len(rects), -1, np.int64)
        for i, j in _match(predicted, rects, track_points, points, self.min_iou):
            t = tracks[i]
            t.velocity = (rects[j] - t.rect) / (self._step - t.last_seen)
            t.rect, t.last_seen = rects[j], self._step
            t.points = None if points is None else points[j]
            slots[j], uids[j] = slots_live[i], t.uid
        for j in np.flatnonzero(slots < 0):
            slot = next(s for s in range(len(self._tracks) + 1) if s not in self._tracks)
            self._tracks[slot] = _Track(
                self._next_uid,
                rects[j],
                None if points is None else points[j],
                self._step,
                np.zeros(4),
            )
            slots[j], uids[j] = slot, self._next_uid
            self._next_uid += 1
        return slots, uids

    def update(
        self, frames: Sequence[Mapping[str, np.ndarray]], sources: Sequence[str]
    ) -> list[dict[str, np.ndarray]]:
        """Per-frame results (as ``process_batch`` returns them) with faces moved to their slots.

        Each frame's arrays get one row per slot up to its highest occupied slot; empty slots are
        NaN (-1 for integer variables such as ``identity``). Frames without ``face_rect`` pass
        through unchanged.

        Examples
        --------
        The face that stays in frame keeps slot 1 after the other leaves:

        >>> tracker = BoxTracker()
        >>> a, b = [0.0, 0, 10, 10], [50.0, 0, 10, 10]
        >>> frames = [{"face_rect": np.array([a, b]), "face_score": np.array([0.9, 0.8])},
        ...           {"face_rect": np.array([b]), "face_score": np.array([0.7])}]
        >>> [f["face_score"].tolist() for f in tracker.update(frames, ["v.mp4"] * 2)]
        [[0.9, 0.8], [nan, 0.7]]
        """
        out = []
        for frame, source in zip(frames, sources, strict=True):
            if source != self._source:
                self.reset()
                self._source = source
            if "face_rect" not in frame:
                out.append(dict(frame))
                continue
            slots, _ = self.assign(frame["face_rect"], _points(frame))
            out.append(schema.to_slots(frame, slots))
        return out


def _points(frame: Mapping[str, np.ndarray]) -> np.ndarray | None:
    for name in POINT_VARIABLES:
        if name in frame:
            return np.asarray(frame[name], float)
    return None


# ---------------------------------------------------------------------------------------------
# Identities from embeddings


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _tracklets(ds: xr.Dataset, order: np.ndarray, min_iou: float, max_misses: int) -> np.ndarray:
    """Track id of every (frame, face) in ``ds`` (-1 for empty slots), frames taken in ``order``."""
    rects = ds["face_rect"].values
    present = ~np.isnan(rects).all(-1)
    names = [n for n in POINT_VARIABLES if n in ds]
    points = ds[names[0]].values if names else None
    sources = ds["source"].values
    tracker = BoxTracker(min_iou=min_iou, max_misses=max_misses)
    uid = np.full(present.shape, -1, np.int64)
    previous = None
    for f in order:
        if sources[f] != previous:
            tracker.reset()
            previous = sources[f]
        faces = np.flatnonzero(present[f])
        _, uid[f, faces] = tracker.assign(
            rects[f, faces], None if points is None else points[f, faces]
        )
    return uid


def _gallery(
    vectors: dict[int, np.ndarray],
    weights: dict[int, float],
    tracklets: Sequence[int],
    conflicts: dict[int, set[int]],
    identity: dict[int, int],
    sums: list[np.ndarray | None],
    threshold: float,
) -> None:
    """Give each tracklet the most similar person (cosine >= ``threshold``) that no tracklet it
    shares a frame with already is, else a new person. ``sums[k]`` is the weighted sum of
    person k's tracklet embeddings (None for a person without any); both dicts are updated."""
    for t in tracklets:
        taken = {identity[o] for o in conflicts[t] if o in identity}
        best, best_sim = -1, -np.inf
        for k, total in enumerate(sums):
            if t in vectors and total is not None and k not in taken:
                sim = float(_unit(total) @ vectors[t])
                if threshold <= sim > best_sim:
                    best, best_sim = k, sim
        if best < 0:
            best = len(sums)
            sums.append(None)
        identity[t] = best
        if t in vectors:
            current = sums[best]
            sums[best] = weights[t] * vectors[t] + (0 if current is None else current)


def _hdbscan_labels(vectors: np.ndarray, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    if len(vectors) < max(2, min_cluster_size):
        return np.full(len(vectors), -1)
    model = HDBSCAN(min_cluster_size=min_cluster_size, allow_single_cluster=True, copy=True)
    return model.fit(vectors).labels_


def assign_identities(
    ds: xr.Dataset,
    threshold: float = 0.5,
    method: str = "gallery",
    *,
    min_iou: float = 0.3,
    max_misses: int = 5,
    min_cluster_size: int = 2,
    validate: bool = True,
) -> xr.Dataset:
    """A copy of ``ds`` with an ``identity`` per face, faces in each frame ordered by identity.

    1. Tracklets: within each source, faces are chained from frame to frame by box continuity
       (:class:`BoxTracker`: IoU with a constant-velocity prediction, refined by landmarks or
       keypoints, through up to ``max_misses`` missed frames). Still images are single frames.
    2. Each tracklet's embedding is the normalised mean of its faces' L2-normalised embeddings.
    3. Tracklets become identities by cosine similarity:

       - ``"gallery"``: in order of first appearance, a tracklet joins the known person whose
         mean embedding is most similar, if that similarity is at least ``threshold``, else it
         starts a new person;
       - ``"hdbscan"``: :class:`sklearn.cluster.HDBSCAN` (``min_cluster_size``) clusters the
         tracklet embeddings; each cluster is a person, and noise tracklets (and members less
         similar than ``threshold`` to their cluster's mean) then go through the gallery rule.

       Tracklets seen in the same frame never share an identity (the later or less typical one
       goes through the gallery rule instead). A tracklet without any embedding is a person of
       its own.
    4. Ids are renumbered 0, 1, ... by first appearance; within each frame faces are sorted by
       identity (slot 0 holds the lowest id present), empty slots last.

    Parameters
    ----------
    ds : a valid featx Dataset with ``face_rect`` and ``embedding``.
    threshold : smallest cosine similarity between a tracklet and a person to join them.
    method : ``"gallery"`` or ``"hdbscan"``.
    min_iou, max_misses : box continuity (see :class:`BoxTracker`).
    min_cluster_size : HDBSCAN's smallest cluster, in tracklets.
    validate : check ``ds`` and the result (:func:`featx.schema.validate`); the detectors pass
        False and validate the finished run once.

    Returns
    -------
    xarray.Dataset
        Valid; ``identity`` (frame, face) int64, -1 in empty slots, with attrs ``method`` and
        ``threshold``.

    Examples
    --------
    >>> emb = np.eye(3)
    >>> frames = [{"face_rect": np.array([[10.0 * i, 0, 5, 5]]), "embedding": emb[[i % 2]]}
    ...           for i in range(3)]
    >>> ds = schema.from_frames(frames, ["a.png", "b.png", "c.png"], [0] * 3, [np.nan] * 3)
    >>> assign_identities(ds).identity.values.ravel().tolist()
    [0, 1, 0]
    """
    if method not in ("gallery", "hdbscan"):
        raise ValueError(f"method must be 'gallery' or 'hdbscan', got {method!r}")
    for name in ("face_rect", "embedding"):
        if name not in ds:
            raise schema.SchemaError(
                f"[variables] assign_identities needs the {name!r} variable; run a detector "
                "with an identity model (identity_model='arcface' or 'facenet')"
            )
    if validate:
        schema.validate(ds)
    order = np.argsort(ds["frame"].values, kind="stable")
    uid = _tracklets(ds, order, min_iou, max_misses)

    emb = ds["embedding"].values.astype(np.float64)
    has_emb = (uid >= 0) & np.isfinite(emb).all(-1)
    vectors, weights = {}, {}
    for t in np.unique(uid[has_emb]):
        members = _unit(emb[has_emb & (uid == t)])
        vectors[int(t)] = _unit(members.mean(0))
        weights[int(t)] = float(len(members))
    tracklets = [int(t) for t in dict.fromkeys(uid[order].ravel().tolist()) if t >= 0]
    conflicts: dict[int, set[int]] = {t: set() for t in tracklets}
    for row in uid:
        seen = set(row[row >= 0].tolist())
        for t in seen:
            conflicts[t] |= seen - {t}

    identity: dict[int, int] = {}
    sums: list[np.ndarray | None] = []
    if method == "hdbscan" and vectors:
        keys = list(vectors)
        stacked = np.stack([vectors[k] for k in keys])
        labels = _hdbscan_labels(stacked, min_cluster_size)
        for label in sorted(set(labels.tolist()) - {-1}):
            members = [k for k, lab in zip(keys, labels, strict=True) if lab == label]
            centre = _unit(np.sum([weights[k] * vectors[k] for k in members], axis=0))
            members.sort(key=lambda k: -float(centre @ vectors[k]))
            k_id, total = len(sums), np.zeros_like(centre)
            for k in members:
                typical = float(centre @ vectors[k]) >= threshold
                if typical and all(identity.get(o) != k_id for o in conflicts[k]):
                    identity[k] = k_id
                    total = total + weights[k] * vectors[k]
            sums.append(total)
    rest = [t for t in tracklets if t not in identity]
    _gallery(vectors, weights, rest, conflicts, identity, sums, threshold)

    # Renumber by first appearance, then sort each frame's faces by identity.
    first_seen = {}
    for t in tracklets:
        first_seen.setdefault(identity[t], len(first_seen))
    ids = np.full(uid.shape, -1, np.int64)
    ids[uid >= 0] = [first_seen[identity[int(t)]] for t in uid[uid >= 0]]
    key = np.where(ids >= 0, ids, np.iinfo(np.int64).max)
    slot_order = np.argsort(key, axis=1, kind="stable")
    rows = np.arange(ids.shape[0])[:, None]
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if var.dims[:2] == ("frame", "face"):
            out[name] = (var.dims, var.values[rows, slot_order], var.attrs)
    out["identity"] = (
        ("frame", "face"),
        ids[rows, slot_order],
        {"method": method, "threshold": float(threshold)},
    )
    if validate:
        schema.validate(out)
    return out
