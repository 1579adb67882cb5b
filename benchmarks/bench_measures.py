"""Benchmark: attention measures against erasure, head ablation, and what each measure costs.

    python benchmarks/bench_measures.py [--quick] [--sentences N] [--items N] [--repeats N] [--threads N]
                                        [--only ud|grammar|timing]

Runs torch on --threads threads (1 by default: steady times on a shared machine). Prints Markdown
and writes it to test-artifacts/bench_measures.md (``--quick`` or ``--only PART``:
test-artifacts/bench_measures-quick.md / bench_measures-PART.md).

1. Where attention goes in the default encoder (all-MiniLM-L6-v2) on the UD English EWT dev file
   (``../shared/ud/en_ewt-ud-dev.conllu`` from the project root; skipped with a message if absent):
   per layer, the share of raw attention and of value-weighted attention (‖α_ij f_h(x_j)‖, each row
   normalised to sum to 1; Kobayashi et al. 2020) that goes to [CLS], to [SEP] and to punctuation
   (the tokens of UPOS PUNCT words). Averaged over heads and over every query row of every sentence.
   The "share of keys" row is what uniform attention would give (the tokens' share of each row).
2. The trained toy-grammar model on held-out agreement items (each verb of a held-out sentence
   masked in turn; its form needs its subject): per item, Spearman's rho between a measure's
   relevance of the input words for the masked position and their erasure importance
   (``attnviz.erasure``: the drop in probability of the correct verb form when the word is replaced by
   [MASK]). Words in the correlation: every word of the sentence except the masked verb; [CLS] and
   [SEP] are left out (erasure cannot erase them, and the measures' mass on them says nothing about
   words). Measures, each per layer: raw attention (mean over heads), rollout, flow, value-weighted
   (row-normalised per head, then mean over heads). Mean ± std over items, laid out as Abnar &
   Zuidema 2020's correlation tables (rows: measures, columns: layers). Items where either ranking is constant
   (rho undefined) are counted and left out.
3. Head ablation on the same items: agreement accuracy (the correct form scores above its other-number
   form, as ``attnviz.toygrammar.evaluate.agreement_accuracy`` counts it) with nothing off and with each
   single head off (zero and mean ablation), split by whether an attractor (a noun of the other number
   between subject and verb) is present; then "the verb-to-subject head", found from the data (the head
   whose attention from the masked verb most often has its maximum on the subject), switched off.
4. The time each step adds to one 128-token MiniLM run (fastest of --repeats interleaved rounds): a plain forward pass,
   record without values (``run_batch(values=False)``), with values (``run_batch(values=True)``), a full
   ``attnviz.capture``; value-weighted attention and rollout from that run; flow at 32 tokens (it is refused
   above); ``head_effect`` (two passes) and ``erasure`` for one position.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np
import torch
from report import interleaved_times, markdown_table
from scipy.stats import spearmanr

import attnviz
from attnviz.ablation import head_effect, masked_predictions
from attnviz.capturing import capture_batch, run_batch
from attnviz.conllu_io import read_conllu
from attnviz.encoding import plan_batches
from attnviz.erasure import erasure
from attnviz.hooks import record
from attnviz.local.tokenizer import CLS, MASK, MASK_TEXT, PAD, SEP
from attnviz.measures import flow, rollout, value_weighted
from attnviz.toygrammar import grammar, lexicon
from attnviz.toygrammar.evaluate import agreement_accuracy

ROOT = Path(__file__).resolve().parents[1]
UD_DEV = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"
OUT = ROOT / "test-artifacts" / "bench_measures.md"

lines: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    lines.append(text)


def table(header: list[str], rows: list[list]) -> None:
    for line in [*markdown_table(header, rows), ""]:
        say(line)


# ---------------------------------------------------------------- 1. MiniLM on UD


def ud_shares(model: attnviz.LoadedModel, sentences, chunk: int = 64) -> dict:
    """Per layer: the mean over heads and query rows of the share going to each group of keys."""
    groups = ("[CLS]", "[SEP]", "punctuation")
    sums = {(m, g): np.zeros(model.n_layers) for m in ("raw", "value-weighted") for g in groups}
    key_share = dict.fromkeys(groups, 0.0)
    rows = 0
    for start in range(0, len(sentences), chunk):
        part = sentences[start:start + chunk]
        for s, run in zip(part, capture_batch(model, [s.words for s in part], batch_size=16)):
            n = run.n_tokens
            cols = {
                "[CLS]": np.array([sp and t == "[CLS]" for t, sp in zip(run.tokens, run.special)]),
                "[SEP]": np.array([sp and t == "[SEP]" for t, sp in zip(run.tokens, run.special)]),
                "punctuation": np.array([w is not None and s.pos[w] == "PUNCT" for w in run.word_ids]),
            }
            for measure, a in (("raw", run.attention), ("value-weighted", value_weighted(run, normalise=True))):
                for g, c in cols.items():
                    sums[(measure, g)] += a[..., c].sum(-1).mean(1).sum(-1)  # (L,): mean over heads, sum over rows
            for g, c in cols.items():
                key_share[g] += c.sum()  # each of the n rows has c.sum() / n of its keys in the group
            rows += n
    return {"shares": {k: v / rows for k, v in sums.items()}, "keys": {g: v / rows for g, v in key_share.items()},
            "rows": rows}


def bench_ud(model, n_sentences: int | None) -> None:
    say("## 1. Where attention goes: all-MiniLM-L6-v2 on UD English EWT dev\n")
    if not UD_DEV.is_file():
        say(f"Skipped: the UD dev file is not at {UD_DEV} (it is not part of the repository).\n")
        return
    sentences = read_conllu(UD_DEV)
    if n_sentences:
        sentences = sentences[:n_sentences]
    t0 = time.perf_counter()
    result = ud_shares(model, sentences)
    seconds = time.perf_counter() - t0
    say(f"{len(sentences)} sentences, {result['rows']} query rows (tokens), {seconds:.1f} s. Share of each row's "
        "attention, mean over heads and rows; value-weighted = ‖α f(x)‖ per head with each row normalised to 1.\n")
    groups = ("[CLS]", "[SEP]", "punctuation")
    header = ["layer"] + [f"raw → {g}" for g in groups] + [f"value-weighted → {g}" for g in groups]
    rows = [[str(layer + 1)] + [float(result["shares"][("raw", g)][layer]) for g in groups]
            + [float(result["shares"][("value-weighted", g)][layer]) for g in groups] for layer in range(model.n_layers)]
    rows.append(["share of keys"] + [float(result["keys"][g]) for g in groups] * 2)
    table(header, rows)


# ---------------------------------------------------------------- 2. and 3. the toy grammar


def agreement_items(corpus) -> list[dict]:
    """Each verb agreement item of ``corpus``: the words with the verb masked, where it is, the right and
    wrong forms, the subject, whether an attractor stands between them."""
    items = []
    for s in corpus:
        for (target, controller, kind), attractor in zip(s.meta["agreement"], s.meta["attractor"]):
            if kind != "verb":
                continue
            words = list(s.words)
            right = words[target]
            words[target] = MASK_TEXT
            items.append(dict(words=words, target=target, subject=controller, attractor=bool(attractor),
                              right=right, wrong=lexicon.OTHER_NUMBER[right]))
    return items


MEASURE_ROWS = ("raw attention", "rollout", "flow", "value-weighted")


def bench_correlations(model, items) -> dict:
    say("## 2. Measures vs. erasure on the trained toy-grammar model\n")
    t0 = time.perf_counter()
    runs = capture_batch(model, [it["words"] for it in items], batch_size=64)
    capture_seconds = time.perf_counter() - t0
    L = model.n_layers
    rho = {(m, layer): [] for m in MEASURE_ROWS for layer in range(L)}
    undefined = {(m, layer): 0 for m in MEASURE_ROWS for layer in range(L)}
    subject_hits = np.zeros((L, model.n_heads))
    timing = {"erasure": 0.0, "flow": 0.0, "other measures": 0.0}
    for it, run in zip(items, runs):
        pos = it["target"] + 1  # token position of the masked verb ([CLS] first; one token per word)
        assert run.tokens[pos] == MASK_TEXT
        words = [w for w in range(len(it["words"])) if w != it["target"]]
        keys = [w + 1 for w in words]
        t = time.perf_counter()
        importance = erasure(model, it["words"], pos, target=model.tokenizer.token_id(it["right"]))[words]
        timing["erasure"] += time.perf_counter() - t
        t = time.perf_counter()
        raw = run.attention.mean(1)  # (L, n, n)
        rolled = rollout(run.attention)
        valued = value_weighted(run, normalise=True).mean(1)
        timing["other measures"] += time.perf_counter() - t
        subject_hits += run.attention[:, :, pos].argmax(-1) == it["subject"] + 1
        for layer in range(L):
            t = time.perf_counter()
            flowed = flow(run.attention, layer, rows=[pos])[pos]  # one row: n maximum flows, not n²
            timing["flow"] += time.perf_counter() - t
            for m, relevance in zip(MEASURE_ROWS, (raw[layer, pos], rolled[layer, pos], flowed, valued[layer, pos])):
                r = spearmanr(relevance[keys], importance).statistic
                if np.isnan(r):
                    undefined[(m, layer)] += 1
                else:
                    rho[(m, layer)].append(r)
    n_words = [len(it["words"]) for it in items]
    say(f"{len(items)} items (every verb of the held-out sentences masked in turn; {sum(it['attractor'] for it in items)} "
        f"with an attractor), {min(n_words)}-{max(n_words)} words. Spearman's rho per item between a measure's "
        "relevance of each word for the masked verb (its row at the [MASK]) and the word's erasure importance "
        "(drop in p(correct form) when the word is replaced by [MASK]); words: all but the masked verb, no "
        "[CLS]/[SEP]. Mean ± std over items.\n")
    header = ["measure"] + [f"layer {layer + 1}" for layer in range(L)]
    rows = []
    for m in MEASURE_ROWS:
        rows.append([m] + [f"{np.mean(rho[(m, layer)]):.3f} ± {np.std(rho[(m, layer)]):.3f}" for layer in range(L)])
    table(header, rows)
    skipped = {k: v for k, v in undefined.items() if v}
    if skipped:
        say("Items left out (a constant ranking, rho undefined): "
            + ", ".join(f"{m} layer {layer + 1}: {v}" for (m, layer), v in skipped.items()) + "\n")
    say(f"Time: capture of all items (values=True) {capture_seconds:.1f} s; erasure {timing['erasure']:.1f} s; "
        f"flow (one row per layer) {timing['flow']:.1f} s; raw/rollout/value-weighted {timing['other measures']:.2f} s.\n")
    return {"subject_hits": subject_hits / len(items)}


def item_tensors(model, items):
    rows = [[CLS, *(model.tokenizer.token_id(w) for w in it["words"]), SEP] for it in items]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
    positions = torch.tensor([it["target"] + 1 for it in items])
    right = torch.tensor([model.tokenizer.token_id(it["right"]) for it in items])
    wrong = torch.tensor([model.tokenizer.token_id(it["wrong"]) for it in items])
    attractor = torch.tensor([it["attractor"] for it in items])
    assert (ids[torch.arange(len(items)), positions] == MASK).all()
    return ids, positions, right, wrong, attractor


def accuracy(model, tensors, heads, mode) -> tuple[float, float, float]:
    ids, positions, right, wrong, attractor = tensors
    logits = masked_predictions(model, ids, heads, mode, positions=positions, batch_size=256)
    ok = (logits.gather(1, right[:, None]) > logits.gather(1, wrong[:, None]))[:, 0]
    return float(ok.float().mean()), float(ok[attractor].float().mean()), float(ok[~attractor].float().mean())


def cell(acc: tuple[float, float, float]) -> str:
    return f"{acc[0]:.3f} ({acc[1]:.3f} / {acc[2]:.3f})"


def bench_ablation(model, items, corpus, subject_hits: np.ndarray) -> None:
    say("## 3. Head ablation on the trained toy-grammar model\n")
    tensors = item_tensors(model, items)
    t0 = time.perf_counter()
    base = accuracy(model, tensors, (), "zero")
    reference = agreement_accuracy(model.module, model.tokenizer, corpus)
    assert abs(base[0] - reference["verb"]["accuracy"]) < 1e-3, (base, reference)
    n_attr = int(tensors[4].sum())
    say(f"{len(items)} verb items ({n_attr} with an attractor, {len(items) - n_attr} without). Cells: accuracy on all "
        "items (with an attractor / without). Baseline (nothing off): " + cell(base)
        + f"; `agreement_accuracy` on the same sentences: {reference['verb']['accuracy']:.3f} "
        f"(attractor: {reference['verb, attractor']['accuracy']:.3f}).\n")
    H = model.n_heads
    for mode in ("zero", "mean"):
        say(f"### Each single head off, {mode} ablation\n")
        rows = [[f"layer {layer + 1}"] + [cell(accuracy(model, tensors, [(layer, h)], mode)) for h in range(H)]
                for layer in range(model.n_layers)]
        table(["", *[f"head {h + 1}" for h in range(H)]], rows)
    say("### Where the masked verb looks: share of items whose attention maximum (from the [MASK]) is on the subject\n")
    table(["", *[f"head {h + 1}" for h in range(H)]],
          [[f"layer {layer + 1}"] + [float(subject_hits[layer, h]) for h in range(H)] for layer in range(model.n_layers)])
    layer, head = np.unravel_index(int(np.argmax(subject_hits)), subject_hits.shape)
    label = attnviz.head_label(int(layer), int(head))
    say(f"### The verb-to-subject head, {label} (subject at the maximum in {subject_hits[layer, head]:.1%} of items), off\n")
    rows = [["nothing off", f"{base[0]:.3f}", f"{base[1]:.3f}", f"{base[2]:.3f}"]]
    for mode in ("zero", "mean"):
        acc = accuracy(model, tensors, [(int(layer), int(head))], mode)
        rows.append([f"{label} off ({mode})", f"{acc[0]:.3f}", f"{acc[1]:.3f}", f"{acc[2]:.3f}"])
    table(["", "all items", "attractor", "no attractor"], rows)
    say(f"Time: {2 * model.n_layers * H + 3} ablation runs over {len(items)} items in {time.perf_counter() - t0:.1f} s.\n")


# ---------------------------------------------------------------- 4. timing


def long_text(sentences, tokens: int, model) -> str:
    words: list[str] = []
    for s in sentences:
        words.extend(s.words)
        if len(plan_batches(model, [words], max_tokens=10**6)[0].encoded[0].ids) >= tokens + 8:
            break
    return " ".join(words)


def bench_timing(model, repeats: int) -> None:
    say("## 4. What each step costs on one MiniLM run\n")
    if UD_DEV.is_file():
        text = long_text(read_conllu(UD_DEV, limit=40), 128, model)
    else:
        text = " ".join(["the heavy snow makes driving more difficult and the roads are closed ."] * 12)
    batch = plan_batches(model, [text], max_tokens=128)[0]
    assert batch.ids.shape == (1, 128)
    run = attnviz.capture(model, text, max_tokens=128)
    run32 = attnviz.capture(model, text, max_tokens=32)
    # head_effect and erasure read a whole text: give them the text up to the 128th (32nd) token
    text128 = text[: max(e for _, e in batch.encoded[0].offsets)]
    text32 = text[: max(e for _, e in plan_batches(model, [text], max_tokens=32)[0].encoded[0].offsets)]
    assert len(plan_batches(model, [text128])[0].encoded[0].ids) == 128
    assert len(plan_batches(model, [text32])[0].encoded[0].ids) == 32

    def plain():
        with torch.inference_mode():
            model.module(input_ids=batch.ids, attention_mask=batch.attention_mask)

    def recorded():
        with torch.inference_mode(), record(model.module):
            model.module(input_ids=batch.ids, attention_mask=batch.attention_mask)

    steps = [
        ("forward pass, no hooks", plain, "128 tokens"),
        ("record (hooks, weights checked), no values", recorded, "128 tokens"),
        ("run_batch(values=False)", lambda: run_batch(model, batch, values=False), "128 tokens"),
        ("run_batch(values=True)", lambda: run_batch(model, batch, values=True), "128 tokens"),
        ("attnviz.capture (values=True, a Run)", lambda: attnviz.capture(model, text, max_tokens=128), "128 tokens"),
        ("value_weighted(run, normalise=True)", lambda: value_weighted(run, normalise=True), "128 tokens"),
        ("rollout(run.attention)", lambda: rollout(run.attention), "128 tokens, all 6 layers"),
        ("flow(run.attention, layer=5)", lambda: flow(run32.attention, 5), "32 tokens (refused above), last layer"),
        ("head_effect, one head (two passes)", lambda: head_effect(model, text128, [(5, 0)]), "128 tokens"),
        ("erasure, one position", lambda: erasure(model, text32, 1), f"32 tokens ({len(run32.word_spans)} words)"),
    ]
    results = interleaved_times(steps, repeats)
    base = results["run_batch(values=False)"][0]
    say(f"{repeats} interleaved rounds after a warm-up round: the fastest round (the median in brackets); torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}, "
        "a machine shared with other work. \"adds\": for the recording steps, the fastest time beyond "
        "`run_batch(values=False)`; for the measures and analyses, their own time (the measures are computed from "
        "the captured run, with no second pass).\n")
    rows = []
    for name, _, what in steps:
        fastest, median = results[name]
        if name in ("run_batch(values=True)", "attnviz.capture (values=True, a Run)"):
            extra = f"{(fastest - base) * 1000:+.1f} ms"
        elif name.startswith(("forward", "record", "run_batch(values=False)")):
            extra = "-"
        else:
            extra = f"+{fastest * 1000:.1f} ms"
        rows.append([name, what, f"{fastest * 1000:.1f} ms ({median * 1000:.1f})", extra])
    table(["step", "input", "time", "adds"], rows)


def bench_grammar(n_items: int | None) -> None:
    trained = attnviz.load_trained()
    corpus = grammar.held_out_corpus(1000)
    if n_items:  # whole sentences, until they hold n_items verb items
        used, count = [], 0
        for s in corpus:
            if count >= n_items:
                break
            used.append(s)
            count += sum(k == "verb" for _, _, k in s.meta["agreement"])
        corpus = used
    items = agreement_items(corpus)
    found = bench_correlations(trained, items)
    bench_ablation(trained, items, corpus, found["subject_hits"])


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run: 100 UD sentences, 200 items, 3 repeats")
    ap.add_argument("--sentences", type=int, default=None, help="UD dev sentences for table 1 (default: all)")
    ap.add_argument("--items", type=int, default=None,
                    help="agreement items for tables 2 and 3 (default: every verb of 1000 held-out sentences)")
    ap.add_argument("--repeats", type=int, default=None, help="timing rounds (default 20; 3 with --quick)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared machine, more threads than free cores make small "
                         "models' passes many times slower, and the times erratic)")
    ap.add_argument("--only", choices=("ud", "grammar", "timing"), default=None, help="run one part only")
    args = ap.parse_args(argv)
    sentences = args.sentences or (100 if args.quick else None)
    n_items = args.items or (200 if args.quick else None)
    repeats = args.repeats or (3 if args.quick else 20)
    start = time.perf_counter()
    command = "python benchmarks/bench_measures.py " + " ".join(sys.argv[1:] if argv is None else argv)
    say("# bench_measures\n")
    say(f"`{command.strip()}`, {time.strftime('%Y-%m-%d %H:%M')}, torch threads: {args.threads}\n")

    torch.set_num_threads(args.threads)
    minilm = attnviz.load_model(attnviz.DEFAULT_MODEL)
    if args.only in (None, "ud"):
        bench_ud(minilm, sentences)
    if args.only in (None, "grammar"):
        bench_grammar(n_items)
    if args.only in (None, "timing"):
        bench_timing(minilm, repeats)
    say(f"Total time: {time.perf_counter() - start:.0f} s.")
    # a partial or quick run never overwrites the full run's file
    out = OUT.with_name(f"bench_measures-{args.only or 'quick'}.md") if args.only or args.quick else OUT
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
