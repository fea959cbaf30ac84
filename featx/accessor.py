"""``ds.feat``: a stateless table of one-line pass-throughs to featx's plain functions.

The accessor keeps no state and never writes into the Dataset (xarray rebuilds accessors
freely). Every method calls a function that also exists on its own; that function is the
single source of truth.

Examples
--------
>>> import featx, numpy as np
>>> ds = featx.schema.from_frames([{"face_score": np.array([0.9])}], ["a.png"], [0], [np.nan])
>>> ds.feat.validate()
"""

from __future__ import annotations

import json

import xarray as xr


@xr.register_dataset_accessor("feat")
class FeatAccessor:
    """Face-analysis methods on a featx Dataset (``ds.feat.<name>``)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def __repr__(self) -> str:
        ds = self._ds
        lines = [
            f"<featx accessor: {ds.sizes.get('frame', 0)} frames x {ds.sizes.get('face', 0)} "
            f"face slots>",
            f"  detector:  {ds.attrs.get('detector', 'unknown')}",
            f"  variables: {', '.join(ds.data_vars) or 'none'}",
        ]
        try:
            models = json.loads(ds.attrs.get("models", "{}"))
        except json.JSONDecodeError:
            models = {}
        for stage, info in models.items():
            name = info.get("name", info) if isinstance(info, dict) else info
            lines.append(f"  {stage + ':':<10} {name}")
        return "\n".join(lines)

    def validate(self) -> None:
        """Check the Dataset against the featx schema; see :func:`featx.schema.validate`."""
        from featx.schema import validate

        validate(self._ds)

    def save(self, path, **kwargs) -> None:
        """Write the Dataset to netCDF or zarr; see :func:`featx.io.save`."""
        from featx.io import save

        save(self._ds, path, **kwargs)

    def to_fex(self, **kwargs):
        """Py-Feat's Fex columns as a DataFrame; see :func:`featx.io.to_fex`."""
        from featx.io import to_fex

        return to_fex(self._ds, **kwargs)
