"""Readers refuse, or warn about, partial and repeated input: incomplete column groups, a
missing ``input``, another delimiter, another encoding, duplicated rows, deep or large JSON.

Files are written with the helpers of tests/test_readers.py, in the layouts the tools document.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_readers import (
    AFFECTIVA_OBJECT,
    VALID,
    _facet_header,
    _facet_row,
    _openface_row,
    _openface_text,
    _v1_rows,
    _write_facet,
)

from featx import io, schema
from featx.io import ReaderError, ReaderWarning
from featx.io.jsonstream import JsonStream

# --- incomplete groups -------------------------------------------------------------------------


@pytest.mark.parametrize("gone", ["Yaw Degrees", "Pitch Degrees"])
def test_imotions_refuses_an_incomplete_pose(tmp_path, gone):
    header = [c for c in _facet_header(6) if c != gone]
    rows = [_facet_row(np.random.default_rng(1), header, 0)]
    with pytest.raises(ReaderError, match=rf"pose.txt: the head pose .* {gone!r} is missing"):
        io.read_imotions(_write_facet(tmp_path / "pose.txt", 6, rows, header))


def test_imotions_missing_au_and_roll_are_recorded_warnings(tmp_path):
    header = [c for c in _facet_header(6) if c not in ("AU17 Evidence", "Roll Degrees")]
    rows = [_facet_row(np.random.default_rng(2), header, 0)]
    with pytest.warns(ReaderWarning) as caught:
        ds = io.read_imotions(_write_facet(tmp_path / "au.txt", 6, rows, header))
    assert len(caught) == 2 and all("au.txt" in str(w.message) for w in caught)
    recorded = ds.attrs["reader_warnings"].splitlines()
    assert recorded[0].startswith("the AU columns are incomplete: 'AU17 Evidence' missing (1 of")
    assert recorded[1].startswith("no 'Roll Degrees' column")
    assert "AU17" not in ds["au"].values.tolist() and ds.sizes["au"] == 19
    # and the complete export has none
    full = _facet_header(6)
    complete = io.read_imotions(
        _write_facet(
            tmp_path / "full.txt", 6, [_facet_row(np.random.default_rng(2), full, 0)], full
        )
    )
    assert "reader_warnings" not in complete.attrs


def test_fex_missing_au_or_emotion_is_a_recorded_warning(tmp_path):
    path = tmp_path / "au.csv"
    _v1_rows().drop(columns=["AU12", "neutral"]).to_csv(path, index=False)
    with pytest.warns(ReaderWarning, match="au.csv"):
        ds = io.read_fex(path)
    recorded = ds.attrs["reader_warnings"]
    assert "the AU columns are incomplete: 'AU12' missing (1 of 20)" in recorded
    assert "the emotion columns are incomplete: ['neutral'] missing" in recorded


def test_openface_missing_au_is_a_recorded_warning(tmp_path):
    rng = np.random.default_rng(3)
    text = _openface_text([_openface_row(rng, 1), _openface_row(rng, 2)])
    header, *lines = text.splitlines()
    names = header.split(", ")
    i = names.index("AU12_r")
    cut = [
        ", ".join(c for k, c in enumerate(line.split(", ")) if k != i) for line in text.splitlines()
    ]
    path = tmp_path / "of.csv"
    path.write_text("\n".join(cut) + "\n")
    with pytest.warns(ReaderWarning, match="of.csv: the AU intensity columns are incomplete"):
        ds = io.read_openface(path)
    assert "'AU12_r' missing (1 of 17)" in ds.attrs["reader_warnings"]
    assert np.isnan(ds["au_intensity"].sel(au="AU12")).all()  # kept as a label, NaN


def test_fex_without_input_says_so(tmp_path):
    path = tmp_path / "noinput.csv"
    _v1_rows().drop(columns="input").to_csv(path, index=False)
    with pytest.warns(ReaderWarning, match="no 'input' column"):
        ds = io.read_fex(path)
    assert ds["source"].values.tolist() == [str(path)] * 3
    assert ds.attrs["reader_warnings"] == f"no 'input' column: every row's source is {str(path)!r}"


# --- delimiter and encoding --------------------------------------------------------------------


def test_wrong_delimiter_is_named(tmp_path):
    path = tmp_path / "semicolon.csv"
    _v1_rows().to_csv(path, index=False, sep=";")
    with pytest.raises(ReaderError, match=r"semicolon.csv, line 1: wrong delimiter: .* by ';'"):
        io.read_fex(path)
    header = _facet_header(6)
    comma = _write_facet(
        tmp_path / "comma.txt", 6, [_facet_row(np.random.default_rng(4), header, 0)], header
    )
    comma.write_text(comma.read_text().replace("\t", ","))
    with pytest.raises(ReaderError, match="wrong delimiter: the header is separated by ','"):
        io.read_imotions(comma)


def test_windows_1252_needs_and_takes_encoding(tmp_path):
    rows = _v1_rows().assign(input=["café.jpg", "Bühne.mp4", "Bühne.mp4"])
    path = tmp_path / "windows.csv"
    rows.to_csv(path, index=False, encoding="cp1252")
    with pytest.raises(ReaderError, match=r"windows.csv, line 2: not utf-8 .*encoding='cp1252'"):
        io.read_fex(path)
    ds = io.read_fex(path, encoding="cp1252")
    assert ds["source"].values.tolist() == ["café.jpg", "Bühne.mp4", "Bühne.mp4"]
    with pytest.raises(ValueError, match="encoding must be a Python codec"):
        io.read_fex(path, encoding="no-such-codec")
    header = _facet_header(6)
    row = _facet_row(np.random.default_rng(5), header, 0) | {"StimulusName": "Café"}
    facet = tmp_path / "facet.txt"
    facet.write_bytes(_write_facet(facet, 6, [row], header).read_text().encode("cp1252"))
    assert io.read_imotions(facet, encoding="cp1252")["StimulusName"].values.tolist() == ["Café"]
    affectiva = tmp_path / "a.json"
    affectiva.write_bytes(
        json.dumps({"joy": 5, "FileName": "é.jpg"}, ensure_ascii=False).encode("cp1252")
    )
    with pytest.raises(ReaderError, match="a.json, line 1: not utf-8"):
        io.read_affectiva(affectiva)
    assert io.read_affectiva(affectiva, encoding="cp1252")["source"].values.tolist() == ["é.jpg"]


# --- duplicates --------------------------------------------------------------------------------


def test_fex_refuses_a_repeated_row(tmp_path):
    rows = _v1_rows()
    path = tmp_path / "twice.csv"
    rows.iloc[[0, 1, 2, 1]].to_csv(path, index=False)
    with pytest.raises(
        ReaderError, match="twice.csv, line 5: the row repeats line 3 cell for cell"
    ):
        io.read_fex(path)
    # two faces of one frame share input and frame, and are kept
    two = rows.iloc[[1, 1]].reset_index(drop=True).assign(FaceRectX=[30.0, 140.0])
    two.to_csv(path, index=False)
    assert io.read_fex(path).sizes["face"] == 2


def test_imotions_refuses_a_frame_number_that_comes_back(tmp_path):
    rng = np.random.default_rng(6)
    header = _facet_header(6)
    rows = [_facet_row(rng, header, f) for f in (0, 1, 0)]
    with pytest.raises(
        ReaderError, match="back.txt, line 9, column 'FrameNo': FrameNo 0 was already on line 7"
    ):
        io.read_imotions(_write_facet(tmp_path / "back.txt", 6, rows, header))
    plain = [c for c in header if c != "FrameNo"]
    with pytest.raises(ReaderError, match="line 8: the row repeats line 7"):
        io.read_imotions(_write_facet(tmp_path / "rows.txt", 6, [rows[0], rows[0]], plain))


def test_affectiva_refuses_a_repeated_frame_and_warns_on_a_missing_key(tmp_path):
    frames = [{"FileName": "v.mp4", "Timestamp": t, "joy": 10, "smile": 5} for t in (0, 1, 1)]
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(frames))
    with pytest.raises(
        ReaderError, match="twice.json, object 3, key 'Timestamp': repeats .* object 2"
    ):
        io.read_affectiva(path)
    del frames[2]["smile"]
    frames[2]["Timestamp"] = 2
    path.write_text("\n".join(json.dumps(f) for f in frames))
    with pytest.warns(ReaderWarning, match="line 3 has no 'smile'"):
        ds = io.read_affectiva(path)
    assert "1 objects with a face lack a measure" in ds.attrs["reader_warnings"]


# --- JSON: deep and streamed -------------------------------------------------------------------


def test_affectiva_deep_nesting_is_a_reader_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('[{"joy": 5, "x": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    with pytest.raises(ReaderError, match="deep.json, line 1, column 2: not JSON .*nested deeper"):
        io.read_affectiva(path)


RECORDS = st.lists(
    st.dictionaries(
        st.sampled_from(["joy", "smile", "FileName", "x"]),
        st.one_of(st.floats(allow_nan=False), st.integers(-(10**30), 10**30), st.text(max_size=4)),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(records=RECORDS, indent=st.sampled_from([None, 0, 2]), lines=st.booleans(),
       chunk=st.integers(1, 9))  # fmt: skip
def test_json_stream_matches_json_loads_at_any_chunk_size(records, indent, lines, chunk):
    """Values are the same whatever the chunk boundaries cut (a number, a string, a key)."""
    if lines:
        text = "\n".join(json.dumps(r) for r in records) + "\n"
    else:
        text = json.dumps(records, indent=indent)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.json"
        path.write_text(text)
        if lines and not records:
            with pytest.raises(ReaderError, match="empty"):
                list(JsonStream(path, chunk=chunk))
            return
        stream = JsonStream(path, chunk=chunk)
        got = list(stream)
    assert [v for v, _, _ in got] == (records if lines else records)
    assert stream.layout == ("sequence" if lines else "array")
    if lines:
        assert [line for _, line, _ in got] == list(range(1, len(records) + 1))


@settings(max_examples=60, deadline=None)
@given(records=RECORDS.filter(bool), cut=st.floats(0, 1), chunk=st.integers(1, 9))
def test_json_stream_errors_where_json_does(records, cut, chunk):
    """A cut-short array is an error at json's own line and column."""
    text = json.dumps(records, indent=1)
    text = text[: int(cut * (len(text) - 1))]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.json"
        path.write_text(text)
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            expected = f"line {err.lineno}, column {err.colno}"
        else:
            return
        with pytest.raises(ReaderError) as caught:
            list(JsonStream(path, chunk=chunk))
    if text.strip():
        assert expected in str(caught.value)


# --- fuzzing: dropped columns, other delimiters, repeated lines, cp1252 ------------------------


def _read(reader, path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReaderWarning)
        return reader(path, **kwargs)


def _filled(ds: xr.Dataset) -> dict[str, int]:
    return {name: int(ds[name].notnull().sum()) for name in ds.data_vars}


REFERENCE = {kind: None for kind in VALID}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_partial_tables_are_refused_or_warned_never_silently_smaller(kind, data):
    reader, suffix, text = VALID[kind]
    sep = "\t" if kind == "imotions" else ","
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    mutation = data.draw(st.sampled_from(["drop", "delimiter", "repeat", "cp1252"]))
    encoding = "utf-8"
    if mutation == "drop":  # one column gone from the header and every line
        names = [n.strip() for n in lines[first].split(sep)]
        k = data.draw(st.integers(0, len(names) - 1))
        for i in range(first, len(lines)):
            cells = lines[i].split(sep)
            lines[i] = sep.join(cells[:k] + cells[k + 1 :])
    elif mutation == "delimiter":
        other = data.draw(st.sampled_from([";", "|", "\t" if sep == "," else ","]))
        lines[first:] = [line.replace(sep, other) for line in lines[first:]]
    elif mutation == "repeat":  # a data line written twice
        i = data.draw(st.integers(first + 1, len(lines) - 1))
        lines.insert(data.draw(st.integers(i + 1, len(lines))), lines[i])
    else:  # a Windows export: cp1252 bytes in the first data line's first text cell
        lines[first + 1] = lines[first + 1].replace(lines[first + 1].split(sep)[0], "Bühne", 1)
        encoding = "cp1252"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"mutated{suffix}"
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
        if REFERENCE[kind] is None:
            original = Path(folder) / f"original{suffix}"
            original.write_text(text)
            REFERENCE[kind] = _filled(_read(reader, original))
        try:
            ds = _read(reader, path)
        except ReaderError as err:
            assert str(path) in str(err)
            if mutation == "delimiter":
                assert "wrong delimiter" in str(err)
            if mutation == "cp1252":
                assert "encoding='cp1252'" in str(err)
                try:  # told the encoding, it decodes (the cell may still not be a number)
                    ds = _read(reader, path, encoding="cp1252")
                except ReaderError as again:
                    assert str(path) in str(again) and "'Bühne'" in str(again)
                    return
            else:
                return
    schema.validate(ds)
    assert mutation != "repeat" or kind == "imotions" and ds.attrs["rows_dropped"] > 0
    if "reader_warnings" in ds.attrs:
        return
    filled = _filled(ds)
    for name, count in REFERENCE[kind].items():  # no variable quietly loses values
        assert filled.get(name, count) >= count, (name, mutation)


def test_cut_off_affectiva_objects_stay_reader_errors(tmp_path):
    text = json.dumps([AFFECTIVA_OBJECT] * 3)
    for end in range(0, len(text), 97):
        path = tmp_path / "cut.json"
        path.write_text(text[:end])
        with pytest.raises(ReaderError, match="cut.json"):
            io.read_affectiva(path)
