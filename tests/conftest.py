"""Shared fixtures; the skip policy for optional packages (marker ``requires``) in optional.py."""

from __future__ import annotations

import optional
import pytest
from hubcache import use_hf_home


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    optional.check(item)


def pytest_terminal_summary(terminalreporter):
    optional.summary(terminalreporter)


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """An empty, offline Hugging Face home."""
    home = tmp_path / "hf"
    home.mkdir()
    return use_hf_home(monkeypatch, home)


@pytest.fixture(scope="session", autouse=True)
def featx_cache_dir(tmp_path_factory):
    """Converted OpenVINO graphs go to a temporary folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEATX_CACHE_DIR", str(tmp_path_factory.mktemp("featx-cache")))
        yield
