"""Sphinx configuration of the featx site: ``make docs`` (warnings are errors, offline).

Two pages are written here before Sphinx reads the sources, both from the code, never by hand:

- ``api/``: one page per public module, listing every name in its ``__all__`` (for a module
  without ``__all__``, the classes and functions it defines); each object gets its own page
  once, where it is defined, and the other places that export it link there;
- ``_generated/models.md``: the table of every model card (licence, paper to cite).

The tutorials are ``notebooks/*.ipynb`` (``docs/tutorials`` is a link to that folder), executed
by myst-nb on every build; an error in a cell fails the build.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Document (and run the notebooks against) this checkout, whatever featx is installed.
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

from sphinx.util import logging as sphinx_logging  # noqa: E402

import featx  # noqa: E402
from featx._api import api_modules, public_names  # noqa: E402

_show_python_warning = warnings.showwarning


def _warn_through_sphinx(message, category, filename, lineno, file=None, line=None):
    """numpydoc reports a malformed docstring as a Python warning: make it a Sphinx warning,
    so that ``-W`` fails the build on it too."""
    if "numpydoc" in str(filename):
        sphinx_logging.getLogger("numpydoc").warning(f"{category.__name__}: {message}")
    else:
        _show_python_warning(message, category, filename, lineno, file, line)


warnings.showwarning = _warn_through_sphinx

project = "featx"
author = "featx developers"
copyright = "featx developers"  # noqa: A001
version = release = featx.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
]

templates_path = ["_templates"]
# _generated/ is read through {include} directives.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_generated"]
# A dead reference is an error: every :func:/:class:/:mod: and every link between pages must
# resolve (with -W). Nothing is fetched (no intersphinx): names outside featx stay plain text.
nitpicky = True
# Names outside featx cannot be resolved offline; they stay plain text.
nitpick_ignore_regex = [
    (
        "py:.*",
        r"(builtins|pathlib|functools|collections|typing|os|numpy|np|pandas|pd|xarray|xr"
        r"|scipy|sklearn|statsmodels|torch|dask|distributed|zarr|matplotlib|PIL|cv2|ipywidgets"
        r"|huggingface_hub|openvino)(\..*)?",
    ),
]

# API pages
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Every documented object has a docstring (numpydoc check GL08); a malformed one is a warning.
numpydoc_validation_checks = {"GL08"}

# Markdown and notebooks
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # every build runs every notebook: the site never shows stale output
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300  # seconds per cell
nb_execution_in_temp = True  # files a notebook writes go to a temporary folder
nb_merge_streams = True

html_theme = "pydata_sphinx_theme"
html_title = f"featx {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False


# ---------------------------------------------------------------- the API pages, from __all__
def _is_code(obj) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isroutine(obj)


#: Where each documented class or function is defined -> the name it is documented as.
HOMES: dict[str, str] = {}


def api_sections() -> list[tuple[str, list[str], list[str]]]:
    """``(module, names documented there, names documented elsewhere as full names)``.

    A class or function is documented once: in the listing module that is the longest prefix
    of the module defining it, else in ``featx``. Data is documented in every module listing it.
    """
    modules = api_modules()
    listed = {m: [n for n in public_names(importlib.import_module(m))] for m in modules}
    home: dict[int, str] = {}
    for mod, names in listed.items():
        for name in names:
            obj = getattr(importlib.import_module(mod), name)
            if not _is_code(obj):
                continue
            where = [m for m in modules if name in listed[m]]
            owner = getattr(obj, "__module__", "") or ""
            best = max(
                (m for m in where if owner == m or owner.startswith(m + ".")),
                key=len,
                default="featx" if "featx" in where else where[0],
            )
            home.setdefault(id(obj), f"{best}.{name}")
            HOMES[f"{owner}.{getattr(obj, '__qualname__', name)}"] = home[id(obj)]
    sections = []
    for mod, names in listed.items():
        module = importlib.import_module(mod)
        here, elsewhere = [], []
        for name in names:
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue  # listed as a module (the toctree of api/index)
            elif _is_code(obj) and home[id(obj)] != f"{mod}.{name}":
                elsewhere.append(home[id(obj)])
            else:
                here.append(name)
        sections.append((mod, here, elsewhere))
    return sections


def _write(path: Path, text: str) -> None:
    """Write only when the text changed (Sphinx rebuilds what changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _autosummary(names: list[str], toctree: bool) -> str:
    if not names:
        return ""
    opts = "   :toctree: generated\n" if toctree else ""
    body = "".join(f"   {n}\n" for n in names)
    return f".. autosummary::\n{opts}   :nosignatures:\n\n{body}\n"


def write_api_pages() -> dict[str, str]:
    """Write ``api/*.rst``; return every exported full name -> the name it is documented as."""
    out = HERE / "api"
    aliases: dict[str, str] = {}
    pages = []
    for mod, here, elsewhere in api_sections():
        pages.append(mod)
        title = f"``{mod}``"
        text = f"{title}\n{'=' * len(title)}\n\n.. automodule:: {mod}\n   :no-members:\n\n"
        if here:
            text += f".. currentmodule:: {mod}\n\n" + _autosummary(here, toctree=True)
        if elsewhere:
            text += "Also exported here, documented where they are defined:\n\n"
            text += ".. currentmodule:: featx\n\n"
            text += _autosummary([f"~{n.removeprefix('featx.')}" for n in elsewhere], False)
        if mod == "featx.accessor":
            text += _accessor_table()
        for full in elsewhere:
            aliases[f"{mod}.{full.rsplit('.', 1)[1]}"] = full
        _write(out / f"{mod}.rst", text)
    index = (
        "API reference\n=============\n\n"
        "Generated from the code: every name in ``featx.__all__`` and in the ``__all__`` of each "
        "public module (for a module without one, the classes and functions it defines). Each "
        "class and function has one page, under the module that defines it.\n\n"
        ".. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   {m}\n" for m in pages)
    )
    _write(out / "index.rst", index)
    return {**HOMES, **aliases}


def _accessor_table() -> str:
    from featx.accessor import METHODS

    rows = "".join(
        f"   * - ``ds.feat.{name}(...)``\n     - :func:`{mod}.{name}` ``(ds, ...)``\n"
        for name, mod in METHODS.items()
    )
    return (
        "The ``ds.feat`` methods\n-----------------------\n\n"
        ".. list-table::\n   :header-rows: 1\n\n"
        "   * - method\n     - calls\n" + rows + "\n"
    )


def write_models_table() -> None:
    """``_generated/models.md``: every model card, its licence and the paper to cite."""
    table = featx.list_models()
    lines = [
        "| model | task | hub repo | licence | paper to cite |",
        "|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        repo = f"`{row.repo}`" if isinstance(row.repo, str) else "bundled with featx"
        lic = f"**non-commercial**: {row.license}" if row.non_commercial else row.license
        paper = str(row.paper).replace("|", "/")
        lines.append(f"| `{row.id}` | {row.task} | {repo} | {lic} | {paper} |")
    _write(HERE / "_generated" / "models.md", "\n".join(lines) + "\n")


ALIASES = write_api_pages()
write_models_table()


def _alias(name: str) -> str | None:
    """``name`` or its owner (``Class.method`` -> ``Class``) as documented, or None."""
    head, tail = name, ""
    while head:
        if head in ALIASES:
            return ALIASES[head] + tail
        head, _, last = head.rpartition(".")
        tail = f".{last}{tail}"
    return None


def _resolve_alias(app, env, node, contnode):
    """Resolve a reference to a featx name written another way: relative to a private
    submodule (``engine_for`` in ``featx.io.store``), by the path that defines it
    (``featx.plot.timeseries.plot_bars``) or by another module exporting it (``featx.X``
    documented as ``featx.io.X``); a private submodule (``featx.hub.card``) -> its package."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    candidates = [target]
    module = node.get("py:module") or ""
    while module:
        candidates.append(f"{module}.{target}")
        module = module.rpartition(".")[0]
    domain = env.get_domain("py")
    for name in candidates:
        new = name if name in domain.objects and name != target else _alias(name)
        if new is None and node["reftype"] == "mod" and name.startswith("featx."):
            parent = name.rsplit(".", 1)[0]
            new = parent if parent in domain.modules else None
        if new:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], new, node, contnode
            )
    return None


def _skip_members(app, what, name, obj, skip, options):
    """Skip what a class inherits from outside featx (ipywidgets' methods on the viewer), and
    the ``ds.feat.<name>`` methods: the accessor's page lists those in a table, linking to the
    functions they call, instead of repeating each function's page."""
    from featx.accessor import METHODS

    if name in METHODS and getattr(obj, "__qualname__", "") == f"FeatAccessor.{name}":
        return True
    module = getattr(getattr(obj, "fget", obj), "__module__", None)
    if what == "class" and isinstance(module, str) and module.split(".")[0] != "featx":
        return True
    return None


def _data_docstring(app, what, name, obj, options, lines):
    """A constant's page: the ``#:`` comment where it is defined (``featx.hub.MODELS`` is
    defined in ``featx.hub.cards``), never the docstring of its type (``dict``), then its value
    when that is short (``schema.AUS``)."""
    if what not in ("data", "attribute"):
        return
    if inspect.getdoc(type(obj)) == "\n".join(lines).strip():
        lines[:] = _attr_comment(name, obj)
    value = repr(obj)
    if len(value) <= 400 and "`" not in value:
        lines.extend(["", f"Value: ``{value}``"])


def _attr_comment(name: str, obj) -> list[str]:
    """The ``#:`` comment above ``name``'s assignment in the featx module defining it."""
    from sphinx.pycode import ModuleAnalyzer

    package, _, attr = name.rpartition(".")
    inside = sorted(m for m in list(sys.modules) if m == package or m.startswith(package + "."))
    for module in inside:
        if getattr(sys.modules[module], attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module).find_attr_docs()
        except Exception:  # noqa: BLE001 (a module without source)
            continue
        if ("", attr) in docs:
            return list(docs["", attr])
    return []


def setup(app):
    app.connect("autodoc-process-docstring", _data_docstring, priority=400)  # before numpydoc
    app.connect("missing-reference", _resolve_alias)
    app.connect("autodoc-skip-member", _skip_members)
