"""The one policy for tests that need something optional (used by tests/conftest.py).

A test that needs an optional package (an extra of featx) or program carries
``@pytest.mark.requires("zarr")`` (several names allowed; the known ones are the keys of
:data:`OPTIONAL`). When one is missing the test is skipped with a loud reason that says how to
install it, and the end of the run lists what was not run. Where CI sets
``FEATX_REQUIRE_EXTRAS=1`` (packages) or ``FEATX_REQUIRE_BROWSER=1`` (Chromium) a missing one
fails the test instead, so CI cannot go green by skipping. Nothing else skips: a reference file
committed with the tests that is missing fails (``pytest.fail``), and core dependencies (torch,
OpenCV, ...) are imported, not skipped.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter

import pytest

#: Chromium as Debian installs it (apt: chromium, chromium-driver); the browser test drives it.
CHROMIUM = "/usr/bin/chromium"

#: name -> (how to install it, the environment variable that makes it mandatory).
#: Python packages are looked up with importlib, not imported.
OPTIONAL = {
    "zarr": ("pip install 'featx[scale]'", "FEATX_REQUIRE_EXTRAS"),
    "dask": ("pip install 'featx[scale]'", "FEATX_REQUIRE_EXTRAS"),
    "distributed": ("pip install 'featx[scale]'", "FEATX_REQUIRE_EXTRAS"),
    "tflite": ("pip install 'featx[convert]'", "FEATX_REQUIRE_EXTRAS"),
    "h5py": ("pip install 'featx[convert]'", "FEATX_REQUIRE_EXTRAS"),
    "ipywidgets": ("pip install 'featx[widgets]'", "FEATX_REQUIRE_EXTRAS"),
    "sphinx": ("pip install 'featx[docs]'", "FEATX_REQUIRE_EXTRAS"),
    "myst_nb": ("pip install 'featx[docs]'", "FEATX_REQUIRE_EXTRAS"),
    "numpydoc": ("pip install 'featx[docs]'", "FEATX_REQUIRE_EXTRAS"),
    "pydata_sphinx_theme": ("pip install 'featx[docs]'", "FEATX_REQUIRE_EXTRAS"),
    "chromium": (
        f"apt-get install -y chromium chromium-driver (the test launches {CHROMIUM})",
        "FEATX_REQUIRE_BROWSER",
    ),
}

#: How many tests each missing name kept from running in this session.
not_run: Counter[str] = Counter()


def available(name: str) -> bool:
    """Whether the optional ``name`` (a key of :data:`OPTIONAL`) is installed here."""
    if name == "chromium":
        return os.path.exists(CHROMIUM)
    return importlib.util.find_spec(name) is not None


def check(item) -> None:
    """Skip (or, where its variable is ``1``, fail) ``item`` when a name it requires is missing."""
    for marker in item.iter_markers("requires"):
        if not marker.args:
            pytest.fail(f"{item.nodeid}: @pytest.mark.requires needs at least one name")
        for name in marker.args:
            if name not in OPTIONAL:
                pytest.fail(f"{item.nodeid}: requires({name!r}) is unknown; known: {[*OPTIONAL]}")
            if available(name):
                continue
            how, env = OPTIONAL[name]
            if os.environ.get(env) == "1":
                pytest.fail(f"{name} is missing and {env}=1 makes it mandatory: {how}", False)
            not_run[name] += 1
            pytest.skip(f"OPTIONAL {name.upper()} IS NOT INSTALLED, test not run: {how}")


def summary(terminalreporter) -> None:
    """The end-of-run section listing the tests a missing optional name kept from running."""
    if not not_run:
        return
    terminalreporter.section("optional packages missing", sep="!", yellow=True, bold=True)
    for name, n in sorted(not_run.items()):
        how, env = OPTIONAL[name]
        terminalreporter.line(
            f"{n} test(s) NOT RUN because {name} is not installed: {how} "
            f"(set {env}=1 to fail instead)",
            yellow=True,
            bold=True,
        )
