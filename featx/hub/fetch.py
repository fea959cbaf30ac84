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

__all__ = ["ASSETS_DIR", "MODEL_DIR_ENV", "ModelNotFoundError", "fetch_files"]

#: Environment variable naming a folder of manually downloaded weight files.
MODEL_DIR_ENV = "FEATX_MODEL_DIR"
#: The folder of the weight files that ship with featx.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


class ModelNotFoundError(FileNotFoundError):
    """A model's weight file is neither in ``model_dir``/``FEATX_MODEL_DIR`` nor on the hub."""


def fetch_files(c: ModelCard, model_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Local paths of a card's files, keyed by the names in ``c.files``.

    For the first file, ``c.fallback_files`` are tried in order when it is absent. Raises
    :class:`ModelNotFoundError` naming what is missing and how to provide it.
    """
    if c.bundled:
        return {f: _bundled_path(c, f) for f in c.files}
    folder = model_dir if model_dir is not None else os.environ.get(MODEL_DIR_ENV) or None
    paths = {}
    for i, f in enumerate(c.files):
        names = (f, *c.fallback_files) if i == 0 else (f,)
        paths[f] = _resolve(c, names, Path(folder).expanduser() if folder else None)
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


def _resolve(c: ModelCard, names: tuple[str, ...], folder: Path | None) -> Path:
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
    cache_only = False  # after the hub proved unreachable, only look in the cache
    for name in names:
        try:
            return Path(
                hf_hub_download(c.repo, name, revision=c.revision, local_files_only=cache_only)
            )
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError, OSError) as e:
            cache_only = cache_only or isinstance(e, LocalEntryNotFoundError)
            reason = str(e).splitlines()[0] if str(e) else ""
            hub_errors.append(f"{name}: {type(e).__name__}: {reason}")
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
