"""The test suite's own rules: one skip policy for optional packages, doctests in `pytest -q`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import optional
import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Item:
    nodeid = "tests/test_x.py::test_x"

    def __init__(self, *names: str) -> None:
        self.marks = [pytest.mark.requires(*names).mark]

    def iter_markers(self, name):
        return [m for m in self.marks if m.name == name]


@pytest.fixture
def missing(monkeypatch):
    """Nothing optional is installed; neither CI variable is set."""
    monkeypatch.setattr(optional, "available", lambda name: False)
    monkeypatch.delenv("FEATX_REQUIRE_EXTRAS", raising=False)
    monkeypatch.delenv("FEATX_REQUIRE_BROWSER", raising=False)
    monkeypatch.setattr(optional, "not_run", optional.Counter())


def test_an_installed_package_runs(monkeypatch):
    assert optional.available("numpy") and not optional.available("no_such_package_here")
    monkeypatch.setattr(optional, "available", lambda name: True)
    optional.check(_Item("zarr", "chromium"))  # no skip, no failure


def test_a_missing_package_skips_loudly_with_how_to_install(missing):
    with pytest.raises(pytest.skip.Exception, match=r"OPTIONAL ZARR IS NOT INSTALLED.*\[scale\]"):
        optional.check(_Item("zarr"))
    assert optional.not_run == {"zarr": 1}


def test_ci_variables_turn_a_missing_one_into_a_failure(missing, monkeypatch):
    monkeypatch.setenv("FEATX_REQUIRE_EXTRAS", "1")
    with pytest.raises(pytest.fail.Exception, match="tflite is missing and FEATX_REQUIRE_EXTRAS"):
        optional.check(_Item("tflite"))
    with pytest.raises(pytest.skip.Exception, match="CHROMIUM"):  # the browser has its own
        optional.check(_Item("chromium"))
    monkeypatch.setenv("FEATX_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing.*apt-get install"):
        optional.check(_Item("chromium"))


def test_chromium_is_looked_for_where_the_browser_test_launches_it(monkeypatch, tmp_path):
    import test_widgets_browser

    assert test_widgets_browser.CHROMIUM == optional.CHROMIUM
    monkeypatch.setattr(optional, "CHROMIUM", str(tmp_path / "no-chromium"))
    assert not optional.available("chromium")


def test_unknown_or_empty_requires_fails():
    with pytest.raises(pytest.fail.Exception, match="'zar'"):
        optional.check(_Item("zar"))
    with pytest.raises(pytest.fail.Exception, match="at least one name"):
        optional.check(_Item())


def test_no_test_skips_any_other_way():
    """No pytest.skip / importorskip / skipif in tests/: the requires marker is the only skip."""
    pattern = re.compile(r"pytest\.(skip\(|importorskip|mark\.skip)|skipif|unittest\.skip")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path.name not in ("optional.py", "test_policy.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_pytest_runs_the_docstring_examples_and_ci_requires_everything():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert set(ini["testpaths"]) == {"tests", "featx"}
    assert "--doctest-modules" in ini["addopts"].split()
    assert "--strict-markers" in ini["addopts"].split()
    assert any(m.startswith("requires(") for m in ini["markers"])
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export .*FEATX_REQUIRE_BROWSER=1", ci, re.M)
    assert re.search(r"^export .*FEATX_REQUIRE_EXTRAS=1", ci, re.M)
    assert ci.rstrip().endswith("make test")
