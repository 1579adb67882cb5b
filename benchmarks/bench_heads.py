"""Benchmark: heads vs. syntax over the whole UD English EWT dev file with the default model.

    python benchmarks/bench_heads.py [--conllu FILE] [--limit N] [--batch-size 16] [--repeats 2]

Prints the relation table, words per second, and the ratio

    bare forward time / full analysis time

"bare forward" is the same module (eager attention, as attnviz loads it) run on the same
length-sorted, padded batches (``plan_batches``, as ``score_heads`` makes them) with no hooks, no copies, no scoring;
the tokenizer's work is not counted in it. The full analysis is ``score_heads``
(tokenising, recording, word merging, scoring). Target: ratio >= 0.85, i.e. the analysis
adds at most 15% over the model itself.

The machine may be shared with other work, so the two are measured alternately
(a whole bare pass, then a whole analysis) ``--repeats`` times in the same process, and
the fastest of each is compared; every round's own ratio is printed too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

import attnviz  # noqa: E402
from attnviz.capture import plan_batches  # noqa: E402
from attnviz.heads import score_heads  # noqa: E402
from attnviz.syntax import read_conllu  # noqa: E402

DEV = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"


def padded_batches(model, sentences, batch_size):
    """The very (input_ids, attention_mask) tensors score_heads runs, in its order."""
    return [(b.ids, b.attention_mask) for b in plan_batches(model, [s.words for s in sentences], None, batch_size)]


def bare_forward(model, batches) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for ids, mask in batches:
            model.module(input_ids=ids, attention_mask=mask)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conllu", default=str(DEV))
    ap.add_argument("--model", default=attnviz.DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if not Path(args.conllu).is_file():
        print(f"error: no CoNLL-U file at {args.conllu}", file=sys.stderr)
        return 2

    t = time.perf_counter()
    sentences = read_conllu(args.conllu, limit=args.limit)
    read_s = time.perf_counter() - t
    model = attnviz.load_model(args.model)
    if model.is_local:
        print("error: the bare-forward comparison needs a Hugging Face model", file=sys.stderr)
        return 2
    n_words = sum(len(s.words) for s in sentences)
    batches = padded_batches(model, sentences, args.batch_size)
    print(f"{len(sentences)} sentences, {n_words} words, {len(batches)} batches of <= {args.batch_size}; "
          f"read in {read_s:.2f} s; torch threads: {torch.get_num_threads()}; load average: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    warm = sentences[:64]  # warm-up of both paths
    bare_forward(model, padded_batches(model, warm, args.batch_size))
    score_heads(model, warm, batch_size=args.batch_size)

    bare_times, full_times = [], []
    for r in range(args.repeats):
        bare_times.append(bare_forward(model, batches))
        t = time.perf_counter()
        scores = score_heads(model, sentences, batch_size=args.batch_size)
        full_times.append(time.perf_counter() - t)
        print(f"round {r + 1}: bare forward {bare_times[-1]:.2f} s, full analysis {full_times[-1]:.2f} s, "
              f"ratio {bare_times[-1] / full_times[-1]:.3f}; load average {os.getloadavg()[0]:.2f}", flush=True)

    print()
    print(f"model: {scores.model_name} ({scores.n_layers} layers x {scores.n_heads} heads)")
    print(f"arcs scored: {scores.n_arcs} ({scores.n_skipped_arcs} skipped)")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(scores.table().to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print()
    bare, full = min(bare_times), min(full_times)
    print(f"full analysis (fastest of {args.repeats}): {full:.2f} s = {n_words / full:.0f} words/s, "
          f"{len(sentences) / full:.0f} sentences/s")
    print(f"bare batched forward (fastest of {args.repeats}): {bare:.2f} s")
    print(f"ratio bare / full: {bare / full:.3f}  (target >= 0.85)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
