"""featx's version, read once from the installed package metadata (imports nothing of featx)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("featx")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
