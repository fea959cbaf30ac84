"""The documentation site builds warning-free, executing every notebook, as `make docs` does.

This is the one place the suite runs the notebooks (myst-nb executes them into the site), so a
notebook error, a malformed docstring (numpydoc), a dead reference between pages or to an API
name (nitpicky ``-n``) and any other Sphinx warning (``-W``) fail here. Links to other sites
are not followed (that would need the network).
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: The options of `make docs` (Makefile, SPHINXOPTS): fresh read, nitpicky, tracebacks, warnings
#: are errors.
SPHINXOPTS = ["-E", "-n", "-T", "-W", "--keep-going", "-q"]


def builds_the_site(test):
    """The test needs the built site: slow (the notebooks run), and the docs extra."""
    test = pytest.mark.requires("sphinx", "myst_nb", "numpydoc", "pydata_sphinx_theme")(test)
    return pytest.mark.slow(test)


def test_make_docs_uses_the_same_options():
    makefile = (ROOT / "Makefile").read_text()
    assert f"SPHINXOPTS ?= {' '.join(SPHINXOPTS)}\n" in makefile
    assert "-m sphinx -b html $(SPHINXOPTS) docs docs/_build/html" in makefile


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    html = out / "html"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", *SPHINXOPTS, "-d", str(out / "doctrees")]
    run = subprocess.run([*cmd, str(DOCS), str(html)], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, f"sphinx failed:\n{run.stderr[-20000:]}"
    return html


def _documented_objects(html: Path) -> tuple[set[str], set[int]]:
    """The Python names in the site's inventory, and the ids of the objects they name."""
    from sphinx.util.inventory import InventoryFile

    with open(html / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", lambda base, uri: uri)
    names = {name for kind, items in inventory.items() if kind.startswith("py:") for name in items}
    ids = set()
    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            ids.add(id(getattr(importlib.import_module(module), attr)))
        except (ImportError, AttributeError, ValueError):
            continue  # a method or attribute: named by its class
    return names, ids


@builds_the_site
def test_every_notebook_is_a_page_with_its_outputs(site):
    """Each notebook is a tutorials page showing what its run printed, and the figures of a
    notebook that plots (matplotlib's inline backend in the kernel, not a file backend)."""
    import nbformat

    assert NOTEBOOKS
    for path in NOTEBOOKS:
        page = site / "tutorials" / f"{path.stem}.html"
        assert page.exists(), page
        text = page.read_text()
        assert "cell_output" in text, f"{path.name}: no executed output in the site"
        code = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        if "plt." in code or ".plot" in code:
            assert "<img " in text, f"{path.name} plots, but its page shows no figure"


@builds_the_site
def test_api_reference_documents_every_exported_name(site):
    """Every name in ``featx.__all__`` and in each public module's ``__all__`` has an entry."""
    import featx

    names, ids = _documented_objects(site)
    missing = []
    for mod in ["featx", *(f"featx.{m}" for m in featx._SUBMODULES)]:
        module = importlib.import_module(mod)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                found = obj.__name__ in names
            elif inspect.isclass(obj) or inspect.isroutine(obj):
                found = id(obj) in ids
            else:
                found = f"{mod}.{name}" in names
            if not found:
                missing.append(f"{mod}.{name}")
    assert not missing


@builds_the_site
def test_entry_page_links_every_section(site):
    text = (site / "index.html").read_text()
    for page in ("guide", "tutorials", "gallery/README", "api/index", "coming-from-pyfeat",
                 "models", "changelog", "citing"):  # fmt: skip
        assert f'href="{page}.html' in text, page
