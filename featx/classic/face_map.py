"""Linear face maps: AU / emotion / blendshape values to a face (mesh vertices or landmarks).

Every face map is a linear model, ``face = values @ coef + intercept`` (a PLS regression with its
matrices folded in), read as plain arrays from an ``.npz`` file. Its cards are in
:mod:`featx.hub` (``hub.card("au_to_mesh_v4").load()``); :mod:`featx.plot` draws faces from
them. This module needs numpy only: values given as pandas or xarray objects are recognised
without importing either.

Examples
--------
>>> from featx import hub
>>> face_map = hub.card("au_to_mesh_v4").load()
>>> face_map.shape, face_map.columns[:2]
((478, 3), ('AU01', 'AU02'))
>>> face_map.predict({"AU12": 1.0}).shape
(478, 3)
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from featx.nn.weights import WeightsError

__all__ = [
    "FaceMap",
    "load_au_map",
    "load_blendshape_map",
    "load_emotion_map",
    "read_face_map",
]

N_VERTICES, N_LANDMARKS = 478, 68
#: Dimension names a DataArray of each kind of input may carry its labels on.
LABEL_DIMS = ("au", "emotion", "blendshape")


def _is_instance(value: Any, module: str, name: str) -> bool:
    """isinstance against ``module.name`` without importing it (unimported: it cannot be one)."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(value, getattr(mod, name))


@dataclass(frozen=True, eq=False)
class FaceMap:
    """A linear map from named values to a face (478 mesh vertices or 68 landmarks).

    Attributes
    ----------
    name : str
        The model card id (e.g. ``"au_to_mesh_v4"``).
    inputs : str
        ``"au"``, ``"emotion"`` or ``"blendshape"``.
    columns : tuple of str
        Input names, in the order of the rows of ``coef``.
    coef, intercept : numpy.ndarray
        ``(len(columns), K)`` and ``(K,)``; K = 1434 (mesh) or 136 (landmarks), axis-major.
    clip_max : numpy.ndarray or None
        Upper clip per input (the 99th percentile the map was fit on), if the file has one.
    unsupported : tuple of str
        Inputs the map was not fit to move; values above 0.02 draw a warning.
    path : str
        The file the map was read from.
    """

    name: str
    inputs: str
    columns: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    clip_max: np.ndarray | None
    unsupported: tuple[str, ...]
    path: str

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of one predicted face: ``(478, 3)`` or ``(68, 2)``."""
        return (N_VERTICES, 3) if self.intercept.size == 3 * N_VERTICES else (N_LANDMARKS, 2)

    def vector(self, values: Any) -> np.ndarray:
        """Values as an array ``(..., len(columns))`` in this map's column order.

        ``values`` may be None (all zeros), a mapping or pandas Series (by name, missing = 0),
        a DataFrame (columns by name), an xarray DataArray with an ``au`` / ``emotion`` /
        ``blendshape`` dim (by label), or an array whose last axis follows :attr:`columns`.
        Names the map does not know are ignored with a warning.
        """
        k = len(self.columns)
        if values is None:
            return np.zeros(k, np.float32)
        if _is_instance(values, "xarray", "DataArray"):
            dim = next((d for d in LABEL_DIMS if d in values.dims), None)
            if dim is None:
                raise ValueError(
                    f"{self.name}: a DataArray of {self.inputs} values needs a dim named "
                    f"{self.inputs!r}; got dims {values.dims}"
                )
            labels = [str(v) for v in values[dim].values]
            self._check_names(labels)
            values = values.transpose(..., dim).reindex({dim: list(self.columns)}, fill_value=0)
            return np.asarray(values.values, dtype=np.float32)
        if _is_instance(values, "pandas", "DataFrame"):
            self._check_names([str(c) for c in values.columns])
            return values.reindex(columns=list(self.columns), fill_value=0).to_numpy(np.float32)
        if isinstance(values, Mapping) or _is_instance(values, "pandas", "Series"):
            named = {str(n): v for n, v in values.items()}
            self._check_names(list(named))
            return np.asarray([named.get(c, 0.0) for c in self.columns], dtype=np.float32)
        arr = np.asarray(values, dtype=np.float32)
        if arr.ndim == 0 or arr.shape[-1] != k:
            raise ValueError(
                f"{self.name}: expected {k} {self.inputs} values in the order "
                f"{', '.join(self.columns)}; got an array of shape {arr.shape}"
            )
        return arr

    def _check_names(self, names: Sequence[str]) -> None:
        extra = [n for n in names if n not in self.columns]
        if extra and len(extra) == len(names):
            raise ValueError(
                f"{self.name}: none of the names {extra[:5]} is a model input; "
                f"expected some of {', '.join(self.columns)}"
            )
        if extra:
            warnings.warn(
                f"{self.name}: ignoring {extra} (not inputs of this map)", UserWarning, stacklevel=4
            )

    def predict(self, values: Any) -> np.ndarray:
        """The face for ``values`` (see :meth:`vector`): ``(..., 478, 3)`` or ``(..., 68, 2)``."""
        x = self.vector(values)
        if self.clip_max is not None:
            x = np.clip(x, 0.0, self.clip_max)
        if self.unsupported:
            idx = [self.columns.index(n) for n in self.unsupported]
            loud = np.nan_to_num(x[..., idx]).max(axis=tuple(range(x.ndim - 1))) > 0.02
            if np.any(loud):
                warnings.warn(
                    f"{self.name}: the map was not fit to move "
                    f"{[self.unsupported[i] for i in np.flatnonzero(loud)]}; they have no effect",
                    UserWarning,
                    stacklevel=3,
                )
        flat = x @ self.coef + self.intercept
        n_points, n_axes = self.shape
        return np.swapaxes(flat.reshape(*x.shape[:-1], n_axes, n_points), -1, -2)


@lru_cache(maxsize=16)
def _read(path: str, name: str, inputs: str) -> FaceMap:
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise WeightsError(f"cannot read face map {path}: {type(e).__name__}: {e}") from e
    key = "au_columns" if "au_columns" in data else "feature_columns"
    missing = [k for k in ("coef", "intercept", key) if k not in data]
    if missing:
        raise WeightsError(f"face map {path} lacks the arrays {missing}; has {sorted(data)}")
    columns = tuple(str(c) for c in data[key])
    coef, intercept = data["coef"].astype(np.float32), data["intercept"].astype(np.float32)
    if (
        coef.ndim != 2
        or intercept.shape != (coef.shape[1],)
        or coef.shape[1] not in (3 * N_VERTICES, 2 * N_LANDMARKS)
        or coef.shape[0] < len(columns)
    ):
        raise WeightsError(
            f"face map {path}: coef {coef.shape} and intercept {intercept.shape} do not make a "
            f"map from {len(columns)} inputs to 478x3 or 68x2 points"
        )
    clip_max = data["feature_p99"].astype(np.float32) if "feature_p99" in data else None
    unsupported = tuple(str(c) for c in data.get("unsupported_features", ()))
    return FaceMap(
        name=name,
        inputs=inputs,
        columns=columns,
        coef=coef[: len(columns)],  # the pose rows that follow are held at zero
        intercept=intercept,
        clip_max=clip_max,
        unsupported=tuple(c for c in unsupported if c in columns),
        path=path,
    )


def read_face_map(
    path: str | os.PathLike, name: str, inputs: str, labels: Sequence[str] | None = None
) -> FaceMap:
    """Read a face map ``.npz`` (``coef``, ``intercept``, ``au_columns`` or ``feature_columns``,
    optional ``feature_p99`` and ``unsupported_features``).

    Parameters
    ----------
    path
        The ``.npz`` file.
    name
        The map's name (its card id), used in messages.
    inputs
        ``"au"``, ``"emotion"`` or ``"blendshape"``.
    labels
        Every input name the map may take; None: names of the form ``AU<n>``.

    Raises
    ------
    featx.WeightsError
        The file is unreadable, lacks an array, its sizes do not make a face map, or it names
        an input outside ``labels``.
    """
    if inputs not in LABEL_DIMS:
        raise ValueError(f"inputs must be one of {', '.join(LABEL_DIMS)}, got {inputs!r}")
    face_map = _read(str(path), name, inputs)
    known = set(labels) if labels is not None else None
    bad = [c for c in face_map.columns if (c not in known if known else not c.startswith("AU"))]
    if bad:
        raise WeightsError(f"face map {path} has unknown {inputs} names {bad[:5]}")
    return face_map


def _load(card, paths: dict, inputs: str) -> FaceMap:
    return read_face_map(paths[card.files[0]], card.id, inputs, card.input_labels or None)


def load_au_map(card, paths: dict) -> FaceMap:
    """Loader of the AU face-map cards (``au_to_mesh_v4``, ``au_to_mesh_v6``, ...)."""
    return _load(card, paths, "au")


def load_emotion_map(card, paths: dict) -> FaceMap:
    """Loader of the emotion face-map cards (``emotion_to_mesh_v6``)."""
    return _load(card, paths, "emotion")


def load_blendshape_map(card, paths: dict) -> FaceMap:
    """Loader of the blendshape face-map cards (``bs_to_mesh_v6``)."""
    return _load(card, paths, "blendshape")
