"""The teaching notebooks are well-formed site pages; tests/test_docs.py executes them.

The documentation build (myst-nb, ``nb_execution_mode="force"``) runs every notebook top to
bottom and fails on a cell error, so they are executed once per suite run, there.
"""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_a_titled_page_saved_without_outputs(path):
    """A valid nbformat 4 notebook on the ``python3`` kernel, whose first cell is a Markdown
    ``# title`` (the page title in the site) and whose code cells carry no stored outputs (the
    site shows what the build's run printed; stored outputs would only go stale)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# ")
    stored = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not stored, f"cells {stored} keep outputs; clear them (Jupyter: Edit > Clear Outputs)"
