"""Reading weight files: tensors without unpickling, strict loading, and file digests.

The low-level weight-file IO every model loader shares. It lives under :mod:`featx.nn` so that a
model's own file (``nn/<model>.py``) can hold its loader without importing :mod:`featx.hub`;
``featx.hub`` re-exports every public name here.

Importing this module is cheap: torch and safetensors are imported when a file is read.

Examples
--------
>>> import tempfile, torch
>>> from safetensors.torch import save_file
>>> path = tempfile.mkdtemp() + "/w.safetensors"
>>> save_file({"module.fc.weight": torch.ones(2, 3)}, path)
>>> list(read_state_dict(path))
['fc.weight']
>>> len(sha256(path))
64
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "WeightsError",
    "git_blob_sha1",
    "load_into",
    "load_lacking",
    "load_strict",
    "read_state_dict",
    "sha256",
    "torch_load",
]


class WeightsError(ValueError):
    """A weight file is unreadable, unsafe, or does not fit the model."""


# (algorithm, resolved path, size, mtime_ns) -> hex digest: a file is hashed once per version.
_DIGESTS: dict[tuple[str, str, int, int], str] = {}


def _digest(path: Path, chunk_size: int, algorithm: str) -> str:
    if algorithm == "git-sha1":  # git's blob id: sha1 of b"blob <size>\0" + content
        h = hashlib.sha1(usedforsecurity=False)
        h.update(b"blob %d\0" % path.stat().st_size)
    else:
        h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def _cached_digest(path: str | os.PathLike, chunk_size: int, algorithm: str) -> str:
    resolved = Path(path).resolve()
    st = resolved.stat()
    key = (algorithm, str(resolved), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = _digest(resolved, chunk_size, algorithm)
    return _DIGESTS[key]


def sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks, computed once per version of the file.

    The digest is remembered under the file's resolved path, size and modification time (ns):
    asking again for an unchanged file does not read it, a rewritten file is hashed anew.

    Examples
    --------
    >>> from featx import hub
    >>> sha256(hub.ASSETS_DIR / "mini_xception.safetensors")[:12]
    '93ace1ca21b7'
    """
    return _cached_digest(path, chunk_size, "sha256")


def git_blob_sha1(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Git's object id of a file (hex sha1 of ``b"blob <size>\\0"`` + content), as
    :func:`sha256` remembered once per version of the file.

    The Hugging Face cache names a non-LFS file's blob by this id.
    """
    return _cached_digest(path, chunk_size, "git-sha1")


def torch_load(path: str | os.PathLike) -> Any:
    """A pickled torch file's contents, read with ``torch.load(weights_only=True)`` only.

    Raises :class:`WeightsError` naming the file; a file whose pickle would call anything
    beyond torch's tensor rebuilders is refused (nothing in it runs) with
    "refused: this file would run code when loaded".
    """
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsError(
            f"weight file {path} refused: this file would run code when loaded (its pickle "
            "names objects other than tensors); featx reads pickled weights only as data. "
            "Use a .safetensors file, or re-save the file's tensors with torch.save(state_dict)"
        ) from e
    except Exception as e:
        raise WeightsError(f"cannot read weight file {path}: {type(e).__name__}: {e}") from e


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a weight file, without unpickling arbitrary objects.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``. A dict under ``"state_dict"`` or ``"net"`` is unwrapped and
    a leading ``"module."`` (a file saved from ``DataParallel``, once per wrapping) is stripped
    from every key. Raises :class:`WeightsError` naming the file when it is corrupt, refused as
    unsafe, or holds something other than tensors.

    Examples
    --------
    >>> from featx import hub
    >>> tensors = read_state_dict(hub.ASSETS_DIR / "mini_xception.safetensors")
    >>> len(tensors), next(iter(tensors))
    (80, 'blocks.0.bn1.bias')
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            data = load_file(str(path))
        except Exception as e:
            raise WeightsError(f"cannot read weight file {path}: {type(e).__name__}: {e}") from e
    else:
        data = torch_load(path)
    if isinstance(data, Mapping):
        for wrapper in ("state_dict", "net"):
            if isinstance(data.get(wrapper), Mapping):
                data = data[wrapper]
                break
    if not isinstance(data, Mapping):
        raise WeightsError(f"weight file {path} holds a {type(data).__name__}, not a state dict")
    bad = [k for k, v in data.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise WeightsError(f"weight file {path} has non-tensor entries: {bad[:5]}")
    return {_unwrapped(k): v for k, v in data.items()}


def _unwrapped(key: str) -> str:
    while key.startswith("module."):
        key = key.removeprefix("module.")
    return key


def load_into(
    module: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    path: str | os.PathLike | None = None,
) -> torch.nn.Module:
    """Load ``state_dict`` into ``module``; a mismatch raises :class:`WeightsError`.

    The error names ``path`` (the file the weights came from) and lists the first missing and
    unexpected keys (when ``strict``) and shape mismatches (always).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    problems = []
    if strict and missing:
        problems.append(f"{len(missing)} missing keys: {missing[:5]}")
    if strict and unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {unexpected[:5]}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches: {shapes[:5]}")
    if problems:
        where = f"weight file {path}" if path is not None else "state dict"
        raise WeightsError(f"{where} does not fit {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict(dict(state_dict), strict=strict)
    return module


def load_strict(card: Any, paths: Mapping[str, Path]) -> torch.nn.Module:
    """A model card's loader: the built module with the card's one weight file, loaded strictly.

    ``card`` is a :class:`featx.hub.ModelCard` (anything with ``build()`` and ``files``);
    ``paths`` maps its file names to local paths, as ``card.fetch()`` returns them.
    """
    weights = paths[card.files[0]]
    return load_into(card.build(), read_state_dict(weights), strict=True, path=weights)


def load_lacking(
    card: Any, paths: Mapping[str, Path], may_be_absent: Callable[[str], bool]
) -> torch.nn.Module:
    """Like :func:`load_strict`, but keys the file lacks and ``may_be_absent`` accepts keep the
    value the built module gave them; every other key must match."""
    weights = paths[card.files[0]]
    model, state = card.build(), read_state_dict(weights)
    kept = {k: v for k, v in model.state_dict().items() if k not in state and may_be_absent(k)}
    return load_into(model, {**state, **kept}, strict=True, path=weights)
