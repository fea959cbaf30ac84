"""``featx demo``: the offline detector on real faces, with nothing to download.

The sample media ship with scikit-image: its astronaut photo (Eileen Collins, NASA, public
domain) and a 30-frame clip made here from it (the camera pans and zooms over the photo). Both
are saved beside the results so the Dataset's ``source`` paths stay valid.

Example
-------
>>> from featx.demo import run_demo
>>> ds = run_demo("demo.nc")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import xarray as xr

#: The demo clip: frames, frame rate and frame size (width, height).
CLIP_FRAMES, CLIP_FPS, CLIP_SIZE = 30, 30.0, (640, 360)


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo, 512x512 RGB uint8 (ships with scikit-image)."""
    import skimage.data

    return skimage.data.astronaut()


def clip_frames(image: np.ndarray, n: int = CLIP_FRAMES, size=CLIP_SIZE) -> np.ndarray:
    """``n`` frames of a virtual camera panning left to right and zooming in over ``image``.

    Frame i shows ``image`` scaled by ``0.55 + 0.25 i/(n-1)`` with its centre moved from 30 %
    to 70 % of the frame's width; the rest is grey.

    Returns
    -------
    (n, height, width, 3) uint8.

    Examples
    --------
    >>> clip_frames(np.zeros((64, 64, 3), np.uint8), n=3, size=(80, 60)).shape
    (3, 60, 80, 3)
    """
    width, height = size
    h, w = image.shape[:2]
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        t = i / max(n - 1, 1)
        scale = 0.55 + 0.25 * t
        cx, cy = width * (0.3 + 0.4 * t), height * 0.5
        matrix = np.array(
            [[scale, 0, cx - scale * w / 2], [0, scale, cy - scale * h / 2]], dtype=np.float64
        )
        frames[i] = cv2.warpAffine(
            image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114)
        )
    return frames


def write_video(path: str | Path, frames: np.ndarray, fps: float = CLIP_FPS) -> Path:
    """Write RGB frames as an MJPG ``.avi`` with OpenCV; returns the path."""
    path = Path(path)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def summary(ds: xr.Dataset, seconds: float) -> str:
    """A few lines on what the detector found in each source."""
    present = ds["face_rect"].notnull().all("rect")
    lines = [f"{ds.sizes['frame']} frames analysed in {seconds:.1f} s"]
    for source in dict.fromkeys(ds["source"].values.tolist()):
        part = ds.where(ds["source"] == source, drop=True)
        found = present.sel(frame=part["frame"])
        lines.append(
            f"{Path(source).name}: a face in {int(found.any('face').sum())} of "
            f"{part.sizes['frame']} frames, at most {int(found.sum('face').max())} per frame"
        )
        first = part.isel(frame=0, face=0)
        if bool(first["face_rect"].notnull().all()):
            emotion = first["emotions"].idxmax("emotion").item()
            pitch, roll, yaw = first["head_pose"].values
            top = first["aus"].sortby(first["aus"], ascending=False)[:3]
            aus = ", ".join(
                f"{a} {v:.2f}" for a, v in zip(top["au"].values, top.values, strict=True)
            )
            lines.append(
                f"  first frame: {emotion} ({float(first['emotions'].max()):.2f}); head pitch "
                f"{pitch:+.1f}, yaw {yaw:+.1f}, roll {roll:+.1f} deg; strongest AUs {aus}"
            )
    return "\n".join(lines)


def run_demo(output: str | Path = "demo.nc", *, progress: bool = True) -> xr.Dataset:
    """Run :class:`featx.MPDetector` on the sample media; write the Dataset and a figure.

    Writes ``output`` (netCDF), a PNG of the photo's detections beside it (same name,
    ``.png``) and the media in ``<output stem>_media/``; prints a summary.

    Parameters
    ----------
    output : where to write the Dataset (a suffix :func:`featx.io.save` writes: ``.nc``,
        ``.nc4``, ``.h5``, ``.hdf5`` or ``.zarr``).
    progress : show a progress bar.

    Returns
    -------
    xarray.Dataset
        The detections of the photo (frame 0) and the clip.

    Raises
    ------
    ValueError
        If ``output``'s suffix is not one :func:`featx.io.save` writes (checked first).
    """
    import matplotlib.pyplot as plt

    from featx import io
    from featx.detectors.mp import MPDetector
    from featx.plot import plot_detections

    output = Path(output)
    io.engine_for(output)  # an unsupported suffix fails before any work
    media_dir = output.with_name(output.stem + "_media")
    media_dir.mkdir(parents=True, exist_ok=True)
    photo = media_dir / "astronaut.png"
    image = astronaut()
    cv2.imwrite(str(photo), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    clip = write_video(media_dir / "astronaut_pan.avi", clip_frames(image))

    start = time.perf_counter()
    ds = MPDetector().detect([photo, clip], batch_size=8, progress=progress)
    seconds = time.perf_counter() - start
    io.save(ds, output)
    figure = plot_detections(ds, frame=0, points="mesh")
    figure.savefig(output.with_suffix(".png"), dpi=100)
    plt.close(figure)
    print(summary(ds, seconds))
    print(f"wrote {output}, {output.with_suffix('.png')} and the media in {media_dir}/")
    return ds
