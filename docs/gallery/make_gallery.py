"""Render every featx plot to a PNG (and one GIF) in this folder, for docs/gallery/README.md.

Run from the repository root::

    .venv/bin/python docs/gallery/make_gallery.py

The face geometry on the astronaut image (mesh, boxes, keypoints, head pose) is the MediaPipe
Face Landmarker's output stored in ``tests/conformance/mediapipe_pipeline/``; the image itself
is ``skimage.data.astronaut()``. The AU, emotion and gaze values and the two-person "video"
are made up here to show the plots.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import skimage.data  # noqa: E402
import xarray as xr  # noqa: E402

from featx import schema  # noqa: E402
from featx.analysis import epochs  # noqa: E402
from featx.plot import (  # noqa: E402
    animate_face,
    plot_aus,
    plot_bars,
    plot_detections,
    plot_emotions,
    plot_epochs,
    plot_face,
    plot_face_mesh,
)
from featx.plot.face import DLIB68_FROM_MP478  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MP = ROOT / "tests" / "conformance" / "mediapipe_pipeline"
DPI = 80
ATTRS = {"aus": {"kind": "probability"}, "emotions": {"kind": "probability"}}


def save(fig, name: str) -> None:
    fig.savefig(HERE / name, dpi=DPI)
    plt.close(fig)
    print("wrote", HERE / name)


def session() -> tuple[xr.Dataset, pd.DataFrame]:
    """40 s at 10 fps, two people who swap seats halfway, a smile after each joke."""
    rng = np.random.default_rng(0)
    fps, n = 10, 400
    t = np.arange(n) / fps
    events = pd.DataFrame(
        {
            "onset": np.arange(2.0, 38.0, 4.5),
            "duration": 1.5,
            "trial_type": ["joke", "sad story"] * 4,
        }
    )
    smile = np.zeros(n)
    frown = np.zeros(n)
    for onset, kind in zip(events["onset"], events["trial_type"], strict=True):
        bump = np.exp(-0.5 * ((t - onset - 1.2) / 0.6) ** 2)
        if kind == "joke":
            smile += bump
        else:
            frown += bump
    frames = []
    for k in range(n):
        if 195 <= k < 205:  # both faces lost for a second
            frames.append({})
            continue
        people = np.array([11, 42]) if k < n // 2 else np.array([42, 11])  # they swap seats
        gains = np.where(people == 11, 0.9, 0.5)  # person 11 is the more expressive
        aus = rng.uniform(0, 0.15, (2, 20))
        for face, gain in enumerate(gains):
            aus[face, [4, 9, 16]] += gain * smile[k]  # AU06, AU12, AU25
            aus[face, [0, 2, 11]] += gain * frown[k]  # AU01, AU04, AU15
        emotions = np.stack(
            [
                [0.02, 0.02, 0.03, 0.05 + 0.8 * g * smile[k], 0.05 + 0.7 * g * frown[k], 0.03, 1]
                for g in gains
            ]
        )
        frames.append(
            {
                "face_rect": np.array([[40.0, 60, 80, 90], [200, 50, 85, 95]]),
                "aus": np.clip(aus, 0, 1),
                "emotions": emotions / emotions.sum(axis=1, keepdims=True),
                "identity": people,
            }
        )
    ds = schema.from_frames(frames, ["session.mp4"] * n, range(n), t, var_attrs=ATTRS)
    schema.validate(ds)
    return ds, events


def astronaut(folder: Path) -> xr.Dataset:
    ref = np.load(MP / "ref_astronaut.npz")
    image = folder / "astronaut.png"
    cv2.imwrite(str(image), skimage.data.astronaut()[..., ::-1])
    mesh = ref["tasks_lm_landmarks_px"][0]
    landmarks = mesh[list(DLIB68_FROM_MP478), :2]
    x, y, w, h = ref["tasks_fd_full_boxes_int"][0].astype(float)
    pitch, yaw, roll = ref["tasks_lm_euler_featx_deg"][0]
    rng = np.random.default_rng(1)
    aus = rng.uniform(0, 0.3, 20)
    aus[[4, 9, 16]] = [0.85, 0.95, 0.7]  # she smiles: AU06, AU12, AU25
    frame = {
        "face_rect": np.array([[x, y, w, h]]),
        "keypoints": ref["tasks_fd_full_keypoints_px"][:1],
        "landmarks": landmarks[None],
        "mesh": mesh[None],
        "head_pose": np.array([[pitch, roll, yaw]]),
        "gaze": np.array([[-3.0, 8.0]]),
        "aus": aus[None],
        "emotions": np.array([[0.01, 0.01, 0.01, 0.9, 0.01, 0.02, 0.04]]),
    }
    return schema.from_frames(
        [frame], [str(image)], [0], [np.nan], var_attrs=ATTRS,
        labels={"keypoint": schema.KEYPOINTS_BLAZEFACE},
    )  # fmt: skip


def composite(folder: Path) -> xr.Dataset:
    """Six astronaut copies on one canvas (the recipe in the reference), five faces found."""
    ref = np.load(MP / "ref_composite.npz")
    image = folder / "crowd.png"
    cv2.imwrite(str(image), ref["image"][..., ::-1])
    boxes = ref["tasks_fd_full_boxes_int"].astype(float)
    n = len(boxes)
    rng = np.random.default_rng(2)
    frame = {
        "face_rect": boxes,
        "face_score": ref["tasks_fd_full_scores"],
        "keypoints": ref["tasks_fd_full_keypoints_px"],
        "aus": rng.uniform(0, 1, (n, 20)),
    }
    return schema.from_frames(
        [frame], [str(image)], [0], [np.nan], var_attrs=ATTRS,
        labels={"keypoint": schema.KEYPOINTS_BLAZEFACE},
    )  # fmt: skip


def main() -> None:
    ds, events = session()
    save(plot_aus(ds, ["AU01", "AU04", "AU06", "AU12"], events=events, smooth=5), "aus_lines.png")
    save(
        plot_emotions(ds, ["happiness", "sadness", "neutral"], by="identity"),
        "emotions_by_identity.png",
    )
    save(plot_aus(ds, kind="heatmap", faces=[0], events=events), "aus_heatmap.png")
    save(plot_bars(ds, 32, "aus").figure, "aus_bars.png")  # 1.2 s into the first joke
    ep = epochs(ds, events, -1.0, 3.0, baseline=(-1.0, 0.0))
    save(plot_epochs(ep, "aus", ["AU01", "AU04", "AU06", "AU12"]), "epochs.png")

    with tempfile.TemporaryDirectory() as tmp:
        one = astronaut(Path(tmp))
        fig = plot_detections(one, 0)
        fig.axes[0].set_xlim(120, 330)  # zoom on the face
        fig.axes[0].set_ylim(260, 20)
        save(fig, "detections.png")
        fig = plot_detections(one, 0, points="mesh", bars=False)
        fig.axes[0].set_xlim(150, 300)
        fig.axes[0].set_ylim(210, 40)
        save(fig, "detections_mesh.png")
        save(plot_detections(composite(Path(tmp)), 0), "detections_many_faces.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the missing image is the point here
        save(plot_detections(one, 0), "detections_missing_image.png")

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.6), layout="constrained")
    for ax, (title, aus, gaze) in zip(
        axes,
        [
            ("neutral", {}, None),
            ("smile: AU06 + AU12", {"AU06": 0.8, "AU12": 1.0, "AU25": 0.6}, None),
            (
                "surprise, gaze to viewer's left",
                {"AU01": 0.8, "AU02": 0.7, "AU05": 0.6, "AU26": 1.0},
                (5, 25),
            ),
        ],
        strict=True,
    ):
        plot_face(aus, gaze=gaze, ax=ax)
        ax.set_title(title, fontsize=10)
    save(fig, "face.png")

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.8), layout="constrained")
    plot_face_mesh(ax=axes[0])
    axes[0].set_title("neutral (contours)", fontsize=10)
    plot_face_mesh({"AU06": 0.8, "AU12": 1.0}, mode="tessellation", ax=axes[1])
    axes[1].set_title("smile (tessellation)", fontsize=10)
    plot_face_mesh(
        {"AU04": 0.9, "AU09": 0.7, "AU10": 0.6, "AU15": 0.5}, gaze=(-10, -20), ax=axes[2]
    )
    axes[2].set_title("disgust, gaze down to viewer's right", fontsize=10)
    save(fig, "face_mesh.png")

    path = animate_face({}, {"AU06": 0.8, "AU12": 1.0, "AU25": 0.7}, HERE / "smile.gif",
                        n_frames=8, fps=8, dpi=50)  # fmt: skip
    print("wrote", path)


if __name__ == "__main__":
    main()
