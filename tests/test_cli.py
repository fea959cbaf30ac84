import json
import subprocess
import sys

from featx import cli, hub, io, schema

PYFEAT_MODELS = [
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
NON_COMMERCIAL = {"img2pose", "arcface", "face_multitask_v2", "pose_mlp"}


def test_models_lists_every_model_and_flags_non_commercial(capsys):
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:] if line and line.split()[0] in hub.MODELS}
    assert set(PYFEAT_MODELS) <= set(rows)
    for model_id in PYFEAT_MODELS:
        assert hub.card(model_id).repo in rows[model_id]
        assert ("NON-COMMERCIAL" in rows[model_id]) == (model_id in NON_COMMERCIAL)
    assert "4 marked NON-COMMERCIAL" in lines[-1]


def test_models_by_task(capsys):
    assert cli.main(["models", "--task", "landmark"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert ids[:3] == ["mobilefacenet", "mobilenet", "pfld"]


def test_demo_self_check_writes_a_valid_dataset(tmp_path):
    out = tmp_path / "demo.nc"
    run = subprocess.run(
        [sys.executable, "-m", "featx.cli", "demo", "--output", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "round-tripped 2 frames" in run.stdout
    ds = io.open_dataset(out)
    schema.validate(ds)
    assert json.loads(ds.attrs.get("sources", "{}")) == {} and ds.sizes["frame"] == 2
