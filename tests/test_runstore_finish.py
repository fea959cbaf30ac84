"""Finishing an ``output=`` run appends its parts to the output a block at a time: the file is
what joining them all in memory gave (same variables, coordinates, attrs, dtypes), and the
finish holds about one copy of the result, not several."""

import json
import tracemalloc

import numpy as np
import pytest

from featx import io, schema
from featx.detectors import runstore
from featx.detectors.runstore import RunStore

RECORD = {"config": {"detector": "x"}, "sources": {}, "skip_frames": 1, "face_boxes": None}
ATTRS = {"detector": "squares", "sources": json.dumps({"v.avi": {"fps": 30.0}})}


def _part(rng, start, n_frames, n_faces, with_aus=True):
    frames = []
    for _ in range(n_frames):
        frame = {
            "face_rect": rng.random((n_faces, 4)).astype(np.float32) * 50,
            "face_score": rng.random(n_faces),
            "landmarks": rng.random((n_faces, 68, 2)) * 50,
            "identity": np.arange(n_faces),
        }
        if with_aus:
            frame["aus"] = rng.random((n_faces, 2))
        frames.append(frame)
    return schema.from_frames(
        frames,
        ["v.avi"] * n_frames,
        list(range(start, start + n_frames)),
        np.arange(start, start + n_frames) / 30.0,
        frame_start=start,
        labels={"au": ["AU06", "AU12"]},
        var_attrs={"aus": {"kind": "score"}},
        attrs={"sources": json.dumps({"v.avi": {"n_frames": 99}})},
    )


def _write_parts(output, shapes):
    """Parts of (frames, faces, with_aus); returns the store and the joined-in-memory result."""
    rng = np.random.default_rng(0)
    store = RunStore(output, RECORD)
    start = 0
    for n_frames, n_faces, with_aus in shapes:
        store.write(_part(rng, start, n_frames, n_faces, with_aus), {"tracker": None})
        start += n_frames
    parts = [io.open_dataset(p, validate=False) for p in store._parts()]
    expected = schema.concat(parts)
    expected.attrs.update(ATTRS)
    expected.attrs["sources"] = schema.merge_sources(*(d.attrs for d in parts), ATTRS)
    expected.attrs["run"] = json.dumps({**RECORD, "id": store.run_id})
    return store, expected


@pytest.mark.parametrize(
    "suffix", [".nc", pytest.param(".zarr", marks=pytest.mark.requires("zarr"))]
)
def test_finish_appends_block_by_block_and_gives_the_joined_result(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(runstore, "BLOCK_BYTES", 20_000)  # several blocks, some parts split
    output = tmp_path / f"run{suffix}"
    # face slots grow (1 -> 3), a part without aus, a part larger than a block
    store, expected = _write_parts(
        output, [(3, 1, True), (40, 3, True), (2, 2, False), (5, 1, True)]
    )
    joined = []
    concat = schema.concat
    monkeypatch.setattr(schema, "concat", lambda ds: joined.append(len(ds)) or concat(ds))
    result = store.finish(ATTRS, lambda ds: ds)
    assert len(joined) > 1  # appended in several blocks
    on_disk = io.open_dataset(output)
    for ds in (result, on_disk):
        assert ds.identical(expected)
        assert {k: v.dtype for k, v in ds.variables.items()} == {
            k: v.dtype for k, v in expected.variables.items()
        }
        if suffix == ".nc":  # a zarr store lists its arrays in its own order
            assert list(ds.data_vars) == list(expected.data_vars)
    assert not store.parts_dir.exists()


def test_finish_holds_about_one_copy_of_the_result(tmp_path, monkeypatch):
    monkeypatch.setattr(runstore, "BLOCK_BYTES", 2**18)
    store, expected = _write_parts(tmp_path / "run.nc", [(100, 4, True)] * 40)
    result_bytes = expected.nbytes  # about 9 MiB
    del expected
    tracemalloc.start()
    try:
        result = store.finish(ATTRS, lambda ds: ds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.sizes["frame"] == 4000
    # joining all parts in memory held the parts, the join and its sorted copy (over 3x)
    assert peak < 1.4 * result_bytes, (peak / 2**20, result_bytes / 2**20)


def test_a_finish_killed_while_appending_leaves_what_the_next_run_cleans(tmp_path, monkeypatch):
    output = tmp_path / "run.nc"
    monkeypatch.setattr(runstore, "BLOCK_BYTES", 1)  # one block per part
    store, expected = _write_parts(output, [(3, 1, True), (4, 2, True)])
    append = io.store.FrameWriter.append

    def killed(self, ds):
        if self.written:
            raise KeyboardInterrupt  # stands in for a kill in the second block: nothing after runs
        append(self, ds)

    monkeypatch.setattr(io.store.FrameWriter, "append", killed)
    monkeypatch.setattr(io.store, "remove_path", lambda path: None)  # a kill cleans nothing
    with pytest.raises(KeyboardInterrupt):
        store.finish(ATTRS, lambda ds: ds)
    monkeypatch.undo()
    assert not output.exists() and len(list(store.parts_dir.glob(".*.tmp"))) == 1
    again = RunStore(output, RECORD)  # removes the temporary file, keeps the parts
    assert not list(store.parts_dir.glob(".*.tmp")) and len(again._parts()) == 2
    assert again.finish(ATTRS, lambda ds: ds).identical(expected)
