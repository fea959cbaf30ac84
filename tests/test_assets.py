"""The bundled weight assets: listed with their sha256, complete, reproducible, licensed."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

from featx import hub

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
SOURCES = TOOLS / "sources"
SUMS = hub.ASSETS_DIR / "SHA256SUMS"


def _driver():
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    return importlib.import_module("convert_assets")


def _listed() -> dict[str, str]:
    """{file name: sha256} from SHA256SUMS (``<hex>  <name>`` per line)."""
    listed = {}
    for line in SUMS.read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    return listed


def test_every_listed_asset_matches_its_sha256():
    listed = _listed()
    assert listed, f"{SUMS} lists no assets"
    for name, digest in listed.items():
        path = hub.ASSETS_DIR / name
        assert path.is_file(), f"{name} is listed in SHA256SUMS but missing"
        assert hub.sha256(path) == digest, f"{name} differs from its SHA256SUMS entry"


def test_every_loadable_bundled_card_has_a_listed_asset():
    listed = _listed()
    loadable = [c for c in hub.MODELS.values() if c.bundled and c.loader is not None]
    assert loadable, "no bundled model can be loaded"
    for c in loadable:
        assert set(c.files) <= set(listed), f"{c.id}: {c.files} not all in SHA256SUMS"


def test_licences_and_notice_ship_with_the_assets():
    notice = (hub.ASSETS_DIR / "NOTICE.md").read_text()
    for name in _listed():
        assert f"`{name}`" in notice, f"NOTICE.md does not describe {name}"
    assert "Apache License" in (hub.ASSETS_DIR / "LICENSE-Apache-2.0.txt").read_text()
    for holder in ("fer", "face_classification"):
        text = (hub.ASSETS_DIR / f"LICENSE-MIT-{holder}.txt").read_text()
        assert text.startswith("MIT License") and "Permission is hereby granted" in text


def test_conversion_is_byte_identical(tmp_path):
    driver = _driver()
    made = driver.convert(SOURCES, tmp_path)
    assert made, "no converter ran"
    assert (tmp_path / "SHA256SUMS").read_bytes() == SUMS.read_bytes()
    for name in made:
        shipped = hub.ASSETS_DIR / name
        assert (tmp_path / name).read_bytes() == shipped.read_bytes(), f"{name} differs"


def test_conversion_refuses_a_source_with_a_wrong_sha256(tmp_path):
    driver = _driver()
    victim = sorted(driver.SOURCE_SHA256)[0]
    for name in driver.SOURCE_SHA256:
        if name != victim:
            (tmp_path / name).symlink_to(SOURCES / name)
    corrupt = tmp_path / victim
    shutil.copyfile(SOURCES / victim, corrupt)
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=f"{victim}: sha256"):
        driver.convert(tmp_path, out)
    assert not out.exists()
