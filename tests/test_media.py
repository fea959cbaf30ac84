"""Tests for featx.media: reading images, videos, arrays and tensors as RGB frames."""

from __future__ import annotations

import math
import os
import tracemalloc
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from featx.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    FrameBatch,
    MediaError,
    MediaWarning,
    ReadReport,
    SourceInfo,
    iter_frames,
    probe,
    read_frame,
    to_rgb_uint8,
)

FPS = 10.0
W, H = 32, 24
TOL = 6  # MJPG is lossy: flat frames come back within a few grey levels


def write_video(path: Path, values, size=(W, H), fps=FPS) -> Path:
    """Write an MJPG video whose frame i is a flat grey of values[i]."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for v in values:
        writer.write(np.full((size[1], size[0], 3), v, np.uint8))
    writer.release()
    return path


def level(image: np.ndarray) -> float:
    return float(image.mean())


def all_frames(inputs, **kwargs) -> list[FrameBatch]:
    return list(iter_frames(inputs, **kwargs))


def imwrite_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB(A) or grey image with OpenCV (which wants BGR(A))."""
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        rgb = rgb[:, :, ::-1]
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        rgb = rgb[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb))
    return path


@pytest.fixture
def video(tmp_path) -> Path:
    """20 frames, frame i flat grey 10 * i."""
    return write_video(tmp_path / "clip.avi", [10 * i for i in range(20)])


# --------------------------------------------------------------------------- videos


def test_video_frames_in_order_with_time(video):
    batches = all_frames(video)
    assert all(len(b) == 1 for b in batches)
    assert len(batches) == 20
    frames = np.concatenate([b.source_frame for b in batches])
    times = np.concatenate([b.time for b in batches])
    np.testing.assert_array_equal(frames, np.arange(20))
    assert frames.dtype == np.int64 and times.dtype == np.float64
    np.testing.assert_allclose(times, np.arange(20) / FPS)
    for b in batches:
        img = b.images[0]
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        assert abs(level(img) - 10 * b.source_frame[0]) < TOL
        assert b.source == [str(video.resolve())]


def test_video_skip_frames(video):
    batches = all_frames(video, skip_frames=3, batch_size=100)
    assert len(batches) == 1
    (b,) = batches
    np.testing.assert_array_equal(b.source_frame, [0, 3, 6, 9, 12, 15, 18])
    np.testing.assert_allclose(b.time, b.source_frame / FPS)
    for k, img in zip(b.source_frame, b.images, strict=True):
        assert abs(level(img) - 10 * k) < TOL


def test_video_batching(video):
    batches = all_frames(video, batch_size=6)
    assert [len(b) for b in batches] == [6, 6, 6, 2]
    np.testing.assert_array_equal(batches[1].source_frame, np.arange(6, 12))
    assert [len(b) for b in all_frames(video, batch_size=4, skip_frames=2)] == [4, 4, 2]


def test_video_exclude(video):
    path = str(video.resolve())
    done = [(path, k) for k in range(8)] + [(path, 11)]
    frames = np.concatenate([b.source_frame for b in all_frames(video, batch_size=5, exclude=done)])
    np.testing.assert_array_equal(frames, [8, 9, 10] + list(range(12, 20)))
    # frames after excluded ones are still the right frames
    batch = all_frames(video, batch_size=50, exclude=done)[0]
    for k, img in zip(batch.source_frame, batch.images, strict=True):
        assert abs(level(img) - 10 * k) < TOL
    # everything excluded: nothing yielded
    assert all_frames(video, exclude=[(path, k) for k in range(20)]) == []


def test_forced_video_type_for_unusual_suffix(tmp_path):
    path = write_video(tmp_path / "clip.avi", [0, 100, 200])
    odd = path.rename(tmp_path / "clip.dat")
    with pytest.raises(MediaError, match="clip.dat"):
        iter_frames(odd)
    frames = all_frames(odd, data_type="video", batch_size=3)[0]
    assert [round(level(f), -2) for f in frames.images] == [0, 100, 200]


def test_probe_video(tmp_path):
    path = write_video(tmp_path / "v.avi", range(0, 70, 10), size=(40, 30), fps=25.0)
    (info,) = probe(path)
    assert info == SourceInfo(str(path.resolve()), "video", 25.0, 40, 30, 7)


def test_read_frame_video(video):
    for k in (0, 7, 19):
        img = read_frame(str(video), k)
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        assert abs(level(img) - 10 * k) < TOL
    with pytest.raises(IndexError):
        read_frame(str(video), 20)


@pytest.fixture(scope="module")
def long_and_short_video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    size = (64, 48)
    short = write_video(folder / "short.avi", [i % 250 for i in range(200)], size=size)
    long = write_video(folder / "long.avi", [i % 250 for i in range(3000)], size=size)
    return short, long, size[0] * size[1] * 3


def _peak_while_iterating(path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = 0
        for batch in iter_frames(path, batch_size=4):
            n += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, n


def test_video_memory_does_not_grow_with_length(long_and_short_video):
    short, long, frame_bytes = long_and_short_video
    peak_short, n_short = _peak_while_iterating(short)
    peak_long, n_long = _peak_while_iterating(long)
    assert (n_short, n_long) == (200, 3000)
    all_decoded = n_long * frame_bytes  # ~27 MB
    assert peak_long < all_decoded / 50
    assert peak_long < 2 * peak_short + 256 * 1024


# --------------------------------------------------------------------------- images


def test_grey_png(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = imwrite_rgb(tmp_path / "grey.png", grey)
    (b,) = all_frames(path)
    img = b.images[0]
    assert img.shape == (3, 4, 3) and img.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(img[:, :, c], grey)
    assert b.source == [str(path.resolve())]
    assert b.source_frame.tolist() == [0] and math.isnan(b.time[0])


def test_rgba_png_drops_alpha(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 50
    rgba[..., 3] = [[0, 128, 255], [255, 10, 0]]
    path = imwrite_rgb(tmp_path / "rgba.png", rgba)
    img = all_frames(path)[0].images[0]
    np.testing.assert_array_equal(img, rgba[..., :3])


def test_16bit_png(tmp_path):
    grey16 = np.array([[0, 257 * 100, 65535, 1000]], np.uint16)
    path = imwrite_rgb(tmp_path / "g16.png", grey16)
    img = all_frames(path)[0].images[0]
    np.testing.assert_array_equal(img[0, :, 0], [0, 100, 255, 4])  # round(1000 / 257) = 4
    np.testing.assert_array_equal(img[..., 0], img[..., 2])

    rgb16 = np.zeros((1, 2, 3), np.uint16)
    rgb16[0, 0] = [65535, 257 * 7, 0]
    rgb16[0, 1] = [0, 0, 257 * 200]
    path = imwrite_rgb(tmp_path / "c16.png", rgb16)
    img = all_frames(path)[0].images[0]
    np.testing.assert_array_equal(img[0], [[255, 7, 0], [0, 0, 200]])


def test_jpg_colour_order(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 220  # red
    path = imwrite_rgb(tmp_path / "red.jpg", rgb)
    img = all_frames(path)[0].images[0]
    assert img.shape == (16, 16, 3)
    r, g, b = img.reshape(-1, 3).mean(axis=0)
    assert r > 180 and g < 40 and b < 40


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, value, size in [("c.png", 30, (5, 6)), ("a.png", 10, (4, 4)), ("b.jpg", 20, (8, 3))]:
        imwrite_rgb(folder / name, np.full(size, value, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    imwrite_rgb(folder / "sub" / "0.png", np.zeros((2, 2), np.uint8))
    return folder


def test_folder_sorted_and_batched_across_files(image_folder):
    batches = all_frames(image_folder, batch_size=2, skip_frames=5)
    assert [len(b) for b in batches] == [2, 1]  # skip_frames does not apply to still images
    names = [os.path.basename(s) for b in batches for s in b.source]
    assert names == ["a.png", "b.jpg", "c.png"]
    images = [img for b in batches for img in b.images]
    assert [img.shape for img in images] == [(4, 4, 3), (8, 3, 3), (5, 6, 3)]
    assert [round(level(img)) for img in images] == [10, 20, 30]
    assert all(b.source_frame.tolist() == [0] * len(b) for b in batches)
    assert all(np.isnan(b.time).all() for b in batches)


def test_list_of_paths_keeps_order_and_mixes_videos(image_folder, video):
    inputs = [image_folder / "c.png", str(video), image_folder / "a.png"]
    batches = all_frames(inputs, batch_size=8, skip_frames=10)
    assert [len(b) for b in batches] == [4]
    (b,) = batches
    assert [os.path.basename(s) for s in b.source] == ["c.png", "clip.avi", "clip.avi", "a.png"]
    assert b.source_frame.tolist() == [0, 0, 10, 0]
    np.testing.assert_allclose(b.time, [np.nan, 0.0, 1.0, np.nan])
    # exclude works per file for images
    b = all_frames(inputs, batch_size=8, skip_frames=10, exclude=[(image_folder / "c.png", 0)])[0]
    assert [os.path.basename(s) for s in b.source] == ["clip.avi", "clip.avi", "a.png"]


def test_probe_images_and_folder(image_folder):
    infos = probe(image_folder)
    assert [os.path.basename(i.path) for i in infos] == ["a.png", "b.jpg", "c.png"]
    assert [(i.kind, i.width, i.height, i.n_frames) for i in infos] == [
        ("image", 4, 4, 1),
        ("image", 3, 8, 1),
        ("image", 6, 5, 1),
    ]
    assert all(math.isnan(i.fps) for i in infos)


def test_read_frame_image(image_folder):
    img = read_frame(image_folder / "b.jpg", 0)
    assert img.shape == (8, 3, 3) and abs(level(img) - 20) < 2
    with pytest.raises(IndexError):
        read_frame(image_folder / "b.jpg", 1)


# --------------------------------------------------------------------------- arrays and tensors


def test_numpy_batch_and_single_image():
    frames = np.stack([np.full((4, 5, 3), 10 * i, np.uint8) for i in range(5)])
    batches = all_frames(frames, batch_size=2, skip_frames=2)
    assert [b.source_frame.tolist() for b in batches] == [[0, 2], [4]]
    assert batches[0].source == ["<array>", "<array>"]
    assert [level(img) for b in batches for img in b.images] == [0, 20, 40]
    assert all(np.isnan(b.time).all() for b in batches)
    assert all_frames(frames, exclude=[("<array>", 0), ("<array>", 1)])[0].source_frame[0] == 2

    (b,) = all_frames(np.full((4, 5), 7, np.uint8))  # one grey HxW image
    assert b.images[0].shape == (4, 5, 3) and level(b.images[0]) == 7
    (b,) = all_frames(np.full((4, 5, 3), 0.5))  # one float HxWxC image
    assert b.images[0].dtype == np.uint8 and level(b.images[0]) == 128

    info = probe(frames)[0]
    assert (info.path, info.kind, info.width, info.height, info.n_frames) == (
        "<array>",
        "array",
        5,
        4,
        5,
    )


def test_torch_tensor_inputs():
    import torch

    t = torch.zeros(3, 3, 4, 5, dtype=torch.uint8)  # NxCxHxW
    for i in range(3):
        t[i, 0] = 10 * i  # red channel
        t[i, 2] = 200
    batches = all_frames(t, batch_size=2)
    assert [len(b) for b in batches] == [2, 1]
    img = batches[0].images[1]
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [10, 0, 200]
    assert batches[0].source == ["<tensor>", "<tensor>"]

    single = torch.full((1, 4, 5), 0.25, dtype=torch.float32)  # grey CxHxW float
    img = all_frames(single)[0].images[0]
    assert img.shape == (4, 5, 3) and img[0, 0].tolist() == [64, 64, 64]

    floats = torch.rand(4, 3, 6, 7, requires_grad=True)
    b = all_frames(floats, batch_size=4, skip_frames=3)[0]
    assert b.source_frame.tolist() == [0, 3]
    expected = np.rint(floats[3].detach().permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(b.images[1], expected)

    info = probe(t)[0]
    assert (info.kind, info.width, info.height, info.n_frames) == ("tensor", 5, 4, 3)
    with pytest.raises(MediaError, match="<tensor>"):
        all_frames(torch.zeros(2, 6, 5, 3))  # channel-last is not accepted
    with pytest.raises(MediaError, match="<tensor>"):
        all_frames(torch.full((3, 2, 2), 2.0))  # float out of [0, 1]


# --------------------------------------------------------------------------- to_rgb_uint8


def test_to_rgb_uint8_conversions():
    rgb = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_array_equal(to_rgb_uint8(rgb), rgb)
    np.testing.assert_array_equal(to_rgb_uint8(rgb[..., :1])[..., 2], rgb[..., 0])
    rgba = np.concatenate([rgb, np.full((2, 4, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_rgb_uint8(rgba), rgb)
    np.testing.assert_array_equal(
        to_rgb_uint8(np.array([[0, 128, 257, 65535]], np.uint16))[0, :, 0], [0, 0, 1, 255]
    )
    np.testing.assert_array_equal(
        to_rgb_uint8(np.array([[0.0, 0.5, 1.0]], np.float32))[0, :, 1], [0, 128, 255]
    )


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 2), np.uint8),  # two channels
        np.zeros((2, 4, 4, 3), np.uint8),  # a batch, not an image
        np.zeros((0, 4, 3), np.uint8),  # empty
        np.zeros((4, 4), np.int32),  # unsupported dtype
        np.zeros((4, 4), bool),
        np.full((4, 4), 1.5),  # float out of range
        np.full((4, 4), np.nan),
    ],
)
def test_to_rgb_uint8_rejects(bad):
    with pytest.raises(MediaError, match="frame7"):
        to_rgb_uint8(bad, "frame7")


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    for missing in (tmp_path / "nope.png", tmp_path / "nope.mp4"):
        with pytest.raises(MediaError, match=r"nope\.\w+: file not found"):
            iter_frames(missing)
        with pytest.raises(MediaError, match="nope"):
            probe(missing)
        with pytest.raises(MediaError, match="nope"):
            read_frame(missing, 0)
    with pytest.raises(MediaError, match="nope.png"):
        iter_frames([tmp_path / "nope.png"])


def test_corrupt_image(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(MediaError, match="corrupt.png: cannot decode image"):
        all_frames(path)
    with pytest.raises(MediaError, match="corrupt.png"):
        probe(path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(MediaError, match="empty.jpg"):
        all_frames(tmp_path / "empty.jpg")


def test_unreadable_video(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(1).bytes(2000))
    with pytest.raises(MediaError, match="garbage.mp4"):
        all_frames(path)
    with pytest.raises(MediaError, match="garbage.mp4"):
        probe(path)


def test_zero_frame_video(tmp_path):
    path = write_video(tmp_path / "empty.avi", [])
    assert path.exists()
    with pytest.raises(MediaError, match="empty.avi: video has no frames"):
        all_frames(path)
    with pytest.raises(MediaError, match="empty.avi"):
        probe(path)


def test_empty_folder(tmp_path):
    folder = tmp_path / "nothing_here"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    with pytest.raises(MediaError, match="nothing_here"):
        iter_frames(folder)
    with pytest.raises(MediaError, match="nothing_here"):
        probe(folder)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "data.xyz"
    path.write_bytes(b"123")
    with pytest.raises(MediaError, match="data.xyz"):
        iter_frames(path)
    with pytest.raises(MediaError, match="data.xyz"):
        read_frame(path, 0)


def test_media_error_is_oserror_with_path(tmp_path):
    with pytest.raises(OSError) as info:
        probe(tmp_path / "gone.jpg")
    assert isinstance(info.value, MediaError)
    assert info.value.path == str(tmp_path / "gone.jpg")


def test_argument_checks(video):
    for kwargs in ({"batch_size": 0}, {"skip_frames": 0}, {"batch_size": 1.5}):
        with pytest.raises(ValueError):
            iter_frames(video, **kwargs)
    with pytest.raises(ValueError):
        iter_frames(video, data_type="audio")
    with pytest.raises(ValueError):
        iter_frames(np.zeros((2, 2)), data_type="video")
    with pytest.raises(ValueError):
        read_frame("<array>", 0)
    with pytest.raises(TypeError):
        iter_frames(42)


def test_extension_tuples():
    assert ".png" in IMAGE_EXTENSIONS and ".jpg" in IMAGE_EXTENSIONS
    assert ".mp4" in VIDEO_EXTENSIONS and ".avi" in VIDEO_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    assert not set(IMAGE_EXTENSIONS) & set(VIDEO_EXTENSIONS)


# --------------------------------------------------------------------------- work done once


def test_folder_of_images_is_decoded_once_per_image(tmp_path, monkeypatch):
    """probe + iter_frames (what detect() does) decode each of N images once, not twice."""
    folder = tmp_path / "many"
    folder.mkdir()
    n = 5
    for i in range(n):
        suffix = ".jpg" if i % 2 else ".png"
        imwrite_rgb(folder / f"{i}{suffix}", np.full((6 + i, 9, 3), 20 * i, np.uint8))
    calls = []
    decode, read = cv2.imdecode, cv2.imread

    def counting_decode(*args, **kwargs):
        calls.append("imdecode")
        return decode(*args, **kwargs)

    def counting_read(*args, **kwargs):
        calls.append("imread")
        return read(*args, **kwargs)

    monkeypatch.setattr(cv2, "imdecode", counting_decode)
    monkeypatch.setattr(cv2, "imread", counting_read)
    infos = probe(folder)
    assert calls == []  # sizes come from the headers
    frames = [img for b in iter_frames(folder, batch_size=2) for img in b.images]
    assert len(calls) == n
    assert [(i.height, i.width) for i in infos] == [f.shape[:2] for f in frames]


def test_probe_size_is_the_decoded_size_for_exif_rotated_jpeg(tmp_path):
    """EXIF orientation is applied by neither the header read nor the decoder: sizes agree."""
    from PIL import Image

    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees to display"
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(path, exif=exif.tobytes())
    (info,) = probe(path)
    img = read_frame(path, 0)
    assert (info.width, info.height) == (20, 10) and img.shape == (10, 20, 3)


def test_image_with_good_header_and_damaged_pixels(tmp_path):
    """The header gives the size; decoding the damaged pixels raises, naming the file."""
    rng = np.random.default_rng(2)
    path = imwrite_rgb(tmp_path / "whole.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = path.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    (info,) = probe(cut)
    assert (info.width, info.height) == (64, 64)
    with pytest.raises(MediaError, match="cut.png: cannot decode image"):
        all_frames(cut)


def test_media_names_stay_importable():
    import featx
    import featx.media as media

    for name in (
        "ARRAY_SOURCE",
        "TENSOR_SOURCE",
        "IMAGE_EXTENSIONS",
        "VIDEO_EXTENSIONS",
        "FrameBatch",
        "MediaError",
        "MediaWarning",
        "ReadReport",
        "SourceInfo",
        "iter_frames",
        "probe",
        "read_frame",
        "to_rgb_uint8",
    ):
        assert hasattr(media, name), name
    assert media.ARRAY_SOURCE == "<array>" and media.TENSOR_SOURCE == "<tensor>"
    assert featx.MediaError is media.MediaError
    assert featx.MediaWarning is media.MediaWarning


# --------------------------------------------------------------------------- timestamps

DATA = Path(__file__).parent / "data"
# tests/data/make_vfr.sh: frame i is grey 20 + 10 * i; 10 frames at 10 fps, then 10 at 2 fps.
VFR_TIMES = np.r_[np.arange(10) * 0.1, 1.0 + np.arange(10) * 0.5]


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv"])
def test_variable_frame_rate_time_is_the_container_timestamp(name):
    path = DATA / name
    (info,) = probe(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MediaWarning)  # a VFR file is not a short one
        (batch,) = all_frames(path, batch_size=50)
    np.testing.assert_array_equal(batch.source_frame, np.arange(20))
    np.testing.assert_allclose(batch.time, VFR_TIMES, atol=1e-3)
    # index / average fps is wrong after the rate change
    assert np.abs(batch.source_frame / info.fps - VFR_TIMES).max() > 0.5
    for k, img in zip(batch.source_frame, batch.images, strict=True):
        assert abs(level(img) - (20 + 10 * k)) < TOL


def test_variable_frame_rate_time_with_skip_frames_and_exclude():
    path = DATA / "vfr.mkv"
    kept = np.concatenate([b.time for b in all_frames(path, skip_frames=3, batch_size=4)])
    np.testing.assert_allclose(kept, VFR_TIMES[::3], atol=1e-3)
    done = [(str(path.resolve()), k) for k in (0, 1, 2, 9, 10, 15)]
    (batch,) = all_frames(path, batch_size=50, exclude=done)
    left = [k for k in range(20) if k not in (0, 1, 2, 9, 10, 15)]
    np.testing.assert_array_equal(batch.source_frame, left)
    np.testing.assert_allclose(batch.time, VFR_TIMES[left], atol=1e-3)


# --------------------------------------------------------------------------- short videos


def write_noisy_video(path: Path, n: int, fps: float = FPS) -> Path:
    """An MJPG video of ``n`` noise frames, big enough that frames dominate the file."""
    rng = np.random.default_rng(3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for _ in range(n):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def cut_in_half(path: Path, out: Path) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def test_truncated_video_warns_and_reports_frames_decoded(tmp_path):
    full = write_noisy_video(tmp_path / "full.avi", 30)
    half = cut_in_half(full, tmp_path / "half.avi")
    (info,) = probe(half)
    assert info.n_frames == 30  # what the header announces
    report = ReadReport()
    with pytest.warns(MediaWarning, match=r"half\.avi: decoded (\d+) of the 30 frames") as got:
        frames = np.concatenate([b.source_frame for b in iter_frames(half, report=report)])
    assert len(got) == 1
    n = report.n_decoded[str(half.resolve())]
    assert 5 < n < 30 and frames.tolist() == list(range(n))
    assert f"decoded {n} of the 30" in str(got[0].message)

    report = ReadReport()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MediaWarning)
        assert len(all_frames(full, skip_frames=4, report=report)) == 8
    assert report.n_decoded == {str(full.resolve()): 30}  # frames passed over count too


# --------------------------------------------------------------------------- bad sources


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """a.png, d.png good; b.png with a good header and cut pixels; c.jpg plain garbage."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    imwrite_rgb(folder / "a.png", np.full((8, 8, 3), 50, np.uint8))
    whole = imwrite_rgb(
        tmp_path / "whole.png",
        np.random.default_rng(4).integers(0, 255, (64, 64, 3), dtype=np.uint8),
    )
    cut_in_half(whole, folder / "b.png")
    (folder / "c.jpg").write_bytes(np.random.default_rng(5).bytes(500))
    imwrite_rgb(folder / "d.png", np.full((8, 8, 3), 200, np.uint8))
    return folder


def test_skip_bad_sources_and_report_them(mixed_folder):
    with pytest.raises(MediaError, match=r"b\.png: cannot decode image"):
        all_frames(mixed_folder)  # the default raises, as before
    report = ReadReport()
    batches = all_frames(mixed_folder, batch_size=3, on_error="skip", report=report)
    assert [Path(s).name for b in batches for s in b.source] == ["a.png", "d.png"]
    assert report.failed == {
        str(mixed_folder / "b.png"): "cannot decode image",
        str(mixed_folder / "c.jpg"): "cannot decode image",
    }
    # without a report, each skipped source is a warning
    with pytest.warns(MediaWarning) as got:
        assert len(all_frames(mixed_folder, on_error="skip")) == 2
    assert [str(w.message) for w in got] == [
        f"skipped {mixed_folder / name}: cannot decode image" for name in ("b.png", "c.jpg")
    ]


def test_probe_skips_sources_that_do_not_open(mixed_folder):
    with pytest.raises(MediaError, match=r"c\.jpg"):
        probe(mixed_folder)
    report = ReadReport()
    infos = probe(mixed_folder, on_error="skip", report=report)
    assert [Path(i.path).name for i in infos] == ["a.png", "b.png", "d.png"]  # b's header is fine
    assert list(report.failed) == [str(mixed_folder / "c.jpg")]
    with pytest.raises(ValueError, match="on_error must be one of"):
        probe(mixed_folder, on_error="ignore")


def test_a_single_bad_source_raises_even_when_skipping(mixed_folder):
    for single in (mixed_folder / "b.png", [mixed_folder / "c.jpg"]):
        with pytest.raises(MediaError, match=r"cannot decode image"):
            all_frames(single, on_error="skip", report=ReadReport())
    with pytest.raises(MediaError, match=r"c\.jpg: cannot decode image"):
        probe([mixed_folder / "c.jpg"], on_error="skip", report=ReadReport())
    with pytest.raises(MediaError, match=r"float pixels"):
        all_frames(np.full((2, 4, 4, 3), 2.0), on_error="skip")
