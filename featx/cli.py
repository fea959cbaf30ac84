"""The ``featx`` command line: ``featx detect``, ``featx models``, ``featx demo``.

Examples
--------
$ featx detect photo.jpg clip.mp4 -o out.nc   # MPDetector: bundled models, no download
$ featx models            # the model table with licences; non-commercial ones marked
$ featx demo              # runs with no download
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _models(args: argparse.Namespace) -> int:
    from featx import hub

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


#: ``--detector`` choices: module and class, imported when chosen.
DETECTORS = {
    "mp": ("featx.detectors.mp", "MPDetector"),
    "v1": ("featx.detectors.v1", "Detector"),
    "v2": ("featx.detectors.v2", "Detectorv2"),
}


def _bad_output(command: str, output: str) -> bool:
    """Print why ``output`` cannot be written (before any work is done); True if so."""
    from featx.io.store import engine_for

    try:
        engine_for(output)
    except ValueError as err:
        print(f"featx {command}: {err}", file=sys.stderr)
        return True
    return False


def _detect(args: argparse.Namespace) -> int:
    import importlib

    from featx import io

    if _bad_output("detect", args.output):
        return 2
    module, name = DETECTORS[args.detector]
    detector = getattr(importlib.import_module(module), name)()
    ds = detector.detect(
        args.paths,
        batch_size=args.batch_size,
        skip_frames=args.skip_frames,
        progress=not args.no_progress,
    )
    io.save(ds, args.output)
    found = int(ds["face_rect"].notnull().all("rect").any("face").sum()) if "face_rect" in ds else 0
    print(f"wrote {args.output}: {ds.sizes['frame']} frames, a face in {found}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from featx.demo import run_demo

    if _bad_output("demo", args.output):
        return 2
    run_demo(args.output, progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for the ``featx`` command."""
    from featx._version import __version__

    parser = argparse.ArgumentParser(prog="featx", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"featx {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list the models, their licences and hub repos")
    models.add_argument("--task", help="only models for this task (face, landmark, au, ...)")
    models.set_defaults(run=_models)
    detect = commands.add_parser("detect", help="analyse images and videos into one Dataset")
    detect.add_argument("paths", nargs="+", help="images, videos or folders")
    detect.add_argument(
        "-o",
        "--output",
        required=True,
        help="netCDF-4 (.nc, .nc4, .h5, .hdf5) or zarr (.zarr) file",
    )
    detect.add_argument("--detector", choices=sorted(DETECTORS), default="mp",
                        help="mp: MPDetector (bundled, no download; the default); "
                        "v1: Detector; v2: Detectorv2")  # fmt: skip
    detect.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="frames per batch (default: the detector's, 32 for mp, 1 otherwise)",
    )
    detect.add_argument("--skip-frames", type=int, default=1, help="keep every n-th video frame")
    detect.add_argument("--no-progress", action="store_true", help="no progress bar")
    detect.set_defaults(run=_detect)
    demo = commands.add_parser("demo", help="run the offline detector on sample faces")
    demo.add_argument("--output", default="demo.nc",
                      help="where to write the demo Dataset (default demo.nc); the figure and "
                      "the sample media go beside it")  # fmt: skip
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``featx`` command."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
