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

import json
import os

import numpy as np
import pandas as pd
import xarray as xr

from featx.io.table import (
    Block,
    ReaderError,
    Table,
    check_bounds,
    check_path,
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


def _records(path) -> tuple[list, np.ndarray, str]:
    """The JSON objects of a file (one object, an array of objects, or JSON Lines), the
    line or position of each, and the word for it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReaderError(f"{path}: not UTF-8 text ({err.reason})") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as whole:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        try:
            first_is_object = bool(lines) and isinstance(json.loads(lines[0][1]), dict)
        except json.JSONDecodeError:
            first_is_object = False
        if not first_is_object:
            raise ReaderError(
                f"{path}, line {whole.lineno}, column {whole.colno}: not JSON ({whole.msg})"
            ) from whole
        records = []
        for number, line in lines:  # JSON Lines: one object per line
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ReaderError(
                    f"{path}, line {number}, column {err.colno}: not JSON ({err.msg})"
                ) from err
        return records, np.array([n for n, _ in lines]), "line"
    records = doc if isinstance(doc, list) else [doc]
    return records, np.arange(1, len(records) + 1), "object"


def read_affectiva(path: str | os.PathLike) -> xr.Dataset:
    """Read Affectiva JSON output: one object, an array of objects, or one object per line.

    Each object is one image or video frame with at most one face (it has a face when any
    measure below is present):

    - emotions 0–100 → ``emotions`` 0..1, kind "score": ``joy`` → happiness, ``anger``,
      ``disgust``, ``fear``, ``sadness``, ``surprise`` (canonical order), then ``contempt``
      (Affectiva has no neutral)
    - expressions 0–100 → ``aus`` 0..1, kind "score", where the FACS equivalent is standard
      (:data:`AFFECTIVA_AUS`: ``innerBrowRaise`` → AU01 … ``smile`` → AU12 …
      ``eyeClosure`` → AU43)
    - ``smirk``, ``attention``, ``engagement`` (0–100) → (frame, face) coordinates of those
      names, 0..1
    - ``valence`` −100–100 → ``valence`` −1..1; ``face_score`` is 1.0 (no confidence given)
    - ``FileName`` → ``source`` (the JSON's path when absent); objects of the same source are
      its frames 0, 1, …; ``Timestamp`` → ``time``, except NaN for a source with one object
      (a still image). Other keys are ignored.

    Parameters
    ----------
    path
        The JSON file.

    Returns
    -------
    xarray.Dataset
        A valid featx Dataset.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ReaderError
        If the file is not JSON, an item is not an object, no object holds an Affectiva
        measure, or a value is not a number or out of range; the message names the file,
        the line (JSON Lines) or object (1-based) and the key.

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
    records, positions, word = _records(path)
    for position, record in zip(positions, records, strict=True):
        if not isinstance(record, dict):
            raise ReaderError(
                f"{path}, {word} {position}: expected a JSON object, got {type(record).__name__}"
            )
    data = pd.DataFrame.from_records(records, index=range(len(records)))
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
    present = ~np.isnan(np.concatenate(values, axis=1)).all(axis=1)
    for block in extras.values():
        check_bounds(table, block, np.flatnonzero(present), 0.0, 1.0, "Affectiva's 0–100 scale")
    blocks["face_score"] = Block(np.where(present, 1.0, np.nan), ["(none)"])

    source = table.strings("FileName") if table.has("FileName") else np.full(n, "")
    source[source == ""] = str(path)
    source_frame = pd.Series(source).groupby(source).cumcount().to_numpy()
    time = table.numbers("Timestamp") if table.has("Timestamp") else np.full(n, np.nan)
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
