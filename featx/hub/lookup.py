"""Finding cards: by id or by a task's short name, and the tables of models and licences.

Examples
--------
>>> card("SVM", task="emotion").id
'svm_emo'
>>> card("au_to_mesh_v4").task
'render'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featx.hub.card import TASKS, ModelCard
from featx.hub.cards import CARDS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["card", "licenses", "list_models"]

# Cards that also serve a second Detector stage (img2pose predicts the face pose too).
_EXTRA_TASKS = {"img2pose": ("facepose",)}
_COLUMNS = ["id", "task", "name", "repo", "files", "license", "non_commercial", "paper"]


def _serves(c: ModelCard, task: str) -> bool:
    return c.task == task or task in _EXTRA_TASKS.get(c.id, ())


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. Valid choices: {', '.join(TASKS)}")


def card(id_or_name: str, task: str | None = None) -> ModelCard:
    """The card of a model, by id (any case) or, with ``task``, by its short name.

    Parameters
    ----------
    id_or_name
        A card id (``"svm_emo"``, ``"au_to_mesh_v4"``) or, with ``task``, a short name.
    task
        One of :data:`~featx.hub.TASKS`: look among the models serving it.

    Raises
    ------
    ValueError
        No such model (the message lists the valid choices).

    Examples
    --------
    >>> card("svm", task="au").id
    'svm_au'
    """
    key = str(id_or_name).strip().lower()
    if task is None:
        if key in CARDS:
            return CARDS[key]
        raise ValueError(f"Unknown model {id_or_name!r}. Valid choices: {', '.join(sorted(CARDS))}")
    _check_task(task)
    serving = [c for c in CARDS.values() if _serves(c, task)]
    for c in serving:
        if key in (c.id, c.name.lower()):
            return c
    choices = ", ".join(c.name if c.name == c.id else f"{c.name} ({c.id})" for c in serving)
    raise ValueError(f"Unknown {task} model {id_or_name!r}. Valid choices: {choices}")


def list_models(task: str | None = None) -> pd.DataFrame:
    """One row per model card, face maps included (optionally only those serving ``task``).

    Examples
    --------
    >>> list(list_models("render")["id"])[:2]
    ['au_to_mesh_v4', 'au_to_mesh_v6']
    """
    import pandas as pd

    if task is not None:
        _check_task(task)
    rows = [
        {
            "id": c.id,
            "task": c.task,
            "name": c.name,
            "repo": c.repo,
            "files": ", ".join(c.files),
            "license": c.license,
            "non_commercial": c.non_commercial,
            "paper": c.paper,
        }
        for c in CARDS.values()
        if task is None or _serves(c, task)
    ]
    return pd.DataFrame(rows, columns=_COLUMNS)


def licenses() -> pd.DataFrame:
    """Licence of every model and face map, and whether its weights are restricted to
    non-commercial use.

    Examples
    --------
    >>> table = licenses()
    >>> bool(table.set_index("id").loc["au_to_mesh_v4", "non_commercial"])
    True
    """
    return list_models()[["id", "license", "non_commercial"]]
