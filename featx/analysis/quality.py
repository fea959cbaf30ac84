"""Quality control of a detection run, per source, and a report researchers can paste.

Examples
--------
>>> import numpy as np
>>> from featx import schema
>>> frames = [{"face_rect": np.array([[10.0, 10, 50, 50]]), "face_score": np.array([0.9])}, {}]
>>> ds = schema.from_frames(frames, ["a.mp4"] * 2, [0, 1], [0.0, 0.04])
>>> q = quality(ds)
>>> int(q["frames"].sel(source="a.mp4")), int(q["frames_with_face"].sel(source="a.mp4"))
(2, 1)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from featx.analysis._core import AnalysisError, check_dataset, sources


def box_jumps(ds: xr.Dataset, std: float = 3.0) -> xr.DataArray:
    """Faces whose box jumps: x or y of ``face_rect`` beyond mean ± std·SD of its series.

    Py-Feat's rectification rule, applied per source and face slot (SD with ddof=1); empty
    slots are never jumps. ``ds.where(~box_jumps(ds))`` blanks them out.

    Returns
    -------
    xarray.DataArray
        Boolean over (``frame``, ``face``).

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> xs = [10.0] * 9 + [200.0]
    >>> frames = [{"face_rect": np.array([[x, 10, 50, 50]])} for x in xs]
    >>> ds = schema.from_frames(frames, ["a.mp4"] * 10, range(10), np.arange(10) / 25)
    >>> np.flatnonzero(box_jumps(ds, std=2).values[:, 0]).tolist()
    [9]
    """
    check_dataset(ds)
    if "face_rect" not in ds:
        raise AnalysisError("box_jumps needs the face_rect variable")
    xy = ds["face_rect"].sel(rect=["x", "y"]).transpose("frame", "face", "rect").values
    xy = xy.astype(np.float64)
    out = np.zeros(xy.shape[:2], dtype=bool)
    for src in sources(ds):
        block = xy[src.index]
        ok = np.isfinite(block)
        n = ok.sum(axis=0)
        mean = np.where(ok, block, 0.0).sum(axis=0) / np.maximum(n, 1)
        sd = np.sqrt((np.where(ok, block - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1))
        with np.errstate(invalid="ignore"):
            outside = ok & (np.abs(block - mean) > std * sd) & (n > 1)
        out[src.index] = outside.any(axis=2)
    return xr.DataArray(
        out, dims=("frame", "face"), coords=ds["face_rect"].isel(rect=0, drop=True).coords
    )


def quality(ds: xr.Dataset, std: float = 3.0) -> xr.Dataset:
    """Per-source quality figures of a detection run.

    Returns
    -------
    xarray.Dataset
        Over ``source`` (in order of first appearance): ``frames``, ``frames_with_face``
        (frames with at least one face), ``face_fraction``, ``max_faces`` (in any frame),
        ``mean_face_score`` (over detected faces; NaN without ``face_score``) and
        ``box_jumps`` (frames with a face whose box jumps, see :func:`box_jumps`).

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> ds = schema.from_frames([{"face_rect": np.ones((2, 4))}], ["a.jpg"], [0], [np.nan])
    >>> int(quality(ds)["max_faces"][0])
    2
    """
    jumps = box_jumps(ds, std).values
    present = ds["face_rect"].notnull().any("rect").transpose("frame", "face").values
    score = (
        ds["face_score"].transpose("frame", "face").values.astype(np.float64)
        if "face_score" in ds
        else np.full(present.shape, np.nan)
    )
    rows = []
    for src in sources(ds):
        faces = present[src.index]
        scores = score[src.index][faces & np.isfinite(score[src.index])]
        rows.append(
            (
                len(src.index),
                int(faces.any(axis=1).sum()),
                int(faces.sum(axis=1).max()),
                float(scores.mean()) if scores.size else np.nan,
                int(jumps[src.index].any(axis=1).sum()),
            )
        )
    frames, with_face, max_faces, mean_score, n_jumps = (
        np.array(c) for c in zip(*rows, strict=True)
    )
    return xr.Dataset(
        {
            "frames": ("source", frames),
            "frames_with_face": ("source", with_face),
            "face_fraction": ("source", with_face / frames),
            "max_faces": ("source", max_faces),
            "mean_face_score": ("source", mean_score.astype(np.float64)),
            "box_jumps": ("source", n_jumps),
        },
        coords={"source": [src.source for src in sources(ds)]},
        attrs={"box_jump_std": float(std)},
    )


def quality_report(ds: xr.Dataset, std: float = 3.0) -> str:
    """A plain-text quality table of a detection run, ready to paste into a report.

    Examples
    --------
    >>> import numpy as np
    >>> from featx import schema
    >>> frames = [{"face_rect": np.array([[10.0, 10, 50, 50]]), "face_score": np.array([0.9])}]
    >>> ds = schema.from_frames(frames * 2 + [{}], ["a.mp4"] * 3, range(3), [0, 0.04, 0.08])
    >>> print(quality_report(ds))  # doctest: +NORMALIZE_WHITESPACE
    Quality of 1 source(s), 3 frames: 2 with a face (66.7%).
    source  frames  with face  face %  max faces  mean score  box jumps
    a.mp4        3          2    66.7          1       0.900          0
    Box jumps: frames where a face box's x or y lies more than 3 SD from its source and
    face-slot mean.
    """
    q = quality(ds, std)
    header = ("source", "frames", "with face", "face %", "max faces", "mean score", "box jumps")
    rows = [
        (
            str(q["source"].values[i]),
            str(int(q["frames"][i])),
            str(int(q["frames_with_face"][i])),
            f"{100 * float(q['face_fraction'][i]):.1f}",
            str(int(q["max_faces"][i])),
            f"{float(q['mean_face_score'][i]):.3f}",
            str(int(q["box_jumps"][i])),
        )
        for i in range(q.sizes["source"])
    ]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    total, with_face = int(q["frames"].sum()), int(q["frames_with_face"].sum())
    return "\n".join(
        [
            f"Quality of {q.sizes['source']} source(s), {total} frames: {with_face} with a "
            f"face ({100 * with_face / max(total, 1):.1f}%).",
            line(header),
            *(line(r) for r in rows),
            f"Box jumps: frames where a face box's x or y lies more than {std:g} SD from its "
            "source and\nface-slot mean.",
        ]
    )
