"""featx's version, read once from the installed package metadata, and :func:`show_versions`
for bug reports (imports nothing of featx)."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    #: The version of featx (from the installed package metadata), as ``featx --version`` prints.
    __version__ = version("featx")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

#: The packages whose versions a bug report needs, in the order shown.
REPORTED = (
    "numpy", "pandas", "xarray", "scipy", "torch", "openvino", "opencv-python-headless",
    "opencv-python", "huggingface_hub", "safetensors", "netCDF4", "zarr", "dask",
    "distributed", "statsmodels", "scikit-learn", "matplotlib", "ipywidgets",
)  # fmt: skip


def versions() -> dict[str, str]:
    """What :func:`show_versions` prints, as a dict (package versions without importing them).

    Examples
    --------
    >>> info = versions()
    >>> info["featx"] == __version__ and "python" in info
    True
    """
    info = {
        "featx": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }
    for name in REPORTED:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    if "torch" in sys.modules or info["torch"] != "not installed":
        import torch

        info["torch threads"] = str(torch.get_num_threads())
        cuda = torch.cuda.is_available()
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = f"{torch.version.cuda} ({', '.join(names)})" if cuda else "not available"
    hf_home = os.environ.get("HF_HOME", os.path.join("~", ".cache", "huggingface"))
    info["model cache (HF_HOME)"] = os.path.expanduser(hf_home)
    info["FEATX_MODEL_DIR"] = os.environ.get("FEATX_MODEL_DIR", "not set")
    info["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "not set")
    return info


def show_versions() -> None:
    """Print featx, Python, the libraries, devices and the model cache folder: what a bug
    report needs.

    Examples
    --------
    >>> import featx
    >>> featx.show_versions()  # doctest: +ELLIPSIS
    featx ...
    """
    info = versions()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
