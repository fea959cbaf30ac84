"""The ``featx`` command line: ``featx models``, ``featx demo``, ``featx --version``.

Examples
--------
$ featx models            # the model table with licences; non-commercial ones marked
$ featx demo              # runs with no download
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


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


def _demo(args: argparse.Namespace) -> int:
    """Self-check until the offline detector lands: schema, netCDF round trip, model registry."""
    import numpy as np

    from featx import hub, io, schema

    frames = [
        {
            "face_rect": np.array([[40.0, 30.0, 80.0, 100.0]]),
            "face_score": np.array([0.98]),
            "head_pose": np.array([[5.0, -2.0, 12.0]]),
        },
        {"face_rect": np.zeros((0, 4)), "face_score": np.zeros(0), "head_pose": np.zeros((0, 3))},
    ]
    ds = schema.from_frames(frames, ["synthetic.mp4"] * 2, [0, 1], [0.0, 1 / 30])
    schema.validate(ds)
    out = Path(args.output) if args.output else Path(tempfile.mkdtemp()) / "selfcheck.nc"
    io.save(ds, out)
    back = io.open_dataset(out)
    schema.validate(back)
    print(f"schema: built, validated and round-tripped {back.sizes['frame']} frames via {out}")
    print(back.feat)
    table = hub.list_models()
    built = [c.id for c in hub.MODELS.values() if c.builder is not None]
    print(f"hub: {len(table)} models registered; implemented in featx so far: {', '.join(built)}")
    print("The offline MPDetector demo arrives with the 'MPDetector and featx demo' issue.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for the ``featx`` command."""
    from featx import __version__

    parser = argparse.ArgumentParser(prog="featx", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"featx {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models", help="list the models, their licences and hub repos")
    models.add_argument("--task", help="only models for this task (face, landmark, au, ...)")
    models.set_defaults(run=_models)
    demo = commands.add_parser("demo", help="run the demo; needs no download")
    demo.add_argument("--output", help="where to write the demo Dataset (netCDF)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``featx`` command."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
