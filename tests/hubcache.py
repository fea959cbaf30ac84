"""Test helpers: conformance data and a Hugging Face hub cache built on disk.

The cache uses huggingface_hub's real layout (blobs, snapshot links, refs/main), so code under
test fetches from it through the real ``hf_hub_download`` with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from pathlib import Path

import torch

CONF = Path(__file__).parent / "conformance"
if str(CONF) not in sys.path:
    sys.path.insert(0, str(CONF))
detweights = importlib.import_module("detweights")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def manifest(model_id: str) -> dict:
    """The conformance manifest of a model."""
    return json.loads((CONF / model_id / "manifest.json").read_text())


def safetensors_bytes(state_dict: dict) -> bytes:
    """A safetensors file's bytes for a dict of arrays or tensors."""
    from safetensors.torch import save

    return save({k: torch.as_tensor(v).contiguous() for k, v in state_dict.items()})


def git_id(data: bytes) -> str:
    """The git blob id of ``data`` (how the hub names a file kept in git, not LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def put_in_hub_cache(
    hf_home: Path, repo: str, files: dict[str, bytes], commit: str = COMMIT, git=()
) -> Path:
    """Write files in the Hugging Face cache layout (blobs + snapshot links + refs/main).

    Blobs are named by sha256 (LFS files), those named in ``git`` by their git blob id;
    ``refs/main`` points at ``commit``.
    """
    repo_dir = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    for d in (repo_dir / "refs", repo_dir / "blobs", snapshot):
        d.mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for name, data in files.items():
        blob_name = git_id(data) if name in git else hashlib.sha256(data).hexdigest()
        blob = repo_dir / "blobs" / blob_name
        blob.write_bytes(data)
        link = snapshot / name
        try:
            link.symlink_to(os.path.relpath(blob, snapshot))
        except OSError:  # no symlinks: huggingface_hub copies in that case too
            link.write_bytes(data)
    return snapshot


def use_hf_home(monkeypatch, home: Path) -> Path:
    """Point huggingface_hub (env and its import-time constants) at ``home``, offline."""
    import huggingface_hub.constants as constants

    from featx import hub

    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(hub.MODEL_DIR_ENV, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home
