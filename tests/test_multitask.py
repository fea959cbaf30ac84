"""face_multitask_v2 and Detectorv2: crop, pre-processing, every head and intermediate, the
eye-ROI probe, post-processing, loading, and the detector end to end.

Vectors, boxes, configs and name lists come from tests/conformance/face_multitask_v2 (ref.npz,
manifest.json) at run time; tests/test_conformance.py also checks the state dict and the heads.
"""

from __future__ import annotations

import io
import json
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
from hubcache import CONF, detweights, manifest, put_in_hub_cache, use_hf_home

import featx
from featx import hub, schema
from featx.detectors import v2
from featx.io import to_fex
from featx.nn import multitask as mt
from featx.nn import retinaface as rf

MODEL_ID = "face_multitask_v2"
CARD = hub.card(MODEL_ID)
# manifest tolerance.suggested: atol on heads (the card's), rtol + atol on feature maps, and
# absolute pixels on image coordinates (values reach +-2500 px with random weights).
HEAD_TOL = CARD.tolerance
FEATURE_RTOL, FEATURE_ATOL = 1e-4, 1e-3
PX = 2e-3


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(CONF / MODEL_ID / "ref.npz"))


@pytest.fixture(scope="module")
def spec():
    return manifest(MODEL_ID)


@pytest.fixture(scope="module")
def config(spec):
    return mt.MultitaskConfig.from_dict(spec["config_used_for_vectors"])


@pytest.fixture(scope="module")
def net(config):
    return detweights.fill_module(mt.FaceMultitask(config)).eval()


@pytest.fixture(scope="module")
def out(net, ref):
    with torch.no_grad():
        return {k: v.numpy() for k, v in net(torch.from_numpy(ref["input"]), True).items()}


# ---------------------------------------------------------------------------------------------
# Config and state dict


def test_default_config_is_the_vectors_config(spec, config):
    assert mt.MultitaskConfig() == config
    # The metadata example carries keys the loader ignores (pretrained).
    example = json.loads(spec["metadata_config_example"])
    assert mt.MultitaskConfig.from_dict(example) == config


@pytest.mark.parametrize(
    "change, named",
    [
        ({"drop_mefl": False}, "drop_mefl"),
        ({"gaze_hidden": 256}, "gaze_hidden"),
        ({"backbone": "convnext_small"}, "backbone"),
    ],
)
def test_unsupported_config_is_refused(spec, change, named):
    with pytest.raises(ValueError, match=named):
        mt.MultitaskConfig.from_dict({**spec["config_used_for_vectors"], **change})


def test_card_outputs_are_the_forward_outputs():
    assert CARD.outputs == mt.OUTPUTS
    assert CARD.build().config == mt.MultitaskConfig()


def test_parameter_count_matches_manifest(spec, config):
    state = mt.FaceMultitask(config).state_dict()
    assert len(state) == spec["n_tensors"]
    assert sum(t.numel() for t in state.values()) == spec["param_count"]
    assert "gaze_bin_centres" not in state  # recomputed from the config, not stored


# ---------------------------------------------------------------------------------------------
# Crop and pre-processing


def test_crop_matches_ref(ref):
    chips, affine = mt.square_crops(ref["image"], ref["boxes"])
    np.testing.assert_allclose(affine.numpy(), ref["crop_affine"], rtol=0, atol=HEAD_TOL)
    np.testing.assert_allclose(chips.numpy(), ref["chip"], rtol=0, atol=HEAD_TOL)


def test_crop_samples_pixel_centres_and_reflects(ref):
    """A chip whose grid lands on pixel centres copies the frame; off the edge it mirrors."""
    frame = ref["image"]
    size = 16
    # side = size px: chip column j samples x = origin + j + 0.5; origin = -0.5 + offset.
    for offset in (5.0, -3.0):
        x1, y1 = (o - 0.5 + size / 2 - size / 2.4 for o in (offset, 10.0))
        box = torch.tensor([[x1, y1, x1 + size / 1.2, y1 + size / 1.2]])
        chips, affine = mt.square_crops(frame, box, size=size)
        np.testing.assert_allclose(affine[0].numpy(), [offset - 0.5, 9.5, size], atol=1e-5)
        cols = np.arange(size) + int(offset)
        cols = np.where(cols < 0, -cols - 1, cols)  # reflection about the edge -0.5
        want = frame[10 : 10 + size][:, cols].transpose(2, 0, 1) / 255
        np.testing.assert_allclose(chips[0].numpy(), want, rtol=0, atol=1e-4)


def test_crop_rejects_bad_frames_and_handles_no_boxes(ref):
    with pytest.raises(ValueError, match="uint8"):
        mt.square_crops(ref["image"].astype(np.float32), ref["boxes"])
    chips, affine = mt.square_crops(ref["image"], np.zeros((0, 4), np.float32))
    assert chips.shape == (0, 3, mt.CHIP_SIZE, mt.CHIP_SIZE) and affine.shape == (0, 3)


def test_preprocess_matches_ref(ref, config):
    x = mt.preprocess(torch.from_numpy(ref["chip"]), config.image_size)
    np.testing.assert_allclose(x.numpy(), ref["input"], rtol=0, atol=HEAD_TOL)


# ---------------------------------------------------------------------------------------------
# Forward: every head and intermediate


@pytest.mark.parametrize("name", mt.OUTPUTS)
def test_head_matches_ref(out, ref, name):
    np.testing.assert_allclose(out[name], ref[name], rtol=0, atol=HEAD_TOL, err_msg=name)


@pytest.mark.parametrize("name", mt.INTERMEDIATES)
def test_intermediate_matches_ref(out, ref, name):
    want = ref[name]
    atol = FEATURE_ATOL if want.ndim > 2 else HEAD_TOL * max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(out[name], want, rtol=FEATURE_RTOL, atol=atol, err_msg=name)


def test_head_value_ranges(out):
    assert ((out["p_au"] >= 0) & (out["p_au"] <= 1)).all()
    assert ((out["blendshapes"] > 0) & (out["blendshapes"] < 1)).all()
    assert (np.abs(out["va"]) <= 1).all()


def test_eye_roi_probe_matches_ref(net, ref, config):
    """The eye encoder and gaze head on a plausible mesh (roi_align inside the map)."""
    boxes = mt.eye_boxes(torch.from_numpy(ref["probe_mesh01"]), config)
    f16 = torch.from_numpy(ref["feat_stride16"])
    feats = {}
    for side in ("left", "right"):
        want = ref[f"probe_eye_box_{side}"]
        np.testing.assert_allclose(boxes[side].numpy(), want, rtol=0, atol=PX)
        with torch.no_grad():
            feats[side] = net.gaze_eye_enc(f16, boxes[side], config.image_size)
        np.testing.assert_allclose(
            feats[side].numpy(), ref[f"probe_eye_feat_{side}"], rtol=0, atol=HEAD_TOL
        )
    assert not torch.allclose(feats["left"], feats["right"])  # the two eyes differ
    with torch.no_grad():
        gaze, logits = net.gaze_from(
            torch.from_numpy(ref["unified"]),
            feats["left"],
            feats["right"],
            torch.from_numpy(ref["pose_6d"]),
        )
    np.testing.assert_allclose(logits.numpy(), ref["probe_gaze_logits"], rtol=0, atol=HEAD_TOL)
    np.testing.assert_allclose(gaze.numpy(), ref["probe_gaze"], rtol=0, atol=HEAD_TOL)


def test_rotation_6d_from_ref_pose_and_a_known_rotation(ref):
    got = mt.rotation_6d(torch.from_numpy(ref["pose"][:, :3]))
    np.testing.assert_allclose(got.numpy(), ref["pose_6d"], rtol=0, atol=HEAD_TOL)
    angle = 0.3  # about z: columns (cos, sin, 0) and (-sin, cos, 0)
    c, s = math.cos(angle), math.sin(angle)
    np.testing.assert_allclose(
        mt.rotation_6d(torch.tensor([[0.0, 0.0, angle]])).numpy(),
        [[c, -s, s, c, 0, 0]],
        atol=1e-6,
    )


def test_gaze_bin_centres_follow_the_config(config, out, ref):
    centres = mt.gaze_bin_centres(config).double().numpy()
    step = math.radians(config.gaze_bin_hi_deg - config.gaze_bin_lo_deg) / config.gaze_bins
    assert len(centres) == ref["gaze_logits"].shape[-1]
    np.testing.assert_allclose(np.diff(centres), step, atol=1e-6)
    np.testing.assert_allclose(
        centres[0], math.radians(config.gaze_bin_lo_deg) + step / 2, atol=1e-6
    )
    # gaze is the softmax expectation over these centres
    expect = (torch.from_numpy(ref["gaze_logits"]).softmax(-1).double().numpy() * centres).sum(-1)
    np.testing.assert_allclose(out["gaze"], expect, rtol=0, atol=HEAD_TOL)


# ---------------------------------------------------------------------------------------------
# Post-processing: image coordinates, signs, units, and Py-Feat's Fex columns


def test_dlib68_indices_and_label_orders_match_manifest(spec):
    outputs = spec["outputs"]
    assert list(mt.DLIB68_FROM_MP478) == outputs["dlib68_from_mp478"]
    assert list(schema.EMOTION_NATIVE_ORDER[MODEL_ID]) == outputs["emotion_names"]
    assert list(schema.AUS) == outputs["au_names"]
    assert list(schema.BLENDSHAPES) == outputs["blendshape_names"]


def _faces_dataset(ref, config) -> xr.Dataset:
    """The post-processed ref outputs as a Dataset, one frame per ref box."""
    faces = v2.faces_from_outputs({k: ref[k] for k in mt.OUTPUTS}, ref["crop_affine"], config)
    boxes = ref["boxes"]
    faces["face_rect"] = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    faces["face_score"] = ref["fex_facebox"][:, 4]
    frames = [{k: v[i : i + 1] for k, v in faces.items()} for i in range(len(boxes))]
    n = len(frames)
    return schema.from_frames(
        frames,
        ["a.png"] * n,
        list(range(n)),
        [np.nan] * n,
        var_attrs={
            "face_rect": {"fex_box": "v2_square_1.2"},
            "aus": {"kind": "score"},
            "emotions": {"kind": "probability"},
        },
    )


def test_mesh_and_landmarks_in_image_pixels(ref, config):
    faces = v2.faces_from_outputs({k: ref[k] for k in mt.OUTPUTS}, ref["crop_affine"], config)
    np.testing.assert_allclose(faces["mesh"], ref["mesh_image"], rtol=0, atol=PX)
    np.testing.assert_allclose(faces["landmarks"], ref["landmarks68_image"], rtol=0, atol=PX)
    np.testing.assert_array_equal(faces["mesh"][..., 2], ref["mesh"][..., 2])  # z unchanged


def test_fex_of_postprocessed_outputs_matches_ref(ref, config, spec):
    ds = _faces_dataset(ref, config)
    schema.validate(ds)
    fex = to_fex(ds, version=2)

    def cols(names):
        return fex[list(names)].to_numpy(float)

    box_cols = ["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore"]
    np.testing.assert_allclose(cols(box_cols), ref["fex_facebox"], rtol=0, atol=PX)
    np.testing.assert_allclose(
        cols(["Pitch", "Roll", "Yaw", "X", "Y", "Z"]), ref["fex_pose"], rtol=0, atol=HEAD_TOL
    )
    np.testing.assert_allclose(
        cols(["gaze_pitch", "gaze_yaw", "gaze_angle"]), ref["fex_gaze"], rtol=0, atol=HEAD_TOL
    )
    outputs = spec["outputs"]
    np.testing.assert_allclose(cols(outputs["emotion_names"]), ref["emotion_prob"], atol=HEAD_TOL)
    np.testing.assert_allclose(cols(outputs["au_names"]), ref["p_au"], atol=HEAD_TOL)
    np.testing.assert_allclose(cols(outputs["va_names"]), ref["va"], atol=HEAD_TOL)
    np.testing.assert_allclose(cols(outputs["blendshape_names"]), ref["blendshapes"], atol=HEAD_TOL)
    landmarks = cols([f"{a}_{i}" for a in "xy" for i in range(68)])
    want = ref["landmarks68_image"].transpose(0, 2, 1).reshape(len(landmarks), -1)
    np.testing.assert_allclose(landmarks, want, rtol=0, atol=PX)


def test_dataset_units_and_signs(ref, config):
    """Degrees with featx signs: +pitch up (raw r0 and raw gaze pitch are y-down)."""
    faces = v2.faces_from_outputs({k: ref[k] for k in mt.OUTPUTS}, ref["crop_affine"], config)
    r0, r1, r2 = ref["pose"][:, :3].T
    np.testing.assert_allclose(
        faces["head_pose"], np.degrees(np.stack([-r0, -r2, r1], 1)), rtol=1e-5, atol=1e-4
    )
    np.testing.assert_allclose(faces["head_translation"], ref["pose"][:, 3:], atol=HEAD_TOL)
    yaw, pitch = ref["gaze"].T
    np.testing.assert_allclose(faces["gaze"], np.degrees(np.stack([-pitch, yaw], 1)), atol=1e-4)
    # canonical emotion order: the native "Happy" is featx's "happiness"
    native = list(schema.EMOTION_NATIVE_ORDER[MODEL_ID])
    happiness = faces["emotions"][:, schema.EMOTIONS.index("happiness")]
    np.testing.assert_allclose(happiness, ref["emotion_prob"][:, native.index("Happy")], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Loading checkpoints


def _multitask_bytes(spec, config_dict, state=None) -> bytes:
    from safetensors.torch import save

    if state is None:
        state = detweights.state_dict_from_manifest(spec)
    tensors = {k: torch.as_tensor(v).contiguous() for k, v in state.items()}
    meta = {"config": json.dumps(config_dict)} if config_dict is not None else None
    return save(tensors, metadata=meta)


def _one_tensor():
    return {"log_var_va": np.zeros((), np.float32)}


def _load(path):
    return CARD.loader(CARD, {CARD.files[0]: path})


def test_loader_errors_name_the_file(spec, tmp_path):
    cfg = spec["config_used_for_vectors"]
    cases = {
        "no_config.safetensors": (_multitask_bytes(spec, None, _one_tensor()), "no model config"),
        "old_heads.safetensors": (
            _multitask_bytes(spec, {**cfg, "use_head_v3": False}, _one_tensor()),
            "use_head_v3",
        ),
        "few_tensors.safetensors": (_multitask_bytes(spec, cfg, _one_tensor()), "missing keys"),
        "corrupt.safetensors": (b"not a safetensors file", "cannot read"),
    }
    buf = io.BytesIO()
    torch.save({"config": cfg, "model": {"log_var_va": torch.zeros(())}}, buf)
    cases["legacy.pt"] = (buf.getvalue(), "missing keys")  # parsed, then fails the strict load
    buf = io.BytesIO()
    torch.save({"state_dict": {}}, buf)
    cases["legacy_bad.pt"] = (buf.getvalue(), "'config' and 'model'")
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(hub.WeightsError, match=message) as err:
            _load(path)
        assert name in str(err.value)


def test_amp_is_refused_on_cpu_and_thresholds_checked():
    with pytest.raises(ValueError, match="CUDA"):
        featx.Detectorv2(identity_model=None, device="cpu", amp=True)
    for name in ("face_detection_threshold", "face_identity_threshold"):
        with pytest.raises(ValueError, match=name):
            featx.Detectorv2(identity_model=None, device="cpu", **{name: 1.5})


# ---------------------------------------------------------------------------------------------
# Detectorv2 end to end, weights from a hub cache on disk


def _retinaface_bytes() -> bytes:
    """A RetinaFace file whose heads report one 20 px face per 32x32 cell of the stride-32 level
    (anchor 0 only; the other levels and anchors score ~0), so a 32 px wide frame has one face
    and a 64 px wide one two. Everything else is filled by detweights."""
    from safetensors.torch import save

    state = {
        k: torch.from_numpy(v)
        for k, v in detweights.state_dict_from_manifest(manifest("retinaface")).items()
    }
    for head in ("ClassHead", "BboxHead", "LandmarkHead"):
        for level in range(3):
            state[f"{head}._convs.{level}.weight"].zero_()
            state[f"{head}._convs.{level}.bias"].zero_()
    for level in range(2):
        state[f"ClassHead._convs.{level}.bias"][:] = torch.tensor([8.0, -8, 8, -8])
    state["ClassHead._convs.2.bias"][:] = torch.tensor([-8.0, 8, 8, -8])
    anchor = rf.MIN_SIZES[2][0]
    log_scale = math.log(20 / anchor) / rf.VARIANCE[1]
    state["BboxHead._convs.2.bias"][:4] = torch.tensor([0.0, 0, log_scale, log_scale])
    return save({k: v.contiguous() for k, v in state.items()})


def _facenet_bytes() -> bytes:
    buf = io.BytesIO()
    state = detweights.state_dict_from_manifest(manifest("facenet"))
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def hub_home(tmp_path_factory, spec):
    home = tmp_path_factory.mktemp("hf")
    put_in_hub_cache(
        home,
        CARD.repo,
        {CARD.files[0]: _multitask_bytes(spec, json.loads(spec["metadata_config_example"]))},
    )
    put_in_hub_cache(home, hub.card("retinaface").repo, {"model.safetensors": _retinaface_bytes()})
    facenet = hub.card("facenet")
    put_in_hub_cache(home, facenet.repo, {facenet.files[0]: _facenet_bytes()})
    return home


@pytest.fixture(scope="module")
def media(tmp_path_factory, ref):
    """Two still images (32x32: one face; 64x32: two) and a 3-frame 32x32 video."""
    folder = tmp_path_factory.mktemp("media")
    small = cv2.resize(ref["image"], (64, 32), interpolation=cv2.INTER_AREA)
    paths = [folder / "one.png", folder / "two.png"]
    cv2.imwrite(str(paths[0]), small[:, 16:48, ::-1])
    cv2.imwrite(str(paths[1]), small[..., ::-1])
    video = folder / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 32))
    for shift in (0, 1, 2):
        writer.write(small[:, 16 + shift : 48 + shift, ::-1].copy())
    writer.release()
    return paths, video


@pytest.fixture(scope="module")
def detector(hub_home):
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_hf_home(monkeypatch, hub_home)
        return featx.Detectorv2(identity_model=None, device="cpu", backend="torch")


def _fex_columns(spec) -> list[str]:
    """Py-Feat's Detectorv2 column order (FACTS §4), names from the manifest."""
    outputs = spec["outputs"]
    return [
        "FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore",
        *[f"{a}_{i}" for a in "xy" for i in range(68)],
        "Pitch", "Roll", "Yaw", "X", "Y", "Z",
        *outputs["au_names"], *outputs["emotion_names"], *outputs["va_names"],
        "gaze_pitch", "gaze_yaw", "gaze_angle",
        *[f"Identity_{i}" for i in range(1, 513)],
        *[f"mesh_{a}_{i}" for a in "xyz" for i in range(478)],
        *outputs["blendshape_names"],
        "FrameHeight", "FrameWidth", "input", "frame", "Identity",
    ]  # fmt: skip


def test_detectorv2_end_to_end(detector, media, spec):
    paths, video = media
    det = detector
    ds = det.detect([str(p) for p in paths], batch_size=2, progress=False)
    schema.validate(ds)
    counts = ds["face_rect"].notnull().all("rect").sum("face").values.tolist()
    assert counts == [1, 2]
    assert ds.attrs["detector"] == "Detectorv2"
    assert ds["aus"].attrs["kind"] == "score" and ds["emotions"].attrs["kind"] == "probability"
    assert ds["face_rect"].attrs["fex_box"] == "v2_square_1.2"
    assert np.isnan(ds["embedding"].values).all() and (ds["identity"].values == -1).all()
    models = json.loads(ds.attrs["models"])
    assert {m["name"] for m in models.values()} == {"retinaface", MODEL_ID}
    assert json.loads(ds.attrs["licenses"])[MODEL_ID]["non_commercial"]

    # Each face holds what RetinaFace and the network give for it (run here in reverse order).
    slots, crops = [], []
    for f, path in enumerate(paths):
        frame = featx.media.read_frame(str(path), 0)
        found = rf.detect_faces(det.nets["face"], [frame])[0]
        rect = ds["face_rect"].isel(frame=f).values[: counts[f]]
        np.testing.assert_allclose(rect[:, :2], found["boxes"][:, :2], atol=1e-4)
        size = found["boxes"][:, 2:] - found["boxes"][:, :2]
        np.testing.assert_allclose(rect[:, 2:], size, atol=1e-4)
        slots += [(f, i) for i in range(counts[f])]
        crops += [mt.square_crops(frame, box[None]) for box in found["boxes"]]
    chips = torch.cat([c for c, _ in crops[::-1]])
    with torch.no_grad():
        alone = det.nets["multitask"](mt.preprocess(chips))
    want = v2.faces_from_outputs(alone, torch.cat([a for _, a in crops[::-1]]))
    for k, (f, i) in enumerate(slots[::-1]):
        for name in ("mesh", "aus", "emotions", "gaze", "head_pose", "blendshapes"):
            got = ds[name].isel(frame=f, face=i).values
            np.testing.assert_allclose(got, want[name][k], rtol=1e-4, atol=1e-3, err_msg=name)

    fex = to_fex(ds, version=2)
    assert list(fex.columns) == _fex_columns(spec)
    assert fex.shape == (3, spec["detect_fex_columns"]["n_columns"])

    clip = det.detect(video, batch_size=2, progress=False)
    schema.validate(clip)
    assert clip.sizes["frame"] == 3 and clip.sizes["face"] == 1
    np.testing.assert_allclose(clip["time"].values, [0.0, 0.1, 0.2])
    assert clip["face_rect"].notnull().all().item()
    assert "approx_time" in to_fex(clip, version=2).columns


def test_detectorv2_frame_without_faces(detector, media):
    # a threshold above every face's score, for this call only
    before = detector.face_detection_threshold, detector.face_identity_threshold
    ds = detector.detect(
        str(media[0][0]), progress=False, face_detection_threshold=1.0, face_identity_threshold=0.1
    )
    assert (detector.face_detection_threshold, detector.face_identity_threshold) == before
    assert detector.detect(str(media[0][0]), progress=False)["face_rect"].notnull().any()
    schema.validate(ds)
    assert ds.sizes["face"] == 1 and np.isnan(ds["face_rect"].values).all()
    assert np.isnan(ds["mesh"].values).all()
    fex = to_fex(ds, version=2)
    assert len(fex) == 1 and np.isnan(fex["FaceRectX"].iloc[0])


def test_detectorv2_config_records_what_changes_results(detector):
    assert detector.config() == {
        "detector": "featx.detectors.v2.Detectorv2",
        "options": {
            "identity_model": None,
            "amp": False,
            "weights": None,
            "backend": "torch",
            "face_detection_threshold": 0.5,
            "face_identity_threshold": 0.8,
        },
    }
    per_call = detector.with_options(face_identity_threshold=0.3).config()
    assert per_call["options"]["face_identity_threshold"] == 0.3


def test_detectorv2_with_identity_model(hub_home, media, monkeypatch, tmp_path):
    use_hf_home(monkeypatch, hub_home)
    det = featx.Detectorv2(identity_model="facenet", device="cpu", backend="torch")
    ds = det.detect(str(media[0][1]), progress=False, output=tmp_path / "run.nc")
    schema.validate(ds)
    # two faces of one frame are two people, also in the file written
    assert sorted(ds["identity"].isel(frame=0).values.tolist()) == [0, 1]
    saved = featx.open_dataset(tmp_path / "run.nc")
    np.testing.assert_array_equal(saved["identity"].values, ds["identity"].values)
    emb = ds["embedding"].isel(frame=0).values
    assert np.isfinite(emb).all() and ds["embedding"].attrs["l2_normalized"] == 1
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # the embedding is the identity model's on the 256 chip resized to 112 px
    from featx.nn.identity import embed

    frame = featx.media.read_frame(str(media[0][1]), 0)
    boxes = ds["face_rect"].isel(frame=0).values
    xyxy = np.column_stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]])
    chips, _ = mt.square_crops(frame, xyxy)
    small = F.interpolate(chips, size=(v2.IDENTITY_SIZE,) * 2, mode="bilinear")
    np.testing.assert_allclose(emb, embed(det.nets["identity"], small).numpy(), atol=1e-4)
    assert json.loads(ds.attrs["models"])["identity"]["name"] == "facenet"


def test_weights_option(hub_home, monkeypatch, tmp_path):
    use_hf_home(monkeypatch, hub_home)
    with pytest.raises(featx.ModelNotFoundError, match="face_multitask_v27.safetensors"):
        featx.Detectorv2(identity_model=None, device="cpu", weights=v2.CHECKPOINTS[1])
    with pytest.raises(featx.ModelNotFoundError, match="neither a file"):
        featx.Detectorv2(identity_model=None, device="cpu", weights=tmp_path / "none.safetensors")


def test_detectorv2_face_boxes_give_what_detection_gives(detector, media):
    """Given RetinaFace's own boxes, every stage reproduces the detected run's values."""
    paths, video = media
    for inputs in ([str(p) for p in paths], video):
        found = detector.detect(inputs, batch_size=2, progress=False)
        boxes = [
            np.column_stack([r[ok, :2], r[ok, :2] + r[ok, 2:], s[ok]])
            for r, s in zip(found["face_rect"].values, found["face_score"].values, strict=True)
            for ok in [np.isfinite(r).all(-1)]
        ]
        for given in (found, boxes):
            ds = detector.detect(inputs, batch_size=2, progress=False, face_boxes=given)
            schema.validate(ds)
            assert np.isnan(ds["keypoints"].values).all()
            for name in ("face_rect", "face_score", "mesh", "aus", "emotions", "gaze"):
                np.testing.assert_allclose(
                    ds[name].values, found[name].values, atol=1e-4, err_msg=name
                )
    # one box for every frame; RetinaFace is not consulted (a threshold of 1 would drop it)
    box = [[4.0, 3.0, 26.0, 29.0]]
    ds = detector.detect(video, progress=False, face_boxes=box, face_detection_threshold=1.0)
    np.testing.assert_allclose(ds["face_rect"].values[:, 0], [[4, 3, 22, 26]] * 3)
    assert (ds["face_score"].values == 1).all() and np.isfinite(ds["aus"].values).all()
    with pytest.raises(ValueError, match="face_boxes has 3 entries but the input has 2 frames"):
        detector.detect([str(p) for p in paths], progress=False, face_boxes=[box, box, box])


def test_detectorv2_backends_agree(detector, hub_home, media, monkeypatch):
    """The default (OpenVINO on the CPU) gives torch's values within the models' tolerances."""
    use_hf_home(monkeypatch, hub_home)
    auto = featx.Detectorv2(identity_model=None, device="cpu")
    assert auto.backend == "openvino" and detector.backend == "torch"
    inputs = [str(p) for p in media[0]]
    want = detector.detect(inputs, progress=False)
    got = auto.detect(inputs, progress=False)
    assert json.loads(got.attrs["models"])["multitask"]["runtime"].startswith("openvino")
    assert "runtime" not in json.loads(want.attrs["models"])["multitask"]
    for name in ("face_rect", "mesh", "aus", "emotions", "gaze", "head_pose", "blendshapes"):
        scale = max(1.0, float(np.nanmax(np.abs(want[name].values))))
        np.testing.assert_allclose(got[name].values, want[name].values, atol=1e-4 * scale)
    with pytest.raises(ValueError, match="backend must be one of"):
        featx.Detectorv2(identity_model=None, device="cpu", backend="onnx")
