"""What every reader shares: :class:`ReaderError`, delimited text with line numbers, rows → Dataset.

A reader parses its file into a :class:`Table` (columns by name, each row's line number), turns
columns into per-row blocks of values (one block per featx variable, each value traced to the
column it came from), and :func:`rows_to_dataset` groups the rows into frames and face slots,
checks value ranges and ends with :func:`featx.schema.validate`. Every problem is a
:class:`ReaderError` naming the file and the line or column.

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_text("frame, AU01\\n1, 0.5\\n2, x\\n")
>>> table = read_table(path, wanted=lambda name: True)
>>> table.columns
('frame', 'AU01')
>>> table.numbers("AU01")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
featx.io.table.ReaderError: ...t.csv, line 3, column 'AU01': 'x' is not a number featx can store
"""

from __future__ import annotations

import codecs
import csv
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from featx import schema

FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Emotion labels readers add after the canonical seven (lowercase, in this order).
EXTRA_EMOTIONS = ("contempt", "confusion", "frustration", "positive", "negative")


class ReaderError(ValueError):
    """A file cannot be read in the format asked for; the message names the file and the line
    (or row, or JSON object) and the column (or key) at fault."""


class ReaderWarning(UserWarning):
    """A file was read, but something a reader expects was missing; the Dataset's
    ``reader_warnings`` attr keeps the message."""


@dataclass(frozen=True)
class Table:
    """Columns of a delimited text file (or a DataFrame) with the line each row came from.

    Attributes
    ----------
    name
        The file path (or ``"<DataFrame>"``), quoted in every error.
    data
        The columns that were read, named as in the header without surrounding spaces.
    rows
        For each row, its line number in the file (1-based), or its position in a DataFrame.
    columns
        Every header name, in file order.
    preamble
        Lines before the header (iMotions' ``#`` lines), without line endings.
    row_word, column_word
        How errors name a row and a column: ``"line"``/``"column"`` for text files,
        ``"row"`` for DataFrames, ``"object"``/``"key"`` for JSON.
    warnings
        Messages :meth:`warn` collected; :func:`rows_to_dataset` records them.
    """

    name: str
    data: pd.DataFrame
    rows: np.ndarray
    columns: tuple[str, ...]
    preamble: tuple[str, ...] = ()
    row_word: str = "line"
    column_word: str = "column"
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.data)

    def error(self, message: str, row: int | None = None, column: str | None = None):
        """A :class:`ReaderError` for ``message`` at row index ``row`` / ``column``."""
        where = [self.name]
        if row is not None:
            where.append(f"{self.row_word} {self.rows[row]}")
        if column is not None:
            where.append(f"{self.column_word} {column!r}")
        return ReaderError(f"{', '.join(where)}: {message}")

    def warn(self, message: str) -> None:
        """Keep ``message`` for the Dataset's ``reader_warnings`` attr and warn now."""
        self.warnings.append(message)
        warnings.warn(f"{self.name}: {message}", ReaderWarning, stacklevel=3)

    def expect(self, names: Sequence[str], group: str, have: Sequence[str] | None = None) -> None:
        """Warn (see :meth:`warn`) when only some of ``names`` are among ``have`` (default:
        the columns read)."""
        have = set(self.data.columns if have is None else have)
        missing = [n for n in names if n not in have]
        if missing and len(missing) < len(names):
            shown = ", ".join(repr(n) for n in missing[:5]) + (" …" if len(missing) > 5 else "")
            self.warn(
                f"the {group} columns are incomplete: {shown} missing "
                f"({len(missing)} of {len(names)}); those labels are left out"
            )

    def has(self, *names: str) -> bool:
        """True if every one of ``names`` was read."""
        return all(n in self.data.columns for n in names)

    def numbers(self, name: str) -> np.ndarray:
        """Column ``name`` as float64; empty cells are NaN, anything else that is not a finite
        number within float32's range raises :class:`ReaderError` naming the line and column."""
        column = self.data[name]
        if column.dtype.kind in "iuf":
            values = column.to_numpy(dtype=float, copy=True)
            bad = np.isinf(values)
        else:
            text = column.astype("string").str.strip().replace("", pd.NA)
            values = np.full(len(column), np.nan)
            if column.dtype.kind != "b":  # True/False are not numbers
                values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            bad = (np.isnan(values) & text.notna().to_numpy()) | np.isinf(values)
        bad |= np.abs(values) > FLOAT32_MAX  # featx stores float32
        if bad.any():
            i = int(np.argmax(bad))
            raise self.error(f"{_shown(column.iloc[i])} is not a number featx can store", i, name)
        return values

    def whole_numbers(self, name: str, minimum: int = 0) -> np.ndarray:
        """Column ``name`` as int64: every cell must hold a whole number >= ``minimum``."""
        values = self.numbers(name)
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < minimum)
        bad |= np.abs(values) > 2**53
        if bad.any():
            i = int(np.argmax(bad))
            raise self.error(
                f"{_shown(self.data[name].iloc[i])} is not a whole number >= {minimum}", i, name
            )
        return values.astype(np.int64)

    def strings(self, name: str) -> np.ndarray:
        """Column ``name`` as an object array of str ("" for empty cells)."""
        column = self.data[name]
        missing = column.isna().to_numpy()
        text = ["" if m else str(v).strip() for v, m in zip(column, missing, strict=True)]
        return np.array(text, dtype=object)

    def block(self, names: Sequence[str]) -> np.ndarray:
        """The columns ``names`` side by side, as a (rows, len(names)) float64 array."""
        return np.stack([self.numbers(n) for n in names], axis=1)

    def require(self, names: Sequence[str], group: str) -> None:
        """Raise unless every one of ``names`` is present (a group is all or nothing)."""
        missing = [n for n in names if n not in self.data.columns]
        if missing:
            raise self.error(
                f"the {group} columns are incomplete: {missing[0]!r} is missing "
                f"({len(missing)} of {len(names)} missing)"
            )


def _shown(value) -> str:
    """A cell as the user wrote it: numbers plainly, anything else quoted."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return f"{float(value):g}"
    return repr(value)


def _fields(line: str, sep: str) -> int:
    text = line.rstrip("\r\n")
    if '"' not in text:
        return text.count(sep) + 1
    return len(next(csv.reader([text], delimiter=sep, skipinitialspace=True, strict=True)))


def check_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path; FileNotFoundError if missing, ReaderError if a folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise ReaderError(f"{path}: is a folder, not a file")
    return path


def read_table(
    path: str | os.PathLike,
    *,
    wanted: Callable[[str], bool],
    sep: str = ",",
    preamble: Callable[[str], bool] = lambda line: False,
    encoding: str = "utf-8",
) -> Table:
    """Read the ``wanted`` columns of a delimited text file, keeping each row's line number.

    Every line is checked to hold as many fields as the header before pandas parses the file,
    so a truncated or overlong line is an error, not a silent NaN.

    Parameters
    ----------
    path
        The file (any line endings).
    wanted
        Called with each header name (surrounding spaces removed); True keeps the column.
    sep
        The field separator.
    preamble
        True for lines before the header that are to be kept aside (blank lines before the
        header are always skipped).
    encoding
        The file's text encoding; ``"utf-8"`` (the default) also accepts a byte-order mark.
        Windows exports are often ``"cp1252"``.

    Returns
    -------
    Table

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ReaderError
        If the file is not text in ``encoding``, has no header, a header that another
        delimiter splits but ``sep`` does not ("wrong delimiter"), a repeated column name, or a
        line whose number of fields differs from the header's.
    """
    path = check_path(path)
    encoding = codec_name(encoding)
    lead: list[str] = []
    header: list[str] | None = None
    header_line = 0
    rows: list[int] = []
    number = 0
    try:
        with path.open(encoding=encoding, newline="") as f:
            for number, line in enumerate(f, start=1):
                text = line.rstrip("\r\n")
                if header is None:
                    if not text.strip() or preamble(text):
                        if text.strip():
                            lead.append(text)
                        continue
                    fields = csv.reader([text], delimiter=sep, skipinitialspace=True)
                    header = [h.strip() for h in next(fields)]
                    header_line = number
                    _check_delimiter(path, number, text, header, sep)
                    continue
                if not text:
                    continue
                n = _fields(text, sep)
                if n != len(header):
                    raise ReaderError(
                        f"{path}, line {number}: {n} fields, but the header (line "
                        f"{header_line}) has {len(header)}"
                    )
                rows.append(number)
    except UnicodeDecodeError as err:
        raise not_text(path, encoding, err) from err
    except csv.Error as err:
        raise ReaderError(f"{path}, line {number}: {err}") from err
    if header is None:
        raise ReaderError(f"{path}: no header line (the file is empty)")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise ReaderError(f"{path}, line {header_line}: column {name!r} appears twice")
        seen.add(name)
    keep = {h for h in header if wanted(h)} or {header[0]}  # pandas counts rows by a column
    try:
        # In chunks of rows: pandas' tokenizer holds every field of the rows it parses (the
        # columns not kept too), so one whole-file pass peaked at 2.4x a 200 MiB file.
        chunks = pd.read_csv(
            path,
            sep=sep,
            skiprows=header_line - 1,
            header=0,
            usecols=lambda raw: raw.strip() in keep,
            encoding=encoding,
            skipinitialspace=True,
            chunksize=CHUNK_ROWS,
        )
        with chunks:
            data = pd.concat(list(chunks), ignore_index=True)
    except (pd.errors.ParserError, ValueError) as err:
        raise ReaderError(f"{path}: cannot parse ({err})") from err
    if len(data) != len(rows):
        raise ReaderError(f"{path}: a quoted field is not closed (check the quotes)")
    data.columns = [str(c).strip() for c in data.columns]
    return Table(str(path), data, np.array(rows, dtype=np.int64), tuple(header), tuple(lead))


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def not_text(path: Path, encoding: str, err: UnicodeDecodeError) -> ReaderError:
    """The :class:`ReaderError` for a file that is not text in ``encoding``, naming the first
    line that does not decode (and, for UTF-8, the Windows encoding to try)."""
    with path.open("rb") as f:
        line = next((n for n, raw in enumerate(f, start=1) if not _decodes(raw, encoding)), 0)
    hint = " (pass encoding='cp1252' for a Windows export)" if encoding == "utf-8-sig" else ""
    name = encoding.removesuffix("-sig")
    return ReaderError(f"{path}, line {line}: not {name} text ({err.reason}){hint}")


def codec_name(encoding: str) -> str:
    """The codec to open a file with (UTF-8 reads past a byte-order mark)."""
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ValueError(f"encoding must be a Python codec name, got {encoding!r}") from None
    return "utf-8-sig" if name == "utf-8" else name


_DELIMITERS = {",": "','", "\t": "tab", ";": "';'", "|": "'|'"}
#: Rows pandas parses at a time (memory: about this many rows of every column in the file).
CHUNK_ROWS = 5000


def _check_delimiter(path: Path, number: int, text: str, header: list[str], sep: str) -> None:
    """Refuse a header that ``sep`` leaves whole but another delimiter splits."""
    if len(header) > 1:
        return
    for other, word in _DELIMITERS.items():
        if other != sep and len(text.split(other)) > 2:
            raise ReaderError(
                f"{path}, line {number}: wrong delimiter: the header is separated by {word}, "
                f"this reader expects {_DELIMITERS.get(sep, repr(sep))}"
            )


def table_from_dataframe(frame: pd.DataFrame) -> Table:
    """A :class:`Table` over an in-memory DataFrame (e.g. Py-Feat's Fex); rows are positions."""
    names = [str(c).strip() for c in frame.columns]
    duplicated = pd.Index(names)[pd.Index(names).duplicated()]
    if len(duplicated):
        raise ReaderError(f"<DataFrame>: column {duplicated[0]!r} appears twice")
    data = frame.reset_index(drop=True).set_axis(names, axis=1)
    return Table("<DataFrame>", data, np.arange(len(frame)), tuple(names), row_word="row")


# --- rows -> Dataset ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One featx variable's values for every row, and the column each value came from.

    ``values`` has shape (rows, *trailing) in featx units; ``columns`` has one name per
    trailing element (flattened, C order), used in error messages.
    """

    values: np.ndarray
    columns: Sequence[str]


def flat(values: np.ndarray) -> np.ndarray:
    """(rows, ...) → (rows, elements), also when there are no rows."""
    return values.reshape(len(values), math.prod(values.shape[1:]))


def check_bounds(
    table: Table, block: Block, rows: np.ndarray, lo: float, hi: float, what: str
) -> None:
    """Raise :class:`ReaderError` at the first of ``rows`` where ``block`` leaves [lo, hi]."""
    values = flat(block.values[rows])
    tol = schema.RANGE_TOLERANCE
    bad = (values < lo - tol) | (values > hi + tol)
    if bad.any():
        r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise table.error(
            f"{values[r, c]:g} is outside [{lo:g}, {hi:g}], {what}", int(rows[r]), block.columns[c]
        )


def check_range(table: Table, name: str, block: Block, rows: np.ndarray) -> None:
    """Raise :class:`ReaderError` at the first of ``rows`` where ``block`` leaves the range the
    schema allows for variable ``name`` (for ``face_rect``: width and height >= 0)."""
    if name == "face_rect":
        sizes = Block(block.values[:, 2:], list(block.columns)[2:])
        check_bounds(table, sizes, rows, 0.0, np.inf, "but a face box size cannot be negative")
    elif schema.VARIABLES[name][1] is not None:
        lo, hi = schema.VARIABLES[name][1]
        check_bounds(table, block, rows, lo, hi, f"the range of featx's {name!r}")


def _rows_with_box(table: Table, blocks: Mapping[str, Block], rows: np.ndarray) -> np.ndarray:
    """Those of ``rows`` that hold a face box; a partial box, or values in a row without a
    box, is an error."""
    if "face_rect" not in blocks:
        return rows
    rect = blocks["face_rect"]
    missing = np.isnan(rect.values[rows])
    partial = missing.any(axis=1) & ~missing.all(axis=1)
    if partial.any():
        r = int(np.argmax(partial))
        c = int(np.argmax(missing[r]))
        raise table.error("the face box is incomplete", int(rows[r]), rect.columns[c])
    empty = rows[missing.all(axis=1)]
    for name, block in blocks.items():
        if name == "face_rect" or not len(empty):
            continue
        values = flat(block.values[empty])
        fill = schema.INTEGER_FILL.get(name)
        filled = values != fill if fill is not None else ~np.isnan(values)
        if filled.any():
            r, c = np.unravel_index(int(np.argmax(filled)), filled.shape)
            raise table.error(
                "the row has no face box but holds values", int(empty[r]), block.columns[c]
            )
    return rows[~missing.all(axis=1)]


def rows_to_dataset(
    table: Table,
    *,
    frame_of_row: np.ndarray,
    present: np.ndarray,
    blocks: Mapping[str, Block],
    source: Sequence[str],
    source_frame: Sequence[int],
    time: Sequence[float],
    slot_key: np.ndarray | None = None,
    labels: Mapping[str, Sequence] | None = None,
    var_attrs: Mapping[str, Mapping] | None = None,
    attrs: Mapping | None = None,
    frame_coords: Mapping[str, np.ndarray] | None = None,
    face_coords: Mapping[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """Group table rows into frames and face slots and build a validated featx Dataset.

    Parameters
    ----------
    table
        The rows' table (for error messages).
    frame_of_row
        For each row, the index (0..F−1) of the frame it belongs to.
    present
        For each row, whether it holds a face; other rows only make their frame exist.
    blocks
        featx variable name → :class:`Block` over all rows.
    source, source_frame, time
        One value per frame.
    slot_key
        Orders the faces within a frame (default: row order).
    labels, var_attrs, attrs
        As for :func:`featx.schema.from_frames`.
    frame_coords
        Extra coordinates along ``frame`` (one value per frame).
    face_coords
        Extra per-face measurements kept as (frame, face) coordinates (one value per row).

    Raises
    ------
    ReaderError
        If a value is out of its range, a face box is incomplete, a row without a face box
        carries values, or the result breaks the schema.
    """
    n_frames = len(source)
    rows = np.flatnonzero(present)
    key = np.arange(len(frame_of_row)) if slot_key is None else slot_key
    rows = rows[np.lexsort((key[rows], frame_of_row[rows]))]
    for name, block in blocks.items():
        check_range(table, name, block, rows)
    rows = _rows_with_box(table, blocks, rows)

    starts = np.searchsorted(frame_of_row[rows], np.arange(n_frames + 1))
    frames = _Frames({name: block.values[rows] for name, block in blocks.items()}, starts)
    if table.warnings:
        attrs = {**(attrs or {}), "reader_warnings": "\n".join(table.warnings)}
    try:
        ds = schema.from_frames(
            frames, source, source_frame, time, labels=labels, var_attrs=var_attrs, attrs=attrs
        )
    except schema.SchemaError as err:
        raise table.error(str(err)) from err
    slot = np.arange(len(rows)) - starts[frame_of_row[rows]]
    for name, values in (face_coords or {}).items():
        out = np.full((n_frames, ds.sizes["face"]), np.nan, dtype=np.float32)
        out[frame_of_row[rows], slot] = values[rows]
        ds = ds.assign_coords({name: (("frame", "face"), out)})
    for name, values in (frame_coords or {}).items():
        ds = ds.assign_coords({name: ("frame", values)})
    try:
        schema.validate(ds)
    except schema.SchemaError as err:
        raise table.error(str(err)) from err
    return ds


class _Frames(Sequence):
    """The per-frame mappings :func:`featx.schema.from_frames` takes, made when asked for:
    frame i is rows ``starts[i]:starts[i + 1]`` of each of ``ordered`` (views, no copies), so a
    file of many frames does not hold one dict per frame."""

    def __init__(self, ordered: dict[str, np.ndarray], starts: np.ndarray) -> None:
        self.ordered, self.starts = ordered, starts.tolist()

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __iter__(self):
        items = list(self.ordered.items())
        for a, b in zip(self.starts[:-1], self.starts[1:], strict=True):
            yield {name: values[a:b] for name, values in items} if b > a else {}

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        a, b = self.starts[i % len(self)], self.starts[i % len(self) + 1]
        return {name: values[a:b] for name, values in self.ordered.items()} if b > a else {}


def refuse_repeated_rows(table: Table, what: str) -> None:
    """Raise :class:`ReaderError` at the first row whose every read cell equals an earlier
    row's (``what`` says why such a row cannot be a new face or frame)."""
    hashes = pd.util.hash_pandas_object(table.data, index=False).to_numpy()
    repeated = pd.Series(hashes).duplicated().to_numpy()
    for i in np.flatnonzero(repeated):
        for j in np.flatnonzero(hashes[:i] == hashes[i]):
            if (
                table.data.iloc[[i]]
                .reset_index(drop=True)
                .equals(table.data.iloc[[j]].reset_index(drop=True))
            ):
                raise table.error(
                    f"the row repeats {table.row_word} {table.rows[j]} cell for cell ({what}); "
                    "remove the repeat",
                    int(i),
                )


def frames_from_keys(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct key tuples in order of first appearance.

    Returns the frame index of every row and, for every frame, the row where it first appears.
    """
    codes = (
        pd.DataFrame({i: k for i, k in enumerate(keys)})
        .groupby(list(range(len(keys))), sort=False, dropna=False)
        .ngroup()
    )
    codes = codes.to_numpy(dtype=np.int64)
    _, first = np.unique(codes, return_index=True)
    return codes, first


def reader_attrs(tool: str, reader: str, name: str, **extra) -> dict:
    """The Dataset attrs every reader sets: the tool, the reader and the file read."""
    return {"detector": tool, "reader": f"featx.io.{reader}", "read_from": name, **extra}
