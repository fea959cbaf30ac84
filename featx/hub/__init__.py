"""Model cards: what each model is, where its weights live, and how to load them.

Every model featx can run has one :class:`ModelCard`, keyed by its conformance folder name
(:data:`MODELS`), and so has each linear face map the plots draw faces with (:data:`FACE_MAPS`,
task ``"render"``). A card records the hub repo and files, licence, paper, input spec and the
names of the outputs of its torch module, and names the builder of the bare module and the
loader of real weights, both in the model's own ``featx/nn`` (or ``featx/classic``) file.

Weights come from (1) a folder you name with ``model_dir=`` or the ``FEATX_MODEL_DIR``
environment variable, else (2) the Hugging Face hub through ``huggingface_hub`` (cached under
``HF_HOME``; ``HF_HUB_OFFLINE=1`` uses the cache only). Bundled models resolve to
``featx/assets/``.

Modules: :mod:`~featx.hub.card` (the card), :mod:`~featx.hub.lookup` (``card``,
``list_models``, ``licenses``), :mod:`~featx.hub.fetch` (finding the files, and the error that
says how to provide them), :mod:`~featx.hub.integrity` (each file checked against its hash
before use), :mod:`~featx.hub.lock` (lock files: exact revisions and hashes),
:mod:`~featx.hub.cards` (the card data). Reading weight files
(``read_state_dict``, ``load_into``, ``sha256``) lives in :mod:`featx.nn.weights`.

Example
-------
>>> from featx import hub
>>> hub.card("svm", task="au").id
'svm_au'
>>> hub.card("pose_mlp").license
'unknown, distilled from img2pose (CC BY-NC 4.0)'

Importing this module is cheap: torch, huggingface_hub and pandas are imported when used.
"""

from __future__ import annotations

from featx.hub.card import TASKS, ModelCard, Ref
from featx.hub.cards import CARDS, FACE_MAPS, MODELS
from featx.hub.fetch import ASSETS_DIR, MODEL_DIR_ENV, ModelNotFoundError
from featx.hub.integrity import IntegrityError, revision_of
from featx.hub.lock import LOCK_ENV, read_lock, write_lock
from featx.hub.lookup import card, licenses, list_models
from featx.nn.weights import WeightsError, load_into, read_state_dict, sha256

__all__ = [
    "ASSETS_DIR",
    "CARDS",
    "FACE_MAPS",
    "LOCK_ENV",
    "MODELS",
    "MODEL_DIR_ENV",
    "TASKS",
    "IntegrityError",
    "ModelCard",
    "ModelNotFoundError",
    "Ref",
    "WeightsError",
    "card",
    "licenses",
    "list_models",
    "load_into",
    "read_lock",
    "read_state_dict",
    "revision_of",
    "sha256",
    "write_lock",
]
