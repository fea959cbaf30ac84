"""Affectiva output as JSON: one flat object per analysed image or frame.

Affectiva reports emotions and facial expressions as 0–100 scores and valence as −100–100.
featx divides by 100, maps the expressions with a standard FACS equivalent to AUs, and keeps
the other measures (smirk, attention, engagement) under their own names.

Examples
--------
>>> import json, pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "affectiva.json"
>>> _ = path.write_text(json.dumps({"joy": 90, "contempt": 5, "smile": 100, "smirk": 20,
...                                 "valence": 50, "FileName": "a.jpg", "Timestamp": 0}))
>>> ds = read_affectiva(path)
>>> ds["emotion"].values.tolist(), ds["emotions"].values.astype(float).round(2).tolist()
(['happiness', 'contempt'], [[[0.9, 0.05]]])
>>> ds["au"].values.tolist(), round(ds["smirk"].item(), 2), ds["valence"].item()
(['AU12'], 0.2, 0.5)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from featx.io.jsonstream import JsonStream
from featx.io.table import (
    Block,
    ReaderError,
    Table,
    check_bounds,
    check_path,
    codec_name,
    flat,
    reader_attrs,
    rows_to_dataset,
)

#: Affectiva emotion key -> featx label, in featx's order (canonical labels, then contempt).
AFFECTIVA_EMOTIONS = {
    "anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "happiness",
    "sadness": "sadness", "surprise": "surprise", "contempt": "contempt",
}  # fmt: skip
#: Affectiva expression key -> the FACS action unit it measures (Affectiva's documentation).
AFFECTIVA_AUS = {
    "innerBrowRaise": "AU01", "browRaise": "AU02", "browFurrow": "AU04", "eyeWiden": "AU05",
    "cheekRaise": "AU06", "lidTighten": "AU07", "noseWrinkle": "AU09",
    "upperLipRaise": "AU10", "smile": "AU12", "dimpler": "AU14", "lipCornerDepressor": "AU15",
    "chinRaise": "AU17", "lipPucker": "AU18", "lipStretch": "AU20", "lipPress": "AU24",
    "mouthOpen": "AU25", "jawDrop": "AU26", "lipSuck": "AU28", "eyeClosure": "AU43",
}  # fmt: skip
#: 0–100 measures without a featx variable, kept as (frame, face) coordinates scaled to 0..1.
OWN_NAMES = ("smirk", "attention", "engagement")


#: Every key the reader uses; other keys are dropped while the file is read.
KEYS = (*AFFECTIVA_EMOTIONS, *AFFECTIVA_AUS, *OWN_NAMES, "valence", "FileName", "Timestamp")
BATCH = 10_000  # objects turned into a DataFrame at a time


def _frame(batch: list[dict]) -> pd.DataFrame:
    """Objects as a DataFrame, one column per key (missing keys are None; pandas infers each
    column's dtype). Built column by column: ``DataFrame.from_records`` holds several times
    the memory."""
    keys = dict.fromkeys(key for record in batch for key in record)
    return pd.DataFrame({key: pd.Series([r.get(key) for r in batch]) for key in keys})


def _records(path: Path, encoding: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The :data:`KEYS` of a file's JSON objects (one object, an array of objects, or JSON
    Lines) as a DataFrame, read object by object; the line or position of each, and the word
    for it."""
    stream = JsonStream(path, encoding)
    batches: list[pd.DataFrame] = []
    batch: list[dict] = []
    lines: list[int] = []
    for value, line, number in stream:
        if not isinstance(value, dict):
            where = f"object {number}" if stream.layout == "array" else f"line {line}"
            raise ReaderError(
                f"{path}, {where}: expected a JSON object, got {type(value).__name__}"
            )
        batch.append({k: v for k, v in value.items() if k in KEYS})
        lines.append(line)
        if len(batch) == BATCH:
            batches.append(_frame(batch))
            batch = []
    batches.append(_frame(batch))
    data = pd.concat(batches, ignore_index=True, sort=False) if len(batches) > 1 else batches[0]
    data = data.reindex(range(len(lines)))  # objects without any key still count
    if stream.layout == "array" or len(lines) == 1:
        return data, np.arange(1, len(lines) + 1), "object"
    return data, np.array(lines, dtype=np.int64), "line"


def read_affectiva(path: str | os.PathLike, *, encoding: str = "utf-8") -> xr.Dataset:
    """Read Affectiva JSON output: one object, an array of objects, or one object per line.

    Each object is one image or video frame with at most one face (it has a face when any
    measure below is present):

    - emotions 0–100 → ``emotions`` 0..1, kind "score": ``joy`` → happiness, ``anger``,
      ``disgust``, ``fear``, ``sadness``, ``surprise`` (canonical order), then ``contempt``
      (Affectiva has no neutral)
    - expressions 0–100 → ``aus`` 0..1, kind "score", where the FACS equivalent is standard
      (``AFFECTIVA_AUS``: ``innerBrowRaise`` → AU01 … ``smile`` → AU12 …
      ``eyeClosure`` → AU43)
    - ``smirk``, ``attention``, ``engagement`` (0–100) → (frame, face) coordinates of those
      names, 0..1
    - ``valence`` −100–100 → ``valence`` −1..1; ``face_score`` is 1.0 (no confidence given)
    - ``FileName`` → ``source`` (the JSON's path when absent); objects of the same source are
      its frames 0, 1, …; ``Timestamp`` → ``time``, except NaN for a source with one object
      (a still image). Other keys are ignored.

    The file is read object by object (peak memory grows with the number of objects, not with
    the text). Two objects of one source with the same ``Timestamp`` are refused (a repeated
    frame). An object with a face that lacks a measure other objects have is a
    :class:`~featx.io.table.ReaderWarning`, kept in the ``reader_warnings`` attr (the value is
    NaN).

    Parameters
    ----------
    path
        The JSON file.
    encoding
        Its text encoding (default UTF-8, with or without a byte-order mark).

    Returns
    -------
    xarray.Dataset
        A valid featx Dataset.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ReaderError
        If the file is not JSON (or nests deeper than Python's parser allows), an item is not
        an object, no object holds an Affectiva measure, a value is not a number or out of
        range, or a frame is repeated; the message names the file, the line (JSON Lines) or
        object (1-based) and the key.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "video.json"
    >>> rows = [{"FileName": "v.mp4", "Timestamp": t, "joy": 10 * t} for t in (0, 1, 2)]
    >>> _ = path.write_text("\\n".join(json.dumps(r) for r in rows))
    >>> ds = read_affectiva(path)
    >>> ds["source_frame"].values.tolist(), ds["time"].values.tolist()
    ([0, 1, 2], [0.0, 1.0, 2.0])
    """
    path = check_path(path)
    data, positions, word = _records(path, codec_name(encoding))
    table = Table(str(path), data, positions, tuple(data.columns), row_word=word, column_word="key")
    emotions = [key for key in AFFECTIVA_EMOTIONS if table.has(key)]
    expressions = sorted((au, key) for key, au in AFFECTIVA_AUS.items() if table.has(key))
    own = [name for name in OWN_NAMES if table.has(name)]
    if not (emotions or expressions or own or table.has("valence")):
        raise table.error("not Affectiva output: no emotion, expression or valence key")

    n = len(table)
    blocks: dict[str, Block] = {}
    if emotions:
        blocks["emotions"] = Block(table.block(emotions) / 100, emotions)
    if expressions:
        columns = [key for _, key in expressions]
        blocks["aus"] = Block(table.block(columns) / 100, columns)
    if table.has("valence"):
        blocks["valence"] = Block(table.numbers("valence") / 100, ["valence"])
    extras = {name: Block(table.numbers(name) / 100, [name]) for name in own}
    values = [flat(b.values) for b in (*blocks.values(), *extras.values())]
    values = np.concatenate(values, axis=1)
    present = ~np.isnan(values).all(axis=1)
    gaps = present & np.isnan(values).any(axis=1)
    if gaps.any():
        i = int(np.argmax(gaps))
        names = [c for b in (*blocks.values(), *extras.values()) for c in b.columns]
        table.warn(
            f"{int(gaps.sum())} objects with a face lack a measure other objects have (first: "
            f"{word} {positions[i]} has no {names[int(np.argmax(np.isnan(values[i])))]!r}); "
            "those values are NaN"
        )
    for block in extras.values():
        check_bounds(table, block, np.flatnonzero(present), 0.0, 1.0, "Affectiva's 0–100 scale")
    blocks["face_score"] = Block(np.where(present, 1.0, np.nan), ["(none)"])

    source = table.strings("FileName") if table.has("FileName") else np.full(n, "")
    source[source == ""] = str(path)
    source_frame = pd.Series(source).groupby(source).cumcount().to_numpy()
    time = table.numbers("Timestamp") if table.has("Timestamp") else np.full(n, np.nan)
    keys = pd.DataFrame({"source": source, "time": time})
    repeated = keys.duplicated().to_numpy() & ~np.isnan(time)
    if repeated.any():
        i = int(np.argmax(repeated))
        j = int(np.argmax((source == source[i]) & (time == time[i])))
        raise table.error(
            f"repeats the FileName and Timestamp of {word} {positions[j]} (a frame read twice)",
            i,
            "Timestamp",
        )
    still = pd.Series(source).map(pd.Series(source).value_counts()).to_numpy() == 1
    time[still] = np.nan
    return rows_to_dataset(
        table,
        frame_of_row=np.arange(n),
        present=present,
        blocks=blocks,
        source=[str(s) for s in source],
        source_frame=source_frame,
        time=time,
        labels={
            "emotion": [AFFECTIVA_EMOTIONS[key] for key in emotions],
            "au": [au for au, _ in expressions],
        },
        var_attrs={
            "emotions": {"kind": "score", "from": "Affectiva emotions 0-100, divided by 100"},
            "aus": {"kind": "score", "from": "Affectiva expressions 0-100, divided by 100"},
            "face_score": {"from": "1.0: Affectiva reports no face confidence"},
        },
        attrs=reader_attrs("Affectiva", "read_affectiva", str(path)),
        face_coords={name: block.values for name, block in extras.items()},
    )
