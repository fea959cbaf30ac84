"""Checking weight files before use: bundled ones against SHA256SUMS, hub ones by blob name.

Every file a card resolves is checked before a loader reads it:

- a bundled file (in ``featx/assets``) against its line in ``featx/assets/SHA256SUMS`` (or
  ``SHA256SUMS-copied``, files shipped as they came);
- a file in the Hugging Face cache (``snapshots/<commit>/<file>``, a link to
  ``blobs/<name>``) against the name huggingface_hub gave its blob: the file's sha256 for an
  LFS file (64 hex digits), git's blob id (sha1 of ``b"blob <size>\\0"`` + content, 40 hex
  digits) for a small file kept in git;
- a file from ``model_dir``/``FEATX_MODEL_DIR``, or a cache copy that is not a link (systems
  without symlinks), has no recorded hash to compare with: it is checked only against a lock
  file (:mod:`featx.hub.lock`).

Hashes are computed once per version of a file (:func:`featx.nn.weights.sha256`).

Examples
--------
>>> from featx import hub
>>> c = hub.card("mini_xception")
>>> verify(c, c.fetch()["mini_xception.safetensors"])
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from featx.nn.weights import WeightsError, git_blob_sha1, sha256

if TYPE_CHECKING:  # pragma: no cover
    from featx.hub.card import ModelCard

__all__ = [
    "SUMS_FILES",
    "IntegrityError",
    "bundled_sums",
    "expected_hash",
    "removal_hint",
    "revision_of",
    "verify",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


class IntegrityError(WeightsError):
    """A weight file's content differs from the hash it is known by (truncated, corrupted or
    not the locked version)."""


#: The lists of bundled files' sha256 (``<hex>  <name>`` a line): ``SHA256SUMS`` is written by
#: ``tools/convert_assets.py`` for the converted weights, ``SHA256SUMS-copied`` lists files
#: shipped as they came (the face maps).
SUMS_FILES = ("SHA256SUMS", "SHA256SUMS-copied")


def bundled_sums() -> dict[str, str]:
    """``{file name: sha256}`` of the bundled files, from the lists in :data:`SUMS_FILES`."""
    import featx.hub  # read ASSETS_DIR where users see it, so pointing it elsewhere works

    listed = {}
    for sums in SUMS_FILES:
        path = featx.hub.ASSETS_DIR / sums
        for line in path.read_text().splitlines() if path.is_file() else ():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                listed[name.strip()] = digest.lower()
    return listed


def _blob(path: Path) -> Path | None:
    """The cache blob ``path`` links to, when ``path`` is a snapshot link into ``blobs/``."""
    if not path.is_symlink():
        return None
    blob = path.resolve()
    return blob if blob.parent.name == "blobs" else None


def expected_hash(c: ModelCard, path: str | Path) -> tuple[str, str] | None:
    """``(algorithm, hex)`` a file of card ``c`` must have, or None where nothing records one.

    ``algorithm`` is ``"sha256"`` (bundled files, LFS blobs) or ``"git-sha1"`` (git blobs).
    """
    import featx.hub

    path = Path(path)
    if c.bundled:
        if path.parent.resolve() != Path(featx.hub.ASSETS_DIR).resolve():
            return None
        digest = bundled_sums().get(path.name)
        if digest is None:
            raise IntegrityError(
                f"bundled weight file {path} of model {c.id!r} is not listed in "
                f"{' or '.join(SUMS_FILES)} in {featx.hub.ASSETS_DIR}; reinstall featx"
            )
        return "sha256", digest
    blob = _blob(path)
    if blob is None:
        return None
    if _SHA256.fullmatch(blob.name):
        return "sha256", blob.name
    if _SHA1.fullmatch(blob.name):
        return "git-sha1", blob.name
    return None


def removal_hint(c: ModelCard, path: str | Path) -> str:
    """How to get rid of a bad copy of ``path`` so that it is fetched again."""
    path = Path(path)
    if c.bundled:
        return "reinstall featx (pip install --force-reinstall --no-deps featx)"
    blob = _blob(path)
    targets = [path] + ([blob] if blob is not None else [])
    command = "rm " + " ".join(shlex.quote(str(p)) for p in targets)
    return f"remove that cache entry with `{command}`, then run again to download it anew"


def verify(c: ModelCard, path: str | Path) -> None:
    """Raise :class:`IntegrityError` when ``path`` differs from the hash it is known by.

    The message names the file, the expected and the found hash, and the command that removes
    the bad copy.
    """
    expected = expected_hash(c, path)
    if expected is None:
        return
    algorithm, digest = expected
    found = sha256(path) if algorithm == "sha256" else git_blob_sha1(path)
    if found != digest:
        raise IntegrityError(
            f"weight file {path} of model {c.id!r} is corrupted or truncated: expected "
            f"{algorithm} {digest}, found {found} ({Path(path).stat().st_size} bytes); "
            + removal_hint(c, path)
        )


def revision_of(c: ModelCard, paths: dict[str, Path] | None = None) -> str | None:
    """The revision the files came from: the snapshot commit of hub-cache files, else the
    card's ``revision``; ``"featx-<version>"`` for bundled files.

    Examples
    --------
    >>> from featx import __version__, hub
    >>> revision_of(hub.card("mini_xception")) == f"featx-{__version__}"
    True
    """
    if c.bundled:
        from featx._version import __version__

        return f"featx-{__version__}"
    for p in (paths or {}).values():
        snapshot = Path(p).parent
        if snapshot.parent.name == "snapshots" and _SHA1.fullmatch(snapshot.name):
            return snapshot.name
    return c.revision
