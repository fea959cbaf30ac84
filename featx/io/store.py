"""netCDF and zarr files: :func:`save` a featx Dataset and :func:`open_dataset` it back unchanged.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from featx import schema
>>> from featx.io import save, open_dataset
>>> ds = schema.from_frames([{"face_rect": np.array([[10.0, 20, 50, 60]])}],
...                         ["a.jpg"], [0], [np.nan], attrs={"detector": "demo"})
>>> path = save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
>>> open_dataset(path).identical(ds)
True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from featx import schema, validators

ENGINES = ("netcdf4", "zarr")
#: File suffix -> the engine :func:`save` writes it with (netCDF-4 files are HDF5 files).
SUFFIXES: dict[str, str] = {
    ".nc": "netcdf4",
    ".nc4": "netcdf4",
    ".h5": "netcdf4",
    ".hdf5": "netcdf4",
    ".zarr": "zarr",
}


def engine_for(path: str | os.PathLike) -> str:
    """The engine :func:`save` uses for ``path``, chosen from its suffix (see :data:`SUFFIXES`).

    Raises
    ------
    ValueError
        If the suffix is not one featx writes (e.g. ``.parquet``, ``.csv``, none), naming
        the suffixes it does write.

    Examples
    --------
    >>> engine_for("run.nc"), engine_for("run.h5"), engine_for("run.zarr")
    ('netcdf4', 'netcdf4', 'zarr')
    >>> engine_for("run.parquet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cannot save 'run.parquet': featx.save writes netCDF-4 (.nc, .nc4, .h5, ...
    """
    path = Path(path)
    engine = SUFFIXES.get(path.suffix.lower())
    if engine is None:
        netcdf = ", ".join(k for k, v in SUFFIXES.items() if v == "netcdf4")
        raise ValueError(
            f"cannot save {str(path)!r}: featx.save writes netCDF-4 ({netcdf}) or zarr (.zarr), "
            "chosen by the suffix; pass engine= to write netCDF-4 or zarr under another name, "
            "or write a table with featx.to_tidy(ds) (e.g. .to_parquet(path))"
        )
    return engine


def _require_zarr() -> None:
    try:
        import zarr  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "writing or reading .zarr stores needs the optional zarr package: "
            "pip install featx[scale]"
        ) from err


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _storable(value) -> bool:
    if isinstance(value, str) or _is_number(value):
        return True
    if isinstance(value, list | tuple):
        return all(_is_number(v) for v in value)
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf"


def _check_attrs(ds: xr.Dataset) -> None:
    owners = [("Dataset", ds.attrs)] + [(f"{name!r}", v.attrs) for name, v in ds.variables.items()]
    for owner, attrs in owners:
        for key, value in attrs.items():
            if not _storable(value):
                raise TypeError(
                    f"{owner} attr {key!r} = {value!r} ({type(value).__name__}) cannot be saved: "
                    "attrs must be a str, a number or a list of numbers (store structured values "
                    "as JSON strings and booleans as 0/1)"
                )


def replace_path(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` onto ``path``; a folder (zarr) is swapped in two renames."""
    if path.exists() and (path.is_dir() or tmp.is_dir()):
        old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)


def remove_path(path: Path) -> None:
    """Remove a file or a folder (zarr store); nothing if it is not there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def save(
    ds: xr.Dataset, path: str | os.PathLike, *, engine: str | None = None, validate: bool = True
) -> Path:
    """Write a valid Dataset to a netCDF file or a zarr store, atomically.

    The Dataset is validated (:func:`featx.schema.validate`), written to a hidden temporary
    file or folder beside ``path`` and then moved onto ``path``, so an interrupted save never
    leaves a partial file (an existing ``path`` is replaced only once the new one is complete).

    Parameters
    ----------
    ds
        A featx Dataset. Its attrs (Dataset, variable and coordinate) must be str, numbers or
        lists of numbers, the types netCDF stores; structured values go in as JSON strings.
    path
        Destination. The suffix says what is written: ``.nc``, ``.nc4``, ``.h5`` or ``.hdf5``
        a netCDF-4 file (an HDF5 file), ``.zarr`` a zarr store. Any other suffix (``.parquet``,
        ``.csv``, none) is refused unless ``engine`` is given; for a table, write
        :func:`featx.io.to_tidy`'s DataFrame instead.
    engine
        ``"netcdf4"`` or ``"zarr"`` to choose the format whatever the suffix. zarr needs
        the optional extra: ``pip install featx[scale]``.
    validate
        Check ``ds`` with :func:`featx.schema.validate` first; False only for a Dataset that
        was just validated (the detectors' run store).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    featx.SchemaError
        If ``ds`` is not a valid featx Dataset.
    TypeError
        If an attr is not a str, a number or a list of numbers (e.g. a bool, None or a dict),
        naming the attr.
    ValueError
        If ``engine`` is unknown, or is None and the suffix of ``path`` is not one featx
        writes (see :func:`engine_for`).

    Notes
    -----
    Float variables are written with a NaN ``_FillValue`` so NaN (empty face slots, ``time``
    of still images) comes back as NaN; integer and string variables get no fill value, so
    ``identity == -1`` and empty strings stay as they are. netCDF stores a one-element list
    attr like a scalar, so ``[7]`` comes back as ``7``; tuples come back as lists.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from featx import schema
    >>> ds = schema.from_frames([{}], ["a.jpg"], [0], [np.nan])
    >>> save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc").name
    'run.nc'
    """
    path = Path(path)
    if engine is None:
        engine = engine_for(path)
    validators.choice("engine", engine, ENGINES)
    if engine == "zarr":
        _require_zarr()
    if validate:
        schema.validate(ds)
    _check_attrs(ds)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save {path}: folder {path.parent} does not exist")

    out = ds.drop_encoding()
    encoding = {
        name: {"_FillValue": np.nan if var.dtype.kind == "f" else None}
        for name, var in out.variables.items()
    }
    prefix, suffix = f".{path.name}.", ".tmp"
    if engine == "zarr":
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        tmp = Path(name)
    # mkstemp/mkdtemp make the file 0600 (folder 0700): give it the mode open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~umask)
    try:
        if engine == "zarr":
            out.to_zarr(tmp, mode="w", encoding=encoding, consolidated=False)
        else:
            out.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        replace_path(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise
    return path


#: Bytes of one chunk of a variable in files :class:`FrameWriter` writes (HDF5's chunk cache
#: holds 1 MiB per variable, so a chunk being filled stays in it).
CHUNK_BYTES = 512 * 2**10


class FrameWriter:
    """Write a featx Dataset into one netCDF file or zarr store a block of frames at a time.

    The first block creates the file (``frame`` an unlimited dimension, NaN ``_FillValue`` on
    floats as :func:`save` writes them), each later one is appended along ``frame``; every
    block must have the first one's variables, dtypes and ``face`` size, and holds the frames
    that follow. The file read back equals :func:`save` of the whole Dataset (same variables,
    coordinates, attrs and dtypes); only its chunking differs. Not atomic: write to a
    temporary path and move it into place (:func:`replace_path`).

    Parameters
    ----------
    path
        Where to write (any name; nothing may be there).
    engine
        ``"netcdf4"`` or ``"zarr"``.
    n_frames
        Frames the whole file will hold: chunks along ``frame`` are at most this long.
    """

    def __init__(self, path: str | os.PathLike, engine: str, n_frames: int) -> None:
        self.path = Path(path)
        self.engine = validators.choice("engine", engine, ENGINES)
        if engine == "zarr":
            _require_zarr()
        self.n_frames = max(1, int(n_frames))
        self.written = 0
        self._nc = None

    def _encoding(self, ds: xr.Dataset) -> dict[str, dict]:
        encoding = {}
        for name, var in ds.variables.items():
            enc: dict = {"_FillValue": np.nan if var.dtype.kind == "f" else None}
            if var.dims[:1] == ("frame",):
                per_frame = max(1, int(np.prod(var.shape[1:])) * var.dtype.itemsize)
                frames = min(self.n_frames, max(1, CHUNK_BYTES // per_frame))
                enc["chunks" if self.engine == "zarr" else "chunksizes"] = (
                    frames,
                    *var.shape[1:],
                )
            encoding[name] = enc
        return encoding

    def append(self, ds: xr.Dataset) -> None:
        """Write the next block (a valid featx Dataset: attrs are taken from the first)."""
        _check_attrs(ds)
        out = ds.drop_encoding()
        if self.engine == "zarr":
            if self.written == 0:
                encoding = self._encoding(out)
                out.to_zarr(self.path, mode="w", encoding=encoding, consolidated=False)
            else:
                out.to_zarr(self.path, append_dim="frame", consolidated=False)
        elif self.written == 0:
            encoding = self._encoding(out)
            out.to_netcdf(self.path, engine="netcdf4", encoding=encoding, unlimited_dims=["frame"])
        else:
            self._append_netcdf(out)
        self.written += out.sizes["frame"]

    def _append_netcdf(self, ds: xr.Dataset) -> None:
        import netCDF4

        if self._nc is None:
            self._nc = netCDF4.Dataset(self.path, "a")
            self._nc.set_auto_maskandscale(False)
        start, stop = self.written, self.written + ds.sizes["frame"]
        for name, var in ds.variables.items():
            if var.dims[:1] != ("frame",):
                continue
            target = self._nc.variables[name]
            if target.dimensions != var.dims or target.shape[1:] != var.shape[1:]:
                raise ValueError(
                    f"{self.path}: block variable {name!r} {var.dims} {var.shape[1:]} does not "
                    f"match the file's {target.dimensions} {target.shape[1:]}"
                )
            values = var.values
            if values.dtype.kind not in "fiuO" or (
                values.dtype.kind != "O" and values.dtype != target.dtype
            ):
                raise TypeError(f"{self.path}: cannot append {name!r} of dtype {values.dtype}")
            target[start:stop] = values

    def close(self) -> None:
        """Finish the file (closing the netCDF file appends were written through)."""
        if self._nc is not None:
            self._nc.close()
            self._nc = None


def _plain_attrs(attrs: dict) -> dict:
    """NumPy scalars and arrays read from a file back to Python numbers and lists."""
    return {
        k: v.tolist() if isinstance(v, np.ndarray | np.generic) else v for k, v in attrs.items()
    }


def _as_str_labels(values: np.ndarray) -> np.ndarray:
    """Any string array (fixed-width, bytes, NumPy StringDType) as an object array of str."""
    flat = [v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(values.shape)


def open_dataset(
    path: str | os.PathLike, *, validate: bool = True, lazy: bool | str = False
) -> xr.Dataset:
    """Read a Dataset written by :func:`save` into memory and close the file.

    Parameters
    ----------
    path
        A netCDF file, or a zarr store (a folder, or a ``.zarr`` path).
    validate
        Check the Dataset read (:func:`featx.schema.validate`); False only for files featx
        wrote itself and validates later (the detectors' run store).
    lazy
        True: keep the data variables on disk as dask arrays chunked like the file (needs
        dask: ``pip install featx[scale]``). ``"file"``: without dask, each data variable is
        read from the file when first used (xarray's lazy loading) and then kept. Either way
        only coordinates are read now, the file stays open (``ds.close()`` closes it) and
        ``validate`` is not applied (it would read every value).

    Returns
    -------
    xarray.Dataset
        Fully loaded (unless ``lazy``); string coordinates (``source``, ``au``, ``emotion``
        …) hold Python ``str`` in object arrays, as :func:`featx.schema.from_frames` makes
        them; attrs hold Python numbers, strings and lists.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    featx.SchemaError
        If the file cannot be read as netCDF/zarr or is not a valid featx Dataset (the
        message names the file and the broken rule).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from featx import schema
    >>> ds = schema.from_frames([{}], ["a.jpg"], [0], [np.nan])
    >>> path = save(ds, pathlib.Path(tempfile.mkdtemp()) / "run.nc")
    >>> open_dataset(path)["source"].values.tolist()
    ['a.jpg']
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such featx file: {path}")
    use_zarr = path.is_dir() or path.suffix == ".zarr"
    if use_zarr:
        _require_zarr()
    validators.choice("lazy", lazy, (False, True, "file"))
    decode = {"decode_times": False, "decode_timedelta": False}
    chunks = {} if lazy is True else None
    try:
        if use_zarr:
            opened = xr.open_zarr(path, consolidated=False, chunks=chunks, **decode)
        else:
            opened = xr.open_dataset(path, engine="netcdf4", chunks=chunks, **decode)
    except (OSError, ValueError) as err:
        raise schema.SchemaError(f"{path}: not a netCDF file or zarr store ({err})") from err
    if lazy:
        ds = opened.assign_coords({name: c.load() for name, c in opened.coords.items()})
    else:
        with opened:
            ds = opened.load()
    ds = ds.drop_encoding()
    ds.attrs = _plain_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _plain_attrs(var.attrs)
    ds = ds.assign_coords(
        {
            name: (coord.dims, _as_str_labels(coord.values), coord.attrs)
            for name, coord in ds.coords.items()
            if coord.dtype.kind in "OUST"
        }
    )
    if lazy:
        ds.set_close(opened.close)  # ds.close() (or ``with``) closes the file
    if validate and not lazy:
        try:
            schema.validate(ds)
        except schema.SchemaError as err:
            raise schema.SchemaError(f"{path}: {err}") from err
    return ds
