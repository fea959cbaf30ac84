"""Doctests of featx/ run offline and leave the user's caches alone.

``pytest`` collects the docstring examples of every module in featx/ (``--doctest-modules`` in
pyproject.toml). Each runs with an empty Hugging Face home in offline mode, so an example that
would download weights fails instead of reaching the network, and with converted OpenVINO graphs
written to a temporary folder. The tests in tests/ set up the same through tests/conftest.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_offline(request, tmp_path_factory, monkeypatch):
    if isinstance(request.node, pytest.Function):  # a test in tests/, not a docstring example
        yield
        return
    import huggingface_hub.constants as constants

    home = tmp_path_factory.mktemp("doctest-hf")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("FEATX_MODEL_DIR", raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("FEATX_CACHE_DIR", str(tmp_path_factory.mktemp("doctest-featx-cache")))
    yield
