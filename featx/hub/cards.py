"""The model cards: every model featx can run, and the linear face maps it draws faces with.

One list of :class:`~featx.hub.card.ModelCard` per kind: the Py-Feat models fetched from the
Hugging Face hub (:data:`_CARDS`), the models bundled in ``featx/assets`` (:data:`_BUNDLED`)
and the AU / emotion / blendshape → face maps (:data:`_FACE_MAPS`, task ``"render"``). Each card
names its builder and loader in its own ``featx/nn`` or ``featx/classic`` file; nothing here
imports model code.

Examples
--------
>>> CARDS["retinaface"].builder
Ref('featx.nn.retinaface:RetinaFace')
>>> sorted(c.id for c in _FACE_MAPS)[:2]
['au_to_landmarks_v2', 'au_to_mesh_v4']
"""

from __future__ import annotations

from featx import schema
from featx.hub.card import ModelCard

__all__ = ["CARDS", "FACE_MAPS", "MODELS"]

#: The loader of a card whose one weight file loads strictly into the built module.
_STRICT = "featx.nn.weights:load_strict"
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
        builder="featx.nn.retinaface:RetinaFace",
        loader=_STRICT,
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
        builder="featx.nn.img2pose:Img2Pose",
        loader="featx.nn.img2pose:load",
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
        builder="featx.nn.pose_mlp:build",
        loader="featx.nn.pose_mlp:load",
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
        builder="featx.nn.landmark68:MobileFaceNet",
        loader=_STRICT,
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
        builder="featx.nn.landmark68:MobileNetGDConv",
        loader=_STRICT,
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
        builder="featx.nn.landmark68:PFLD",
        loader=_STRICT,
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
        loader="featx.classic.models:load",
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
        loader="featx.classic.models:load",
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
        loader="featx.classic.models:load",
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
        builder="featx.nn.resmasknet:ResMasking",
        loader="featx.nn.resmasknet:load",
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
        builder="featx.nn.arcface:ArcFace",
        loader="featx.nn.arcface:load",
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
        builder="featx.nn.facenet:FaceNet",
        loader=_STRICT,
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
        builder="featx.nn.l2cs:L2CS",
        loader="featx.nn.l2cs:load",
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
        builder="featx.nn.multitask:FaceMultitask",
        loader="featx.nn.multitask:load",
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
        builder="featx.nn.blazeface:BlazeFaceShort",
        loader=_STRICT,
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
        builder="featx.nn.blazeface:BlazeFaceFull",
        loader=_STRICT,
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
        builder="featx.nn.facemesh:FaceMesh",
        loader=_STRICT,
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
        builder="featx.nn.blendshapes:Blendshapes",
        loader=_STRICT,
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
        builder="featx.nn.mini_xception:MiniXception",
        loader=_STRICT,
    ),
]


_RENDER_LICENSE = (
    "MIT (Py-Feat); fit on CelebV-HQ frames, whose terms are non-commercial "
    "(featx/assets/NOTICE-rendering.md)"
)


def _face_map(
    id: str, repo: str | None, filename: str, inputs: str, output: str, **kw
) -> ModelCard:
    return ModelCard(
        id=id,
        task="render",
        name=id,
        repo=repo,
        files=(filename,),
        file_format="npz",
        license=_RENDER_LICENSE,
        non_commercial=True,
        paper=_PYFEAT,
        input_spec=f"{inputs} values, named or in the file's column order; pose held at zero",
        outputs=(output,),
        **kw,
    )


#: Linear face maps (plot.face_model draws faces with them). ``au_to_mesh_v4`` is bundled; the
#: others come from the hub (or from ``model_dir=`` / ``FEATX_MODEL_DIR``) on first use.
_FACE_MAPS = [
    _face_map(
        "au_to_mesh_v4", None, "au_to_mesh_pls_v4.npz", "au", "mesh",
        loader="featx.classic.face_map:load_au_map",
    ),
    _face_map(
        "au_to_mesh_v6", "py-feat/au_to_mesh", "au_to_mesh_pls_v6.npz", "au", "mesh",
        loader="featx.classic.face_map:load_au_map",
    ),
    _face_map(
        "au_to_landmarks_v2", "py-feat/au_to_landmarks", "au_to_landmarks_pls_v2.npz", "au",
        "landmarks", loader="featx.classic.face_map:load_au_map",
    ),
    _face_map(
        "emotion_to_mesh_v6", "py-feat/emotion_to_mesh", "emotion_to_mesh_pls_v6.npz",
        "emotion", "mesh", input_labels=schema.EMOTIONS,
        loader="featx.classic.face_map:load_emotion_map",
    ),
    _face_map(
        "bs_to_mesh_v6", "py-feat/bs_to_mesh", "bs_to_mesh_pls_v6.npz", "blendshape", "mesh",
        input_labels=schema.BLENDSHAPES, loader="featx.classic.face_map:load_blendshape_map",
    ),
]  # fmt: skip

#: The registry: every card by id.
CARDS: dict[str, ModelCard] = {c.id: c for c in _CARDS + _BUNDLED + _FACE_MAPS}
#: The models a detector stage runs (every card but the face maps).
MODELS: dict[str, ModelCard] = {c.id: c for c in _CARDS + _BUNDLED}
#: The linear face maps.
FACE_MAPS: dict[str, ModelCard] = {c.id: c for c in _FACE_MAPS}
