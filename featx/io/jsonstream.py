"""JSON values read one at a time from a file: the items of a top-level array, or a sequence
of values (one object, or JSON Lines), without holding the whole text or document in memory.

Each value comes with the line it starts on and its 1-based position. A syntax error is a
:class:`~featx.io.table.ReaderError` naming the file, line and column; a value nested deeper
than Python's parser allows is one too (never a ``RecursionError``).

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.json"
>>> _ = path.write_text('[{"a": 1},\\n {"a": 2}]')
>>> stream = JsonStream(path)
>>> [(value, line, number) for value, line, number in stream], stream.layout
([({'a': 1}, 1, 1), ({'a': 2}, 2, 2)], 'array')
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from featx.io.table import ReaderError, not_text

CHUNK = 1 << 20  # characters read at a time
_WHITESPACE = " \t\n\r"


class JsonStream:
    """Iterate over ``(value, line, number)`` for the JSON values of ``path``.

    ``layout`` is ``"array"`` when the file is one top-level array (its items are the values),
    else ``"sequence"`` (whitespace-separated values: one object, or JSON Lines); it is known
    once iteration has started.
    """

    def __init__(self, path: Path, encoding: str = "utf-8-sig", chunk: int = CHUNK) -> None:
        self.path, self.encoding, self.chunk = path, encoding, chunk
        self.layout = ""
        self._decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[tuple[object, int, int]]:
        try:
            with self.path.open(encoding=self.encoding) as f:
                self._file, self._buf, self._pos, self._eof = f, "", 0, False
                self._line, self._line_start, self._base = 1, 0, 0
                yield from self._values()
        except UnicodeDecodeError as err:
            raise not_text(self.path, self.encoding, err) from err

    # --- buffer --------------------------------------------------------------------------------

    def _fill(self, size: int) -> bool:
        """Append up to ``size`` more characters (dropping what was consumed); False at EOF."""
        text = self._file.read(size)
        self._base += self._pos
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        self._eof = not text
        return bool(text)

    def _advance(self, end: int) -> None:
        """Consume up to ``end``, counting lines."""
        newlines = self._buf.count("\n", self._pos, end)
        if newlines:
            self._line += newlines
            self._line_start = self._base + self._buf.rfind("\n", self._pos, end) + 1
        self._pos = end

    def _where(self, offset: int) -> str:
        """``line L, column C`` of buffer offset ``offset`` (at or after the read position)."""
        newlines = self._buf.count("\n", self._pos, offset)
        if newlines:
            start = self._base + self._buf.rfind("\n", self._pos, offset) + 1
        else:
            start = self._line_start
        return f"line {self._line + newlines}, column {self._base + offset - start + 1}"

    def _peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file), not consumed."""
        while True:
            end = self._pos
            while end < len(self._buf) and self._buf[end] in _WHITESPACE:
                end += 1
            self._advance(end)
            if self._pos < len(self._buf) or not self._fill(self.chunk):
                return self._buf[self._pos : self._pos + 1]

    def _error(self, message: str, offset: int | None = None) -> ReaderError:
        where = self._where(self._pos if offset is None else offset)
        return ReaderError(f"{self.path}, {where}: not JSON ({message})")

    # --- values --------------------------------------------------------------------------------

    def _value(self) -> tuple[object, int]:
        """Decode the next value, reading more of the file as needed; and its first line."""
        if not self._peek():
            raise self._error("expected a value, the file ends")
        line = self._line
        size = self.chunk
        while True:
            start = self._pos
            try:
                value, end = self._decoder.raw_decode(self._buf, start)
            except json.JSONDecodeError as err:
                if self._eof or not self._fill(size):
                    raise self._error(err.msg, err.pos - (start - self._pos)) from None
                size = max(size, len(self._buf))  # a long value: read as much again
                continue
            except RecursionError:
                raise self._error("nested deeper than featx reads") from None
            if end == len(self._buf) and not self._eof:  # a number may go on in the next chunk
                if self._fill(size):
                    continue
                end -= start  # the buffer now starts at the value
            self._advance(end)
            return value, line

    def _values(self) -> Iterator[tuple[object, int, int]]:
        first = self._peek()
        if first == "":
            raise ReaderError(f"{self.path}: no JSON value (the file is empty)")
        self.layout = "array" if first == "[" else "sequence"
        number = 0
        if self.layout == "sequence":
            while self._peek():
                number += 1
                yield *self._value(), number
            return
        self._advance(self._pos + 1)  # "["
        if self._peek() == "]":
            self._advance(self._pos + 1)
        else:
            while True:
                number += 1
                yield *self._value(), number
                mark = self._peek()
                if mark not in (",", "]"):
                    raise self._error("expected ',' or ']' after an array item")
                self._advance(self._pos + 1)
                if mark == "]":
                    break
        if self._peek():
            raise self._error("extra data after the array")
