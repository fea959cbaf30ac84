"""The one error type of :mod:`featx.media`."""

from __future__ import annotations

__all__ = ["MediaError", "media_error"]


class MediaError(OSError):
    """A media input is missing, unreadable or empty.

    The message names the file (or ``<array>`` / ``<tensor>``) and what is
    wrong with it; the offending path is also kept in :attr:`path`.

    Examples
    --------
    >>> from featx.media import probe
    >>> try:
    ...     probe("/no/such/file.png")
    ... except MediaError as err:
    ...     print(err)
    /no/such/file.png: file not found
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def media_error(path: str, what: str) -> MediaError:
    """A :class:`MediaError` whose message is ``"<path>: <what>"``.

    Examples
    --------
    >>> err = media_error("/data/a.png", "cannot decode image")
    >>> str(err), err.path
    ('/data/a.png: cannot decode image', '/data/a.png')
    """
    return MediaError(f"{path}: {what}", path)
