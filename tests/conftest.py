"""Shared fixtures."""

import pytest


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty, offline Hugging Face home; huggingface_hub reads some settings at import."""
    import huggingface_hub.constants as constants

    from featx import hub

    home = tmp_path / "hf"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(hub.MODEL_DIR_ENV, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home
