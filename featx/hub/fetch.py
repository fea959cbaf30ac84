"""Where a model's files are: bundled assets, a folder you name, or the Hugging Face hub.

Weights come from (1) a folder you name with ``model_dir=`` or the ``FEATX_MODEL_DIR``
environment variable, else (2) the Hugging Face hub through ``huggingface_hub`` (cached under
``HF_HOME``; ``HF_HUB_OFFLINE=1`` uses the cache only). Bundled models resolve to
``featx/assets/``. A file found nowhere is a :class:`ModelNotFoundError` whose message says what
is missing and the two ways to provide it.

Examples
--------
>>> from featx import hub
>>> fetch_files(hub.card("mini_xception"))["mini_xception.safetensors"].name
'mini_xception.safetensors'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from featx.hub.card import ModelCard
    from featx.hub.lock import Lock

__all__ = ["ASSETS_DIR", "MODEL_DIR_ENV", "ModelNotFoundError", "fetch_files"]

#: Environment variable naming a folder of manually downloaded weight files.
MODEL_DIR_ENV = "FEATX_MODEL_DIR"
#: The folder of the weight files that ship with featx.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


class ModelNotFoundError(FileNotFoundError):
    """A model's weight file is neither in ``model_dir``/``FEATX_MODEL_DIR`` nor on the hub.

    Examples
    --------
    Offline, with nothing in ``model_dir``, a model that is not bundled cannot be found:

    >>> import tempfile
    >>> from featx import hub
    >>> try:
    ...     hub.card("retinaface").fetch(model_dir=tempfile.mkdtemp())
    ... except ModelNotFoundError as err:
    ...     print(type(err).__name__, isinstance(err, FileNotFoundError))
    ModelNotFoundError True
    """


def fetch_files(
    c: ModelCard, model_dir: str | os.PathLike | None = None, lock: Lock | None | bool = None
) -> dict[str, Path]:
    """Local paths of a card's files, keyed by the names in ``c.files``, each checked.

    For the first file, ``c.fallback_files`` are tried in order when it is absent. Every file
    is checked against the hash it is known by (:func:`featx.hub.integrity.verify`) and, with
    a lock (``lock``; None: ``FEATX_LOCK``, False: none), fetched at the locked revision and
    checked against the locked sha256. Raises :class:`ModelNotFoundError` naming what is
    missing and how to provide it, :class:`~featx.hub.integrity.IntegrityError` for a file
    that fails a check.
    """
    from featx.hub.lock import env_lock, lock_entry

    lock = env_lock() if lock is None else lock or None
    revision = lock_entry(c, lock).get("revision") if lock is not None else c.revision
    if c.bundled:
        paths = {f: _bundled_path(c, f) for f in c.files}
    else:
        folder = model_dir if model_dir is not None else os.environ.get(MODEL_DIR_ENV) or None
        paths = {}
        for i, f in enumerate(c.files):
            names = (f, *c.fallback_files) if i == 0 else (f,)
            found = _resolve(c, names, Path(folder).expanduser() if folder else None, revision)
            paths[f] = found
    return checked(c, paths, False if lock is None else lock)


def checked(c: ModelCard, paths: dict[str, Path], lock: Lock | None | bool = None) -> dict:
    """``paths`` after checking each file's hash, and against ``lock`` (see
    :func:`fetch_files`); for files given by hand rather than fetched."""
    from featx.hub.integrity import verify
    from featx.hub.lock import check_locked, env_lock

    lock = env_lock() if lock is None else lock or None
    for p in paths.values():
        verify(c, p)
    if lock is not None:
        check_locked(c, paths, lock)
    return paths


def _repo_name(repo: str) -> str:
    return repo.rsplit("/", 1)[-1]


def _bundled_path(c: ModelCard, filename: str) -> Path:
    import featx.hub  # read ASSETS_DIR where users see it, so pointing it elsewhere works

    assets = featx.hub.ASSETS_DIR
    path = assets / filename
    if not path.is_file():
        raise ModelNotFoundError(
            f"Model {c.id!r} is bundled with featx but its weight file {filename!r} is missing "
            f"from {assets}. Reinstall featx (the file ships with the package)."
        )
    return path


def _hub_offline() -> str | None:
    """Why the hub is not to be asked (``HF_HUB_OFFLINE``, or unreachable), else None.

    Reachability is tried once per process and endpoint (one TCP connection, 3 s at most), so
    an offline machine gets its error at once instead of after minutes of retries.
    """
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    if constants.HF_HUB_OFFLINE or flag in ("1", "on", "yes", "true"):
        return "HF_HUB_OFFLINE is set, so only the local cache was searched"
    endpoint = constants.ENDPOINT
    if endpoint not in _REACHABLE:
        _REACHABLE[endpoint] = _reachable(endpoint)
    if not _REACHABLE[endpoint]:
        return f"the hub ({endpoint}) cannot be reached, so only the local cache was searched"
    return None


#: endpoint -> whether a TCP connection to it succeeded (tried once per process).
_REACHABLE: dict[str, bool] = {}


def _reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``endpoint`` (or to the proxy it is reached through,
    ``HTTPS_PROXY`` and the like) opens within ``timeout`` seconds."""
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve(c: ModelCard, names: tuple[str, ...], folder: Path | None, revision) -> Path:
    looked: list[str] = []
    if folder is not None:
        for name in names:
            for candidate in (folder / name, folder / _repo_name(c.repo) / name):
                if candidate.is_file():
                    return candidate
                looked.append(str(candidate))
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    hub_errors: list[str] = []
    offline = _hub_offline()
    cache_only = offline is not None  # also once the hub proved unreachable
    for name in names:
        try:
            return Path(
                hf_hub_download(c.repo, name, revision=revision, local_files_only=cache_only)
            )
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError, OSError) as e:
            cache_only = cache_only or isinstance(e, LocalEntryNotFoundError)
            reason = str(e).splitlines()[0] if str(e) else ""
            if offline is not None and isinstance(e, LocalEntryNotFoundError):
                reason = f"not in the cache ({offline})"
            at = f" at revision {revision}" if revision else ""
            hub_errors.append(f"{name}{at}: {type(e).__name__}: {reason}")
    raise ModelNotFoundError(_missing_message(c, names, looked, hub_errors))


def _missing_message(
    c: ModelCard, names: tuple[str, ...], looked: list[str], hub_errors: list[str]
) -> str:
    wanted = names[0] + "".join(f" (or {n})" for n in names[1:])
    all_files = ", ".join(c.files)
    if c.fallback_files:
        all_files += f" ({c.files[0]} may instead be {' or '.join(c.fallback_files)})"
    url = f"https://huggingface.co/{c.repo}"
    lines = [
        f"Cannot find weight file {wanted} of model {c.id!r} (hub repo {c.repo}).",
        "Provide it in one of two ways:",
        f"  1. allow network access to the Hugging Face hub ({url}); the file is downloaded "
        "once into the HF cache (HF_HOME; HF_HUB_OFFLINE=1 disables downloads), or",
        f"  2. download the file(s) yourself from {url}/tree/main and set "
        f"{MODEL_DIR_ENV}=/folder (or pass model_dir=/folder) to a folder holding "
        f"{all_files} (directly, or under /folder/{_repo_name(c.repo)}/).",
    ]
    if looked:
        lines.append("Looked in: " + ", ".join(looked))
    if hub_errors:
        lines.append("Hub: " + "; ".join(hub_errors))
    return "\n".join(lines)
