"""Lock files: the exact weights a run may use (repo, revision, sha256 of every file).

``featx models --lock featx.lock [MODEL ...]`` writes one (:func:`write_lock`). With
``FEATX_LOCK=featx.lock`` in the environment, or ``lock=`` on a detector or
:meth:`~featx.hub.ModelCard.fetch`, every model is fetched at its locked revision and each file
must have its locked sha256; anything else raises :class:`~featx.hub.integrity.IntegrityError`
(a model missing from the lock too).

The file is JSON::

    {"featx_lock": 1,
     "models": {"retinaface": {"repo": "py-feat/retinaface_r34",
                               "revision": "<commit>",
                               "files": {"model.safetensors": "<sha256>"}}}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featx.hub.integrity import IntegrityError, revision_of
from featx.nn.weights import WeightsError, sha256

if TYPE_CHECKING:  # pragma: no cover
    from featx.hub.card import ModelCard

__all__ = ["LOCK_ENV", "Lock", "check_locked", "lock_entry", "read_lock", "write_lock"]

#: Environment variable naming the lock file every fetch obeys.
LOCK_ENV = "FEATX_LOCK"
VERSION = 1

#: A lock: a path to a lock file, or its parsed content.
Lock = str | os.PathLike | Mapping[str, Any]


def read_lock(lock: Lock) -> dict[str, Any]:
    """The parsed lock (a path is read; a mapping is checked and returned as a dict)."""
    where = "lock" if isinstance(lock, Mapping) else f"lock file {lock}"
    if isinstance(lock, Mapping):
        data = dict(lock)
    else:
        try:
            data = json.loads(Path(lock).read_text())
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{where} does not exist") from e
        except (OSError, ValueError) as e:
            raise WeightsError(f"cannot read {where}: {type(e).__name__}: {e}") from e
    if not isinstance(data, dict) or data.get("featx_lock") != VERSION:
        raise WeightsError(f"{where} is not a featx lock (version {VERSION})")
    models = data.get("models")
    if not isinstance(models, dict) or not all(
        isinstance(m, dict) and isinstance(m.get("files"), dict) for m in models.values()
    ):
        raise WeightsError(f"{where}: 'models' must map model ids to {{repo, revision, files}}")
    data["where"] = where
    return data


def env_lock() -> str | None:
    """The lock named by ``FEATX_LOCK``, or None."""
    return os.environ.get(LOCK_ENV) or None


def lock_entry(c: ModelCard, lock: Lock) -> dict[str, Any]:
    """The lock's record of card ``c``; a model the lock does not list is refused."""
    data = read_lock(lock)
    entry = data["models"].get(c.id)
    if entry is None:
        raise IntegrityError(
            f"model {c.id!r} is not in {data['where']} (it locks "
            f"{', '.join(sorted(data['models'])) or 'nothing'}); add it with "
            f"`featx models --lock <file> {' '.join(sorted({*data['models'], c.id}))}`"
        )
    if entry.get("repo") != c.repo:
        raise IntegrityError(
            f"{data['where']} locks model {c.id!r} to repo {entry.get('repo')!r}, but its card "
            f"names {c.repo!r}"
        )
    return entry


def check_locked(c: ModelCard, paths: Mapping[str, Path], lock: Lock) -> None:
    """Raise :class:`IntegrityError` unless every file in ``paths`` has its locked sha256."""
    entry = lock_entry(c, lock)
    where = read_lock(lock)["where"]
    for p in paths.values():
        name = Path(p).name
        expected = entry["files"].get(name)
        if expected is None:
            raise IntegrityError(
                f"weight file {p} of model {c.id!r} is not in {where} (it locks "
                f"{', '.join(sorted(entry['files']))})"
            )
        found = sha256(p)
        if found != expected:
            raise IntegrityError(
                f"weight file {p} of model {c.id!r} differs from {where}: expected sha256 "
                f"{expected}, found {found}; fetch the locked revision "
                f"{entry.get('revision')} or write a new lock"
            )


def write_lock(
    path: str | os.PathLike,
    cards: Iterable[ModelCard],
    model_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Fetch each card's files and write a lock of their repo, revision and sha256.

    Returns the lock written. Raises :class:`~featx.hub.ModelNotFoundError` for a model whose
    files cannot be found, and writes nothing then.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from featx import hub
    >>> path = Path(tempfile.mkdtemp()) / "featx.lock"
    >>> lock = write_lock(path, [hub.card("mini_xception")])
    >>> lock["models"]["mini_xception"]["files"]["mini_xception.safetensors"][:12]
    '93ace1ca21b7'
    >>> list(read_lock(path)["models"])
    ['mini_xception']
    """
    models = {}
    for c in cards:
        paths = c.fetch(model_dir, lock=False)
        models[c.id] = {
            "repo": c.repo,
            "revision": revision_of(c, paths),
            "files": {Path(p).name: sha256(p) for p in paths.values()},
        }
    data = {"featx_lock": VERSION, "models": models}
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    return data
