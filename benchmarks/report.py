"""What the benchmarks share: Markdown tables and interleaved timing.

The benchmarks run as scripts (``python benchmarks/bench_measures.py``), so Python finds this module
in their own folder: ``from report import markdown_table``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    """The lines of a Markdown table: floats to 3 decimals, anything else as ``str`` gives it."""
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |" for row in rows)]


def interleaved_times(steps: Sequence[tuple[str, Callable[[], object], str]], repeats: int) -> dict[str, tuple[float, float]]:
    """(fastest, median) seconds of each step (name, function, what it runs on): ``repeats`` rounds, each timing
    every step once, after one warm-up round. Interleaving keeps a slow spell of the shared machine from landing
    on one step only; the fastest round is the figure least disturbed by other work (as ``timeit`` advises)."""
    for _, fn, _ in steps:
        fn()
    times: dict[str, list[float]] = {name: [] for name, _, _ in steps}
    for _ in range(repeats):
        for name, fn, _ in steps:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: (min(ts), statistics.median(ts)) for name, ts in times.items()}
