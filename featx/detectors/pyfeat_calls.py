"""Py-Feat's detector calls, as thin aliases of :meth:`BaseDetector.detect`.

``detect_image`` and ``detect_video`` take Py-Feat's keywords where featx has the same thing
under another name (``save`` / ``outputFname`` → ``output``, ``progress_bar`` → ``progress``,
``skip_frames=None`` → 1) and refuse, naming the featx way, the ones featx does not have. The
result is always a featx Dataset; ``featx.to_fex(ds)`` gives Py-Feat's Fex table.
"""

from __future__ import annotations

from typing import Any

#: Py-Feat keyword -> featx keyword of ``detect``.
RENAMED = {"save": "output", "outputFname": "output", "progress_bar": "progress"}
#: Py-Feat keywords featx has no counterpart for -> what to do instead.
REFUSED = {
    "output_size": "featx does not rescale frames: every detection is in the frame's own "
    "pixels; resize the images yourself if you need a fixed size",
    "num_workers": "frames are decoded in the detection loop; for many videos in parallel "
    "use featx.detect_many (Dask)",
    "pin_memory": "featx moves each batch to the device itself",
    "return_detection": "detect always returns the Dataset",
}


def pyfeat_kwargs(call: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` of a Py-Feat call with Py-Feat's names turned into featx's.

    Examples
    --------
    >>> pyfeat_kwargs("detect_video", {"save": "out.nc", "skip_frames": None})
    {'output': 'out.nc', 'skip_frames': 1}
    >>> pyfeat_kwargs("detect_image", {"output_size": 512})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: detect_image(output_size=...): featx does not rescale frames: ...
    """
    out = {}
    for name, value in kwargs.items():
        if name in REFUSED:
            raise TypeError(f"{call}({name}=...): {REFUSED[name]}")
        if name == "skip_frames" and value is None:
            value = 1
        out[RENAMED.get(name, name)] = value
    return out


class PyFeatCalls:
    """``detect_image`` and ``detect_video`` for code written for Py-Feat's Detector."""

    def detect_image(self, input_file_list: Any, **kwargs: Any) -> Any:
        """Py-Feat's ``detect_image``: :meth:`detect` with ``data_type="image"``.

        Examples
        --------
        >>> det = featx.MPDetector()                                             # doctest: +SKIP
        >>> ds = det.detect_image(["a.jpg", "b.jpg"], save="faces.nc")           # doctest: +SKIP
        """
        return self.detect(
            input_file_list, data_type="image", **pyfeat_kwargs("detect_image", kwargs)
        )

    def detect_video(self, video_path: Any, **kwargs: Any) -> Any:
        """Py-Feat's ``detect_video``: :meth:`detect` with ``data_type="video"``.

        Examples
        --------
        >>> ds = featx.Detector().detect_video("clip.mp4", skip_frames=5)  # doctest: +SKIP
        """
        return self.detect(video_path, data_type="video", **pyfeat_kwargs("detect_video", kwargs))
