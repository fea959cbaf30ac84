"""Checks of user options, one wording for every module.

Each check returns the value in its plain Python type (so a caller can store it) or raises the
given error (``ValueError`` by default; analysis passes its ``AnalysisError``) naming the
option, what it must be and what it got. A leaf module: it imports nothing from featx.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any


def unit_interval(name: str, value: Any, error: type[Exception] = ValueError) -> float:
    """``value`` as a float in [0, 1] (a threshold, a confidence).

    Examples
    --------
    >>> unit_interval("face_detection_threshold", 0.5)
    0.5
    >>> unit_interval("face_detection_threshold", 1.5)
    Traceback (most recent call last):
    ...
    ValueError: face_detection_threshold must be a number in [0, 1], got 1.5
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or not 0 <= value <= 1
    ):
        raise error(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def integer(name: str, value: Any, least: int = 1, error: type[Exception] = ValueError) -> int:
    """``value`` as an int of at least ``least`` (a count, a batch size); bools are refused.

    Examples
    --------
    >>> integer("batch_size", 8)
    8
    >>> integer("redetect_every", -1, least=0)
    Traceback (most recent call last):
    ...
    ValueError: redetect_every must be an integer >= 0, got -1
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise error(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def choice(
    name: str, value: Any, options: Collection[Any], error: type[Exception] = ValueError
) -> Any:
    """``value`` if it is one of ``options`` (listed in the error in their own order).

    Examples
    --------
    >>> choice("backend", "torch", ("auto", "torch", "openvino"))
    'torch'
    >>> choice("backend", "tf", ("auto", "torch", "openvino"))
    Traceback (most recent call last):
    ...
    ValueError: backend must be one of 'auto', 'torch', 'openvino'; got 'tf'
    """
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise error(f"{name} must be one of {listed}; got {value!r}")
    return value
