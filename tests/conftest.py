"""Shared fixtures."""

import pytest
from hubcache import use_hf_home


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty, offline Hugging Face home."""
    home = tmp_path / "hf"
    home.mkdir()
    return use_hf_home(monkeypatch, home)
