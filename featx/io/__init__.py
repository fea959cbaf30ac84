"""Reading and writing featx Datasets: netCDF/zarr files, Py-Feat's Fex table, other tools'
exports, and long tables for R/SPSS.

- :func:`save` / :func:`open_dataset`: netCDF-4 or zarr, chosen by the suffix
  (:data:`SUFFIXES`), every attr kept (:mod:`featx.io.store`)
- :func:`to_fex` / :func:`read_fex`: Py-Feat's Fex columns and CSV files (:mod:`featx.io.fex`)
- :func:`read_openface`, :func:`read_imotions`, :func:`read_affectiva`: OpenFace 2.x CSV,
  iMotions/FACET exports, Affectiva JSON
- :func:`to_tidy`: one row per frame × face × measure (:mod:`featx.io.tidy`)

Every reader returns a Dataset that passes :func:`featx.schema.validate`, or raises
:class:`ReaderError` (a ValueError) naming the file and the line or column at fault.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from featx import schema, io
>>> ds = schema.from_frames([{"face_rect": np.array([[10.0, 20, 50, 60]])}],
...                         ["a.jpg"], [0], [np.nan], attrs={"detector": "demo"})
>>> path = io.save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
>>> io.open_dataset(path).identical(ds)
True
>>> list(io.to_fex(ds).columns)
['FaceRectX', 'FaceRectY', 'FaceRectWidth', 'FaceRectHeight', 'input', 'frame']
"""

from featx.io.affectiva import read_affectiva
from featx.io.fex import FEX_BOX_RULES, FEX_V2_EMOTIONS, read_fex, to_fex
from featx.io.imotions import read_imotions
from featx.io.openface import read_openface
from featx.io.store import ENGINES, SUFFIXES, engine_for, open_dataset, save
from featx.io.table import ReaderError, ReaderWarning
from featx.io.tidy import to_tidy

__all__ = [
    "ENGINES",
    "FEX_BOX_RULES",
    "FEX_V2_EMOTIONS",
    "ReaderError",
    "ReaderWarning",
    "SUFFIXES",
    "engine_for",
    "open_dataset",
    "read_affectiva",
    "read_fex",
    "read_imotions",
    "read_openface",
    "save",
    "to_fex",
    "to_tidy",
]
