"""Benchmark: which heads of the trained local model track the toy grammar's dependencies.

    python benchmarks/bench_trained_heads.py [--sentences 1000] [--seed SEED] [--markdown]

On held-out generated sentences (the grammar's test split, never trained on; by default
the same 1000 as the checkpoint's training figures), prints:

1. the masked-word accuracy on the agreement items (each verb / number-marked determiner
   masked in turn; the right form must score above its other-number form);
2. ``attnviz.scoring.score_heads`` tables (Clark et al. 2019: a head's prediction for a word
   is the other word it attends to most; both directions, the better one reported) for
     * the trained checkpoint,
     * the same architecture and tokenizer with random weights: the initialisation training
       starts from (seed 0, i.e. the trained model before training), and the Transformer's
       default initialisation (seed 0, as ``attnviz.local_model`` draws it),
   each with "margin" = best head accuracy - best fixed-offset baseline accuracy;
3. nsubj split by what the verb must look past (``grammar.nsubj_kind``), for the best
   nsubj head overall and for each kind's own best head;
4. the issue's claims, checked: agreement >= 95%, nsubj head->dependent >= 80%, det >= 90%,
   random weights: no head more than 10 points above the baseline for nsubj and det; and a
   note for any other relation where a random head is more than 10 points above its
   baseline (this happens for acl:relcl, whose best fixed offset, 2.7%, is below chance).

The "chance" column: the accuracy of a head that attends to a random other word of the
sentence (mean of 1 / (words - 1) over the relation's arcs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import pandas as pd
from report import markdown_table

from attnviz.head_scores import DIRECTIONS
from attnviz.models import TRAINED_NAME, checkpoint_info, load_trained
from attnviz.scoring import score_heads
from attnviz.toygrammar import grammar
from attnviz.toygrammar.evaluate import agreement_accuracy, random_model
from attnviz.toygrammar.grammar import EVAL_SEED
from attnviz.tree import base_relation

ROOT = Path(__file__).resolve().parents[1]


def margin_table(scores, corpus=None) -> pd.DataFrame:
    """``scores.table()`` plus margin (best head - best fixed offset) and, given the corpus,
    chance (a head that picks one of the other words at random: the mean of 1 / (words - 1))."""
    table = scores.table()
    table["margin"] = table["accuracy"] - table["baseline accuracy"]
    if corpus is not None:
        odds: dict[str, list[float]] = {}
        for s in corpus:
            for _, _, rel in s.arcs:
                odds.setdefault(base_relation(rel), []).append(1 / (len(s) - 1))
        table["chance"] = [float(np.mean(odds[r])) for r in table["relation"]]
    return table


def direction_best(scores, relation: str, direction: str) -> tuple[str, float]:
    """The best head ("L-H") and accuracy of ``relation`` in one direction."""
    acc = scores.accuracy[scores.relations.index(relation), ..., DIRECTIONS.index(direction)]
    layer, head = np.unravel_index(np.nanargmax(acc), acc.shape)
    return f"{layer + 1}-{head + 1}", float(acc[layer, head])


def nsubj_breakdown(model, corpus) -> pd.DataFrame:
    """Per kind of nsubj arc: arcs, the overall best nsubj head (head->dependent) on them, the kind's own best."""
    overall = score_heads(model, corpus)
    best_label, _ = direction_best(overall, "nsubj", "head->dependent")
    layer, head = (int(x) - 1 for x in best_label.split("-"))
    kinds = score_heads(model, grammar.with_nsubj_kinds(corpus), subtypes=True)
    k = DIRECTIONS.index("head->dependent")
    rows = []
    for kind in grammar.NSUBJ_KINDS:
        rel = f"nsubj:{kind}"
        if rel not in kinds.relations:
            continue
        r = kinds.relations.index(rel)
        own, own_acc = direction_best(kinds, rel, "head->dependent")
        offset, base = kinds.best_baseline()
        rows.append({
            "verbs": kind, "arcs": int(kinds.counts[r]), f"head {best_label}": float(kinds.accuracy[r, layer, head, k]),
            "best head for these": own, "its accuracy": own_acc,
            "baseline offset": int(offset[r]), "baseline accuracy": float(base[r]),
        })
    return pd.DataFrame(rows)


def show(title: str, frame: pd.DataFrame, markdown: bool) -> None:
    print(f"\n## {title}\n")
    if markdown:
        print("\n".join(markdown_table(list(frame.columns), list(frame.itertuples(index=False)))))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_rows", None):
            print(frame.to_string(index=False, float_format=lambda x: f"{x:.3f}"))


def print_header(model, corpus, seed: int, load_seconds: float) -> None:
    """The checkpoint, how it was trained, and the held-out corpus."""
    info = checkpoint_info()
    t = info["training"]
    print(f"checkpoint: {TRAINED_NAME}: {model.n_layers} layers x {model.n_heads} heads, d_model "
          f"{info['config']['d_model']}, {model.n_params:,} parameters, vocabulary {len(model.tokenizer.vocab) - 5} words; "
          f"loaded in {load_seconds:.2f} s")
    print(f"training:   {t['command']}: {t['steps']} steps of {t['batch_size']} in {t['seconds']:.0f} s, "
          f"loss {t['first_loss']:.3f} -> {t['final_loss']:.3f}, seed {info['seed']}")
    print(f"held-out:   {len(corpus)} generated sentences (split 'test', seed {seed}), "
          f"{sum(len(s) for s in corpus)} words")


def check_claims(agreement: dict, scores, randoms, random_scores, corpus) -> int:
    """Print the issue's claims, each ok or FAIL, and the notes on random heads above their baseline;
    returns how many claims failed."""
    print("\n## claims\n")
    checks = []
    for kind in ("verb", "det"):
        checks.append((f"agreement accuracy, {kind}", agreement[kind]["accuracy"], ">=", 0.95))
    head, acc = direction_best(scores, "nsubj", "head->dependent")
    checks.append((f"nsubj head->dependent, head {head}", acc, ">=", 0.80))
    det = margin_table(scores).set_index("relation").loc["det"]
    checks.append((f"det, head {det['best head']} ({det['direction']})", float(det["accuracy"]), ">=", 0.90))
    for m, sc in zip(randoms, random_scores):
        table = margin_table(sc).set_index("relation")
        for rel in ("nsubj", "det"):
            checks.append((f"{m.name}: {rel} best head - baseline", float(table.loc[rel, "margin"]), "<=", 0.10))
    failed = 0
    for what, value, op, bound in checks:
        ok = value >= bound if op == ">=" else value <= bound
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {value:.3f} (needs {op} {bound:.2f})")
    for m, sc in zip(randoms, random_scores):
        table = margin_table(sc, corpus)
        for _, row in table[table["margin"] > 0.10].iterrows():
            print(f"note {m.name}: {row['relation']} is {row['margin'] * 100:.1f} points above its fixed-offset "
                  f"baseline ({row['accuracy']:.3f} vs {row['baseline accuracy']:.3f}), near chance "
                  f"({row['chance']:.3f}): no fixed offset fits it")
    return failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=EVAL_SEED, help="seed of the held-out corpus")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    model = load_trained()
    load_seconds = time.perf_counter() - start
    corpus = grammar.generate_corpus(args.sentences, seed=args.seed, split="test")
    print_header(model, corpus, args.seed, load_seconds)

    t0 = time.perf_counter()
    agreement = agreement_accuracy(model.module, model.tokenizer, corpus)
    show("masked-word accuracy on agreement items (held-out)", pd.DataFrame(
        [{"items": k, "n": v["items"], "accuracy": v["accuracy"], "top word has the right number": v["number_accuracy"]}
         for k, v in agreement.items()]), args.markdown)
    agreement_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = score_heads(model, corpus)
    score_seconds = time.perf_counter() - t0
    show(f"heads vs. dependencies: {model.name}", margin_table(scores, corpus), args.markdown)
    show("nsubj (verb -> subject, head->dependent) by what the verb must look past", nsubj_breakdown(model, corpus), args.markdown)

    randoms = [random_model(0), random_model(0, init="default")]
    random_scores = [score_heads(m, corpus) for m in randoms]
    for m, sc in zip(randoms, random_scores):
        show(f"heads vs. dependencies: {m.name}", margin_table(sc, corpus), args.markdown)

    failed = check_claims(agreement, scores, randoms, random_scores, corpus)
    print(f"\ntime: agreement {agreement_seconds:.1f} s, score_heads {score_seconds:.1f} s "
          f"({scores.n_words / max(score_seconds, 1e-9):.0f} words/s), total {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
