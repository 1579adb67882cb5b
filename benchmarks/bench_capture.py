"""Capture time vs. a bare forward pass of the same model, at 16, 128 and 512 tokens.

    python benchmarks/bench_capture.py [--repeats 15]

"bare" is the model as transformers loads it by default (SDPA attention, no hooks, no
weights returned); "capture" is ``attnviz.capture`` on the model as attnviz loads it
(eager attention, hooks on every layer, tokenisation and the Run assembled). Both are
measured interleaved in one run, median of the repeats, and printed as a ratio
(machines here are noisy: compare the ratio, not the seconds). Target: <= 1.3x at 128.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import AutoModel

import attnviz
from attnviz.models import default_model_path

WORDS = "heavy snow makes driving more difficult for everyone in the northern mountain towns".split()


def text_of(model: attnviz.LoadedModel, n_tokens: int) -> str:
    words = (WORDS * 100)[: n_tokens - 2]
    text = " ".join(words)
    assert len(model.tokenizer(text)["input_ids"]) == n_tokens, "every benchmark word is one token"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    bare = AutoModel.from_pretrained(default_model_path()).eval()
    print(f"model: {attnviz.DEFAULT_MODEL}; bare attention: {bare.config._attn_implementation}; "
          f"capture attention: {model.module.config._attn_implementation}; torch threads: {torch.get_num_threads()}")
    print(f"{'tokens':>6} {'bare ms':>9} {'capture ms':>11} {'ratio':>6}")
    for n in (16, 128, 512):
        text = text_of(model, n)
        enc = model.tokenizer(text, return_tensors="pt")
        bare_times, capture_times = [], []
        for i in range(args.repeats + 2):  # 2 warm-up rounds, then interleaved measurements
            t0 = time.perf_counter()
            with torch.inference_mode():
                bare(**enc)
            t1 = time.perf_counter()
            run = attnviz.capture(model, text)
            t2 = time.perf_counter()
            if i >= 2:
                bare_times.append(t1 - t0)
                capture_times.append(t2 - t1)
        assert run.n_tokens == n
        b, c = statistics.median(bare_times), statistics.median(capture_times)
        print(f"{n:>6} {b * 1e3:>9.1f} {c * 1e3:>11.1f} {c / b:>6.2f}")


if __name__ == "__main__":
    main()
