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
    """A source was skipped, or a video held fewer frames than its container announces."""


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
    """

    failed: dict[str, str] = field(default_factory=dict)
    n_decoded: dict[str, int] = field(default_factory=dict)


def skip_source(err: MediaError, path: str, report: ReadReport | None) -> None:
    """Note that source ``path`` is skipped for ``err``: in ``report``, or as a warning if none."""
    if report is None:
        warnings.warn(MediaWarning(f"skipped {path}: {err.reason}"), stacklevel=3)
    else:
        report.failed[path] = err.reason
