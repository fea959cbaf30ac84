"""featx.Detector end to end: every default model fetched offline from a hub cache on disk."""

import io
import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from hubcache import (
    CONF,
    detweights,
    manifest,
    put_in_hub_cache,
    safetensors_bytes,
    use_hf_home,
)

import featx
from featx import hub, schema
from featx.detectors.v1 import Detector


def _state_dict(model_id):
    return detweights.state_dict_from_manifest(manifest(model_id))


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _files(model_id: str) -> dict[str, bytes]:
    """The model's hub files in their real formats, filled with deterministic weights."""
    c = hub.card(model_id)
    if model_id == "pose_mlp":
        ref = np.load(CONF / "pose_mlp" / "ref.npz")
        meta = {
            "architecture": {
                "hidden": manifest("pose_mlp")["config"]["hidden"],
                "dropout": 0.1,
                "output_normalization": {
                    "mean": ref["test_y_mean"].tolist(),
                    "std": ref["test_y_std"].tolist(),
                },
            }
        }
        return {
            "pose_mlp_v2.safetensors": safetensors_bytes(_state_dict(model_id)),
            "pose_mlp_v2.json": json.dumps(meta).encode(),
        }
    if model_id in ("xgb_au", "svm_au", "svm_emo"):
        fixture = CONF / model_id / "fixtures" / c.files[0]
        return {c.files[0]: fixture.read_bytes()}
    if model_id == "resmasknet":
        sd = {k: torch.from_numpy(v) for k, v in _state_dict(model_id).items()}
        return {
            "config.json": json.dumps(manifest(model_id)["config"]).encode(),
            "ResMaskNet_Z_resmasking_dropout1_rot30.pth": _torch_bytes({"net": sd}),
        }
    if model_id == "mobilefacenet":
        sd = {"module." + k: torch.from_numpy(v) for k, v in _state_dict(model_id).items()}
        return {c.files[0]: _torch_bytes({"state_dict": sd})}
    if model_id == "img2pose":
        return {
            "model.safetensors": safetensors_bytes(_state_dict(model_id)),
            "config.json": json.dumps(manifest(model_id)["config"]).encode(),
        }
    if model_id == "retinaface":  # scale the heads as the conformance vectors were recorded
        sd = _state_dict(model_id)
        divisor = manifest(model_id)["recorded_postprocess"]["head_outputs_divided_by"]
        for k in sd:
            if k.split(".")[0] in ("ClassHead", "BboxHead", "LandmarkHead"):
                sd[k] = sd[k] / divisor
        return {c.files[0]: safetensors_bytes(sd)}
    return {c.files[0]: safetensors_bytes(_state_dict(model_id))}


THRESHOLD = float(manifest("retinaface")["recorded_postprocess"]["detection_threshold_public"])


DEFAULTS = ["retinaface", "mobilefacenet", "pose_mlp", "xgb_au", "resmasknet", "arcface", "l2cs"]


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf")
    for model_id in [*DEFAULTS, "svm_au", "svm_emo", "img2pose"]:
        put_in_hub_cache(home, hub.card(model_id).repo, _files(model_id))
    return home


@pytest.fixture(scope="module")
def image_and_video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    image = np.load(CONF / "retinaface" / "ref.npz")["image"]
    cv2.imwrite(str(folder / "face.png"), image[..., ::-1])
    writer = cv2.VideoWriter(
        str(folder / "clip.avi"),
        cv2.VideoWriter_fourcc(*"MJPG"),
        10.0,
        (image.shape[1], image.shape[0]),
    )
    for shift in (0, 2, 4):
        writer.write(np.roll(image, shift, axis=1)[..., ::-1].copy())
    writer.release()
    return folder / "face.png", folder / "clip.avi"


def test_default_detector_fills_every_v1_variable(hub_home, image_and_video, monkeypatch):
    use_hf_home(monkeypatch, hub_home)
    image_path, video_path = image_and_video
    det = featx.Detector(device="cpu", backend="torch")
    ds = det.detect(image_path, progress=False, face_detection_threshold=THRESHOLD)
    schema.validate(ds)
    for name in (
        "face_rect",
        "face_score",
        "keypoints",
        "landmarks",
        "head_pose",
        "head_translation",
        "aus",
        "emotions",
        "embedding",
        "gaze",
    ):
        assert name in ds, name
    n_faces = int(ds["face_rect"].notnull().all("rect").sum())
    assert n_faces >= 1
    assert ds["aus"].attrs["kind"] == "probability" and ds.sizes["au"] == 20
    np.testing.assert_allclose(ds["emotions"].sum("emotion").values[:, :n_faces], 1, atol=1e-5)
    assert ds.sizes["embedding_dim"] == 512
    ids = ds["identity"].isel(frame=0).values[:n_faces]
    assert (ids >= 0).all() and len(set(ids.tolist())) == n_faces  # one person per face
    assert ds["face_rect"].attrs["fex_box"] == "v1_expand_1.2"

    # Every stage is recorded with the sha256 of the file it loaded.
    models = json.loads(ds.attrs["models"])
    assert {m["name"] for m in models.values()} == set(DEFAULTS)
    retina = hub.card("retinaface").fetch()["model.safetensors"]
    assert models["face"]["sha256"] == {"model.safetensors": hub.sha256(retina)}
    licenses = json.loads(ds.attrs["licenses"])
    assert licenses["arcface"]["non_commercial"] and not licenses["retinaface"]["non_commercial"]

    # The Dataset holds what the stages compute when called directly.
    from featx.nn.landmark68 import predict
    from featx.nn.retinaface import detect_faces

    frame = featx.media.read_frame(str(image_path), 0)
    direct = detect_faces(det.nets["face_model"], [frame], threshold=THRESHOLD)[0]
    x1y1 = ds["face_rect"].isel(frame=0).values[:n_faces, :2]
    np.testing.assert_allclose(x1y1, direct["boxes"][:, :2], atol=1e-4)
    lmk = predict(det.nets["landmark_model"], [frame], [torch.from_numpy(direct["boxes"])])[0]
    np.testing.assert_allclose(
        ds["landmarks"].isel(frame=0).values[:n_faces], lmk.numpy(), atol=1e-3
    )

    # the threshold was for that call only: the conformance weights need it again
    assert det.face_detection_threshold == 0.5
    video = det.detect(video_path, batch_size=2, progress=False, face_detection_threshold=THRESHOLD)
    schema.validate(video)
    assert video.sizes["frame"] == 3
    np.testing.assert_allclose(video["time"].values, [0.0, 0.1, 0.2])


def test_svm_models_and_skipped_stages(hub_home, image_and_video, monkeypatch):
    use_hf_home(monkeypatch, hub_home)
    det = Detector(
        au_model="SVM",
        emotion_model="svm",
        identity_model=None,
        gaze_model=None,
        device="cpu",
        backend="torch",
    )
    ds = det.detect(image_and_video[0], progress=False, face_detection_threshold=THRESHOLD)
    schema.validate(ds)
    assert ds["aus"].attrs["kind"] == "binary" and ds["emotions"].attrs["kind"] == "binary"
    assert set(np.unique(ds["aus"].values[np.isfinite(ds["aus"].values)])) <= {0.0, 1.0}
    assert "embedding" not in ds and "gaze" not in ds
    config = det.config()  # what output= runs record; rebuilds the detector
    assert config["detector"] == "featx.detectors.v1.Detector"
    assert config["options"] == {
        "face_model": "retinaface",
        "landmark_model": "mobilefacenet",
        "facepose_model": "pose_mlp",
        "au_model": "SVM",
        "emotion_model": "svm",
        "identity_model": None,
        "gaze_model": None,
        "backend": "torch",
        "face_detection_threshold": 0.5,
        "face_identity_threshold": 0.8,
    }
    assert Detector(**config["options"], device="cpu").config() == config


def test_bad_names_and_missing_weights(hf_home):
    with pytest.raises(ValueError, match="mobilefacenet"):
        Detector(landmark_model="dlib")
    with pytest.raises(featx.ModelNotFoundError, match="FEATX_MODEL_DIR"):
        Detector(device="cpu")


def test_unknown_names_list_only_the_stage_options(hf_home):
    with pytest.raises(ValueError, match="emotion_model options: resmasknet, svm or None$"):
        Detector(emotion_model="resnet", device="cpu")


@pytest.mark.parametrize(
    "stage, name",
    [("face_model", "blazeface_short"), ("face_model", "blazeface_full"),
     ("emotion_model", "mini_xception")],
)  # fmt: skip
def test_bundled_models_of_other_pipelines_are_refused_before_loading(hf_home, stage, name):
    # The registry lists MPDetector's models under the same tasks; Detector cannot run them
    # (it built them, then failed at detect with an AttributeError or a wrong classifier).
    with pytest.raises(ValueError, match=f"{stage}={name!r} is a model of featx.MPDetector"):
        Detector(**{stage: name}, device="cpu")


def test_model_dir_folder(hub_home, image_and_video, tmp_path, monkeypatch, hf_home):
    folder = tmp_path / "weights"
    folder.mkdir()
    for model_id in ("retinaface", "mobilefacenet"):
        for name, data in _files(model_id).items():
            (folder / name).write_bytes(data)
    det = Detector(
        au_model=None,
        emotion_model=None,
        identity_model=None,
        gaze_model=None,
        facepose_model=None,
        model_dir=folder,
        device="cpu",
        backend="torch",
    )
    ds = det.detect(image_and_video[0], progress=False, face_detection_threshold=THRESHOLD)
    assert set(ds.data_vars) == {"face_rect", "face_score", "keypoints", "landmarks"}
    shutil.rmtree(folder)


def test_img2pose_face_model_predicts_the_pose(hub_home, image_and_video, monkeypatch):
    use_hf_home(monkeypatch, hub_home)
    det = Detector(
        face_model="IMG2POSE",
        landmark_model=None,
        au_model=None,
        emotion_model=None,
        identity_model=None,
        gaze_model=None,
        device="cpu",
        backend="torch",
    )
    assert det.cards["facepose_model"].id == "img2pose"
    ds = det.detect(image_and_video[0], progress=False)
    schema.validate(ds)
    assert {"face_rect", "face_score", "head_pose", "head_translation"} <= set(ds.data_vars)
    assert json.loads(ds.attrs["licenses"])["img2pose"]["non_commercial"]

    from featx.nn.img2pose import detect_faces

    frame = featx.media.read_frame(str(image_and_video[0]), 0)
    direct = detect_faces(det.nets["face_model"], [frame], threshold=0.5)[0]
    n = len(direct["scores"])
    assert n >= 1
    assert int(ds["face_rect"].notnull().all("rect").sum()) == n
    np.testing.assert_allclose(
        ds["head_pose"].isel(frame=0).values[:n], direct["head_pose"], atol=1e-4
    )


def test_default_pipeline_wiring_reproduces_pyfeats_recorded_outputs(hub_home, monkeypatch):
    """Detector's own wiring against Py-Feat's recorded values, with only the face stage (and,
    for the AUs, the landmark stage) replaced by the boxes and landmarks the references were
    recorded with: box -> 112 landmark crop (x1.2 expansion) -> 68 landmarks in frame pixels;
    box + landmarks -> HOG -> xgb AU probabilities in the classifier's column order; box ->
    x1.1 224 crop -> ResMaskNet probabilities in canonical emotion order."""
    from featx.nn import landmark68, ops

    use_hf_home(monkeypatch, hub_home)
    det = Detector(
        identity_model=None, gaze_model=None, facepose_model=None, device="cpu", backend="torch"
    )

    # Landmarks: MobileFaceNet's reference frame and boxes.
    mfn = np.load(CONF / "mobilefacenet" / "ref.npz")
    ds = det.detect(mfn["image"][None], progress=False, face_boxes=mfn["boxes"])
    want = mfn["landmarks_image"]  # the conformance weights put points far off the frame
    np.testing.assert_allclose(
        ds["landmarks"].isel(frame=0).values, want, rtol=0, atol=1e-5 * np.abs(want).max()
    )

    # AUs and emotions: the xgb_au / ResMaskNet reference frame, box and landmark feed (two
    # faces on the same box, the second with tilted landmarks).
    xgb, emo = np.load(CONF / "xgb_au" / "ref.npz"), np.load(CONF / "resmasknet" / "ref.npz")
    boxes = np.repeat(xgb["box"][None], len(xgb["landmarks"]), axis=0)
    _, rounded = ops.face_crops(xgb["image"], torch.from_numpy(boxes), 112, landmark68.EXPAND)
    pixels = landmark68.to_image(torch.from_numpy(xgb["landmarks"]), rounded).float()
    monkeypatch.setattr(landmark68, "predict", lambda model, frames, b: [pixels])
    ds = det.detect(xgb["image"][None], progress=False, face_boxes=boxes)
    assert ds["au"].values.tolist() == list(det.nets["au_model"].columns)
    np.testing.assert_allclose(ds["aus"].isel(frame=0).values, xgb["au_probs"], atol=1e-5)
    assert ds["emotion"].values.tolist() == list(schema.EMOTIONS)
    np.testing.assert_allclose(
        ds["emotions"].isel(frame=0).values, np.repeat(emo["probs"], 2, axis=0), atol=1e-5
    )


def test_face_boxes_give_what_detection_gives(hub_home, image_and_video, monkeypatch):
    """Given RetinaFace's own boxes, every later stage reproduces the detected run's values."""
    use_hf_home(monkeypatch, hub_home)
    det = featx.Detector(device="cpu", backend="torch")
    video = image_and_video[1]
    found = det.detect(video, batch_size=2, progress=False, face_detection_threshold=THRESHOLD)
    assert found["face_rect"].notnull().all("rect").sum() >= 3
    ds = det.detect(video, batch_size=2, progress=False, face_boxes=found)
    schema.validate(ds)
    assert np.isnan(ds["keypoints"].values).all()
    for name in ("face_rect", "face_score", "landmarks", "head_pose", "aus", "emotions"):
        np.testing.assert_allclose(ds[name].values, found[name].values, atol=1e-4, err_msg=name)
    for name in ("embedding", "gaze", "identity"):
        np.testing.assert_allclose(ds[name].values, found[name].values, atol=1e-4, err_msg=name)


def test_backends_agree(hub_home, image_and_video, monkeypatch):
    """The default (OpenVINO on the CPU) gives torch's values within the models' tolerances."""
    use_hf_home(monkeypatch, hub_home)
    video = image_and_video[1]
    dets = {b: featx.Detector(device="cpu", backend=b) for b in ("auto", "torch")}
    assert dets["auto"].backend == "openvino" and dets["torch"].backend == "torch"
    runs = {
        b: d.detect(video, batch_size=2, progress=False, face_detection_threshold=THRESHOLD)
        for b, d in dets.items()
    }
    got, want = runs["auto"], runs["torch"]
    assert json.loads(got.attrs["models"])["emotion"]["runtime"].startswith("openvino")
    for name in ("face_rect", "landmarks", "aus", "emotions", "embedding", "gaze", "head_pose"):
        scale = max(1.0, float(np.nanmax(np.abs(want[name].values))))
        np.testing.assert_allclose(
            got[name].values, want[name].values, atol=1e-4 * scale, err_msg=name
        )


def test_each_network_is_compiled_before_the_next_is_loaded(hub_home, monkeypatch):
    """Only one network's torch weights and graph are in memory at once (a lower peak)."""
    from featx.detectors.base import BaseDetector
    from featx.nn import accelerate

    use_hf_home(monkeypatch, hub_home)
    events = []
    load, compile_ = BaseDetector.load_stage, accelerate.to_openvino
    monkeypatch.setattr(
        BaseDetector,
        "load_stage",
        lambda s, stage, *a, **k: events.append(stage) or load(s, stage, *a, **k),
    )
    monkeypatch.setattr(
        accelerate, "to_openvino", lambda m, *a: events.append(type(m).__name__) or compile_(m, *a)
    )
    det = Detector(
        au_model=None, emotion_model=None, identity_model=None, gaze_model=None, device="cpu"
    )
    assert det.backend == "openvino"
    assert events == [
        "face_model",
        "RetinaFace",
        "landmark_model",
        "MobileFaceNet",
        "facepose_model",
    ]
