"""The HOG pipeline and the classic AU / emotion models (xgb_au, svm_au, svm_emo).

Every vector, box, size, key list and fixture comes from ``tests/conformance/<id>/`` (ref.npz,
manifest.json, fixtures/) at run time: the same tests also run against a held-out set.
Tolerances are the FACTS' (xgb_au/FACTS.md §6, svm_au and svm_emo "Tolerance").
"""

from __future__ import annotations

import builtins
import importlib
import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hubcache import put_in_hub_cache
from skimage.feature import hog as skimage_hog
from sklearn import svm

from featx import hub, schema
from featx.classic import hog, models, skops
from featx.nn import landmark68, ops

CONF = Path(__file__).parent / "conformance"
IDS = ["xgb_au", "svm_au", "svm_emo"]
OUTPUT = {"xgb_au": "au_probs", "svm_au": "au_pred", "svm_emo": "emo_pred"}
SCORES = {"xgb_au": "au_margins", "svm_au": "au_decision", "svm_emo": "emo_decision"}
HOG_ATOL, HOG_MAX_OUTLIERS = 1e-4, 1e-3  # float32 angle ties at bin edges may flip a few
FEATURES_ATOL = 1e-4
AFFINE_ATOL = 1e-5  # the ref is float32
ALIGNED_ATOL = 1e-4
CROP_ATOL = 5e-5
OUTPUT_ATOL = {"xgb_au": 1e-5, "svm_au": 0.0, "svm_emo": 0.0}  # svm labels exact
SCORE_ATOL = {"xgb_au": 1e-5, "svm_au": 1e-4, "svm_emo": 1e-4}


def _ref(model_id: str = "xgb_au"):
    return np.load(CONF / model_id / "ref.npz")


def _manifest(model_id: str) -> dict:
    return json.loads((CONF / model_id / "manifest.json").read_text())


def _fixture(model_id: str) -> Path:
    return CONF / model_id / _manifest(model_id)["fixture"]["file"]


def _load(model_id: str) -> models.HogClassifier:
    return models.load_classifier(_fixture(model_id), model_id)


def _crop_landmarks(ref) -> np.ndarray:
    """The landmark feed (crop units, interleaved) in crop pixels, (N, 68, 2)."""
    size = ref["face_crop"].shape[-1]
    return ref["landmarks"].reshape(len(ref["landmarks"]), hog.N_LANDMARKS, 2) * size


def assert_hog_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.float32
    off = np.abs(got - want) > HOG_ATOL
    assert off.mean() <= HOG_MAX_OUTLIERS, f"{off.sum()} of {off.size} HOG values differ"


# ---------------------------------------------------------------------------------------------
# HOG pipeline


def test_face_crop_is_the_landmark_crop():
    ref = _ref()
    boxes = np.repeat(ref["box"][None], len(ref["face_crop"]), axis=0)
    crops, _ = ops.face_crops(ref["image"], boxes, ref["face_crop"].shape[-1], hog.CROP_EXPAND)
    np.testing.assert_allclose(crops.numpy(), ref["face_crop"], rtol=0, atol=CROP_ATOL)
    assert hog.CROP_EXPAND == landmark68.EXPAND
    assert hog.CROP_SIZE == landmark68.MobileFaceNet.crop_size == ref["face_crop"].shape[-1]


def test_alignment_affine_warp_and_landmarks():
    ref = _ref()
    pts = _crop_landmarks(ref)
    affine = hog.alignment_affine(pts)
    assert affine.dtype == np.float64
    np.testing.assert_allclose(affine, ref["affine"], rtol=0, atol=AFFINE_ATOL)
    aligned = hog.warp(ref["face_crop"], affine)
    np.testing.assert_allclose(aligned, ref["aligned"], rtol=0, atol=ALIGNED_ATOL)
    # the 128 fill outside the crop lands on exactly the ref's pixels
    filled = (aligned == hog.OUTSIDE_FILL).all(axis=1)
    np.testing.assert_array_equal(filled, (ref["aligned"] == hog.OUTSIDE_FILL).all(axis=1))
    lm = hog.aligned_landmarks(pts, affine)
    np.testing.assert_array_equal(lm, ref["aligned_landmarks"])


def test_truncation_is_toward_zero():
    negative = np.array([[[1.0, 0, -3.0], [0, 1, -3.0]]])
    assert hog.aligned_landmarks([[[2.5, 3.7]]], negative).tolist() == [[[0, 0]]]
    assert hog.aligned_landmarks([[[1.5, 0.5]]], negative).tolist() == [[[-1, -2]]]


def test_mask_matches_ref():
    ref = _ref()
    mask = hog.face_mask(ref["aligned_landmarks"], size=ref["mask"].shape[-1])
    np.testing.assert_array_equal(mask, ref["mask"].astype(bool))


def test_mask_hull_boundary_and_forehead_slice_rules():
    pts = np.zeros((1, 68, 2), np.int64)
    pts[0, :] = [[2, 3]]  # a triangle (2,3), (7,3), (2,8): boundary pixels count
    pts[0, 1:30] = [7, 3]
    pts[0, 30:60] = [2, 8]
    pts[0, 16] = [7, 3]
    mask = hog.face_mask(pts, size=10)[0]
    want = np.zeros((10, 10), bool)
    for r in range(3, 9):
        want[r, 2 : 2 + (8 - r) + 1] = True
    want[0:3, 2:7] = True  # forehead: rows [0, min(y0, y16)), cols [x0, x16)
    np.testing.assert_array_equal(mask, want)
    # a reversed column range gives no forehead box, as numpy slicing does
    flipped = pts.copy()
    flipped[0, 0], flipped[0, 16] = [7, 3], [2, 3]
    assert not hog.face_mask(flipped, size=10)[0][:3].any()


def test_hog_of_ref_aligned_face():
    ref = _ref()
    features = hog.hog(ref["aligned"] * ref["mask"][:, None])
    assert features.shape[1] == ref["input"].shape[1] == hog.N_HOG
    assert_hog_close(features, ref["input"])


def test_hog_matches_skimage_on_a_single_channel_image():
    """scikit-image's own HOG on grey images, where the only difference left is its angle
    binning (it interpolates nothing either, with orientations=8 and these gradients)."""
    rng = np.random.default_rng(3)
    img = rng.random((32, 40)).astype(np.float32)
    want = skimage_hog(
        img, orientations=8, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys"
    )
    got = hog.hog(np.repeat(img[None, None], 3, axis=1))[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_hog_features_from_crops():
    ref = _ref()
    features, lm = hog.hog_features(ref["face_crop"], _crop_landmarks(ref))
    assert_hog_close(features, ref["input"])
    np.testing.assert_array_equal(lm, ref["input_landmarks"])


@pytest.mark.parametrize("landmark_model", ["mobilefacenet", "mobilenet"])
def test_whole_image_to_hog(landmark_model):
    """Frame + detector box + frame-pixel landmarks -> HOG, as the Detector calls it. The
    landmarks reach pixels through the landmark model's own crop (224 for mobilenet); the HOG
    still comes from the 112 crop, so both give the ref's features."""
    ref = _ref()
    n = len(ref["landmarks"])
    boxes = torch.from_numpy(np.repeat(ref["box"][None], n, axis=0))
    size = landmark68.NETWORKS[landmark_model].crop_size
    _, rounded = ops.face_crops(ref["image"], boxes, size, landmark68.EXPAND)
    pixels = landmark68.to_image(torch.from_numpy(ref["landmarks"]), rounded)
    features, lm = hog.frame_features([ref["image"]], [boxes], [pixels])
    assert_hog_close(features, ref["input"])
    np.testing.assert_array_equal(lm, ref["input_landmarks"])
    # faces spread over frames, one frame without faces
    split = hog.frame_features(
        [ref["image"]] * 3, [boxes[:1], boxes[:0], boxes[1:]], [pixels[:1], pixels[:0], pixels[1:]]
    )
    np.testing.assert_array_equal(split[0], features)
    empty = hog.frame_features([ref["image"]], [boxes[:0]], [pixels[:0]])
    assert empty[0].shape == (0, hog.N_HOG) and empty[1].shape == (0, 2 * hog.N_LANDMARKS)


def test_bad_inputs_say_what_is_wrong():
    ref = _ref()
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        hog.hog_features(ref["face_crop"], np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="not finite"):
        hog.hog_features(ref["face_crop"], np.full((2, 68, 2), np.nan))
    with pytest.raises(ValueError, match="crops"):
        hog.hog_features(ref["face_crop"][:, :, :100], _crop_landmarks(ref))


# ---------------------------------------------------------------------------------------------
# Classifiers


@pytest.mark.parametrize("model_id", IDS)
def test_layout_matches_manifest(model_id):
    manifest, clf = _manifest(model_id), _load(model_id)
    assert clf.columns == tuple(manifest["output_columns"])
    vocabulary = schema.EMOTIONS if model_id == "svm_emo" else schema.AUS
    assert set(clf.columns) <= set(vocabulary)
    assert list(clf.columns) == [c for c in vocabulary if c in clf.columns]  # canonical order
    assert clf.kind == ("probability" if model_id == "xgb_au" else "binary")
    keys = manifest["classifier_keys"]
    routing = manifest.get("routing", {"full": "all"})
    listed = {k for v in routing.values() if isinstance(v, list) for k in v}
    for region, wanted in routing.items():
        expected = set(wanted) if isinstance(wanted, list) else set(keys) - listed
        assert set(clf.routing.get(region, ())) == expected, region
    assert sorted(k for ks in clf.routing.values() for k in ks) == sorted(keys)
    # the PCA sizes come from the file, as the manifest lists them
    for region, projection in clf.projections.items():
        shape = manifest["tensors"][f"pca_model_{region}.components_"]["shape"]
        assert projection.components.shape == tuple(shape)


@pytest.mark.parametrize("model_id", IDS)
def test_features_match_ref(model_id):
    ref, clf = _ref(model_id), _load(model_id)
    features = clf.features(ref["input"], ref["input_landmarks"])
    assert set(features) == {k.removeprefix("features_") for k in ref.files if k[:9] == "features_"}
    for region, got in features.items():
        want = ref[f"features_{region}"]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=FEATURES_ATOL, err_msg=region)
        np.testing.assert_array_equal(got[:, -136:], ref["input_landmarks"])


@pytest.mark.parametrize("prefix", ["", "probe_"], ids=["faces", "probes"])
@pytest.mark.parametrize("model_id", IDS)
def test_predictions_from_features_match_ref(model_id, prefix):
    ref, clf = _ref(model_id), _load(model_id)
    features = {r: ref[f"{prefix}features_{r}"] for r in clf.projections}
    out = clf.predict_features(features)
    want = ref[prefix + OUTPUT[model_id]]
    assert out.shape == want.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=0, atol=OUTPUT_ATOL[model_id])
    scores = clf.scores(features)
    np.testing.assert_allclose(
        scores, ref[prefix + SCORES[model_id]], rtol=0, atol=SCORE_ATOL[model_id]
    )
    if clf.kind == "binary":
        assert set(np.unique(out)) <= {0.0, 1.0}


def test_xgb_hinge_models_give_exact_labels():
    manifest, ref, clf = _manifest("xgb_au"), _ref("xgb_au"), _load("xgb_au")
    hinge = [
        k.removeprefix("classifiers.")
        for k, v in manifest["fixture_objects"].items()
        if isinstance(v, dict) and v.get("objective") == "binary:hinge"
    ]
    assert hinge
    for prefix in ("", "probe_"):
        out = clf.predict_features({r: ref[f"{prefix}features_{r}"] for r in clf.projections})
        for key in hinge:
            j = [t.key for t in clf.targets].index(key)
            np.testing.assert_array_equal(out[:, j], ref[prefix + "au_probs"][:, j])
            assert set(np.unique(out[:, j])) <= {0.0, 1.0}


@pytest.mark.parametrize("model_id", IDS)
def test_predictions_from_hog_match_ref(model_id):
    ref, clf = _ref(model_id), _load(model_id)
    out = clf.predict(ref["input"], ref["input_landmarks"])
    np.testing.assert_allclose(out, ref[OUTPUT[model_id]], rtol=0, atol=OUTPUT_ATOL[model_id])


def test_whole_image_to_predictions():
    ref = _ref("xgb_au")
    boxes = torch.from_numpy(np.repeat(ref["box"][None], len(ref["landmarks"]), axis=0))
    _, rounded = ops.face_crops(ref["image"], boxes, hog.CROP_SIZE, landmark68.EXPAND)
    pixels = landmark68.to_image(torch.from_numpy(ref["landmarks"]), rounded)
    for model_id in IDS:
        want = _ref(model_id)[OUTPUT[model_id]]
        per_frame = models.predict(
            _load(model_id), [ref["image"]] * 2, [boxes, boxes[:0]], [pixels, pixels[:0]]
        )
        assert [p.shape for p in per_frame] == [want.shape, (0, want.shape[1])]
        np.testing.assert_allclose(per_frame[0], want, rtol=0, atol=OUTPUT_ATOL[model_id])


def test_hog_of_the_wrong_size_is_a_clear_error():
    """Py-Feat 2.1.5 feeds 23328 HOG values (224 crop) to scalers fitted on 5408."""
    clf = _load("svm_au")
    with pytest.raises(ValueError, match=r"\(N, 5408\) HOG.*\(1, 23328\)"):
        clf.predict(np.zeros((1, 23328), np.float32), np.zeros((1, 136)))


def test_kernel_and_linear_svms_match_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.3).astype(int)
    for fitted in (
        svm.SVC(kernel="rbf", gamma="scale").fit(x, y),
        svm.SVC(kernel="poly", degree=2, coef0=1.0).fit(x, y),
        svm.LinearSVC(C=0.5).fit(x, y),
    ):
        model = models.SVMModel(vars(fitted), "test")
        np.testing.assert_allclose(model.scores(x), fitted.decision_function(x), atol=1e-9)
        np.testing.assert_array_equal(model.outputs(x), fitted.predict(x))


# ---------------------------------------------------------------------------------------------
# Reading skops archives as data


def _rewrite_schema(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "schema.json":
                schema_tree = json.loads(data)
                edit(schema_tree)
                data = json.dumps(schema_tree).encode()
            zout.writestr(info, data)
    return dst


def test_unknown_classes_are_read_without_importing_them(tmp_path, monkeypatch):
    module = "featx_test_never_installed.detectors"

    def rename(tree):
        tree["__module__"], tree["__class__"] = module, "MysteryClassifier"
        scaler = tree["content"]["content"]["scaler_full"]
        scaler["__module__"], scaler["__class__"] = module + ".scalers", "MysteryScaler"

    path = _rewrite_schema(_fixture("svm_au"), tmp_path / "mystery.skops", rename)
    attempted: list[str] = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy_import(name, *args, **kwargs):
        attempted.append(name)
        return real_import(name, *args, **kwargs)

    def spy_import_module(name, *args, **kwargs):
        attempted.append(name)
        return real_import_module(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", spy_import)
    monkeypatch.setattr(importlib, "import_module", spy_import_module)
    root = skops.read_skops(path)
    clf = models.load_classifier(path, "svm_au")
    monkeypatch.undo()

    assert root.type_name == module + ".MysteryClassifier"
    assert root.attrs["scaler_full"].name == "MysteryScaler"
    assert not [name for name in attempted if name.startswith("featx_test_never_installed")]
    assert not [m for m in sys.modules if m.startswith("featx_test_never_installed")]
    ref = _ref("svm_au")
    np.testing.assert_array_equal(clf.predict(ref["input"], ref["input_landmarks"]), ref["au_pred"])


def test_v1_file_name_and_main_module_class(hf_home, tmp_path, monkeypatch):
    """The original upload: ``xgb_au_classifier.skops`` with ``__main__.XGBClassifier``."""
    c = hub.card("xgb_au")

    def to_main(tree):
        tree["__module__"] = "__main__"

    folder = tmp_path / "weights"
    folder.mkdir()
    _rewrite_schema(_fixture("xgb_au"), folder / c.fallback_files[0], to_main)
    monkeypatch.setenv(hub.MODEL_DIR_ENV, str(folder))
    clf = c.load()
    assert not hasattr(sys.modules["__main__"], "XGBClassifier")
    ref = _ref("xgb_au")
    np.testing.assert_allclose(
        clf.predict(ref["input"], ref["input_landmarks"]), ref["au_probs"], rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("model_id", IDS)
def test_card_load_from_hub_cache(hf_home, model_id):
    c = hub.card(model_id)
    put_in_hub_cache(hf_home, c.repo, {c.files[0]: _fixture(model_id).read_bytes()})
    clf = c.load()
    assert isinstance(clf, models.HogClassifier)
    ref = _ref(model_id)
    np.testing.assert_allclose(
        clf.predict(ref["input"], ref["input_landmarks"]),
        ref[OUTPUT[model_id]],
        rtol=0,
        atol=OUTPUT_ATOL[model_id],
    )


def test_broken_files_raise_weights_errors_naming_the_file(tmp_path):
    c = hub.card("svm_emo")
    (tmp_path / c.files[0]).write_bytes(b"not a zip")
    with pytest.raises(hub.WeightsError, match=r"svm_emo_classifier\.skops.*not a zip"):
        c.load(model_dir=tmp_path)

    no_schema = tmp_path / "no_schema.skops"
    with zipfile.ZipFile(no_schema, "w") as z:
        z.writestr("a.npy", b"")
    with pytest.raises(skops.SkopsError, match="no_schema.skops.*schema.json"):
        skops.read_skops(no_schema)

    def drop_anger(tree):
        del tree["content"]["content"]["classifiers"]["content"]["anger"]

    missing = _rewrite_schema(_fixture("svm_emo"), tmp_path / "missing.skops", drop_anger)
    with pytest.raises(skops.SkopsError, match=r"missing.skops.*\['anger'\]"):
        models.load_classifier(missing, "svm_emo")

    def shrink_pca(tree):
        pca = tree["content"]["content"]["pca_model_full"]["content"]["content"]
        pca["components_"] = tree["content"]["content"]["scaler_full"]["content"]["content"][
            "mean_"
        ]

    mismatched = _rewrite_schema(_fixture("svm_emo"), tmp_path / "mismatch.skops", shrink_pca)
    with pytest.raises(skops.SkopsError, match="mismatch.skops"):
        models.load_classifier(mismatched, "svm_emo")


def test_fixture_copies_keep_the_hub_layout(tmp_path):
    """The reader works on a copy (no path magic) and keeps every documented array."""
    for model_id in IDS:
        copy = shutil.copy(_fixture(model_id), tmp_path / f"{model_id}.skops")
        root = skops.read_skops(copy)
        for key, spec in _manifest(model_id)["tensors"].items():
            owner, attr = key.split(".")
            array = root.attrs[owner].attrs[attr]
            assert array.shape == tuple(spec["shape"]) and str(array.dtype) == spec["dtype"], key


def test_deep_schema_and_object_arrays_are_weights_errors_naming_the_file(tmp_path):
    deep = tmp_path / "deep.skops"
    node: dict = {"__loader__": "JsonNode", "content": "1"}
    text = json.dumps(node)
    for _ in range(50_000):  # 50,000 nested ListNodes, written without recursion
        text = '{"__loader__": "ListNode", "content": [' + text + "]}"
    with zipfile.ZipFile(deep, "w") as z:
        z.writestr("schema.json", text)
    with pytest.raises(hub.WeightsError, match=r"deep\.skops.*nests deeper"):
        skops.read_skops(deep)

    shallow_but_deep = tmp_path / "deep_tree.skops"  # parses as JSON, too deep to decode
    tree: dict = {"__loader__": "JsonNode", "content": "1"}
    for _ in range(skops.MAX_DEPTH + 1):
        tree = {"__loader__": "ListNode", "content": [tree]}
    with zipfile.ZipFile(shallow_but_deep, "w") as z:
        z.writestr("schema.json", json.dumps(tree))
    with pytest.raises(hub.WeightsError, match=r"deep_tree\.skops.*nests deeper"):
        skops.read_skops(shallow_but_deep)

    def object_array(tree):
        tree["content"]["content"]["scaler_full"]["content"]["content"]["mean_"] = {
            "__loader__": "NdArrayNode",
            "__class__": "ndarray",
            "file": "objects.npy",
        }

    objects = _rewrite_schema(_fixture("svm_emo"), tmp_path / "objects.skops", object_array)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{}, 1], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(objects, "a") as z:
        z.writestr("objects.npy", buffer.getvalue())
    with pytest.raises(hub.WeightsError, match=r"objects\.skops.*'objects\.npy'"):
        skops.read_skops(objects)
    with pytest.raises(hub.WeightsError, match=r"objects\.skops.*'objects\.npy'"):
        models.load_classifier(objects, "svm_emo")
