"""Capture with the logit terms (``qk=True``) vs. without, the default model at 128 and 512 tokens.

    python benchmarks/bench_qk.py [--repeats 15]

Both are ``attnviz.capture`` on MiniLM as attnviz loads it (eager attention, hooks on every layer, every
tensor checked, value norms recorded); ``qk=True`` also records each head's queries and keys and the
other terms of its logits (``attnviz.logits``: the model runs on attnviz's attention-interface function,
which calls BERT's own eager attention). Each measurement is one capture without, then one with, the same
text; the figure is the median of ``--repeats`` (after 2 warm-up rounds, which also pay the one-time check
of the terms), printed as with / without (compare the ratio, not the seconds: machines here are shared).
"median of pairs" is the median of each measurement's own ratio. The last column is what the terms hold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from bench_capture import text_of  # the same texts (this folder is on the path of a script run)

import attnviz

SIZES = (128, 512)


def measure(model, text: str) -> tuple[float, float, int]:
    """Seconds of one capture without the terms and one with them, and the bytes the terms hold."""
    t0 = time.perf_counter()
    plain = attnviz.capture(model, text)
    t1 = time.perf_counter()
    run = attnviz.capture(model, text, qk=True)
    t2 = time.perf_counter()
    assert plain.qk is None and run.qk["self"].queries.shape[-2] == run.n_tokens
    return t1 - t0, t2 - t1, run.qk["self"].nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    texts = {n: text_of(model, n) for n in SIZES}
    times = {n: ([], []) for n in SIZES}
    held = {}
    for n in SIZES:
        for i in range(args.repeats + 2):  # 2 warm-up rounds, then without and with in turns
            plain_s, qk_s, held[n] = measure(model, texts[n])
            if i >= 2:
                times[n][0].append(plain_s)
                times[n][1].append(qk_s)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print(f"\n{model.name} (torch threads: {torch.get_num_threads()}; median of {args.repeats})")
    print("| tokens | capture ms | capture qk=True ms | with / without | median of pairs | terms held |")
    print("|-------:|-----------:|-------------------:|---------------:|----------------:|-----------:|")
    for n in SIZES:
        plain, qk = statistics.median(times[n][0]), statistics.median(times[n][1])
        pairs = statistics.median(q / p for p, q in zip(*times[n]))
        print(f"| {n:6d} | {plain * 1e3:10.1f} | {qk * 1e3:18.1f} | {qk / plain:14.2f} | {pairs:15.2f} | "
              f"{held[n] / 2 ** 20:7.2f} MB |")


if __name__ == "__main__":
    main()
