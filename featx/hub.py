"""Model cards: what each model is, where its weights live, and how to load them.

Every model featx can run has one :class:`ModelCard` in :data:`MODELS`, keyed by its conformance
folder name. A card records the hub repo and files, licence, paper, input spec and the names of
the outputs of its torch module, and knows how to build the bare module and load real weights.

Weights come from (1) a folder you name with ``model_dir=`` or the ``FEATX_MODEL_DIR``
environment variable, else (2) the Hugging Face hub through ``huggingface_hub`` (cached under
``HF_HOME``; ``HF_HUB_OFFLINE=1`` uses the cache only). Bundled models resolve to
``featx/assets/``.

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

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

__all__ = [
    "MODELS",
    "TASKS",
    "ModelCard",
    "ModelNotFoundError",
    "WeightsError",
    "card",
    "licenses",
    "list_models",
    "load_into",
    "read_state_dict",
    "sha256",
]

#: Environment variable naming a folder of manually downloaded weight files.
MODEL_DIR_ENV = "FEATX_MODEL_DIR"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
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
)
# Cards that also serve a second Detector stage (img2pose predicts the face pose too).
_EXTRA_TASKS = {"img2pose": ("facepose",)}


class ModelNotFoundError(FileNotFoundError):
    """A model's weight file is neither in ``model_dir``/``FEATX_MODEL_DIR`` nor on the hub."""


class WeightsError(ValueError):
    """A weight file is unreadable, unsafe, or does not fit the model."""


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Facts about one model and how to build and load it.

    ``tolerance`` is the absolute tolerance the conformance test allows on every output in
    ``outputs``; with ``tolerance_relative`` it is multiplied by ``max|ref|`` of that output
    (for FACTS that state ``|Δ| ≤ tol·max|ref|``).
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
    builder: Callable[[], Any] | None = None
    loader: Callable[[ModelCard, dict[str, Path]], Any] | None = None

    @property
    def bundled(self) -> bool:
        """True for models shipped inside featx (no download)."""
        return self.repo is None

    def build(self):
        """The bare torch module (random init, eval mode)."""
        if self.builder is None:
            raise NotImplementedError(f"featx has no implementation of model {self.id!r} yet")
        return self.builder().eval()

    def fetch(self, model_dir: str | os.PathLike | None = None) -> dict[str, Path]:
        """Local paths of this model's files, keyed by the names in ``files``.

        For the first file, ``fallback_files`` are tried in order when it is absent.
        Raises :class:`ModelNotFoundError` naming what is missing and how to provide it.
        """
        if self.bundled:
            return {f: _bundled_path(self, f) for f in self.files}
        folder = model_dir if model_dir is not None else os.environ.get(MODEL_DIR_ENV) or None
        paths = {}
        for i, f in enumerate(self.files):
            names = (f, *self.fallback_files) if i == 0 else (f,)
            paths[f] = _resolve(self, names, Path(folder).expanduser() if folder else None)
        return paths

    def load(self, model_dir: str | os.PathLike | None = None, device: str = "cpu"):
        """The model with its real weights (a torch module in eval mode, or a predictor)."""
        if self.loader is None:
            raise NotImplementedError(f"featx cannot load model {self.id!r} yet")
        model = self.loader(self, self.fetch(model_dir))
        if hasattr(model, "to") and hasattr(model, "eval"):
            model = model.to(device).eval()
        return model


# ---------------------------------------------------------------------------------------------
# File resolution


def _repo_name(repo: str) -> str:
    return repo.rsplit("/", 1)[-1]


def _bundled_path(c: ModelCard, filename: str) -> Path:
    path = ASSETS_DIR / filename
    if not path.is_file():
        raise ModelNotFoundError(
            f"Model {c.id!r} is bundled with featx but its weight file {filename!r} is missing "
            f"from {ASSETS_DIR}. Reinstall featx (the file ships with the package)."
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


# ---------------------------------------------------------------------------------------------
# Weight files


def sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a weight file, without unpickling arbitrary objects.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``. A dict under ``"state_dict"`` or ``"net"`` is unwrapped and
    a leading ``"module."`` is stripped from every key. Raises :class:`WeightsError` naming the
    file when it is corrupt, refused as unsafe, or holds something other than tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read weight file {path}: {type(e).__name__}: {e}") from e
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
    return {k.removeprefix("module."): v for k, v in data.items()}


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


# ---------------------------------------------------------------------------------------------
# Builders and loaders (imported lazily so `import featx.hub` stays cheap)


def _build_pose_mlp():
    from featx.nn.pose_mlp import V2_HIDDEN, PoseMLP

    return PoseMLP(hidden=V2_HIDDEN, layernorm=True)


def _load_pose_mlp(c: ModelCard, paths: dict[str, Path]):
    import json

    from featx.nn.pose_mlp import (
        PoseMLP,
        PoseRegressor,
        hidden_from_state_dict,
        is_v2_state_dict,
    )

    weights, meta_path = paths[c.files[0]], paths[c.files[1]]
    try:
        arch = json.loads(meta_path.read_text())["architecture"]
        norm = arch["output_normalization"]
        mean, std = norm["mean"], norm["std"]
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"cannot read pose MLP metadata {meta_path}: {e!r}") from e
    sd = read_state_dict(weights)
    hidden = arch.get("hidden") or hidden_from_state_dict(sd)
    net = PoseMLP(
        hidden=hidden, dropout=float(arch.get("dropout", 0.0)), layernorm=is_v2_state_dict(sd)
    )
    load_into(net, sd, strict=True, path=weights)
    return PoseRegressor(net, mean, std)


def _build_retinaface():
    from featx.nn.retinaface import RetinaFace

    return RetinaFace()


def _build_img2pose():
    from featx.nn.img2pose import Img2Pose

    return Img2Pose()


def _load_img2pose(c: ModelCard, paths: dict[str, Path]):
    """config.json (sizes, limits, pose statistics, 3D points) + the flat state dict, loaded
    strictly; older torchvision's FPN key spelling is accepted."""
    import json

    from featx.nn.img2pose import Img2Pose, Img2PoseConfig, rename_legacy_keys

    weights, config_path = paths[c.files[0]], paths[c.files[1]]
    try:
        config = Img2PoseConfig.from_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"cannot read img2pose config {config_path}: {e}") from e
    state = rename_legacy_keys(read_state_dict(weights))
    return load_into(Img2Pose(config), state, strict=True, path=weights)


def _build_landmark68(model_id: str):
    from featx.nn.landmark68 import NETWORKS

    return NETWORKS[model_id]()


def _load_landmark68(c: ModelCard, paths: dict[str, Path]):
    weights = paths[c.files[0]]
    # Like Py-Feat, drop every "module." (mobilenet's file was saved from DataParallel).
    sd = {k.replace("module.", ""): v for k, v in read_state_dict(weights).items()}
    return load_into(c.build(), sd, strict=True, path=weights)


def _build_blazeface(model_id: str):
    from featx.nn.blazeface import BlazeFaceFull, BlazeFaceShort

    return {"blazeface_short": BlazeFaceShort, "blazeface_full": BlazeFaceFull}[model_id]()


def _build_mini_xception():
    from featx.nn.mini_xception import MiniXception

    return MiniXception()


def _build_facemesh():
    from featx.nn.facemesh import FaceMesh

    return FaceMesh()


def _build_blendshapes():
    from featx.nn.blendshapes import Blendshapes

    return Blendshapes()


def _load_strict(c: ModelCard, paths: dict[str, Path]):
    """The built module with the card's one weight file loaded strictly."""
    weights = paths[c.files[0]]
    return load_into(c.build(), read_state_dict(weights), strict=True, path=weights)


def _build_identity_gaze(model_id: str):
    from featx.nn.arcface import ArcFace
    from featx.nn.facenet import FaceNet
    from featx.nn.l2cs import L2CS

    return {"arcface": ArcFace, "facenet": FaceNet, "l2cs": L2CS}[model_id]()


# Keys a published file may lack (FACTS): arcface's converted file may have no BatchNorm
# counters; l2cs's unused fc_finetune head may be absent. Every other key must match.
_MAY_BE_ABSENT = {
    "arcface": lambda key: key.endswith(".num_batches_tracked"),
    "l2cs": lambda key: key.startswith("fc_finetune."),
}


def _load_may_lack(c: ModelCard, paths: dict[str, Path]):
    """Like :func:`_load_strict`, but the keys ``_MAY_BE_ABSENT`` names keep their built value."""
    weights = paths[c.files[0]]
    model, state = c.build(), read_state_dict(weights)
    absent = _MAY_BE_ABSENT[c.id]
    kept = {k: v for k, v in model.state_dict().items() if k not in state and absent(k)}
    return load_into(model, {**state, **kept}, strict=True, path=weights)


def _load_hog_classifier(c: ModelCard, paths: dict[str, Path]):
    """xgb_au / svm_au / svm_emo: the skops archive read as data into a HogClassifier."""
    from featx.classic.models import load_classifier
    from featx.classic.skops import SkopsError

    try:
        return load_classifier(paths[c.files[0]], c.id)
    except SkopsError as e:
        raise WeightsError(str(e)) from e


def _build_resmasknet():
    from featx.nn.resmasknet import ResMasking

    return ResMasking()


def _load_resmasknet(c: ModelCard, paths: dict[str, Path]):
    """config.json (in_channels, num_classes) + the .pth whose "net" holds the state dict."""
    import json

    from featx.nn.resmasknet import N_CLASSES, ResMasking

    config_path, weights = paths["config.json"], paths[c.files[1]]
    try:
        config = json.loads(config_path.read_text())
        in_channels = int(config.get("in_channels", 3))
        num_classes = int(config.get("num_classes", N_CLASSES))
    except (ValueError, TypeError, AttributeError) as e:
        raise WeightsError(f"cannot read resmasknet config {config_path}: {e!r}") from e
    if num_classes != N_CLASSES:
        raise WeightsError(
            f"{config_path} says num_classes={num_classes}; featx maps the {N_CLASSES} FER2013 "
            "emotions of resmasknet"
        )
    model = ResMasking(in_channels=in_channels, num_classes=num_classes)
    return load_into(model, read_state_dict(weights), strict=True, path=weights)


def _build_multitask():
    from featx.nn.multitask import FaceMultitask

    return FaceMultitask()


def _load_multitask(c: ModelCard, paths: dict[str, Path]):
    """The network built from the file's own config, then loaded strictly.

    A ``.safetensors`` file holds the config as JSON under its metadata key ``"config"``; a
    legacy torch file (local use) is a dict ``{"config": dict, "model": state dict}``.
    """
    import json

    import torch

    from featx.nn.multitask import FaceMultitask, MultitaskConfig

    path = paths[c.files[0]]
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                text = (f.metadata() or {}).get("config")
            config = json.loads(text) if text is not None else None
        except Exception as e:
            raise WeightsError(f"cannot read weight file {path}: {type(e).__name__}: {e}") from e
        state = read_state_dict(path)
    else:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            config, state = data.get("config"), data["model"]
        except Exception as e:
            raise WeightsError(
                f"cannot read weight file {path} (expected a dict with 'config' and 'model'): "
                f"{type(e).__name__}: {e}"
            ) from e
    if not isinstance(config, dict):
        raise WeightsError(
            f"weight file {path} has no model config (a JSON object under the safetensors "
            "metadata key 'config'); face_multitask_v2 cannot be built without it"
        )
    try:
        model = FaceMultitask(MultitaskConfig.from_dict(config))
    except (TypeError, ValueError) as e:
        raise WeightsError(f"weight file {path}: {e}") from e
    return load_into(model, state, strict=True, path=path)


# ---------------------------------------------------------------------------------------------
# The registry

_PYFEAT = (
    'Cheong et al., "Py-Feat: Python Facial Expression Analysis Toolbox", Affective Science 2023'
)
_CROP112 = "112x112 RGB crop of the detector box expanded x1.2 (grid_sample), values in [0,1]"

_CARDS = [
    ModelCard(
        id="retinaface",
        task="face",
        name="retinaface",
        repo="py-feat/retinaface_r34",
        files=("model.safetensors",),
        fallback_files=("retinaface_r34.safetensors",),
        file_format="safetensors",
        license="MIT",
        paper='Deng et al., "RetinaFace: Single-stage Dense Face Localisation in the Wild", '
        "CVPR 2020",
        input_spec="(B,3,H,W) RGB float 0..255 minus mean (R 123, G 117, B 104), native size",
        outputs=("loc", "class_logits", "landms"),
        tolerance=1e-5,
        tolerance_relative=True,
        builder=_build_retinaface,
        loader=_load_strict,
    ),
    ModelCard(
        id="img2pose",
        task="face",
        name="img2pose",
        repo="py-feat/img2pose",
        files=("model.safetensors", "config.json"),
        file_format="safetensors",
        license="CC BY-NC 4.0",
        non_commercial=True,
        paper='Albiero et al., "img2pose: Face Alignment and Detection via 6DoF, Face Pose '
        'Estimation", CVPR 2021',
        input_spec="(B,3,H,W) RGB in [0,1]; resized inside (min 400, max 1400), ImageNet mean/std",
        outputs=("rpn_objectness", "rpn_deltas"),
        tolerance=1e-4,
        tolerance_relative=True,
        builder=_build_img2pose,
        loader=_load_img2pose,
    ),
    ModelCard(
        id="pose_mlp",
        task="facepose",
        name="pose_mlp",
        repo="py-feat/pose_mlp_v2",
        files=("pose_mlp_v2.safetensors", "pose_mlp_v2.json"),
        file_format="safetensors",
        license="unknown, distilled from img2pose (CC BY-NC 4.0)",
        non_commercial=True,
        paper=_PYFEAT,
        input_spec="(B,136) float32: 68 landmarks centred, divided by the 36-45 eye-corner "
        "distance, all x then all y",
        outputs=("output",),
        tolerance=1e-5,
        builder=_build_pose_mlp,
        loader=_load_pose_mlp,
    ),
    ModelCard(
        id="mobilefacenet",
        task="landmark",
        name="mobilefacenet",
        repo="py-feat/mobilefacenet",
        files=("mobilefacenet_model_best.pth.tar",),
        file_format="pth.tar",
        license="MIT",
        paper='Chen et al., "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face '
        'Verification on Mobile Devices", CCBR 2018',
        input_spec=f"(B,3,112,112) {_CROP112}, no normalisation",
        outputs=("landmarks", "conv_features"),
        tolerance=1e-5,
        tolerance_relative=True,
        builder=lambda: _build_landmark68("mobilefacenet"),
        loader=_load_landmark68,
    ),
    ModelCard(
        id="mobilenet",
        task="landmark",
        name="mobilenet",
        repo="py-feat/mobilenet",
        files=("mobilenet_224_model_best_gdconv_external.pth.tar",),
        file_format="pth.tar",
        license="MIT",
        paper='Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018',
        input_spec="(B,3,224,224) RGB crop of the box expanded x1.2, [0,1] then ImageNet mean/std",
        outputs=("landmarks",),
        tolerance=1e-5,
        builder=lambda: _build_landmark68("mobilenet"),
        loader=_load_landmark68,
    ),
    ModelCard(
        id="pfld",
        task="landmark",
        name="pfld",
        repo="py-feat/pfld",
        files=("pfld_model_best.pth.tar",),
        file_format="pth.tar",
        license="MIT",
        paper='Guo et al., "PFLD: A Practical Facial Landmark Detector", arXiv 2019',
        input_spec=f"(B,3,112,112) {_CROP112}, no normalisation",
        outputs=("landmarks",),
        tolerance=1e-5,
        builder=lambda: _build_landmark68("pfld"),
        loader=_load_landmark68,
    ),
    ModelCard(
        id="xgb_au",
        task="au",
        name="xgb",
        repo="py-feat/xgb_au",
        files=("xgb_au_classifier_v2.skops",),
        fallback_files=("xgb_au_classifier.skops",),
        file_format="skops",
        license="MIT",
        paper=_PYFEAT,
        input_spec="HOG (5408) of the 112 landmark-aligned masked face, PCA per region, "
        "+ 136 aligned integer landmarks",
        outputs=("au_probs",),
        tolerance=1e-5,
        loader=_load_hog_classifier,
    ),
    ModelCard(
        id="svm_au",
        task="au",
        name="svm",
        repo="py-feat/svm_au",
        files=("svm_au_classifier_v2.skops",),
        fallback_files=("svm_au_classifier.skops",),
        file_format="skops",
        license="MIT",
        paper=_PYFEAT,
        input_spec="HOG (5408) as xgb_au, PCA per region + 136 aligned integer landmarks",
        outputs=("au_pred",),
        tolerance=1e-4,
        loader=_load_hog_classifier,
    ),
    ModelCard(
        id="svm_emo",
        task="emotion",
        name="svm",
        repo="py-feat/svm_emo",
        files=("svm_emo_classifier.skops",),
        file_format="skops",
        license="MIT",
        paper=_PYFEAT,
        input_spec="HOG (5408) as xgb_au, PCA + 136 aligned integer landmarks",
        outputs=("emo_pred",),
        tolerance=1e-4,
        loader=_load_hog_classifier,
    ),
    ModelCard(
        id="resmasknet",
        task="emotion",
        name="resmasknet",
        repo="py-feat/resmasknet",
        files=("config.json", "ResMaskNet_Z_resmasking_dropout1_rot30.pth"),
        file_format="pth",
        license="MIT",
        paper='Pham et al., "Facial Expression Recognition using Residual Masking Network", '
        "ICPR 2020",
        input_spec="(B,3,224,224) RGB crop of the box expanded x1.1, values in [0,1], "
        "no normalisation",
        outputs=("logits",),
        tolerance=1e-4,
        builder=_build_resmasknet,
        loader=_load_resmasknet,
    ),
    ModelCard(
        id="arcface",
        task="identity",
        name="arcface",
        repo="py-feat/arcface_r50",
        files=("arcface_r50.safetensors",),
        file_format="safetensors",
        license="code MIT; weights non-commercial research only",
        non_commercial=True,
        paper='Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", '
        "CVPR 2019",
        input_spec=f"(B,3,112,112) {_CROP112}, then x*2-1",
        outputs=("embedding",),
        tolerance=1e-4,
        tolerance_relative=True,
        builder=lambda: _build_identity_gaze("arcface"),
        loader=_load_may_lack,
    ),
    ModelCard(
        id="facenet",
        task="identity",
        name="facenet",
        repo="py-feat/facenet",
        files=("facenet_20180402_114759_vggface2.pth",),
        file_format="pth",
        license="MIT",
        paper='Schroff et al., "FaceNet: A Unified Embedding for Face Recognition and '
        'Clustering", CVPR 2015',
        input_spec=f"(B,3,112,112) {_CROP112}, no normalisation",
        outputs=("embedding",),
        tolerance=1e-5,
        builder=lambda: _build_identity_gaze("facenet"),
        loader=_load_strict,
    ),
    ModelCard(
        id="l2cs",
        task="gaze",
        name="l2cs",
        repo="py-feat/l2cs",
        files=("l2cs_gaze360_resnet50.safetensors",),
        file_format="safetensors",
        license="MIT",
        paper='Abdelrahman et al., "L2CS-Net: Fine-Grained Gaze Estimation in Unconstrained '
        'Environments", arXiv 2022',
        input_spec="(B,3,224,224): the 112 crop resized bilinearly, ImageNet mean/std",
        outputs=("yaw_logits", "pitch_logits"),
        tolerance=1e-4,
        builder=lambda: _build_identity_gaze("l2cs"),
        loader=_load_may_lack,
    ),
    ModelCard(
        id="face_multitask_v2",
        task="multitask",
        name="face_multitask_v2",
        repo="py-feat/face_multitask_v2",
        files=("face_multitask_v28.safetensors",),
        file_format="safetensors",
        license="research / non-commercial only (weights); ConvNeXt V2 backbone code MIT",
        non_commercial=True,
        paper='Woo et al., "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked '
        'Autoencoders", CVPR 2023',
        input_spec="(B,3,224,224): square crop of 1.2x the longer box side (256, reflection "
        "padding) resized with antialias, ImageNet mean/std",
        outputs=(
            "p_au",
            "mesh",
            "pose",
            "blendshapes",
            "emotion_logits",
            "va",
            "gaze",
            "gaze_logits",
        ),
        tolerance=1e-4,
        builder=_build_multitask,
        loader=_load_multitask,
    ),
]

_MEDIAPIPE = "Apache-2.0"
_BUNDLED = [
    ModelCard(
        id="blazeface_short",
        task="face",
        name="blazeface_short",
        repo=None,
        files=("blazeface_short.safetensors",),
        file_format="bundled-safetensors",
        license=_MEDIAPIPE,
        paper='Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile '
        'GPUs", CVPR Workshops 2019',
        input_spec="(1,128,128,3) NHWC RGB, uint8*(2/255)-1, letterboxed",
        outputs=("raw_boxes", "raw_scores"),
        tolerance=1e-5,
        tolerance_relative=True,
        builder=lambda: _build_blazeface("blazeface_short"),
        loader=_load_strict,
    ),
    ModelCard(
        id="blazeface_full",
        task="face",
        name="blazeface_full",
        repo=None,
        files=("blazeface_full.safetensors",),
        file_format="bundled-safetensors",
        license=_MEDIAPIPE,
        paper='Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile '
        'GPUs", CVPR Workshops 2019',
        input_spec="(1,192,192,3) NHWC RGB, uint8*(2/255)-1, letterboxed",
        outputs=("raw_boxes", "raw_scores"),
        tolerance=1e-5,
        tolerance_relative=True,
        builder=lambda: _build_blazeface("blazeface_full"),
        loader=_load_strict,
    ),
    ModelCard(
        id="facemesh_v2",
        task="mesh",
        name="facemesh",
        repo=None,
        files=("facemesh_v2.safetensors",),
        file_format="bundled-safetensors",
        license=_MEDIAPIPE,
        paper='Grishchenko et al., "Attention Mesh: High-fidelity Face Mesh Prediction in '
        'Real-time", CVPR Workshops 2020',
        input_spec="(1,256,256,3) NHWC RGB, uint8/255, rotated ROI crop",
        outputs=("Identity", "Identity_1", "Identity_2"),
        tolerance=1e-3,
        builder=_build_facemesh,
        loader=_load_strict,
    ),
    ModelCard(
        id="mp_blendshapes",
        task="blendshape",
        name="blendshapes",
        repo=None,
        files=("mp_blendshapes.safetensors",),
        file_format="bundled-safetensors",
        license=_MEDIAPIPE,
        paper='Grishchenko et al., "Attention Mesh: High-fidelity Face Mesh Prediction in '
        'Real-time", CVPR Workshops 2020',
        input_spec="(1,146,2) image-pixel x, y of 146 selected mesh landmarks",
        outputs=("output",),
        tolerance=1e-4,
        builder=_build_blendshapes,
        loader=_load_strict,
    ),
    ModelCard(
        id="mini_xception",
        task="emotion",
        name="mini_xception",
        repo=None,
        files=("mini_xception.safetensors",),
        file_format="bundled-safetensors",
        license="MIT",
        paper='Arriaga et al., "Real-time Convolutional Neural Networks for Emotion and Gender '
        'Classification", arXiv 2017',
        input_spec="(B,64,64,1) grey crop (fer margins), (x/255-0.5)*2",
        outputs=("logits",),
        tolerance=1e-4,
        builder=_build_mini_xception,
        loader=_load_strict,
    ),
]

MODELS: dict[str, ModelCard] = {c.id: c for c in _CARDS + _BUNDLED}


# ---------------------------------------------------------------------------------------------
# Look-up and tables


def _serves(c: ModelCard, task: str) -> bool:
    return c.task == task or task in _EXTRA_TASKS.get(c.id, ())


def card(id_or_name: str, task: str | None = None) -> ModelCard:
    """The card of a model, by id (any case) or, with ``task``, by its short name.

    >>> card("SVM", task="emotion").id
    'svm_emo'
    """
    key = str(id_or_name).strip().lower()
    if task is None:
        if key in MODELS:
            return MODELS[key]
        raise ValueError(
            f"Unknown model {id_or_name!r}. Valid choices: {', '.join(sorted(MODELS))}"
        )
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. Valid choices: {', '.join(TASKS)}")
    serving = [c for c in MODELS.values() if _serves(c, task)]
    for c in serving:
        if key in (c.id, c.name.lower()):
            return c
    choices = ", ".join(c.name if c.name == c.id else f"{c.name} ({c.id})" for c in serving)
    raise ValueError(f"Unknown {task} model {id_or_name!r}. Valid choices: {choices}")


def list_models(task: str | None = None) -> pd.DataFrame:
    """One row per model card (optionally only those serving ``task``)."""
    import pandas as pd

    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. Valid choices: {', '.join(TASKS)}")
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
        for c in MODELS.values()
        if task is None or _serves(c, task)
    ]
    return pd.DataFrame(
        rows, columns=["id", "task", "name", "repo", "files", "license", "non_commercial", "paper"]
    )


def licenses() -> pd.DataFrame:
    """Licence of every model and whether its weights are restricted to non-commercial use."""
    return list_models()[["id", "license", "non_commercial"]]
