"""Benchmark: heads vs. syntax over the whole UD English EWT dev file with the default model.

    python benchmarks/bench_scoring.py [--conllu FILE] [--limit N] [--batch-size 32] [--repeats 3] [--chunks 8]

Prints the relation table, words per second, and the ratio

    bare forward time / full analysis time

"bare forward" is the same module (eager attention, as attnviz loads it) run on the very
length-sorted, padded batches ``score_heads`` runs (``corpus_batches``), with no hooks, no
copies and no scoring; tokenising is not counted in it. The full analysis is
``score_heads`` itself (tokenising, recording, word merging, scoring, counting).
Target: ratio >= 0.85, i.e. the analysis adds at most 15% over the model itself.

The machine may be shared with other work, whose load comes and goes within seconds.
So the corpus is cut into ``--chunks`` runs of whole batches (the same batches as one
whole run), and for every chunk the bare forward and ``score_heads`` are timed
alternately (in both orders) ``--repeats`` times; the fastest time of each chunk is
kept and the chunks are summed. A whole-corpus ``score_heads`` run gives the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import pandas as pd
import torch

import attnviz
from attnviz.conllu_io import read_conllu
from attnviz.scoring import corpus_batches, score_heads

ROOT = Path(__file__).resolve().parents[1]

DEV = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"


def bare_forward(model, batches) -> float:
    """Seconds for the module's forward over (input_ids, attention_mask) batches, nothing else."""
    start = time.perf_counter()
    with torch.inference_mode():
        for ids, mask in batches:
            model.module(input_ids=ids, attention_mask=mask)
    return time.perf_counter() - start


def full_analysis(model, sentences, batch_size) -> tuple[float, object]:
    start = time.perf_counter()
    scores = score_heads(model, sentences, batch_size=batch_size)
    return time.perf_counter() - start, scores


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conllu", default=str(DEV))
    ap.add_argument("--model", default=attnviz.DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=8)
    return ap.parse_args()


def cut_into_chunks(model, sentences, plans, n_chunks: int, batch_size: int) -> list[tuple[list, list]]:
    """(sentences, (ids, mask) batches) per chunk of whole batches, in score_heads' own order: re-planned,
    a chunk gives the same batches (checked)."""
    per = -(-len(plans) // n_chunks)
    chunks = []
    for k in range(0, len(plans), per):
        part = plans[k : k + per]
        chunks.append(([sentences[i] for b in part for i in b.indexes], [(b.ids, b.attention_mask) for b in part]))
    for chunk_sentences, chunk_batches in chunks:
        again = corpus_batches(model, chunk_sentences, batch_size)
        assert [b.ids.shape for b in again] == [ids.shape for ids, _ in chunk_batches], "a chunk gave other batches"
    return chunks


def time_chunks(model, chunks, repeats: int, batch_size: int) -> tuple[list[list[float]], list[list[float]]]:
    """Seconds of the bare forward and of score_heads per chunk and round, the two taken in turns (both orders)."""
    bare_forward(model, chunks[0][1][:4])  # warm-up of both paths
    score_heads(model, chunks[0][0][:64], batch_size=batch_size)
    bare = [[] for _ in chunks]
    full = [[] for _ in chunks]
    for r in range(repeats):
        for c, (chunk_sentences, chunk_batches) in enumerate(chunks):
            if (r + c) % 2 == 0:
                bare[c].append(bare_forward(model, chunk_batches))
                full[c].append(full_analysis(model, chunk_sentences, batch_size)[0])
            else:
                full[c].append(full_analysis(model, chunk_sentences, batch_size)[0])
                bare[c].append(bare_forward(model, chunk_batches))
        print(f"round {r + 1}: bare forward {sum(b[-1] for b in bare):.2f} s, full analysis "
              f"{sum(f[-1] for f in full):.2f} s; load average {load()}", flush=True)
    return bare, full


def report(scores, whole_s: float, bare, full, n_words: int, n_sentences: int, repeats: int) -> None:
    """The relation table, then the whole-corpus speed and the bare / full ratio (fastest per chunk, summed)."""
    print()
    print(f"model: {scores.model_name} ({scores.n_layers} layers x {scores.n_heads} heads)")
    print(f"arcs scored: {scores.n_arcs} ({scores.n_skipped_arcs} skipped)")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(scores.table().to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print()
    bare_s, full_s = sum(map(min, bare)), sum(map(min, full))
    print(f"whole-corpus score_heads run: {whole_s:.2f} s = {n_words / whole_s:.0f} words/s (load average {load()})")
    print(f"fastest per chunk, summed over {len(bare)} chunks, {repeats} repeats each:")
    print(f"  bare batched forward: {bare_s:.2f} s")
    print(f"  full analysis:        {full_s:.2f} s = {n_words / full_s:.0f} words/s, {n_sentences / full_s:.0f} sentences/s")
    print(f"  ratio bare / full:    {bare_s / full_s:.3f}  (target >= 0.85)")
    ratios = [min(b) / min(f) for b, f in zip(bare, full)]
    print(f"  per chunk:            {', '.join(f'{x:.3f}' for x in ratios)}")


def main() -> int:
    args = arguments()
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
    plans = corpus_batches(model, sentences, args.batch_size)
    print(f"{len(sentences)} sentences, {n_words} words, {len(plans)} batches of <= {args.batch_size}; "
          f"read in {read_s:.2f} s; torch threads: {torch.get_num_threads()}; load average: {load()}", flush=True)
    chunks = cut_into_chunks(model, sentences, plans, args.chunks, args.batch_size)
    bare, full = time_chunks(model, chunks, args.repeats, args.batch_size)
    whole_s, scores = full_analysis(model, sentences, args.batch_size)
    report(scores, whole_s, bare, full, n_words, len(sentences), args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
