"""Run a featx torch network on the CPU through OpenVINO: the same outputs, several times faster.

MediaPipe's small networks spend most of their time in PyTorch's per-operation overhead on the
CPU; OpenVINO runs the same graph with fused kernels (Face Mesh v2: 5 ms instead of 17 ms on one
core, ``benchmarks/bench_mp.py``). :class:`OpenVINOModule` converts a module once by tracing it
and keeps the converted graph in a cache folder keyed by the module's weights, so later runs load
it at once. Computation stays in float32: OpenVINO would otherwise pick bfloat16 on CPUs with
AMX, which moves Face Mesh landmarks by several pixels.

The cache folder is ``$FEATX_CACHE_DIR/openvino``, by default ``~/.cache/featx/openvino``.

Example
-------
>>> import torch
>>> from featx.nn.facemesh import FaceMesh
>>> net = OpenVINOModule(FaceMesh().eval(), torch.zeros(1, 256, 256, 3))  # doctest: +SKIP
>>> [tuple(t.shape) for t in net(torch.rand(2, 256, 256, 3))]             # doctest: +SKIP
[(2, 1, 1, 1434), (2, 1, 1, 1), (2, 1)]
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch


def available() -> bool:
    """Whether OpenVINO is installed."""
    return importlib.util.find_spec("openvino") is not None


def version() -> str:
    """The installed OpenVINO version."""
    import openvino

    return openvino.__version__


def cache_dir() -> Path:
    """Where converted graphs are kept: ``$FEATX_CACHE_DIR/openvino``, else
    ``~/.cache/featx/openvino``."""
    root = os.environ.get("FEATX_CACHE_DIR") or Path.home() / ".cache" / "featx"
    return Path(root) / "openvino"


def _graph_key(module: torch.nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> str:
    """A digest of everything the converted graph depends on: the classes' source files, the
    input shape (-1 where dynamic) and dtype, the versions and the weights."""
    digest = hashlib.sha256()
    for text in (type(module).__qualname__, str(shape), str(dtype)):
        digest.update(text.encode())
    digest.update(f"openvino {version()} torch {torch.__version__}".encode())
    for source in sorted({inspect.getsourcefile(type(m)) or "" for m in module.modules()}):
        if source and Path(source).is_file():
            digest.update(Path(source).read_bytes())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


class OpenVINOModule:
    """A torch module compiled by OpenVINO for the CPU, called like the module.

    Takes one tensor whose first dimension (the batch) may vary between calls and returns the
    module's outputs as CPU tensors (a tuple when the module returns several).

    Parameters
    ----------
    module
        The network in eval mode; it must be traceable (no data-dependent Python control flow).
    example
        An input of the right shape and dtype; its batch size does not matter.
    threads
        CPU threads for OpenVINO; None: ``torch.get_num_threads()``.
    dynamic
        Input axes whose size may change between calls (the batch, and the height and width
        of a fully convolutional network); the others keep the example's size.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        example: torch.Tensor,
        threads: int | None = None,
        dynamic: tuple[int, ...] = (0,),
    ) -> None:
        import openvino as ov

        core = ov.Core()
        shape = tuple(-1 if i in dynamic else n for i, n in enumerate(example.shape))
        key = _graph_key(module, shape, example.dtype)
        path = cache_dir() / f"{type(module).__name__}-{key}.xml"
        model: Any = str(path)  # compiled from the file: its weights are read, not copied twice
        if not path.exists():
            with warnings.catch_warnings():  # OpenVINO traces with torch.jit, which warns
                warnings.simplefilter("ignore")
                with torch.no_grad():
                    model = ov.convert_model(module, example_input=(example,))
            model.reshape(list(shape))
            try:
                _save(model, path)
                model = str(path)
            except OSError as error:  # a read-only home, say: run without the cache
                warnings.warn(
                    f"could not cache the OpenVINO graph in {path.parent} ({error}); it will be "
                    "converted again next time (set FEATX_CACHE_DIR to a writable folder)",
                    stacklevel=2,
                )
        self.threads = torch.get_num_threads() if threads is None else int(threads)
        self._compiled = core.compile_model(
            model,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": "f32",
                "INFERENCE_NUM_THREADS": self.threads,
                "PERFORMANCE_HINT": "LATENCY",
            },
        )
        self._request = self._compiled.create_infer_request()
        self._outputs = list(self._compiled.outputs)
        self._example = torch.zeros_like(example[:1])
        self._weights = path.with_suffix(".bin")

    def warm_up(self) -> int:
        """One inference on a zero input, then :func:`release_file_pages` of the weights file;
        the bytes released.

        The CPU plugin copies the weights into its own layouts at the first inference; the
        mapped file's pages are then no longer needed in memory. Call it after freeing the
        torch weights, so the three copies never coexist.
        """
        self(self._example)
        return release_file_pages(self._weights)

    def __call__(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        result = self._request.infer([x.detach().cpu().contiguous().numpy()])
        out = tuple(torch.from_numpy(result[o].copy()) for o in self._outputs)
        return out if len(out) > 1 else out[0]


def release_file_pages(path: Path) -> int:
    """Drop this process's resident pages of the mapped file ``path``; the bytes dropped.

    OpenVINO maps a cached graph's weights file and keeps the mapping after the CPU plugin has
    copied the weights into its own layouts, so each graph's weights would count twice in the
    resident memory. The mapping is read-only and backed by the file: a page read again is
    read back from it, so nothing changes but the memory. Linux only (``/proc/self/maps``,
    ``madvise``); elsewhere, or when ``path`` is not mapped, it does nothing and returns 0.
    """
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return 0
    import ctypes

    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    dropped, target = 0, str(Path(path).resolve())
    for line in maps.read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == target and "w" not in fields[1]:
            start, end = (int(v, 16) for v in fields[0].split("-"))
            if madvise(start, end - start, 4) == 0:  # MADV_DONTNEED
                dropped += end - start
    return dropped


def _save(model, path: Path) -> None:
    """Write a converted graph (float32 weights) so that readers never see half a file.

    Both files go to names of this writer's own, then are moved into place with
    ``os.replace`` (atomic), the weights first: a reader that sees the ``.xml`` also sees a
    whole ``.bin``, and concurrent writers of one graph (the same key: the same weights) each
    leave whole, equal files. A write cut short removes its temporary files.
    """
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{uuid.uuid4().hex}.xml")
    try:
        ov.save_model(model, tmp, compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
