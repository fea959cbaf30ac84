"""How long ``import featx`` takes: ``python -X importtime`` totals, best and median of fresh runs.

Each run is a new interpreter (``python -X importtime -c "import featx"``); the figure is the
cumulative time of the top-level ``featx`` entry, so interpreter start-up is not in it. It also
lists the slowest imports below it and says whether torch or the model hub came along (they
must not: tests/test_packaging.py checks that part). The goal is under 1 s. On a shared machine
the wall time grows with the load; the CPU time (user + system of a whole ``python -c "import
featx"`` process, interpreter start-up included) grows less, so both are printed, with the CPU
time of ``import xarray`` alone (most of featx's import) for scale.

Usage: .venv/bin/python benchmarks/bench_import.py [--repeat 7] [--module featx [featx.plot ...]]
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys

LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")
WATCH = ("torch", "featx.hub", "featx.media")


def import_times(module: str) -> tuple[float, dict[str, float], list[str]]:
    """One fresh ``-X importtime`` run: seconds, cumulative seconds per module, watched imported.

    The seconds are the cumulative time of the top-level (not nested) entry named ``module``: it
    includes everything imported under it (for ``featx.plot``, the ``featx`` package too).
    """
    watch = tuple(m for m in WATCH if m != module)
    code = f"import sys, {module}; print(*[m for m in {watch!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    cumulative, total = {}, 0.0
    for line in out.stderr.splitlines():
        m = LINE.match(line)
        if m:
            seconds, nested, name = int(m.group(2)) / 1e6, m.group(3) != " ", m.group(4)
            cumulative[name] = seconds
            if not nested and name == module:
                total = seconds
    return total, cumulative, out.stdout.split()


def cpu_seconds(module: str) -> float:
    """User + system CPU seconds of one ``python -c "import <module>"`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--module", nargs="+", default=["featx"])
    args = parser.parse_args()
    for module in args.module:
        runs = [import_times(module) for _ in range(args.repeat)]
        totals = sorted(r[0] for r in runs)
        best = min(runs, key=lambda r: r[0])
        print(
            f"import {module}: best {totals[0]:.3f} s, median {statistics.median(totals):.3f} s "
            f"over {args.repeat} fresh interpreters (goal < 1 s); "
            f"also imported: {', '.join(best[2]) or 'none of ' + ', '.join(WATCH)}"
        )
        cpu = sorted(cpu_seconds(module) for _ in range(args.repeat))
        ref = sorted(cpu_seconds("xarray") for _ in range(args.repeat))
        print(
            f"  CPU of the process: best {cpu[0]:.3f} s, median {statistics.median(cpu):.3f} s "
            f"(import xarray alone, for scale: best {ref[0]:.3f} s)"
        )
        slowest = sorted(best[1].items(), key=lambda kv: -kv[1])[1:9]
        print("  slowest below it (cumulative): " + ", ".join(f"{k} {v:.3f} s" for k, v in slowest))


if __name__ == "__main__":
    main()
