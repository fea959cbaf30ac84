"""Every public function, class and method of featx's documented API shows an example.

The public API is what the site documents (docs/conf.py): the names in ``featx.__all__`` and
in the ``__all__`` of each public module (for a module without one, the classes and functions
it defines; featx._api), and the public methods and properties of each public class
that featx defines (what a class inherits from outside featx, torch's or ipywidgets', is not
featx's to document). Each needs a NumPy-style ``Examples`` section; the suite runs those as
doctests (``--doctest-modules``), so the example also has to work.

``python tests/test_docstrings.py`` prints the names without one.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

import featx
from featx._api import api_modules, public_names

EXAMPLES = re.compile(r"^Examples\n-{8,}$", re.M)


def _members(cls: type) -> list[tuple[str, object]]:
    """The public methods and properties of ``cls`` that a featx class defines."""
    found = []
    for owner in cls.__mro__:
        if not owner.__module__.startswith("featx"):
            continue
        for name, value in vars(owner).items():
            if name.startswith("_"):
                continue
            if isinstance(value, classmethod | staticmethod):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                found.append((f"{owner.__qualname__}.{name}", value))
    return found


def public_api() -> dict[str, object]:
    """Every public callable (class, function, method, property getter), by one full name."""
    modules = api_modules()
    api: dict[int, tuple[str, object]] = {}
    for mod in modules:
        module = importlib.import_module(mod)
        for name in public_names(module):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue  # a module or a constant
            api.setdefault(id(obj), (f"{mod}.{name}", obj))
            if inspect.isclass(obj):
                for qualname, func in _members(obj):
                    api.setdefault(id(func), (f"{func.__module__}.{qualname}", func))
    return dict(api.values())


def without_examples() -> list[str]:
    return sorted(
        name for name, obj in public_api().items() if not EXAMPLES.search(inspect.getdoc(obj) or "")
    )


def test_the_walk_finds_functions_classes_methods_and_properties():
    from featx.detectors.base import BaseDetector
    from featx.tracking import BoxTracker
    from featx.widgets import Viewer

    found = {id(obj) for obj in public_api().values()}
    for obj in (
        featx.io.read_openface,  # a function in __all__
        featx.media.SourceInfo,  # a class in __all__
        featx.cli.main,  # in a module without __all__
        BaseDetector.detect,  # a method
        Viewer.frame.fget,  # a property
        BoxTracker.update,  # in featx.tracking
    ):
        assert id(obj) in found, obj
    assert id(Viewer.observe) not in found  # ipywidgets' method


def test_every_public_callable_has_an_examples_section():
    missing = without_examples()
    assert not missing, f"{len(missing)} public names without an Examples section:\n" + "\n".join(
        missing
    )


if __name__ == "__main__":
    print("\n".join(without_examples()))
    sys.exit(0)
