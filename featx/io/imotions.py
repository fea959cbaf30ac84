"""iMotions exports of Emotient FACET (tab-separated ``.txt``, versions 5 and 6).

FACET reports log10 "evidence" e for each AU and emotion (e = 0: even odds). featx turns it
into a probability with p = 1 / (1 + 10^−e) and keeps the AUs' raw evidence in
``au_intensity``.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "facet.txt"
>>> _ = path.write_text("#Study\\tdemo\\n\\nFrameNo\\tMediaTime\\tFaceRect X\\tFaceRect Y\\t"
...                     "FaceRect Width\\tFaceRect Height\\tJoy Evidence\\tAU12 Evidence\\n"
...                     "0\\t0\\t10\\t20\\t100\\t120\\t1\\t-1\\n")
>>> ds = read_imotions(path)
>>> round(ds["emotions"].item(), 3), round(ds["aus"].item(), 3), ds["au_intensity"].item()
(0.909, 0.091, -1.0)
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema
from featx.io.table import (
    EXTRA_EMOTIONS,
    Block,
    Table,
    read_table,
    reader_attrs,
    refuse_repeated_rows,
    rows_to_dataset,
)

#: FACET emotion name -> featx label.
FACET_EMOTIONS = {
    "Joy": "happiness", "Anger": "anger", "Surprise": "surprise", "Fear": "fear",
    "Contempt": "contempt", "Disgust": "disgust", "Sadness": "sadness",
    "Confusion": "confusion", "Frustration": "frustration", "Neutral": "neutral",
    "Positive": "positive", "Negative": "negative",
}  # fmt: skip
#: The AUs FACET exports (iMotions 5 and 6), and the emotions both versions export.
FACET_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 18, 20, 23, 24, 25, 26, 28, 43)
FACET_V5_EMOTIONS = tuple(e for e in FACET_EMOTIONS if e not in ("Confusion", "Frustration"))
FACE_RECT = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight")
POSE = ("Pitch", "Roll", "Yaw")
#: Columns describing the experiment, kept as coordinates along ``frame``.
DESIGN_COLUMNS = ("StimulusName", "SlideType", "EventSource", "Annotation")
TIME = ("MediaTime", "Timestamp")  # milliseconds; the first present gives ``time``
EVIDENCE_RULE = "p = 1 / (1 + 10**-e), e = FACET log10 evidence"
_AU = re.compile(r"AU(\d{1,2})")
_KNOWN = {*FACET_EMOTIONS, *FACE_RECT, *POSE, *DESIGN_COLUMNS, *TIME, "FrameNo"}


def facet_name(header: str) -> str:
    """iMotions header name → short name: ``"AU1 Evidence"`` → ``"AU1"``, ``"FaceRect X"`` →
    ``"FaceRectX"``, ``"Pitch Degrees"`` → ``"Pitch"`` (``"… Intensity"`` names keep the word).
    """
    return re.sub(r" (Evidence|Degrees)$", "", header).replace(" ", "")


def _wanted(header: str) -> bool:
    name = facet_name(header)
    return name in _KNOWN or bool(_AU.fullmatch(name))


def evidence_to_probability(evidence: np.ndarray) -> np.ndarray:
    """FACET's log10 evidence e → probability 1 / (1 + 10^−e) (NaN stays NaN).

    Examples
    --------
    >>> evidence_to_probability(np.array([0.0, 1.0, -2.0])).round(4).tolist()
    [0.5, 0.9091, 0.0099]
    """
    with np.errstate(over="ignore"):
        return 1 / (1 + 10 ** -np.asarray(evidence, dtype=float))


def _columns(table: Table) -> dict[str, str]:
    """Short name → column as written in the file."""
    short: dict[str, str] = {}
    for column in table.data.columns:
        name = facet_name(column)
        if name in short:
            raise table.error(f"columns {short[name]!r} and {column!r} both mean {name!r}")
        short[name] = column
    return short


#: Why a row of an export is not a video frame (the keys of ``video_frame_rows``' counts).
DROPPED = (
    "no FrameNo (another sensor's sample, e.g. the eye tracker)",
    "FrameNo -1 (no video frame: iMotions' mark before the first frame)",
    "FrameNo repeats the frame before (another sensor's sample carrying the last frame's values)",
)


def video_frame_rows(frame_no: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows of an export are video frames, and how many rows were dropped, and why.

    iMotions writes every sensor into one table, each at its own rate. A v5 export with an eye
    tracker has more eye-tracker rows than video frames; on those rows ``FrameNo`` is empty
    (before the first frame), ``-1`` (iMotions' mark before the video's first frame) or the
    number of the last video frame, repeated with that frame's FACET values. A row is kept
    when its ``FrameNo`` is a frame number (>= 0) that differs from the ``FrameNo`` of the
    row before it (rows without one are skipped when comparing), so **the first row of each
    run of one frame number wins**: that is the row FACET wrote for the frame; the repeats
    carry its values forward.

    Parameters
    ----------
    frame_no
        The ``FrameNo`` column as float, NaN for empty cells.

    Returns
    -------
    keep : numpy.ndarray of bool
        True for the one row kept per video frame.
    dropped : dict
        Each reason in :data:`DROPPED` → the number of rows dropped for it.

    Examples
    --------
    >>> keep, dropped = video_frame_rows(np.array([np.nan, -1, -1, 0, 0, np.nan, 0, 1, 2, 2]))
    >>> np.flatnonzero(keep).tolist()
    [3, 7, 8]
    >>> list(dropped.values())
    [2, 2, 3]
    """
    frame_no = np.asarray(frame_no, dtype=float)
    numbered = ~np.isnan(frame_no)
    previous = np.full(len(frame_no), np.nan)
    seen = np.flatnonzero(numbered)
    previous[seen[1:]] = frame_no[seen[:-1]]
    minus_one = numbered & (frame_no == -1)
    repeat = numbered & (frame_no == previous) & ~minus_one
    keep = numbered & ~repeat & ~minus_one
    counts = [int((~numbered).sum()), int(minus_one.sum()), int(repeat.sum())]
    return keep, dict(zip(DROPPED, counts, strict=True))


def _check_expected(table: Table, short: dict[str, str]) -> None:
    """Warn when some, not all, of FACET's AUs or of the emotions both versions export are in
    the export (names as the export writes them)."""
    aus = [f"AU{k}" for k in FACET_AUS]
    if {n for n in short if _AU.fullmatch(n)} <= set(aus):
        table.expect([f"{a} Evidence" for a in aus], "AU", [f"{n} Evidence" for n in short])
    table.expect(
        [f"{e} Evidence" for e in FACET_V5_EMOTIONS], "emotion", [f"{n} Evidence" for n in short]
    )


def _frame_rows_once(table: Table, frame_no: np.ndarray, keep: np.ndarray, column: str) -> None:
    """Refuse a FrameNo kept twice (a frame number that comes back after other frames)."""
    kept = np.flatnonzero(keep)
    again = pd.Series(frame_no[kept]).duplicated().to_numpy()
    if again.any():
        i = int(kept[np.argmax(again)])
        j = int(kept[np.argmax(frame_no[kept] == frame_no[i])])
        raise table.error(
            f"FrameNo {frame_no[i]:g} was already on line {table.rows[j]}: rows are out of "
            "frame order, repeated, or the export holds two recordings",
            i,
            column,
        )


def read_imotions(path: str | os.PathLike, *, encoding: str = "utf-8") -> xr.Dataset:
    """Read an iMotions/FACET export (tab-separated ``.txt``, v5 or v6).

    Lines starting with ``#`` before the header (``#Study``, ``#Date``, ``#Version`` …) are
    kept in the ``imotions_header`` attr. One frame has at most one face, and one row per
    video frame is kept:

    - ``FrameNo`` → ``source_frame``. Rows of other sensors (an eye tracker, GSR), written
      at their own rate between the video's rows, are dropped: rows with an empty
      ``FrameNo`` or ``-1``, and rows that repeat the ``FrameNo`` of the row before (the
      first row of a frame wins; see ``video_frame_rows``). The attrs ``rows_dropped``
      (a count) and ``rows_dropped_why`` (the count per reason) say how many and why.
    - ``MediaTime``, in milliseconds → ``time`` in seconds; where ``MediaTime`` is empty on
      every kept row (v5 exports of a live camera), ``Timestamp`` (ms since the recording
      began). The attr ``imotions_time_column`` names the column used ("" for none).
    - ``FaceRect X/Y/Width/Height`` → ``face_rect``; an empty box means no face in that
      frame; ``face_score`` is 1.0 for every face (FACET gives no confidence)
    - ``AU1 Evidence …`` → ``aus`` as probabilities (kind "evidence", p = 1 / (1 + 10^−e))
      with labels zero-padded (``AU01``), and the raw evidence in ``au_intensity``
      (``scale`` "log10 evidence")
    - the 12 emotion evidences (``Joy`` → happiness, ``Anger``, ``Surprise``, ``Fear``,
      ``Disgust``, ``Sadness``, ``Neutral``, then ``Contempt``, ``Confusion``,
      ``Frustration``, ``Positive``, ``Negative``) → ``emotions`` as probabilities (kind
      "score": they need not sum to 1); v5 has no Confusion and Frustration
    - ``Pitch/Roll/Yaw Degrees`` → ``head_pose`` in degrees, as FACET signs them; Pitch and
      Yaw must both be present, Roll may be missing (v5 has none: NaN, with a warning)
    - ``StimulusName, SlideType, EventSource, Annotation`` → string coordinates along frame.

    Some but not all of FACET's 20 AUs (``FACET_AUS``) or of the 10 emotions both versions
    export is a :class:`~featx.io.table.ReaderWarning`, kept in the ``reader_warnings`` attr.
    A ``FrameNo`` kept twice (it comes back after other frames) is an error naming both lines;
    without a ``FrameNo`` column, a row repeating an earlier row cell for cell is an error.

    The ``… Intensity`` columns, feature points, ``HasGlasses``/``IsMale`` and the other
    sensors' columns (eye tracker, GSR) are not read.

    Parameters
    ----------
    path
        The export file.
    encoding
        Its text encoding (default UTF-8, with or without a byte-order mark; e.g. ``"cp1252"``
        for a Windows export).

    Returns
    -------
    xarray.Dataset
        A valid featx Dataset with ``source`` = the export's path.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ReaderError
        If the file has no FACET evidence columns, is not text in ``encoding`` or not
        tab-separated, a line is malformed, a value is not a number, a ``FrameNo`` is not a
        whole number >= -1 or comes back, a face box or the head pose (Pitch, Yaw) is
        incomplete, or a kept row without a face box holds evidence.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "facet.txt"
    >>> _ = path.write_text("FrameNo\\tMediaTime\\tAU1 Evidence\\tPitch Degrees\\tYaw Degrees\\n"
    ...                     "0\\t40\\t0\\t5\\t-2\\n")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):  # only AU1 of FACET's 20 AUs, and no Roll
    ...     ds = read_imotions(path)
    >>> ds["time"].item(), ds["au"].values.tolist(), ds["aus"].item()
    (0.04, ['AU01'], 0.5)
    >>> print(ds.attrs["reader_warnings"])  # doctest: +ELLIPSIS
    the AU columns are incomplete: 'AU2 Evidence', ... missing (19 of 20); those labels are left out
    no 'Roll Degrees' column (iMotions 5 exports none): roll is NaN
    """
    table = read_table(
        path, wanted=_wanted, sep="\t", preamble=lambda line: line[:1] == "#", encoding=encoding
    )
    short = _columns(table)
    aus = sorted((int(m[1]), name) for name in short if (m := _AU.fullmatch(name)))
    emotions = sorted(
        (n for n in short if n in FACET_EMOTIONS),
        key=lambda n: [*schema.EMOTIONS, *EXTRA_EMOTIONS].index(FACET_EMOTIONS[n]),
    )
    if not aus and not emotions:
        raise table.error("not an iMotions/FACET export: no '… Evidence' columns")
    _check_expected(table, short)

    n = len(table)
    if "FrameNo" in short:
        frame_no = table.numbers(short["FrameNo"])
        keep, dropped = video_frame_rows(frame_no)
        bad = ~np.isnan(frame_no) & (
            (frame_no != np.round(frame_no)) | (frame_no < -1) | (frame_no > 2**53)
        )
        if bad.any():
            i = int(np.argmax(bad))
            raise table.error(f"{frame_no[i]:g} is not a frame number", i, short["FrameNo"])
        _frame_rows_once(table, frame_no, keep, short["FrameNo"])
    else:
        refuse_repeated_rows(table, "without FrameNo every row is a new frame")
        frame_no, keep = np.arange(n, dtype=float), np.ones(n, dtype=bool)
        dropped = dict.fromkeys(DROPPED, 0)
    blocks: dict[str, Block] = {}
    labels: dict[str, list] = {}
    if any(name in short for name in FACE_RECT):
        table.require([short.get(name, name) for name in FACE_RECT], "FaceRect")
        box = table.block([short[name] for name in FACE_RECT])
        blocks["face_rect"] = Block(box, [short[name] for name in FACE_RECT])
        has_face = keep & ~np.isnan(box).all(axis=1)
        blocks["face_score"] = Block(np.where(has_face, 1.0, np.nan), [short["FaceRectX"]])
    if aus:
        columns = [short[name] for _, name in aus]
        evidence = table.block(columns)
        blocks["aus"] = Block(evidence_to_probability(evidence), columns)
        blocks["au_intensity"] = Block(evidence, columns)
        labels["au"] = [f"AU{k:02d}" for k, _ in aus]
    if emotions:
        columns = [short[name] for name in emotions]
        blocks["emotions"] = Block(evidence_to_probability(table.block(columns)), columns)
        labels["emotion"] = [FACET_EMOTIONS[name] for name in emotions]
    if any(name in short for name in POSE):
        table.require([short.get(a, f"{a} Degrees") for a in ("Pitch", "Yaw")], "head pose")
        if "Roll" not in short:
            table.warn("no 'Roll Degrees' column (iMotions 5 exports none): roll is NaN")
        nan = np.full(n, np.nan)
        pose = [table.numbers(short[a]) if a in short else nan for a in POSE]
        blocks["head_pose"] = Block(np.stack(pose, axis=1), [short.get(a, a) for a in POSE])

    if "face_rect" in blocks:
        present = keep.copy()
    else:
        values = np.concatenate([b.values for b in blocks.values()], axis=1)
        present = keep & ~np.isnan(values).all(axis=1)
    frame_of_row = np.cumsum(keep) - 1
    # MediaTime, else Timestamp: the first time column that is not empty on every kept row
    times = [(short[t], table.numbers(short[t])[keep]) for t in TIME if t in short]
    time_column, time_ms = next(
        ((c, v) for c, v in times if not np.isnan(v).all()), (None, np.full(keep.sum(), np.nan))
    )
    return rows_to_dataset(
        table,
        frame_of_row=frame_of_row,
        present=present,
        blocks=blocks,
        source=[table.name] * int(keep.sum()),
        source_frame=frame_no[keep].astype(np.int64),
        time=time_ms / 1000,
        labels=labels,
        var_attrs={
            "aus": {"kind": "evidence", "from": EVIDENCE_RULE},
            "au_intensity": {"scale": "log10 evidence", "from": "FACET AU evidence"},
            "emotions": {"kind": "score", "from": EVIDENCE_RULE},
            "head_pose": {"units": "degrees", "signs": "as exported by FACET (not converted)"},
            "face_score": {"from": "1.0: FACET reports no face confidence"},
        },
        attrs=reader_attrs(
            "Emotient FACET (iMotions)",
            "read_imotions",
            table.name,
            imotions_header="\n".join(table.preamble),
            imotions_time_column=time_column or "",
            rows_dropped=sum(dropped.values()),
            rows_dropped_why="; ".join(f"{k}: {why}" for why, k in dropped.items() if k),
        ),
        frame_coords={
            name: table.strings(short[name])[keep] for name in DESIGN_COLUMNS if name in short
        },
    )
