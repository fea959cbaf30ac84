"""The model card: facts about one model, and how to fetch, build and load it.

A card names its builder and loader as ``"module:attribute"`` strings (e.g.
``"featx.nn.retinaface:RetinaFace"``), imported on first use, so listing the cards imports no
model code and a new model is one file in ``featx/nn`` (or ``featx/classic``) plus one card.

Examples
--------
>>> c = ModelCard(id="toy", task="face", name="toy", repo=None, files=("toy.safetensors",),
...               file_format="bundled-safetensors", license="MIT", paper="-", input_spec="-",
...               outputs=("y",), builder="featx.nn.retinaface:RetinaFace")
>>> c.builder
Ref('featx.nn.retinaface:RetinaFace')
>>> type(c.build()).__name__
'RetinaFace'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featx.hub.fetch import checked, fetch_files

if TYPE_CHECKING:  # pragma: no cover
    from featx.hub.lock import Lock

__all__ = ["TASKS", "ModelCard", "Ref"]

#: The tasks a model card can serve (``ModelCard.task``).
TASKS = (
    "face",
    "landmark",
    "facepose",
    "au",
    "emotion",
    "identity",
    "gaze",
    "multitask",
    "blendshape",
    "mesh",
    "render",
)


@dataclass(frozen=True)
class Ref:
    """A callable named ``"package.module:attribute"``, imported when first called."""

    target: str

    def __post_init__(self) -> None:
        module, sep, attr = self.target.partition(":")
        if not (module and sep and attr):
            raise ValueError(f"a builder/loader is named 'module:attribute', got {self.target!r}")

    def resolve(self) -> Callable[..., Any]:
        """The named object (its module imported on first use).

        Examples
        --------
        >>> Ref("featx.boxes:iou").resolve().__name__
        'iou'
        """
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Ref({self.target!r})"


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Facts about one model and how to build and load it.

    ``tolerance`` is the absolute tolerance the conformance test allows on every output in
    ``outputs``; with ``tolerance_relative`` it is multiplied by ``max|ref|`` of that output
    (for FACTS that state ``|Δ| ≤ tol·max|ref|``). ``builder`` (no arguments → the bare module)
    and ``loader`` (``(card, paths)`` → the model with its weights) are callables or
    ``"module:attribute"`` names, imported when used. ``input_labels`` lists the names of the
    values a model fed named values accepts (the face maps); empty when that does not apply.
    """

    id: str
    task: str
    name: str
    repo: str | None
    files: tuple[str, ...]
    fallback_files: tuple[str, ...] = ()
    revision: str | None = None
    file_format: str
    license: str
    non_commercial: bool = False
    paper: str
    input_spec: str
    outputs: tuple[str, ...]
    tolerance: float = 1e-4
    tolerance_relative: bool = False
    input_labels: tuple[str, ...] = ()
    builder: Callable[[], Any] | str | None = None
    loader: Callable[[ModelCard, dict[str, Path]], Any] | str | None = None

    def __post_init__(self) -> None:
        for field in ("builder", "loader"):
            if isinstance(getattr(self, field), str):
                object.__setattr__(self, field, Ref(getattr(self, field)))

    @property
    def bundled(self) -> bool:
        """True for models shipped inside featx (no download).

        Examples
        --------
        >>> from featx import hub
        >>> hub.card("mini_xception").bundled, hub.card("retinaface").bundled
        (True, False)
        """
        return self.repo is None

    def build(self):
        """The bare torch module (random init, eval mode)."""
        if self.builder is None:
            raise NotImplementedError(f"featx has no implementation of model {self.id!r} yet")
        return self.builder().eval()

    def fetch(
        self, model_dir: str | os.PathLike | None = None, lock: Lock | None | bool = None
    ) -> dict[str, Path]:
        """Local paths of this model's files, keyed by the names in ``files``, each checked.

        For the first file, ``fallback_files`` are tried in order when it is absent. Each file
        is checked against its known hash, and against ``lock`` (a lock file or its content;
        None: ``FEATX_LOCK``; False: no lock). Raises :class:`~featx.hub.ModelNotFoundError`
        naming what is missing and how to provide it, :class:`~featx.hub.IntegrityError` for
        a file that fails a check.

        Examples
        --------
        >>> from featx import hub
        >>> hub.card("mini_xception").fetch()["mini_xception.safetensors"].name
        'mini_xception.safetensors'
        """
        return fetch_files(self, model_dir, lock)

    def load(
        self,
        model_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        paths: dict[str, Path] | None = None,
        lock: Lock | None | bool = None,
    ):
        """The model with its real weights (a torch module in eval mode, or a predictor).

        ``paths`` (as :meth:`fetch` returns them) loads those files instead of fetching; they
        are checked as fetched files are (``lock`` as in :meth:`fetch`).
        """
        if self.loader is None:
            raise NotImplementedError(f"featx cannot load model {self.id!r} yet")
        paths = self.fetch(model_dir, lock) if paths is None else checked(self, paths, lock)
        model = self.loader(self, paths)
        if hasattr(model, "to") and hasattr(model, "eval"):
            model = model.to(device).eval()
        return model
