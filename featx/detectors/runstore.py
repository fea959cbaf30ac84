"""A detector run's results on disk: finished batches as parts beside the output, then one file.

:class:`RunStore` is what ``detect(..., output=...)`` writes through, so an interrupted run
loses nothing and a rerun resumes from what is on disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from featx import schema


class RunStore:
    """Results of one run on disk: finished batches as parts beside ``output``, then one file.

    Each batch is written atomically to ``<output>.parts/part-NNNNNN.nc`` as soon as it is
    done, so an interrupted run loses nothing; :meth:`done` tells a new run which
    (source, source_frame) pairs to skip; :meth:`finish` joins everything into ``output``
    (netCDF, or zarr for a ``.zarr`` suffix) and removes the parts.
    """

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.parts_dir = self.output.with_name(self.output.name + ".parts")

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.nc")) if self.parts_dir.exists() else []

    def _datasets(self) -> list[xr.Dataset]:
        from featx.io import open_dataset

        # Written by this class from validated frames: read back without validating again.
        paths = ([self.output] if self.output.exists() else []) + self._parts()
        return [open_dataset(p, validate=False) for p in paths]

    def done(self) -> tuple[set[tuple[str, int]], int]:
        """Pairs already on disk, and the next free ``frame`` number."""
        pairs: set[tuple[str, int]] = set()
        next_frame = 0
        for ds in self._datasets():
            sources = ds["source"].values.tolist()
            pairs.update(zip(sources, ds["source_frame"].values.tolist(), strict=True))
            if ds.sizes["frame"]:
                next_frame = max(next_frame, int(ds["frame"].max()) + 1)
        return pairs, next_frame

    def write(self, ds: xr.Dataset) -> None:
        """Write one finished batch as the next part."""
        from featx.io import save

        self.parts_dir.mkdir(parents=True, exist_ok=True)
        parts = self._parts()
        index = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        save(ds, self.parts_dir / f"part-{index:06d}.nc", validate=False)

    def finish(
        self, attrs: Mapping[str, Any], finalize: Callable[[xr.Dataset], xr.Dataset]
    ) -> xr.Dataset | None:
        """Join what is on disk, apply ``finalize``, write ``output``; None if nothing is there."""
        from featx.io import save

        datasets = self._datasets()
        if not datasets:
            return None
        ds = schema.concat(datasets).sortby("frame")
        ds.attrs.update(attrs)
        ds.attrs["sources"] = schema.merge_sources(*(d.attrs for d in datasets), attrs)
        ds = finalize(ds)
        schema.validate(ds)
        save(ds, self.output, validate=False)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return ds
