"""Train the from-scratch encoder as a masked-word model on the toy grammar.

    python -m attnviz.toygrammar.train                 # writes attnviz/local/checkpoints/toy_grammar.*
    python -m attnviz.toygrammar.train --steps 50 --out /tmp/ckpt   # a quick try elsewhere

The encoder (``Transformer.encode`` + ``lm_head``) reads ``[CLS] words [SEP]`` exactly as
``WordTokenizer.encode`` frames them, with the model's padding mask (pad id 0), and
predicts the original word at chosen positions. The positions are chosen so that the
answer needs a dependency:

* every verb and every determiner is an *agreement item*; an item is chosen with
  probability ``p_item``, then replaced by [MASK] (``p_mask``), swapped (a verb for its
  other-number form, "sees" <-> "see"; a determiner for another determiner) or kept as is.
  The model cannot tell a kept word from a swapped one without checking the subject's
  (the noun's) number, so verbs learn to look at their subject and determiners at their
  noun, also for the words it reads unmasked - which is what the app shows;
* the grammar puts nouns of the other number between subject and verb (relative clauses,
  prepositional phrases), so the nearest noun is often the wrong one to look at;
* other words are masked BERT-style (15%: 80% [MASK], 10% a random word, 10% kept).

The architecture is ``attnviz.local.model`` unchanged (3 layers, 4 heads, d_model 64);
only the word embeddings start smaller than its default (see ``initial_model``), so that
positions are not drowned by words and heads can find *the nearest* noun.

Speed: torch runs on one thread, with subnormal floats flushed to zero. Late in warm-up
some gradients get tiny enough that their squares (in Adam) and products are subnormal,
which the CPU computes many times slower; ``torch.set_flush_denormal`` fixes that only
for the calling thread, and with two threads the second one (matrix products) slowed
whole runs 10x and more on a 2-core machine. One thread takes 3-4 minutes on a
2-core machine, leaving the other core free, and is bit-for-bit reproducible.

Fixed seeds everywhere (Python's and torch's generators, one thread);
held-out evaluation sentences come from the grammar's test split, which training never
sees (see ``grammar.in_split``). The checkpoint is a safetensors file with every weight of
the ``Transformer`` and a JSON file with its config, vocabulary, seed and the training
figures (loss curve, held-out agreement accuracy, time).
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F

from attnviz.local.checkpoint import CHECKPOINT_DIR, CHECKPOINT_NAME, write_checkpoint
from attnviz.local.model import Transformer, TransformerConfig
from attnviz.local.tokenizer import CLS, MASK, PAD, SEP, SPECIALS, WordTokenizer
from attnviz.toygrammar import grammar, lexicon
from attnviz.toygrammar.evaluate import agreement_accuracy, heads_summary, initial_model
from attnviz.toygrammar.grammar import EVAL_SEED, held_out_corpus
from attnviz.tree import Sentence

_OTHER, _VERB, _DET = 0, 1, 2


@dataclass
class TrainSettings:
    seed: int = 0
    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    warmup: int = 150
    weight_decay: float = 0.01
    pool: int = 40_000  # training sentences generated up front (grammar split "train")
    p_item: float = 0.5  # chance that an agreement item (verb, determiner) is a target
    p_mask: float = 0.5  # ... then [MASK]; p_swap: swapped; the rest: kept as is
    p_swap: float = 0.3
    p_other: float = 0.15  # chance that another word is a target (BERT-style)
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 3
    d_ff: int = 256
    max_len: int = 128
    threads: int = 1  # see the module docstring: one thread is the fast and deterministic choice here
    eval_sentences: int = 1000
    log_every: int = 100
    max_minutes: float = 9.0  # a safety stop on a very busy machine (the run then says so)

    def model_config(self, vocab_size: int) -> TransformerConfig:
        return TransformerConfig(
            vocab_size=vocab_size, d_model=self.d_model, num_heads=self.num_heads, num_layers=self.num_layers,
            d_ff=self.d_ff, max_len=self.max_len, dropout=0.0, pad_id=PAD,
        )


@dataclass
class TrainResult:
    module: Transformer
    tokenizer: WordTokenizer
    settings: TrainSettings
    losses: list[float]  # the loss of every step
    seconds: float
    figures: dict = field(default_factory=dict)

    def loss_curve(self, every: int = 50) -> list[tuple[int, float]]:
        """(step, mean loss over the ``every`` steps ending there)."""
        out = []
        for end in range(every, len(self.losses) + 1, every):
            chunk = self.losses[end - every : end]
            out.append((end, round(sum(chunk) / len(chunk), 4)))
        return out


def make_tokenizer() -> WordTokenizer:
    return WordTokenizer(vocab=lexicon.vocabulary())


# ---------------------------------------------------------------- data


def encode_sentences(sentences: Sequence[Sentence], tokenizer: WordTokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, kinds), int64 [N, longest + 2]: ``[CLS] words [SEP]`` padded with 0; kind 1 = verb,
    2 = determiner (the agreement items), 0 = anything else."""
    width = max(len(s.words) for s in sentences) + 2
    ids = torch.full((len(sentences), width), PAD, dtype=torch.long)
    kinds = torch.zeros((len(sentences), width), dtype=torch.long)
    for row, s in enumerate(sentences):
        ids[row, : len(s.words) + 2] = torch.tensor([CLS, *(tokenizer.token_id(w) for w in s.words), SEP])
        for i, pos in enumerate(s.pos):
            if pos == "VERB":
                kinds[row, i + 1] = _VERB
            elif pos == "DET":
                kinds[row, i + 1] = _DET
    return ids, kinds


class _Corrupter:
    """Chooses the targets of a batch and corrupts the input (see the module docstring)."""

    def __init__(self, tokenizer: WordTokenizer, settings: TrainSettings):
        self.s = settings
        n = tokenizer.vocab_size
        self.other = torch.arange(n)  # verb -> its other-number form
        for word, other in lexicon.OTHER_NUMBER.items():
            if lexicon.VERB_NUMBER.get(word):
                self.other[tokenizer.token_id(word)] = tokenizer.token_id(other)
        dets = [lexicon.NEUTRAL_DETERMINER, *lexicon.DETERMINERS[lexicon.SING], *lexicon.DETERMINERS[lexicon.PLUR]]
        self.dets = torch.tensor([tokenizer.token_id(d) for d in dets])
        self.n_words = n - len(SPECIALS)

    def __call__(self, ids: torch.Tensor, kinds: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.s
        real = ids > SEP  # words, not specials or padding
        item = real & (kinds != _OTHER)
        u = torch.rand(ids.shape, generator=gen)
        action = torch.rand(ids.shape, generator=gen)
        chosen_item = item & (u < s.p_item)
        chosen_other = real & ~item & (u < s.p_other)
        inputs = ids.clone()
        # agreement items: [MASK] | swap | keep
        to_mask = chosen_item & (action < s.p_mask)
        swap = chosen_item & (action >= s.p_mask) & (action < s.p_mask + s.p_swap)
        swap_verb = swap & (kinds == _VERB)
        inputs[swap_verb] = self.other[ids[swap_verb]]
        swap_det = swap & (kinds == _DET)
        k = torch.randint(0, len(self.dets) - 1, ids.shape, generator=gen)
        pick = self.dets[k]
        # a different determiner: the list without the original one
        pick = torch.where(pick == ids, self.dets[-1], pick)
        inputs[swap_det] = pick[swap_det]
        # other words: 80% [MASK], 10% random word, 10% kept
        to_mask |= chosen_other & (action < 0.8)
        rand_word = chosen_other & (action >= 0.8) & (action < 0.9)
        random_ids = torch.randint(len(SPECIALS), len(SPECIALS) + self.n_words, ids.shape, generator=gen)
        inputs[rand_word] = random_ids[rand_word]
        inputs[to_mask] = MASK
        targets = torch.where(chosen_item | chosen_other, ids, torch.full_like(ids, -100))
        return inputs, targets


# ---------------------------------------------------------------- training


def train(settings: TrainSettings | None = None, log: Callable[[str], None] | None = print,
          evaluate: bool = True) -> TrainResult:
    """Train a fresh encoder with ``settings`` (default: ``TrainSettings()``, the committed
    checkpoint's); deterministic for a given seed and thread count."""
    settings = settings or TrainSettings()
    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    # tiny values (subnormal floats) make CPU arithmetic many times slower; flush them to zero
    torch.set_flush_denormal(True)
    try:
        return _train(settings, log, evaluate, start)
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(previous_threads)


def _train(settings: TrainSettings, log: Callable[[str], None] | None, evaluate: bool, start: float) -> TrainResult:
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    tokenizer = make_tokenizer()
    module = initial_model(settings.model_config(tokenizer.vocab_size), settings.seed)
    rng = random.Random(settings.seed)
    pool = [grammar.generate(rng, split="train") for _ in range(settings.pool)]
    ids_all, kinds_all = encode_sentences(pool, tokenizer)
    if log:
        n_params = sum(p.numel() for p in module.parameters())
        log(f"{len(pool)} training sentences generated in {time.perf_counter() - start:.1f} s; "
            f"model {n_params:,} parameters; {settings.steps} steps of {settings.batch_size}")
    losses, stopped_early = _optimise(module, ids_all, kinds_all, _Corrupter(tokenizer, settings), settings, log, start)
    module.eval()
    seconds = time.perf_counter() - start
    result = TrainResult(module, tokenizer, settings, losses, seconds, {"stopped_early": stopped_early})
    if evaluate:
        _evaluate(result, log)
    return result


def _optimizer(module: Transformer, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW with weight decay on the weight matrices only (not on embeddings, biases or norms)."""
    decay = [p for n, p in module.named_parameters() if p.dim() > 1 and "embed" not in n]
    no_decay = [p for n, p in module.named_parameters() if not (p.dim() > 1 and "embed" not in n)]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, betas=(0.9, 0.98),
    )


def _lr_at(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then cosine decay to 5% of ``settings.lr``."""
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _optimise(module: Transformer, ids_all: torch.Tensor, kinds_all: torch.Tensor, corrupt: _Corrupter,
              settings: TrainSettings, log: Callable[[str], None] | None, start: float) -> tuple[list[float], bool]:
    """``settings.steps`` steps on random batches of the pool's rows: (the loss of every step, whether
    the time limit stopped it early)."""
    lengths = (ids_all != PAD).sum(dim=1)
    gen = torch.Generator().manual_seed(settings.seed)
    opt = _optimizer(module, settings)
    module.train()
    losses: list[float] = []
    for step in range(settings.steps):
        if time.perf_counter() - start > settings.max_minutes * 60:
            if log:
                log(f"stopping after {step} of {settings.steps} steps: the {settings.max_minutes:g}-minute limit is reached")
            return losses, True
        rows = torch.randint(0, len(ids_all), (settings.batch_size,), generator=gen)
        width = int(lengths[rows].max())
        inputs, targets = corrupt(ids_all[rows, :width], kinds_all[rows, :width], gen)
        losses.append(_step(module, opt, inputs, targets, _lr_at(settings, step)))
        if log and settings.log_every and ((step + 1) % settings.log_every == 0 or step + 1 == settings.steps):
            recent = losses[-settings.log_every :]
            log(f"step {step + 1:5d}  loss {sum(recent) / len(recent):.4f}  lr {_lr_at(settings, step):.2e}  "
                f"{time.perf_counter() - start:.0f} s")
    return losses, False


def _step(module: Transformer, opt: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor, lr: float) -> float:
    """One optimiser step at learning rate ``lr`` (gradients clipped to norm 1); returns the batch's loss."""
    for group in opt.param_groups:
        group["lr"] = lr
    logits = module.lm_head(module.encode(inputs))
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    opt.step()
    return loss.item()


def _evaluate(result: TrainResult, log: Callable[[str], None] | None) -> None:
    """The held-out figures (agreement accuracy, heads vs. the trees) into ``result.figures``, logged."""
    eval_start = time.perf_counter()
    held_out = held_out_corpus(result.settings.eval_sentences)
    result.figures["held_out"] = {"sentences": len(held_out), "seed": EVAL_SEED, "split": "test"}
    result.figures["held_out_agreement"] = agreement_accuracy(result.module, result.tokenizer, held_out)
    result.figures["held_out_heads"] = heads_summary(result.module, result.tokenizer, held_out)
    result.figures["evaluation_seconds"] = round(time.perf_counter() - eval_start, 1)
    if not log:
        return
    for kind, fig in result.figures["held_out_agreement"].items():
        log(f"held-out {kind:16s} {fig['items']:5d} items  accuracy {fig['accuracy']:.4f}  "
            f"top-word number {fig['number_accuracy']:.4f}")
    for row in result.figures["held_out_heads"]:
        log(f"held-out heads {row['relation']:10s} {row['arcs']:5d} arcs  best {row['best head']} "
            f"{row['direction']:16s} {row['accuracy']:.3f}  (offset {row['baseline offset']:+d}: "
            f"{row['baseline accuracy']:.3f})")


def save_checkpoint(result: TrainResult, out_dir: Path | str = CHECKPOINT_DIR, name: str = CHECKPOINT_NAME,
                    command: str | None = None) -> tuple[Path, Path]:
    """Write the trained model as a checkpoint (``attnviz.local.checkpoint``) with its seed,
    settings and training figures."""
    s = result.settings
    return write_checkpoint(result.module, result.tokenizer, {
        "model": "attnviz.local.model.Transformer (encoder trained as a masked-word model; decoder at its seeded initialisation)",
        "seed": s.seed,
        "settings": asdict(s),
        "training": {
            "command": command,
            "steps": len(result.losses),
            "batch_size": s.batch_size,
            "seconds": round(result.seconds, 1),
            "machine": f"{platform.machine()}, torch {torch.__version__}, {s.threads} threads",
            "first_loss": round(sum(result.losses[:20]) / max(1, len(result.losses[:20])), 4),
            "final_loss": round(sum(result.losses[-100:]) / max(1, len(result.losses[-100:])), 4),
            "loss_curve": result.loss_curve(max(1, len(result.losses) // 60)),
            **result.figures,
        },
    }, out_dir, name)


def main(argv: Sequence[str] | None = None) -> int:
    defaults = TrainSettings()
    ap = argparse.ArgumentParser(prog="python -m attnviz.toygrammar.train", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--steps", type=int, default=defaults.steps)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--batch-size", type=int, default=defaults.batch_size)
    ap.add_argument("--lr", type=float, default=defaults.lr)
    ap.add_argument("--pool", type=int, default=defaults.pool, help="training sentences generated up front")
    ap.add_argument("--eval-sentences", type=int, default=defaults.eval_sentences)
    ap.add_argument("--out", default=str(CHECKPOINT_DIR), help="folder for the checkpoint (default: the committed one)")
    ap.add_argument("--name", default=CHECKPOINT_NAME)
    ap.add_argument("--max-minutes", type=float, default=defaults.max_minutes,
                    help="stop training early after this long (default %(default)s)")
    ap.add_argument("--threads", type=int, default=defaults.threads, help="torch threads (default %(default)s, see above)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if min(args.steps, args.batch_size, args.pool, args.threads) < 1:
        print("error: --steps, --batch-size, --pool and --threads must be at least 1", file=sys.stderr)
        return 2
    settings = TrainSettings(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                             pool=args.pool, eval_sentences=args.eval_sentences, max_minutes=args.max_minutes, threads=args.threads,
                             warmup=min(defaults.warmup, max(1, args.steps // 10)))
    log = None if args.quiet else (lambda m: print(m, flush=True))
    start = time.perf_counter()
    result = train(settings, log=log, evaluate=args.eval_sentences > 0)
    args_given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python -m attnviz.toygrammar.train", *args_given])
    weights, meta = save_checkpoint(result, args.out, args.name, command=command)
    if log:
        log(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {meta}; "
            f"{result.seconds:.0f} s of training, {time.perf_counter() - start:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
