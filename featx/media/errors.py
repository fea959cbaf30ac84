"""What can go wrong reading media: :class:`MediaError`, :class:`MediaWarning`, and the
:class:`ReadReport` a tolerant read fills."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

__all__ = ["ON_ERROR", "MediaError", "MediaWarning", "ReadReport", "media_error", "skip_source"]

#: The values ``on_error`` may take: stop at the first bad source, or skip it and go on.
ON_ERROR = ("raise", "skip")


class MediaError(OSError):
    """A media input is missing, unreadable or empty.

    The message names the file (or ``<array>`` / ``<tensor>``) and what is
    wrong with it; the offending path is also kept in ``path``, and what is
    wrong, without the path, in ``reason``.

    Examples
    --------
    >>> from featx.media import probe
    >>> try:
    ...     probe("/no/such/file.png")
    ... except MediaError as err:
    ...     print(err, "|", err.reason)
    /no/such/file.png: file not found | file not found
    """

    def __init__(self, message: str, path: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = message if reason is None else reason


class MediaWarning(UserWarning):
    """A source was skipped, or a video held fewer frames than its container announces.

    Examples
    --------
    Of several sources, one that cannot be read is skipped with this warning (pass a
    :class:`ReadReport` to collect the reasons instead):

    >>> import pathlib, tempfile, warnings
    >>> import cv2, numpy as np
    >>> from featx.media import probe
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = cv2.imwrite(str(folder / "grey.png"), np.full((8, 8, 3), 128, np.uint8))
    >>> _ = (folder / "broken.png").write_bytes(b"not a picture")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     infos = probe([folder / "grey.png", folder / "broken.png"], on_error="skip")
    >>> [info.kind for info in infos], caught[0].category.__name__
    (['image'], 'MediaWarning')
    """


def media_error(path: str, what: str) -> MediaError:
    """A :class:`MediaError` whose message is ``"<path>: <what>"``.

    Examples
    --------
    >>> err = media_error("/data/a.png", "cannot decode image")
    >>> str(err), err.path, err.reason
    ('/data/a.png: cannot decode image', '/data/a.png', 'cannot decode image')
    """
    return MediaError(f"{path}: {what}", path, what)


@dataclass
class ReadReport:
    """What reading learnt beyond the frames: the sources skipped, and how long each video was.

    :func:`~featx.media.probe` and :func:`~featx.media.iter_frames` fill one when given it.

    Attributes
    ----------
    failed : dict of str to str
        Source path -> why it could not be read (``MediaError.reason``), for the sources
        skipped under ``on_error="skip"``, in the order they failed.
    n_decoded : dict of str to int
        Video path -> frames the file gave when it was read to its end (frames passed over by
        ``skip_frames`` or ``exclude`` count: they were found in the file).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import cv2, numpy as np
    >>> from featx.media import probe
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = cv2.imwrite(str(folder / "grey.png"), np.full((8, 8, 3), 128, np.uint8))
    >>> _ = (folder / "broken.png").write_bytes(b"not a picture")
    >>> report = ReadReport()
    >>> infos = probe(folder, on_error="skip", report=report)
    >>> [pathlib.Path(p).name for p in report.failed], len(infos)
    (['broken.png'], 1)
    """

    failed: dict[str, str] = field(default_factory=dict)
    n_decoded: dict[str, int] = field(default_factory=dict)


def skip_source(err: MediaError, path: str, report: ReadReport | None) -> None:
    """Note that source ``path`` is skipped for ``err``: in ``report``, or as a warning if none."""
    if report is None:
        warnings.warn(MediaWarning(f"skipped {path}: {err.reason}"), stacklevel=3)
    else:
        report.failed[path] = err.reason
