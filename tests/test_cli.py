import json
import os
import subprocess
import sys
from pathlib import Path

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
    face_maps = [line for line in lines[1:] if line and line.split()[0] in hub.FACE_MAPS]
    assert len(face_maps) == 5 and all("NON-COMMERCIAL" in line for line in face_maps)
    assert "9 marked NON-COMMERCIAL" in lines[-1]  # the 4 models and the 5 face maps


def test_models_by_task(capsys):
    assert cli.main(["models", "--task", "landmark"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert ids[:3] == ["mobilefacenet", "mobilenet", "pfld"]


def test_demo_analyses_the_sample_faces_offline(tmp_path, hf_home):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "featx.cli", "demo", "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    assert "astronaut.png: a face in 1 of 1 frames" in run.stdout
    ds = io.open_dataset(tmp_path / "demo.nc")
    schema.validate(ds)
    assert ds.attrs["detector"] == "MPDetector"
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    present = ds["face_rect"].notnull().all("rect").any("face")
    clip = ds["source"].str.endswith(".avi")
    assert int(clip.sum()) == 30 and float(present[clip].mean()) >= 0.95
    # The sources point at the saved media, so frames can be read back.
    assert all(Path(s).is_file() for s in json.loads(ds.attrs["sources"]))


def test_detect_writes_one_dataset(tmp_path):
    import cv2
    import skimage.data

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), skimage.data.astronaut()[..., ::-1])
    out = tmp_path / "out.nc"
    assert cli.main(["detect", str(photo), str(photo), "-o", str(out), "--no-progress"]) == 0
    ds = io.open_dataset(out)
    schema.validate(ds)
    assert ds.sizes["frame"] == 2 and ds.attrs["detector"] == "MPDetector"
    assert ds["face_rect"].notnull().all("rect").any("face").all()


def test_detect_and_demo_refuse_an_output_suffix_before_any_work(tmp_path, capsys):
    """`-o out.parquet` used to run the whole detection, then write netCDF under that name."""
    photo = tmp_path / "missing.png"  # never opened: the output is checked first
    for argv in (["detect", str(photo), "-o", str(tmp_path / "out.parquet")],
                 ["demo", "--output", str(tmp_path / "demo.csv")]):  # fmt: skip
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"featx {argv[0]}: cannot save" in err and ".nc, .nc4, .h5, .hdf5" in err
    assert not list(tmp_path.iterdir())
