from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from featx import cli, hub, io, schema
from featx.detectors.base import BaseDetector

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
        assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# The CLI as a new user meets it: checks before work, one-line errors, outputs, resuming


class BoxDetector(BaseDetector):
    """A real detector (the shared loop, RunStore) with a fixed box per frame and no model.

    ``interrupt_at`` makes the n-th batch (from 1) raise KeyboardInterrupt, as Ctrl-C would.
    """

    name = "BoxDetector"
    made: ClassVar[list[BoxDetector]] = []
    batches: ClassVar[int] = 0
    interrupt_at: ClassVar[int | None] = None

    def __init__(self, **kwargs) -> None:
        super().__init__(device="cpu")
        BoxDetector.made.append(self)

    def process_batch(self, images):
        BoxDetector.batches += 1
        if BoxDetector.batches == BoxDetector.interrupt_at:
            raise KeyboardInterrupt
        return [
            {"face_rect": np.array([[1.0, 2.0, 10.0, 12.0]]), "face_score": np.array([0.9])}
            for _ in images
        ]


@pytest.fixture
def box_detector(monkeypatch):
    """``--detector mp`` runs :class:`BoxDetector` (counters reset)."""
    monkeypatch.setitem(cli.DETECTORS, "mp", (__name__, "BoxDetector"))
    monkeypatch.setattr(BoxDetector, "made", [])
    monkeypatch.setattr(BoxDetector, "batches", 0)
    monkeypatch.setattr(BoxDetector, "interrupt_at", None)
    return BoxDetector


def _images(folder: Path, n: int) -> list[str]:
    import cv2

    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        cv2.imwrite(str(path), np.full((24, 32, 3), 40 * i, np.uint8))
        paths.append(str(path))
    return paths


def test_help_is_plain_text(capsys):
    """``--help`` used to show the module docstring's reStructuredText (``featx detect``)."""
    for argv in ([], ["detect"], ["models"], ["demo"]):
        with pytest.raises(SystemExit) as done:
            cli.main([*argv, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert "usage: featx" in text
        for markup in ("``", ":func:", ":class:", ":mod:", "\n.. "):
            assert markup not in text, (argv, markup)
    with pytest.raises(SystemExit):
        cli.main(["detect", "--help"])
    text = capsys.readouterr().out
    assert "--overwrite" in text and "--csv-layout" in text and "resumes" in text


def test_missing_input_is_one_line_before_any_model_loads(tmp_path, capsys, box_detector):
    """`featx detect nope.mp4` used to load every model, then print a traceback."""
    missing = tmp_path / "nope.mp4"
    assert cli.main(["detect", str(missing), "-o", str(tmp_path / "out.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("featx detect: ") and "Traceback" not in err
    assert "nope.mp4" in err and "not found" in err
    assert box_detector.made == [] and not list(tmp_path.iterdir())
    with pytest.raises(Exception, match="nope.mp4"):  # --debug: the traceback
        cli.main(["detect", str(missing), "-o", str(tmp_path / "out.nc"), "--debug"])


def test_output_folder_is_checked_before_any_work(tmp_path, capsys, box_detector):
    """`-o nodir/out.nc` used to fail after the whole detection had run."""
    (photo,) = _images(tmp_path, 1)
    assert cli.main(["detect", photo, "-o", str(tmp_path / "nodir" / "out.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nodir" in err and "does not exist" in err
    assert box_detector.made == [] and box_detector.batches == 0


def test_other_errors_are_one_line_with_a_debug_hint(tmp_path, capsys, box_detector, monkeypatch):
    (photo,) = _images(tmp_path, 1)
    monkeypatch.setattr(box_detector, "process_batch", lambda self, images: 1 / 0)
    assert cli.main(["detect", photo, "-o", str(tmp_path / "out.nc"), "--no-progress"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["featx detect: ZeroDivisionError: division by zero",
                   "(run again with --debug for the traceback)"]  # fmt: skip
    with pytest.raises(ZeroDivisionError):
        cli.main(["detect", photo, "-o", str(tmp_path / "again.nc"), "--debug", "--overwrite"])


@pytest.mark.parametrize("layout", ["tidy", "fex"])
def test_csv_output_is_the_table_the_suffix_asks_for(tmp_path, layout, box_detector):
    """`-o out.csv` used to write netCDF under a .csv name."""
    photos = _images(tmp_path, 2)
    out = tmp_path / "out.csv"
    argv = ["detect", *photos, "-o", str(out), "--no-progress"]
    assert cli.main(argv + (["--csv-layout", layout] if layout == "fex" else [])) == 0
    table = pd.read_csv(out)
    expected = BoxDetector().detect(photos, progress=False)
    want = io.to_fex(expected) if layout == "fex" else io.to_tidy(expected)
    assert list(table.columns) == list(want.columns) and len(table) == len(want)
    if layout == "fex":
        assert table["FaceRectWidth"].tolist() == [10.0, 10.0]
    else:
        widths = table.loc[table["measure"] == "face_rect.width", "value"]
        assert widths.tolist() == [10.0, 10.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img0.png", "img1.png", "out.csv"]


def test_csv_layout_needs_a_csv_output(tmp_path, capsys, box_detector):
    (photo,) = _images(tmp_path, 1)
    assert cli.main(["detect", photo, "-o", str(tmp_path / "o.nc"), "--csv-layout", "fex"]) == 2
    assert "--csv-layout is for a .csv output" in capsys.readouterr().err


def test_existing_output_is_refused_unless_overwrite(tmp_path, capsys, box_detector):
    """An existing output used to be replaced silently."""
    (photo,) = _images(tmp_path, 1)
    for name in ("out.nc", "out.zarr", "out.csv"):
        out = tmp_path / name
        assert cli.main(["detect", photo, "-o", str(out), "--no-progress"]) == 0
        before = sorted(p.name for p in tmp_path.rglob("*"))
        stamp = out.stat().st_mtime_ns
        assert cli.main(["detect", photo, photo, "-o", str(out), "--no-progress"]) == 2
        assert f"{out} exists; pass --overwrite" in capsys.readouterr().err
        assert out.stat().st_mtime_ns == stamp
        assert sorted(p.name for p in tmp_path.rglob("*")) == before
        argv = ["detect", photo, photo, "-o", str(out), "--no-progress", "--overwrite"]
        assert cli.main(argv) == 0
        assert "wrote" in capsys.readouterr().out
        frames = len(pd.read_csv(out)["frame"].unique()) if name == "out.csv" else None
        n = frames if frames is not None else io.open_dataset(out).sizes["frame"]
        assert n == 2


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_respect_the_umask(tmp_path, umask, box_detector):
    """Outputs used to be created 0600 (a temporary file moved into place)."""
    (photo,) = _images(tmp_path, 1)
    old = os.umask(umask)
    try:
        for name in ("out.nc", "out.csv", "out.zarr"):
            out = tmp_path / name
            assert cli.main(["detect", photo, "-o", str(out), "--no-progress"]) == 0
            want = (0o777 if out.is_dir() else 0o666) & ~umask
            assert stat.S_IMODE(out.stat().st_mode) == want, name
        inner = [p for p in (tmp_path / "out.zarr").rglob("*") if p.is_file()]
        assert inner and all(stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask for p in inner)
    finally:
        os.umask(old)


def test_an_interrupted_run_resumes_on_rerun(tmp_path, capsys, box_detector):
    """The CLI used to hold everything in memory: Ctrl-C lost the whole run."""
    photos = _images(tmp_path, 4)
    out = tmp_path / "out.nc"
    argv = ["detect", *photos, "-o", str(out), "--batch-size", "1", "--no-progress"]
    box_detector.interrupt_at = 3
    assert cli.main(argv) == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err
    parts = tmp_path / "out.nc.parts"
    assert len(list(parts.glob("part-*.nc"))) == 2 and not out.exists()
    # another command does not take over the partial run
    assert cli.main([*argv, "--skip-frames", "2"]) == 2
    assert "partial run of another command" in capsys.readouterr().err
    box_detector.interrupt_at, box_detector.batches = None, 0
    assert cli.main(argv) == 0
    assert "resuming" in capsys.readouterr().err
    assert box_detector.batches == 2  # only the two frames not yet done
    ds = io.open_dataset(out)
    assert sorted(ds["source"].values.tolist()) == sorted(str(Path(p).resolve()) for p in photos)
    assert ds.sizes["frame"] == 4 and not parts.exists()


def test_models_lock_pins_bundled_models_and_detect_obeys_it(tmp_path, capsys):
    """`featx models --lock` writes repo, revision and sha256; `detect --lock` refuses others."""
    import cv2
    import skimage.data

    bundled = ["blazeface_full", "blazeface_short", "facemesh_v2", "mp_blendshapes"]
    lock = tmp_path / "featx.lock"
    assert cli.main(["models", "--lock", str(lock), *bundled, "mini_xception"]) == 0
    assert f"wrote {lock}: 5 models locked" in capsys.readouterr().out
    data = json.loads(lock.read_text())
    for model_id in bundled:
        (name,) = hub.card(model_id).files
        assert data["models"][model_id]["files"] == {name: hub.sha256(hub.ASSETS_DIR / name)}
        assert data["models"][model_id]["revision"].startswith("featx-")
    assert cli.main(["models", "--lock", str(lock), "mini_xception"]) == 2  # no silent replace
    assert "exists; pass --overwrite" in capsys.readouterr().err

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), skimage.data.astronaut()[..., ::-1])
    out = tmp_path / "out.nc"
    argv = ["detect", str(photo), "-o", str(out), "--no-progress", "--lock", str(lock)]
    assert cli.main(argv) == 0
    models = json.loads(io.open_dataset(out).attrs["models"])
    assert models["mesh"]["revision"] == data["models"]["facemesh_v2"]["revision"]
    assert models["mesh"]["sha256"] == data["models"]["facemesh_v2"]["files"]
    data["models"]["mini_xception"]["files"]["mini_xception.safetensors"] = "0" * 64
    lock.write_text(json.dumps(data))
    assert cli.main([*argv, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "mini_xception.safetensors" in err and "0" * 64 in err and "differs from lock" in err


def _face_video(path: Path, n_frames: int, shift: int) -> Path:
    """The astronaut's face (public domain, NASA) moving across a small canvas."""
    import cv2
    import skimage.data

    face = skimage.data.astronaut()[20:220, 140:340][..., ::-1]
    face = cv2.resize(face, (100, 100))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (200, 140))
    for i in range(n_frames):
        frame = np.full((140, 200, 3), 90, np.uint8)
        x = shift + 3 * i
        frame[20:120, x : x + 100] = face
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.requires("distributed", "zarr")
def test_detect_out_runs_a_study_on_local_workers_with_metadata(tmp_path, capsys):
    """The real MPDetector, rebuilt on a worker process from its config."""
    import featx

    videos = tmp_path / "videos"
    videos.mkdir()
    _face_video(videos / "p1.avi", 6, 10)
    _face_video(videos / "p2.avi", 4, 60)
    meta = tmp_path / "participants.csv"
    pd.DataFrame({"source": ["p1", "p2"], "condition": ["a", "b"]}).to_csv(meta, index=False)
    out = tmp_path / "study"
    argv = ["detect", str(videos), "--out", str(out), "--workers", "1", "--metadata", str(meta)]
    assert cli.main([*argv, "--no-progress"]) == 0
    assert "2 done" in capsys.readouterr().out
    manifest = pd.read_csv(out / "manifest.csv")
    assert manifest["status"].tolist() == ["done", "done"]
    assert json.loads(manifest["config"][0])["face_detector"] == "full+short"
    ds = featx.open_study(out)
    assert ds["condition"].values.tolist() == ["a"] * 6 + ["b"] * 4
    alone = featx.MPDetector().detect(videos / "p2.avi", progress=False)
    p2 = ds.isel(frame=slice(6, None)).compute()
    assert np.isfinite(p2["mesh"].values).all(axis=(1, 2, 3)).all()  # a face in every frame
    np.testing.assert_allclose(p2["mesh"].values, alone["mesh"].values, atol=1e-4)
    assert cli.main([*argv, "-o", "x.nc"]) == 2  # one of -o and --out
    assert "not both" in capsys.readouterr().err


def test_version_verbose_shows_versions(capsys):
    import featx

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"featx {featx.__version__}"
    assert cli.main(["--version", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("featx ") and "torch" in out and "model cache (HF_HOME)" in out
