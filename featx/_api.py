"""What featx documents as its public API: the modules and the names each one lists.

The site's API pages (docs/conf.py) and the test that every public name has an example
(tests/test_docstrings.py) both read it here.

Examples
--------
>>> import featx
>>> "featx.study" in api_modules(), "detect_many" in public_names(featx)
(True, True)
"""

from __future__ import annotations

import inspect
from types import ModuleType


def api_modules() -> list[str]:
    """``featx`` and each public submodule (``featx._SUBMODULES``), by full name."""
    import featx

    return ["featx", *(f"featx.{m}" for m in featx._SUBMODULES)]


def public_names(module: ModuleType) -> list[str]:
    """``module.__all__``, or the public classes and functions the module defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    ]
