"""``ds.feat``: a stateless table of one-line pass-throughs to featx's plain functions.

The accessor keeps no state and never writes into the Dataset (xarray rebuilds accessors
freely). Each method calls a function that also exists on its own, with the Dataset as its
first argument: ``ds.feat.regress(design)`` is ``featx.analysis.regress(ds, design)``. That
function is the single source of truth: the method shows its signature (less the Dataset) and
its docstring, so ``help(ds.feat.regress)`` and Jupyter's shift-tab list the parameters. The
function's module is imported when the method is first looked up, so ``import featx`` stays
fast.

Examples
--------
>>> import inspect
>>> import featx, numpy as np
>>> ds = featx.schema.from_frames([{"face_score": np.array([0.9])}], ["a.png"], [0], [np.nan])
>>> ds.feat.validate()
>>> str(inspect.signature(ds.feat.to_tidy))
"(variables: 'str | Sequence[str] | None' = None) -> 'pd.DataFrame'"
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import types
from collections.abc import Callable
from typing import Any

import xarray as xr


class PassThrough:
    """A ``ds.feat`` method: ``module.<name>`` called with the accessor's Dataset first.

    Looked up on an accessor it is a bound method carrying the function's name, docstring and
    signature (the Dataset parameter dropped, as for any bound method); looked up on the class
    it is that method unbound. Nothing is cached: each lookup reads the function from its
    module, so the accessor holds no state.
    """

    def __init__(self, module: str) -> None:
        self.module = module
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def function(self) -> Callable:
        """The function this method calls.

        Examples
        --------
        >>> inspect.getattr_static(FeatAccessor, "regress").function().__module__
        'featx.analysis.regression'
        """
        return getattr(importlib.import_module(self.module), self.name)

    def __get__(self, accessor: Any, owner: type | None = None) -> Callable:
        try:
            func = self.function()
        except ImportError as err:  # an optional extra (ipywidgets) is missing
            return self._unavailable(err, accessor)

        @functools.wraps(func)
        def method(bound, *args, **kwargs):
            return func(bound._ds, *args, **kwargs)

        method.__signature__ = inspect.signature(func)  # bound: the Dataset parameter drops
        method.__qualname__ = f"FeatAccessor.{self.name}"
        method.__doc__ = (
            f"``ds.feat.{self.name}(...)`` is ``{self.module}.{self.name}(ds, ...)``.\n\n"
            f"{inspect.cleandoc(func.__doc__ or '')}"
        )
        return method if accessor is None else types.MethodType(method, accessor)

    def _unavailable(self, err: ImportError, accessor: Any) -> Callable:
        """A method that raises ``err`` when called, so looking it up (``dir``, ``hasattr``,
        tab completion) still works without the optional extra it needs."""

        def method(bound, *args, **kwargs):
            raise ImportError(str(err)) from err

        method.__name__ = self.name
        method.__qualname__ = f"FeatAccessor.{self.name}"
        method.__doc__ = f"``{self.module}.{self.name}`` is not available: {err}"
        return method if accessor is None else types.MethodType(method, accessor)


@xr.register_dataset_accessor("feat")
class FeatAccessor:
    """Face-analysis methods on a featx Dataset (``ds.feat.<name>``).

    Each method is the function of the same name in :mod:`featx.schema`, :mod:`featx.io`,
    :mod:`featx.analysis`, :mod:`featx.plot` or :mod:`featx.widgets`, called with this
    Dataset as its first argument (see :class:`PassThrough`).
    """

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def __repr__(self) -> str:
        ds = self._ds
        lines = [
            f"<featx accessor: {ds.sizes.get('frame', 0)} frames x {ds.sizes.get('face', 0)} "
            f"face slots>",
            f"  detector:  {ds.attrs.get('detector', 'unknown')}",
            f"  variables: {', '.join(ds.data_vars) or 'none'}",
        ]
        try:
            models = json.loads(ds.attrs.get("models", "{}"))
        except json.JSONDecodeError:
            models = {}
        for stage, info in models.items():
            name = info.get("name", info) if isinstance(info, dict) else info
            lines.append(f"  {stage + ':':<10} {name}")
        return "\n".join(lines)

    # the Dataset itself
    validate = PassThrough("featx.schema")
    # files and tables
    save = PassThrough("featx.io")
    to_fex = PassThrough("featx.io")
    to_tidy = PassThrough("featx.io")
    # analysis
    annotate = PassThrough("featx.analysis")
    smooth = PassThrough("featx.analysis")
    resample = PassThrough("featx.analysis")
    baseline = PassThrough("featx.analysis")
    clean = PassThrough("featx.analysis")
    epochs = PassThrough("featx.analysis")
    design_matrix = PassThrough("featx.analysis")
    regress = PassThrough("featx.analysis")
    regress_mixed = PassThrough("featx.analysis")
    regress_two_level = PassThrough("featx.analysis")
    ttest_1samp = PassThrough("featx.analysis")
    ttest_ind = PassThrough("featx.analysis")
    isc = PassThrough("featx.analysis")
    decompose = PassThrough("featx.analysis")
    distance = PassThrough("featx.analysis")
    summary = PassThrough("featx.analysis")
    occurrence = PassThrough("featx.analysis")
    wavelet = PassThrough("featx.analysis")
    multi_wavelet = PassThrough("featx.analysis")
    boft = PassThrough("featx.analysis")
    box_jumps = PassThrough("featx.analysis")
    quality = PassThrough("featx.analysis")
    quality_report = PassThrough("featx.analysis")
    # plots
    plot_aus = PassThrough("featx.plot")
    plot_emotions = PassThrough("featx.plot")
    plot_bars = PassThrough("featx.plot")
    plot_epochs = PassThrough("featx.plot")
    plot_detections = PassThrough("featx.plot")
    # widgets
    view = PassThrough("featx.widgets")
    compare = PassThrough("featx.widgets")


#: Every ``ds.feat`` method name -> the module whose function of that name it calls.
METHODS: dict[str, str] = {
    name: attr.module for name, attr in vars(FeatAccessor).items() if isinstance(attr, PassThrough)
}
