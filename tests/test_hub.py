"""Model registry, weight resolution (real huggingface_hub against a local cache) and loading."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hubcache import CONF, detweights, put_in_hub_cache, safetensors_bytes

from featx import hub
from featx.nn import pose_mlp, weights

PYFEAT_IDS = [
    "retinaface",
    "img2pose",
    "pose_mlp",
    "mobilefacenet",
    "mobilenet",
    "pfld",
    "xgb_au",
    "svm_au",
    "svm_emo",
    "resmasknet",
    "arcface",
    "facenet",
    "l2cs",
    "face_multitask_v2",
]
BUNDLED_IDS = [
    "blazeface_short",
    "blazeface_full",
    "facemesh_v2",
    "mp_blendshapes",
    "mini_xception",
]
FACE_MAP_IDS = [
    "au_to_mesh_v4",
    "au_to_mesh_v6",
    "au_to_landmarks_v2",
    "emotion_to_mesh_v6",
    "bs_to_mesh_v6",
]


def _manifest(model_id: str) -> dict:
    return json.loads((CONF / model_id / "manifest.json").read_text())


# ---------------------------------------------------------------------------------------------
# Registry


def test_every_design_model_is_registered():
    assert set(hub.MODELS) == set(PYFEAT_IDS) | set(BUNDLED_IDS)
    for model_id, c in hub.MODELS.items():
        assert c.id == model_id
        assert c.task in hub.TASKS
        assert c.name and c.paper and c.input_spec and c.license and c.file_format
        assert c.outputs and c.tolerance > 0


@pytest.mark.parametrize("model_id", PYFEAT_IDS)
def test_card_matches_manifest(model_id):
    m, c = _manifest(model_id), hub.card(model_id)
    assert c.repo == m["hf_repo"]
    assert c.files == tuple(m["hf_files"])
    assert c.fallback_files == tuple(m.get("hf_fallback_files", ()))
    assert c.file_format in {"safetensors", "pth", "pth.tar", "skops"}


@pytest.mark.parametrize("model_id", PYFEAT_IDS + BUNDLED_IDS)
def test_card_outputs_are_ref_keys(model_id):
    keys = set(np.load(CONF / model_id / "ref.npz").files)
    for name in hub.card(model_id).outputs:
        assert name in keys or any(k.endswith("_" + name) and k.startswith("case") for k in keys)


@pytest.mark.parametrize("model_id", BUNDLED_IDS)
def test_bundled_cards(model_id):
    c = hub.card(model_id)
    assert c.repo is None and c.bundled
    assert c.files == (f"{model_id}.safetensors",)
    assert c.file_format == "bundled-safetensors"
    assert c.license == ("MIT" if model_id == "mini_xception" else "Apache-2.0")
    assert not c.non_commercial


def test_non_commercial_flags():
    flagged = {c.id for c in hub.MODELS.values() if c.non_commercial}
    assert flagged == {"img2pose", "arcface", "face_multitask_v2", "pose_mlp"}
    assert hub.card("img2pose").license == "CC BY-NC 4.0"


@pytest.mark.parametrize(
    ("name", "task", "expected"),
    [
        ("svm", "au", "svm_au"),
        ("SVM", "emotion", "svm_emo"),
        ("xgb", "au", "xgb_au"),
        ("img2pose", "facepose", "img2pose"),
        ("pose_mlp", "facepose", "pose_mlp"),
        ("RetinaFace", "face", "retinaface"),
        ("Svm_Au", None, "svm_au"),
        (" L2CS ", None, "l2cs"),
        ("xgb_au", "au", "xgb_au"),
    ],
)
def test_card_lookup(name, task, expected):
    assert hub.card(name, task=task).id == expected


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="retinaface") as e:
        hub.card("nope")
    assert "svm_emo" in str(e.value)
    with pytest.raises(ValueError, match="xgb") as e:
        hub.card("svm_emo", task="au")
    assert "svm" in str(e.value) and "resmasknet" not in str(e.value)
    with pytest.raises(ValueError, match="facepose"):
        hub.card("svm", task="not-a-task")


def test_list_models_and_licenses():
    table = hub.list_models()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "id",
        "task",
        "name",
        "repo",
        "files",
        "license",
        "non_commercial",
        "paper",
    ]
    assert sorted(table["id"]) == sorted([*hub.MODELS, *FACE_MAP_IDS])
    assert set(hub.list_models("au")["id"]) == {"xgb_au", "svm_au"}
    assert set(hub.list_models("facepose")["id"]) == {"pose_mlp", "img2pose"}
    lic = hub.licenses()
    assert list(lic.columns) == ["id", "license", "non_commercial"]
    assert set(lic.loc[lic["non_commercial"], "id"]) == {
        "img2pose",
        "arcface",
        "face_multitask_v2",
        "pose_mlp",
        *FACE_MAP_IDS,  # fit on CelebV-HQ frames (non-commercial terms)
    }


def test_cards_name_builders_and_loaders_in_their_own_model_file():
    for c in hub.CARDS.values():
        for ref in (c.builder, c.loader):
            if ref is None:
                continue
            assert isinstance(ref, hub.Ref), c.id
            module = ref.target.split(":")[0]
            assert module.startswith(("featx.nn.", "featx.classic.")), (c.id, ref)
            assert callable(ref.resolve()), (c.id, ref)
    assert hub.card("retinaface").builder == hub.Ref("featx.nn.retinaface:RetinaFace")
    with pytest.raises(ValueError, match="module:attribute"):
        hub.Ref("featx.nn.retinaface.RetinaFace")


def test_nn_and_classic_import_nothing_above_them():
    allowed = ("featx.nn", "featx.classic", "featx.boxes")
    root = Path(hub.__file__).parents[1]
    for path in sorted((root / "nn").glob("*.py")) + sorted((root / "classic").glob("*.py")):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if len(words) >= 2 and words[0] in ("from", "import") and words[1].startswith("featx"):
                assert words[1].startswith(allowed), f"{path.name}: {line.strip()}"


def test_face_maps_are_cards_of_the_one_registry(hf_home):
    assert list(hub.list_models("render")["id"]) == FACE_MAP_IDS
    assert set(hub.FACE_MAPS) == set(FACE_MAP_IDS) and not set(hub.FACE_MAPS) & set(hub.MODELS)
    assert set(hub.CARDS) == set(hub.MODELS) | set(hub.FACE_MAPS)
    lic = hub.licenses().set_index("id")
    assert lic.loc[FACE_MAP_IDS, "non_commercial"].all()
    assert lic.loc[FACE_MAP_IDS, "license"].str.contains("CelebV-HQ").all()
    face_map = hub.card("AU_to_mesh_v4").load()
    assert face_map.shape == (478, 3) and face_map.name == "au_to_mesh_v4"
    assert hub.card("au_to_mesh_v4", task="render").bundled
    with pytest.raises(hub.ModelNotFoundError, match="py-feat/bs_to_mesh"):
        hub.card("bs_to_mesh_v6").fetch(model_dir=Path("/nonexistent"))


def test_unimplemented_models_say_so():
    without_builder = dataclasses.replace(hub.card("retinaface"), builder=None)
    with pytest.raises(NotImplementedError, match="retinaface"):
        without_builder.build()
    with pytest.raises(NotImplementedError, match="xgb_au"):
        dataclasses.replace(hub.card("xgb_au"), loader=None).load()


def test_build_gives_eval_module():
    m = hub.card("pose_mlp").build()
    assert isinstance(m, torch.nn.Module) and not m.training


def test_import_is_cheap():
    code = textwrap.dedent(
        """
        import sys, featx
        before = set(sys.modules)
        import featx.hub
        heavy = {m.split(".")[0] for m in set(sys.modules) - before}
        heavy &= {"torch", "huggingface_hub", "pandas", "safetensors"}
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# Resolution through the real huggingface_hub against a local cache


@pytest.fixture(scope="module")
def pose_files() -> dict[str, bytes]:
    """pose_mlp_v2 files filled with detweights values and the ref's test normalisation."""
    manifest = _manifest("pose_mlp")
    ref = np.load(CONF / "pose_mlp" / "ref.npz")
    meta = {
        "architecture": {
            "hidden": manifest["config"]["hidden"],
            "dropout": 0.1,
            "output_normalization": {
                "mean": ref["test_y_mean"].tolist(),
                "std": ref["test_y_std"].tolist(),
            },
        }
    }
    return {
        "pose_mlp_v2.safetensors": safetensors_bytes(detweights.state_dict_from_manifest(manifest)),
        "pose_mlp_v2.json": json.dumps(meta).encode(),
    }


def _check_regressor(reg):
    c = hub.card("pose_mlp")
    ref = np.load(CONF / "pose_mlp" / "ref.npz")
    assert isinstance(reg, pose_mlp.PoseRegressor) and not reg.training
    with torch.no_grad():
        out = reg(torch.from_numpy(ref["landmarks"])).numpy()
    np.testing.assert_allclose(out, ref["pose_canonical"], rtol=0, atol=c.tolerance)


def test_load_from_hub_cache(hf_home, pose_files):
    snapshot = put_in_hub_cache(hf_home, "py-feat/pose_mlp_v2", pose_files)
    c = hub.card("pose_mlp")
    paths = c.fetch()
    assert set(paths) == set(c.files)
    assert paths["pose_mlp_v2.json"] == snapshot / "pose_mlp_v2.json"
    _check_regressor(c.load())


def test_fallback_file_is_used(hf_home):
    c = hub.card("retinaface")
    data = safetensors_bytes({"x": torch.zeros(2)})
    snapshot = put_in_hub_cache(hf_home, c.repo, {c.fallback_files[0]: data})
    assert c.fetch() == {c.files[0]: snapshot / c.fallback_files[0]}
    put_in_hub_cache(hf_home, c.repo, {c.files[0]: data})
    assert c.fetch() == {c.files[0]: snapshot / c.files[0]}


def test_missing_file_raises_model_not_found(hf_home, pose_files):
    c = hub.card("pose_mlp")
    with pytest.raises(hub.ModelNotFoundError) as e:
        c.load()
    msg = str(e.value)
    for part in (
        "pose_mlp",
        "py-feat/pose_mlp_v2",
        "pose_mlp_v2.safetensors",
        "FEATX_MODEL_DIR",
        "model_dir",
    ):
        assert part in msg
    assert isinstance(e.value, FileNotFoundError)
    # the second file missing is named too
    put_in_hub_cache(hf_home, c.repo, {"pose_mlp_v2.safetensors": pose_files[c.files[0]]})
    with pytest.raises(hub.ModelNotFoundError, match=r"pose_mlp_v2\.json"):
        c.fetch()


def test_missing_fallback_names_both_files(hf_home):
    with pytest.raises(hub.ModelNotFoundError) as e:
        hub.card("retinaface").fetch()
    assert "model.safetensors" in str(e.value) and "retinaface_r34.safetensors" in str(e.value)


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_model_dir_argument_and_env(hf_home, tmp_path, monkeypatch, pose_files):
    c = hub.card("pose_mlp")
    flat = _write(tmp_path / "flat", pose_files)
    assert c.fetch(model_dir=flat) == {n: flat / n for n in c.files}
    nested = _write(tmp_path / "nested" / "pose_mlp_v2", pose_files)
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(nested.parent))
    assert c.fetch() == {n: nested / n for n in c.files}
    _check_regressor(c.load())
    # the argument wins over the environment
    assert c.fetch(model_dir=str(flat)) == {n: flat / n for n in c.files}
    # a folder without the file falls through to the hub cache
    snapshot = put_in_hub_cache(hf_home, c.repo, pose_files)
    assert c.fetch(model_dir=tmp_path / "empty") == {n: snapshot / n for n in c.files}


def test_model_dir_fallback_name(hf_home, tmp_path):
    c = hub.card("retinaface")
    folder = _write(tmp_path / "w", {"retinaface_r34.safetensors": b"x"})
    assert c.fetch(model_dir=folder) == {"model.safetensors": folder / "retinaface_r34.safetensors"}


def test_pose_mlp_v1_weights_are_detected(tmp_path, pose_files):
    net = pose_mlp.PoseMLP(hidden=pose_mlp.V1_HIDDEN, layernorm=False)
    detweights.fill_module(net)
    assert [k for k in net.state_dict() if k.endswith("weight")] == [
        "net.0.weight",
        "net.3.weight",
        "net.6.weight",
        "net.9.weight",
    ]
    meta = json.loads(pose_files["pose_mlp_v2.json"])
    del meta["architecture"]["hidden"]  # inferred from the weights
    _write(
        tmp_path,
        {
            "pose_mlp_v2.safetensors": safetensors_bytes(net.state_dict()),
            "pose_mlp_v2.json": json.dumps(meta).encode(),
        },
    )
    reg = hub.card("pose_mlp").load(model_dir=tmp_path)
    assert not reg.net.layernorm and reg.net.hidden == pose_mlp.V1_HIDDEN
    x = torch.rand(3, 68, 2) * 100
    with torch.no_grad():
        z = net.eval()(pose_mlp.landmark_features(x))
        expected = pose_mlp.to_featx_pose(pose_mlp.denormalize(z, reg.mean, reg.std))
        torch.testing.assert_close(reg(x), expected)


def test_bad_pose_metadata_is_a_weights_error(tmp_path, pose_files):
    _write(tmp_path, {**pose_files, "pose_mlp_v2.json": b"{not json"})
    with pytest.raises(hub.WeightsError, match="pose_mlp_v2.json"):
        hub.card("pose_mlp").load(model_dir=tmp_path)


def test_bundled_files_resolve_inside_assets(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "ASSETS_DIR", tmp_path)
    c = hub.card("mini_xception")
    with pytest.raises(hub.ModelNotFoundError, match="mini_xception.safetensors"):
        c.fetch()
    (tmp_path / "mini_xception.safetensors").write_bytes(b"x")
    digest = hashlib.sha256(b"x").hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  mini_xception.safetensors\n")
    assert c.fetch() == {"mini_xception.safetensors": tmp_path / "mini_xception.safetensors"}


def test_environment_alone_configures_the_hub(tmp_path, pose_files):
    """A fresh interpreter with only HF_HOME and HF_HUB_OFFLINE set finds the cached files."""
    home = tmp_path / "hf"
    snapshot = put_in_hub_cache(home, "py-feat/pose_mlp_v2", pose_files)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "FEATX_"))}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1")
    code = textwrap.dedent(
        """
        from featx import hub
        print(hub.card("pose_mlp").fetch()["pose_mlp_v2.json"])
        try:
            hub.card("l2cs").fetch()
        except hub.ModelNotFoundError as e:
            assert "l2cs_gaze360_resnet50.safetensors" in str(e)
            print("missing ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout.split("\n")
    assert Path(out[0]) == snapshot / "pose_mlp_v2.json"
    assert out[1] == "missing ok"


# ---------------------------------------------------------------------------------------------
# Reading and loading weight files


def test_sha256(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc" * 1000)
    assert hub.sha256(p) == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert hub.sha256(p, chunk_size=7) == hub.sha256(p)


def test_sha256_reads_each_version_of_a_file_once(tmp_path, monkeypatch):
    opened: list[str] = []

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(weights, "open", counting_open, raising=False)
    p = tmp_path / "w.bin"
    p.write_bytes(b"first" * 100)
    first = hub.sha256(p)
    assert first == hashlib.sha256(b"first" * 100).hexdigest() and len(opened) == 1
    assert hub.sha256(p) == first and len(opened) == 1  # unchanged: not read again
    link = tmp_path / "link.bin"  # a hub snapshot link to the same blob
    link.symlink_to(p)
    assert hub.sha256(link) == first and len(opened) == 1
    # the same size, rewritten: a new mtime makes a new version
    stat = p.stat()
    p.write_bytes(b"other" * 100)
    os.utime(p, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert hub.sha256(p) == hashlib.sha256(b"other" * 100).hexdigest() and len(opened) == 2
    p.write_bytes(b"longer" * 100)  # another size
    assert hub.sha256(link) == hashlib.sha256(b"longer" * 100).hexdigest() and len(opened) == 3


def test_read_state_dict_strips_every_dataparallel_wrapping(tmp_path):
    t = torch.zeros(2)
    torch.save({"module.module.a": t, "b.module.c": t}, tmp_path / "w.pth")
    assert list(hub.read_state_dict(tmp_path / "w.pth")) == ["a", "b.module.c"]


def test_read_state_dict_unwraps_and_strips_prefix(tmp_path):
    t = torch.arange(6.0).reshape(2, 3)
    torch.save(
        {"state_dict": {"module.a.weight": t, "module.b": t[0]}, "epoch": 3}, tmp_path / "m.pth.tar"
    )
    sd = hub.read_state_dict(tmp_path / "m.pth.tar")
    assert list(sd) == ["a.weight", "b"]
    torch.testing.assert_close(sd["a.weight"], t)

    torch.save({"net": {"fc.1.weight": t}, "optimizer": {"lr": 0.1}}, tmp_path / "r.pth")
    assert list(hub.read_state_dict(tmp_path / "r.pth")) == ["fc.1.weight"]

    torch.save({"x": t}, tmp_path / "plain.pt")
    assert list(hub.read_state_dict(tmp_path / "plain.pt")) == ["x"]

    (tmp_path / "s.safetensors").write_bytes(safetensors_bytes({"module.y": t}))
    assert list(hub.read_state_dict(tmp_path / "s.safetensors")) == ["y"]


_UNPICKLED: list[str] = []


def _side_effect(tag):
    _UNPICKLED.append(tag)
    return tag


class _Payload:
    def __reduce__(self):
        return (_side_effect, ("ran",))


def test_read_state_dict_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Payload()}, path)
    with pytest.raises(hub.WeightsError, match="evil.pth") as e:
        hub.read_state_dict(path)
    assert "refused: this file would run code when loaded" in str(e.value)
    assert "weights_only=False" not in str(e.value)  # not torch's advice to load it anyway
    assert _UNPICKLED == []
    # the legacy multitask checkpoint is read the same way
    c = hub.card("face_multitask_v2")
    torch.save({"config": {}, "model": {}, "extra": _Payload()}, path)
    with pytest.raises(hub.WeightsError, match="refused: this file would run code"):
        c.loader(c, {c.files[0]: path})
    assert _UNPICKLED == []


def test_read_state_dict_errors_name_the_file(tmp_path):
    for name in ("bad.safetensors", "bad.pth.tar"):
        (tmp_path / name).write_bytes(b"this is not a weight file")
        with pytest.raises(hub.WeightsError, match=name.replace(".", r"\.")):
            hub.read_state_dict(tmp_path / name)
    torch.save({"w": torch.zeros(1), "lr": 0.1}, tmp_path / "mixed.pt")
    with pytest.raises(hub.WeightsError, match="lr"):
        hub.read_state_dict(tmp_path / "mixed.pt")
    with pytest.raises(FileNotFoundError):
        hub.read_state_dict(tmp_path / "absent.pth")


def test_load_into_reports_mismatches(tmp_path):
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    sd = {"0.weight": torch.zeros(2, 4), "0.bias": torch.zeros(2), "extra.key": torch.zeros(1)}
    with pytest.raises(hub.WeightsError) as e:
        hub.load_into(m, sd, path=tmp_path / "w.safetensors")
    msg = str(e.value)
    for part in ("w.safetensors", "1.weight", "1.bias", "extra.key", "0.weight", "(2, 4)"):
        assert part in msg
    # non-strict ignores missing/unexpected keys but never shape mismatches
    good = {"0.weight": torch.ones(2, 3), "extra.key": torch.zeros(1)}
    hub.load_into(m, good, strict=False)
    torch.testing.assert_close(m[0].weight, torch.ones(2, 3))
    with pytest.raises(hub.WeightsError, match="shape"):
        hub.load_into(m, sd, strict=False)
