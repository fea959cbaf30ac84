"""Read a skops archive as data, never importing or instantiating the classes it names.

A ``.skops`` file is a zip holding ``schema.json`` (a tree of nodes, each naming a loader, a
module and a class) and one file per array (``.npy``) or byte buffer (``.bin``). skops itself
rebuilds the objects by importing the named classes; :func:`read_skops` instead turns the tree
into plain Python values:

- ``JsonNode`` -> the JSON value; ``NdArrayNode`` -> a numpy array (numpy scalars as 0-d arrays'
  items), read with ``allow_pickle=False``; ``BytesNode``/``BytearrayNode`` -> ``bytes``;
- ``DictNode``/``ListNode``/``TupleNode``/``SetNode`` -> dict/list/tuple/set of decoded values
  (dict keys converted back to ``int``/``float`` where the schema says so);
- ``ObjectNode`` -> :class:`SkopsObject` (the module and class *names*, and the object's
  attribute dict), whatever the class is: nothing is imported;
- ``CachedNode`` -> the value decoded earlier under the same ``__id__``;
- any other node -> :class:`Opaque` (its names only), so a file with parts featx does not use
  still loads.

Example
-------
>>> obj = read_skops("tests/conformance/svm_emo/fixtures/svm_emo_classifier.skops")
>>> obj.name, sorted(obj.attrs["classifiers"])[:2]
('EmoSVMClassifier', ['anger', 'disgust'])
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featx.nn.weights import WeightsError

__all__ = ["Opaque", "SkopsError", "SkopsObject", "read_skops"]


#: How deep schema.json may nest; featx's archives nest under 20 levels.
MAX_DEPTH = 200


class SkopsError(WeightsError):
    """A skops archive is unreadable or lacks what a model needs (a :class:`WeightsError`)."""


@dataclass(frozen=True)
class SkopsObject:
    """An object stored in a skops archive: its class's names and its attributes, as data."""

    module: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        """``module.Class`` as the file names it."""
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Opaque:
    """A node featx does not decode (a type, a function, ...): only its names are kept."""

    loader: str
    module: str
    name: str


_KEY_TYPES = {"str": str, "int": int, "float": float}


def read_skops(path: str | os.PathLike) -> Any:
    """The root value of a skops archive, decoded as data (see the module docstring).

    Raises :class:`SkopsError` (a :class:`~featx.nn.weights.WeightsError`) naming the file when
    it is not a zip, has no readable ``schema.json``, nests deeper than :data:`MAX_DEPTH`,
    refers to a member it does not contain, or holds an array numpy cannot load without
    pickle (an object-dtype ``.npy``).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                schema = json.loads(archive.read("schema.json"))
            except KeyError:
                raise SkopsError(f"{path} is not a skops file: no schema.json in the zip") from None
            except ValueError as e:
                raise SkopsError(f"{path}: schema.json is not valid JSON: {e}") from e
            except RecursionError:
                raise SkopsError(
                    f"{path}: schema.json nests deeper than featx reads ({MAX_DEPTH} levels)"
                ) from None
            return _Reader(archive, path).decode(schema)
    except zipfile.BadZipFile as e:
        raise SkopsError(f"{path} is not a skops file (not a zip archive): {e}") from e


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, path: Path) -> None:
        self.archive = archive
        self.path = path
        self.memo: dict[int, Any] = {}
        self.depth = 0

    def decode(self, node: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise SkopsError(
                    f"{self.path}: schema.json nests deeper than featx reads ({MAX_DEPTH} levels)"
                )
            return self._node(node)
        finally:
            self.depth -= 1

    def _node(self, node: Any) -> Any:
        if not isinstance(node, dict) or "__loader__" not in node:
            raise SkopsError(
                f"{self.path}: schema node without __loader__ (unsupported skops protocol): "
                f"{str(node)[:80]}"
            )
        loader = node["__loader__"]
        if loader == "CachedNode":
            try:
                return self.memo[node["__id__"]]
            except KeyError:
                raise SkopsError(
                    f"{self.path}: reference to unknown node {node['__id__']}"
                ) from None
        value = self._decode(loader, node)
        if "__id__" in node and loader != "JsonNode":
            self.memo[node["__id__"]] = value
        return value

    def _decode(self, loader: str, node: dict) -> Any:
        module, name = node.get("__module__", ""), node.get("__class__", "")
        if loader == "JsonNode":
            try:
                return json.loads(node["content"])
            except RecursionError:
                raise SkopsError(f"{self.path}: a JsonNode nests deeper than featx reads") from None
        if loader == "NdArrayNode":
            if node.get("type") == "json":  # small arrays of Python objects, stored inline
                array = np.asarray(node["content"])
            else:
                array = self._array(node["file"])
            return array if name == "ndarray" else array[()]
        if loader in ("BytesNode", "BytearrayNode"):
            return self._member(node["file"])
        if loader == "DictNode":
            keys = [self._key_type(k) for k in node.get("key_types", {}).get("content", [])]
            items = list(node["content"].items())
            if len(keys) != len(items):
                keys = [str] * len(items)
            return {cast(k): self.decode(v) for cast, (k, v) in zip(keys, items, strict=True)}
        if loader in ("ListNode", "TupleNode", "SetNode"):
            kind = {"ListNode": list, "TupleNode": tuple, "SetNode": set}[loader]
            return kind(self.decode(v) for v in node["content"])
        if loader == "ObjectNode":
            state = self.decode(node["content"]) if "content" in node else {}
            if not isinstance(state, dict):
                state = {"__state__": state}
            return SkopsObject(module, name, state)
        return Opaque(loader, module, name)

    def _key_type(self, node: dict):
        return _KEY_TYPES.get(node.get("__class__"), str)

    def _array(self, name: str) -> np.ndarray:
        try:
            return np.load(io.BytesIO(self._member(name)), allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:  # object dtype, truncated, not .npy
            raise SkopsError(f"{self.path}: member {name!r} is not a plain numpy array: {e}") from e

    def _member(self, name: str) -> bytes:
        try:
            return self.archive.read(name)
        except KeyError:
            raise SkopsError(
                f"{self.path}: schema.json refers to {name!r}, not in the zip"
            ) from None
