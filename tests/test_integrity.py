"""Weight integrity and lock files, offline against hub caches built in temporary folders."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

import pytest
import torch
from hubcache import (
    COMMIT,
    CONF,
    detweights,
    git_id,
    manifest,
    put_in_hub_cache,
    safetensors_bytes,
)

from featx import hub
from featx.detectors.base import BaseDetector
from featx.hub import fetch, integrity

POSE = "py-feat/pose_mlp_v2"
NEW_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def pose_files() -> dict[str, bytes]:
    """Files of the pose_mlp card (their content does not matter to these checks)."""
    return {
        "pose_mlp_v2.safetensors": safetensors_bytes({"w": torch.arange(6.0)}),
        "pose_mlp_v2.json": json.dumps({"architecture": {"hidden": [4]}}).encode(),
    }


# ---------------------------------------------------------------------------------------------
# Every file is checked before use


def test_a_truncated_hub_blob_is_named_with_both_hashes_and_the_fix(hf_home, pose_files):
    c = hub.card("pose_mlp")
    snapshot = put_in_hub_cache(hf_home, POSE, pose_files)
    assert c.fetch()["pose_mlp_v2.safetensors"] == snapshot / "pose_mlp_v2.safetensors"
    link = snapshot / "pose_mlp_v2.safetensors"
    blob = link.resolve()
    data = pose_files["pose_mlp_v2.safetensors"]
    blob.write_bytes(data[: len(data) // 2])  # an interrupted download
    with pytest.raises(hub.IntegrityError) as e:
        c.fetch()
    msg = str(e.value)
    assert str(link) in msg and "pose_mlp" in msg
    assert f"expected sha256 {hashlib.sha256(data).hexdigest()}" in msg
    assert f"found {hashlib.sha256(data[: len(data) // 2]).hexdigest()}" in msg
    with pytest.raises(hub.IntegrityError):  # loading checks as fetching does
        c.load()
    command = msg.split("`")[1]
    assert command.startswith("rm ")
    subprocess.run(command, shell=True, check=True)  # the command given removes the entry
    assert not link.exists() and not blob.exists()
    with pytest.raises(hub.ModelNotFoundError):  # ... so the next run downloads it anew
        c.fetch()


def test_git_blobs_are_checked_against_their_git_id(hf_home, pose_files):
    c = hub.card("pose_mlp")
    snapshot = put_in_hub_cache(hf_home, POSE, pose_files, COMMIT, git={"pose_mlp_v2.json"})
    meta = snapshot / "pose_mlp_v2.json"
    assert meta.resolve().name == git_id(pose_files["pose_mlp_v2.json"])
    assert c.fetch()["pose_mlp_v2.json"] == meta
    meta.resolve().write_bytes(b'{"architecture": {"hidden": [5]}}')
    with pytest.raises(hub.IntegrityError, match=r"expected git-sha1 [0-9a-f]{40}, found"):
        c.fetch()


def test_a_bundled_file_is_checked_against_sha256sums(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "ASSETS_DIR", tmp_path)
    c = hub.card("mini_xception")
    path = tmp_path / "mini_xception.safetensors"
    path.write_bytes(b"weights")
    with pytest.raises(hub.IntegrityError, match="not listed in SHA256SUMS"):
        c.fetch()
    good = hashlib.sha256(b"weights").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{good}  mini_xception.safetensors\n")
    assert c.fetch() == {path.name: path}
    path.write_bytes(b"weightz")
    with pytest.raises(hub.IntegrityError) as e:
        c.fetch()
    assert str(path) in str(e.value) and f"expected sha256 {good}" in str(e.value)
    assert hashlib.sha256(b"weightz").hexdigest() in str(e.value)
    assert "reinstall featx" in str(e.value)


def test_every_bundled_file_a_card_names_is_listed():
    sums = integrity.bundled_sums()
    for c in hub.CARDS.values():
        if c.bundled:
            for name in c.files:
                assert sums.get(name) == hub.sha256(hub.ASSETS_DIR / name), name
    assert "mp_geometry.safetensors" in sums  # read by MPDetector beside the cards


def test_a_detector_refuses_a_file_given_by_path_that_fails_its_check(hf_home, pose_files):
    c = hub.card("pose_mlp")
    snapshot = put_in_hub_cache(hf_home, POSE, pose_files)
    paths = c.fetch()
    (snapshot / "pose_mlp_v2.json").resolve().write_bytes(b"{}")
    with pytest.raises(hub.IntegrityError, match="pose_mlp_v2.json"):
        BaseDetector(device="cpu").load_stage("facepose", c, paths=paths)


# ---------------------------------------------------------------------------------------------
# Offline: fail fast


def test_an_unreachable_hub_fails_fast(hf_home, monkeypatch, pose_files):
    """Offline, Detector() and Detectorv2() used to spend ~23 s per file in hub retries."""
    import huggingface_hub.constants as constants

    from featx.detectors.v1 import Detector
    from featx.detectors.v2 import Detectorv2

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(fetch, "_REACHABLE", {})
    for make in (Detector, Detectorv2):
        start = time.perf_counter()
        with pytest.raises(hub.ModelNotFoundError, match="cannot be reached"):
            make(device="cpu")
        assert time.perf_counter() - start < 5
    snapshot = put_in_hub_cache(hf_home, POSE, pose_files)  # the cache still serves
    assert hub.card("pose_mlp").fetch()["pose_mlp_v2.json"] == snapshot / "pose_mlp_v2.json"


def test_the_reachability_probe_goes_through_a_configured_proxy(monkeypatch):
    import socket

    tried = []

    def connect(address, timeout):
        tried.append(address)
        raise OSError("refused")

    monkeypatch.setattr(socket, "create_connection", connect)
    for name in ("no_proxy", "NO_PROXY", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert not fetch._reachable("https://hub.example:8443")
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert not fetch._reachable("https://hub.example")
    assert tried == [("hub.example", 8443), ("proxy.example", 3128)]


def test_hf_hub_offline_set_after_import_is_obeyed(hf_home, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read when it was imported
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(fetch, "_reachable", lambda endpoint: pytest.fail("asked the hub"))
    monkeypatch.setattr(fetch, "_REACHABLE", {})
    with pytest.raises(hub.ModelNotFoundError, match="HF_HUB_OFFLINE is set"):
        hub.card("l2cs").fetch()


# ---------------------------------------------------------------------------------------------
# Lock files


def test_a_lock_records_repo_revision_and_every_sha256(hf_home, tmp_path, pose_files):
    put_in_hub_cache(hf_home, POSE, pose_files)
    lock = tmp_path / "featx.lock"
    hub.write_lock(lock, [hub.card("pose_mlp"), hub.card("mini_xception")])
    data = json.loads(lock.read_text())
    assert data["models"]["pose_mlp"] == {
        "repo": POSE,
        "revision": COMMIT,
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in pose_files.items()},
    }
    assert data["models"]["mini_xception"]["repo"] is None
    assert hub.read_lock(lock)["models"] == data["models"]


def test_a_lock_loads_exactly_its_revision(hf_home, tmp_path, monkeypatch, pose_files):
    c = hub.card("pose_mlp")
    old = put_in_hub_cache(hf_home, POSE, pose_files)
    lock = tmp_path / "featx.lock"
    hub.write_lock(lock, [c])
    newer = {**pose_files, "pose_mlp_v2.json": b'{"architecture": {"hidden": [8]}}'}
    new = put_in_hub_cache(hf_home, POSE, newer, NEW_COMMIT)  # main moved on
    assert c.fetch()["pose_mlp_v2.json"] == new / "pose_mlp_v2.json"
    assert c.fetch(lock=lock)["pose_mlp_v2.json"] == old / "pose_mlp_v2.json"
    monkeypatch.setenv(hub.LOCK_ENV, str(lock))
    assert c.fetch()["pose_mlp_v2.json"] == old / "pose_mlp_v2.json"
    assert c.fetch(lock=False)["pose_mlp_v2.json"] == new / "pose_mlp_v2.json"


def test_a_lock_refuses_a_tampered_or_other_file(hf_home, tmp_path, pose_files):
    c = hub.card("pose_mlp")
    snapshot = put_in_hub_cache(hf_home, POSE, pose_files)
    lock = tmp_path / "featx.lock"
    locked = hub.write_lock(lock, [c])
    # a folder of files by hand has no recorded hash but the lock's
    other = tmp_path / "w"
    other.mkdir()
    for name, data in pose_files.items():
        (other / name).write_bytes(data)
    assert c.fetch(model_dir=other, lock=lock)["pose_mlp_v2.json"] == other / "pose_mlp_v2.json"
    (other / "pose_mlp_v2.json").write_bytes(b"{}")
    assert c.fetch(model_dir=other)["pose_mlp_v2.json"] == other / "pose_mlp_v2.json"
    with pytest.raises(hub.IntegrityError) as e:
        c.fetch(model_dir=other, lock=lock)
    expected = locked["models"]["pose_mlp"]["files"]["pose_mlp_v2.json"]
    assert f"expected sha256 {expected}" in str(e.value) and "differs from lock" in str(e.value)
    assert hashlib.sha256(b"{}").hexdigest() in str(e.value)
    # a tampered cache blob (here a copy, as on systems without symlinks) is refused too
    link = snapshot / "pose_mlp_v2.json"
    link.unlink()
    link.write_bytes(b'{"tampered": 1}')
    assert c.fetch()["pose_mlp_v2.json"] == link  # nothing records its hash but the lock
    with pytest.raises(hub.IntegrityError, match="differs from lock"):
        BaseDetector(device="cpu").load_stage("facepose", c, lock=lock)
    # a model the lock does not list is refused
    with pytest.raises(hub.IntegrityError, match="'mini_xception' is not in lock file"):
        hub.card("mini_xception").fetch(lock=lock)


def _real_pose_files() -> dict[str, bytes]:
    """pose_mlp_v2 files the loader accepts (detweights values, the ref's normalisation)."""
    import numpy as np

    m = manifest("pose_mlp")
    ref = np.load(CONF / "pose_mlp" / "ref.npz")
    norm = {"mean": ref["test_y_mean"].tolist(), "std": ref["test_y_std"].tolist()}
    meta = {"architecture": {"hidden": m["config"]["hidden"], "output_normalization": norm}}
    return {
        "pose_mlp_v2.safetensors": safetensors_bytes(detweights.state_dict_from_manifest(m)),
        "pose_mlp_v2.json": json.dumps(meta).encode(),
    }


def test_provenance_names_the_revision_and_hashes_that_made_a_result(hf_home):
    """The ``models`` attr used to record the card's revision (None), not the one used."""
    pose_files = _real_pose_files()
    put_in_hub_cache(hf_home, POSE, pose_files)
    det = BaseDetector(device="cpu")
    det.load_stage("facepose", hub.card("pose_mlp"))
    record = json.loads(det.provenance([])["models"])["facepose"]
    assert record["repo"] == POSE and record["revision"] == COMMIT
    assert record["sha256"] == {n: hashlib.sha256(b).hexdigest() for n, b in pose_files.items()}
