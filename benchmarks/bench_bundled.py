"""Latency of the bundled (offline) models' torch graphs on CPU, per batch size.

Every bundled card with a builder is loaded with its shipped weights and run on its conformance
input (``tests/conformance/<id>/ref.npz``: ``input``, or ``case1_input``), tiled to each batch
size. Reports the median and the fastest wall time of a forward pass (the fastest is the better
estimate on a machine shared with other work) and the median time per item.

Usage: .venv/bin/python benchmarks/bench_bundled.py [model_id ...] [--batch 1 64] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from featx import hub

CONF = Path(__file__).resolve().parents[1] / "tests" / "conformance"


def sample_input(model_id: str) -> torch.Tensor:
    """One item of the model's conformance input, with a leading batch axis of 1."""
    ref = np.load(CONF / model_id / "ref.npz")
    x = ref["input"] if "input" in ref.files else ref["case1_input"]
    return torch.from_numpy(np.ascontiguousarray(x[:1]))


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` runs of ``model(x)`` after two warm-up runs."""
    times = []
    with torch.inference_mode():
        for i in range(repeat + 2):
            t0 = time.perf_counter()
            model(x)
            if i >= 2:
                times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="card ids (default: every bundled model)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # denormals make the CPU graphs several times slower
    cards = [c for c in hub.MODELS.values() if c.bundled and c.builder is not None]
    if args.models:
        cards = [hub.card(m) for m in args.models]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<16} {'batch':>5} {'median ms':>10} {'min ms':>8} {'ms/item':>9}")
    for c in cards:
        model = c.load()
        one = sample_input(c.id)
        for batch in args.batch:
            x = one.expand(batch, *one.shape[1:]).contiguous()
            times = time_forward(model, x, args.repeat)
            med, best = statistics.median(times) * 1e3, min(times) * 1e3
            print(f"{c.id:<16} {batch:>5} {med:>10.2f} {best:>8.2f} {med / batch:>9.3f}")


if __name__ == "__main__":
    main()
