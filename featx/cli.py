"""The featx command line: featx detect, featx models, featx demo.

Examples
--------
$ featx detect photo.jpg clip.mp4 -o out.nc   # MPDetector: bundled models, no download
$ featx detect clip.mp4 -o out.csv --csv-layout fex   # a Py-Feat Fex table
$ featx detect videos/ --out study/ --workers 4 --metadata participants.csv   # a study on Dask
$ featx models            # the model table with licences; non-commercial ones marked
$ featx models --lock featx.lock retinaface mobilefacenet   # pin revisions and hashes
$ featx demo              # runs with no download

``featx detect`` checks its inputs and output before loading any model, writes each batch
as it finishes (an interrupted run resumes when the same command is run again), refuses to
replace an existing output unless given ``--overwrite``, and reports an error in one line
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

EPILOG = """\
examples:
  featx detect photo.jpg clip.mp4 -o out.nc      MPDetector: bundled models, no download
  featx detect clip.mp4 -o out.csv --csv-layout fex
                                                 a Py-Feat Fex table instead of netCDF
  featx detect videos/ --out study/ --workers 4 --metadata participants.csv
                                                 a study: one zarr store per video on Dask
  featx --version --verbose                      versions of featx, its libraries, devices
  featx models                                   the models, licences and hub repos
  featx models --lock featx.lock MODEL ...       pin each model's revision and sha256
  featx demo                                     runs with no download

Environment: FEATX_MODEL_DIR (a folder of weight files), FEATX_LOCK (a lock file every
model load obeys), HF_HOME and HF_HUB_OFFLINE=1 (the Hugging Face cache, cache only).
"""


class CLIError(Exception):
    """A problem with the command line (input, output): printed as one line, exit status 2."""


def _models(args: argparse.Namespace) -> int:
    from featx import hub

    if args.lock is not None:
        return _lock(args)
    if args.model:
        raise CLIError("model ids are given with --lock FILE (to lock those models)")
    table = hub.list_models(task=args.task)
    table["repo"] = table["repo"].fillna("(bundled with featx)")
    table["license"] = [
        f"NON-COMMERCIAL: {lic}" if nc else lic
        for lic, nc in zip(table["license"], table["non_commercial"], strict=True)
    ]
    rows = [["id", "task", "name", "repo", "license"]]
    rows += table[rows[0]].astype(str).values.tolist()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[-1])
    n_nc = int(table["non_commercial"].sum())
    print(f"\n{len(table)} models; {n_nc} marked NON-COMMERCIAL may not be used commercially.")
    return 0


def _lock(args: argparse.Namespace) -> int:
    """``featx models --lock FILE [MODEL ...]``: pin the named (default: every loadable) model."""
    from featx import hub

    lock = Path(args.lock)
    if lock.exists() and not args.overwrite:
        raise CLIError(f"{lock} exists; pass --overwrite to replace it")
    _check_folder(lock)
    if args.model:
        cards = [hub.card(m) for m in args.model]
    else:  # every loadable model whose files are here (or can be downloaded)
        ids = set(hub.list_models(task=args.task)["id"])
        cards = []
        for c in hub.CARDS.values():
            if c.loader is None or c.id not in ids:
                continue
            try:
                c.fetch(lock=False)
            except hub.ModelNotFoundError:
                print(f"not locked: {c.id} (its files are not found)", file=sys.stderr)
                continue
            cards.append(c)
    data = hub.write_lock(lock, cards)
    for model_id, entry in data["models"].items():
        print(f"{model_id}: {entry['repo'] or '(bundled)'} @ {entry['revision']}")
    print(f"wrote {lock}: {len(data['models'])} models locked")
    return 0


#: ``--detector`` choices: module and class, imported when chosen.
DETECTORS = {
    "mp": ("featx.detectors.mp", "MPDetector"),
    "v1": ("featx.detectors.v1", "Detector"),
    "v2": ("featx.detectors.v2", "Detectorv2"),
}
CSV_LAYOUTS = ("tidy", "fex")


def _check_folder(path: Path) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise CLIError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write {path}: folder {folder} is not writable")


def _check_suffix(command: str, output: Path, csv: bool) -> None:
    """Raise :class:`CLIError` when ``featx command`` does not write ``output``'s suffix."""
    from featx.io.store import SUFFIXES

    suffix = output.suffix.lower()
    if suffix in SUFFIXES or (csv and suffix == ".csv"):
        return
    netcdf = ", ".join(k for k, v in SUFFIXES.items() if v == "netcdf4")
    table = ", or a CSV table (.csv; --csv-layout tidy|fex)" if csv else ""
    raise CLIError(
        f"cannot save {str(output)!r}: featx {command} writes netCDF-4 ({netcdf}) or zarr "
        f"(.zarr){table}, chosen by the suffix"
    )


def _store(output: Path) -> Path:
    """Where the run itself is written: ``output``, or beside a .csv output."""
    return output.with_name(output.name + ".run.nc") if _is_csv(output) else output


def _is_csv(output: Path) -> bool:
    return output.suffix.lower() == ".csv"


def _parts(store: Path) -> Path:
    """The folder of finished batches of a run written to ``store``."""
    from featx.detectors.runstore import RunStore

    return RunStore(store).parts_dir


def _run_record(args: argparse.Namespace) -> dict:
    """What makes a partial run resumable by this command: same detector, media and frames."""
    return {
        "detector": args.detector,
        "paths": list(args.paths),
        "resolved": [str(Path(p).resolve()) for p in args.paths],
        "skip_frames": args.skip_frames,
    }


def _plan(args: argparse.Namespace) -> bool:
    """Check the output before any work; True when a partial run is there to resume."""
    output = Path(args.output)
    _check_suffix("detect", output, csv=True)
    if args.csv_layout is not None and not _is_csv(output):
        raise CLIError(f"--csv-layout is for a .csv output, not {output}")
    _check_folder(output)
    store = _store(output)
    record = _parts(store) / "cli-run.json"
    if args.overwrite:
        return False
    if record.is_file() and not output.exists():
        if json.loads(record.read_text()) != _run_record(args):
            raise CLIError(
                f"{_parts(store)} holds a partial run of another command "
                f"({record.read_text().strip()}); run that command again to resume it, or "
                "pass --overwrite to start over"
            )
        return True
    for existing in (output, store, _parts(store)):
        if existing.exists():
            raise CLIError(f"{existing} exists; pass --overwrite to replace it")
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _write_csv(ds, output: Path, layout: str) -> None:
    """Write the tidy or Fex table of ``ds`` to ``output`` (complete, or not at all)."""
    from featx import io

    table = io.to_fex(ds) if layout == "fex" else io.to_tidy(ds)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        table.to_csv(tmp, index=False)
        os.replace(tmp, output)
    finally:
        _remove(tmp)


def _detector(args: argparse.Namespace):
    import importlib

    module, name = DETECTORS[args.detector]
    lock = {} if args.lock is None else {"lock": args.lock}
    return getattr(importlib.import_module(module), name)(**lock)


def _study(args: argparse.Namespace) -> int:
    """``featx detect VIDEOS --out STUDY``: :func:`featx.study.detect_many` on Dask."""
    from featx import study

    if args.csv_layout is not None or args.overwrite:
        raise CLIError("--csv-layout and --overwrite are for -o; a study folder resumes")
    if args.workers is not None and args.scheduler is not None:
        raise CLIError("give --workers (a local cluster) or --scheduler (a running one), not both")
    out = Path(args.out)
    _check_folder(out)  # its parent must exist; detect_many makes the folder
    sources = args.paths if len(args.paths) > 1 else args.paths[0]
    client = None
    if args.scheduler is not None:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        manifest = study.detect_many(
            sources,
            _detector(args),
            out,
            metadata=args.metadata,
            client=client,
            workers=args.workers,
            progress=not args.no_progress,
            batch_size=args.batch_size,
            skip_frames=args.skip_frames,
        )
    finally:
        if client is not None:
            client.close()
    counts = manifest["status"].value_counts().to_dict()
    print(f"wrote {out}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 0 if set(counts) <= {"done"} else 1


def _detect(args: argparse.Namespace) -> int:
    from featx import media

    if (args.output is None) == (args.out is None):
        raise CLIError("give -o/--output (one Dataset) or --out (a study folder), not both")
    if args.out is not None:
        return _study(args)
    if args.workers is not None or args.scheduler is not None or args.metadata is not None:
        raise CLIError("--workers, --scheduler and --metadata are for a study (--out FOLDER)")
    resume = _plan(args)
    try:  # a missing or unreadable input is reported before any model loads
        media.probe(args.paths)
    except media.MediaError as err:
        raise CLIError(str(err)) from err
    detector = _detector(args)
    output = Path(args.output)
    store = _store(output)
    if not resume:
        for old in (store, _parts(store)):
            _remove(old)
        _parts(store).mkdir()
        (_parts(store) / "cli-run.json").write_text(json.dumps(_run_record(args)))
    else:
        print(f"resuming the partial run in {_parts(store)}", file=sys.stderr)
    ds = detector.detect(
        args.paths,
        batch_size=args.batch_size,
        skip_frames=args.skip_frames,
        output=store,
        progress=not args.no_progress,
    )
    if _is_csv(output):
        _write_csv(ds, output, args.csv_layout or "tidy")
        _remove(store)
    found = int(ds["face_rect"].notnull().all("rect").any("face").sum()) if "face_rect" in ds else 0
    print(f"wrote {output}: {ds.sizes['frame']} frames, a face in {found}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from featx.demo import run_demo

    output = Path(args.output)
    _check_suffix("demo", output, csv=False)
    _check_folder(output)
    run_demo(output, progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for the ``featx`` command.

    Examples
    --------
    >>> args = build_parser().parse_args(["models", "--task", "au"])
    >>> args.command, args.task
    ('models', 'au')
    """

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kwargs)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="on an error, show the full traceback")  # fmt: skip
        return sub

    parser = argparse.ArgumentParser(
        prog="featx",
        description="Facial expression analysis of images and videos into xarray Datasets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="with --version: also the libraries, devices and model cache",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, show the traceback")
    commands = parser.add_subparsers(dest="command")
    models = command("models", help="list the models, their licences and hub repos; --lock "
                     "pins their revisions and hashes",
                     description="List the models, or with --lock FILE write a lock file of "
                     "each model's repo, revision and the sha256 of every file (every model "
                     "featx can load, or the MODEL ids given). Load with it through "
                     "FEATX_LOCK=FILE or lock=FILE on a detector.")  # fmt: skip
    models.add_argument("model", nargs="*", help="model ids to lock (with --lock)")
    models.add_argument("--task", help="only models for this task (face, landmark, au, ...)")
    models.add_argument("--lock", metavar="FILE", help="write a lock file instead of listing")
    models.add_argument("--overwrite", action="store_true", help="replace an existing lock")
    models.set_defaults(run=_models)
    detect = command("detect", help="analyse images and videos into one Dataset",
                     description="Analyse images and videos into one Dataset. Inputs and "
                     "output are checked before any model loads; each batch is written as it "
                     "finishes, and running the same command again resumes an interrupted "
                     "run.")  # fmt: skip
    detect.add_argument("paths", nargs="+", help="images, videos or folders")
    detect.add_argument("-o", "--output",
                        help="netCDF-4 (.nc, .nc4, .h5, .hdf5), zarr (.zarr) or a CSV table "
                        "(.csv, see --csv-layout)")  # fmt: skip
    detect.add_argument("--out", metavar="FOLDER",
                        help="a study folder instead: one zarr store per video and a "
                        "manifest, run on Dask (needs featx[scale]); rerun to resume")  # fmt: skip
    detect.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --out: local worker processes (default: one per core)",
    )
    detect.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --out: a running Dask scheduler, e.g. tcp://host:8786",
    )
    detect.add_argument("--metadata", metavar="CSV", default=None,
                        help="with --out: a table with a source column (path or file stem) "
                        "and subject, session, condition, ... columns")  # fmt: skip
    detect.add_argument("--csv-layout", choices=CSV_LAYOUTS, default=None,
                        help="for a .csv output: tidy (one row per frame, face and measure; "
                        "the default) or fex (Py-Feat's Fex table, one row per face)")  # fmt: skip
    detect.add_argument("--overwrite", action="store_true",
                        help="replace an existing output (default: refuse)")  # fmt: skip
    detect.add_argument("--detector", choices=sorted(DETECTORS), default="mp",
                        help="mp: MPDetector (bundled, no download; the default); "
                        "v1: Detector; v2: Detectorv2")  # fmt: skip
    detect.add_argument("--lock", metavar="FILE",
                        help="load exactly the weights of this lock file "
                        "(default: FEATX_LOCK)")  # fmt: skip
    detect.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="frames per batch (default: the detector's, 32 for mp, 1 otherwise)",
    )
    detect.add_argument("--skip-frames", type=int, default=1, help="keep every n-th video frame")
    detect.add_argument("--no-progress", action="store_true", help="no progress bar")
    detect.set_defaults(run=_detect)
    demo = command("demo", help="run the offline detector on sample faces")
    demo.add_argument("--output", default="demo.nc",
                      help="where to write the demo Dataset (default demo.nc); the figure and "
                      "the sample media go beside it")  # fmt: skip
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)
    return parser


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return (
        text
        if isinstance(err, CLIError | OSError | ValueError)
        else f"{type(err).__name__}: {text}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``featx`` command: 0 done, 1 failed, 2 bad usage, 130 interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from featx._version import __version__, show_versions

        show_versions() if args.verbose else print(f"featx {__version__}")
        return 0
    if args.command is None:
        parser.error("a command is required (models, detect or demo)")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        again = "; run the same command again to resume" if args.command == "detect" else ""
        print(f"featx {args.command}: interrupted{again}", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"featx {args.command}: {_one_line(err)}", file=sys.stderr)
        if isinstance(err, CLIError):
            return 2
        print("(run again with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
