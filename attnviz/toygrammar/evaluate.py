"""Evaluating models on the toy grammar: masked-word agreement, heads vs. the grammar's trees,
and the fair "random weights" comparison for the trained model.

    agreement_accuracy(model.module, model.tokenizer, held_out_corpus(1000))
    heads_summary(module, tokenizer, sentences)   # score_heads(...).table() as JSON-ready rows
    random_model(seed=0)                          # the trained model's architecture, random weights
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnviz.loaded import LoadedModel
from attnviz.local.model import Transformer, TransformerConfig
from attnviz.local.tokenizer import CLS, MASK, PAD, SEP, SPECIALS, WordTokenizer
from attnviz.models import checkpoint_info
from attnviz.scoring import score_heads
from attnviz.toygrammar import lexicon
from attnviz.tree import Sentence


def initial_model(config: TransformerConfig, seed: int) -> Transformer:
    """The weights training starts from: the Transformer's own initialisation drawn with
    ``seed``, except the word embeddings, drawn with std 1/sqrt(d_model) instead of 1.

    The model multiplies embeddings by sqrt(d_model) before adding the sinusoids (whose
    values lie in [-1, 1]); with std-1 embeddings the words would be 8x louder than their
    positions and heads could hardly tell the nearest noun from any noun. With this
    initialisation both start at the same scale (as in fairseq's Transformer).
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = Transformer(config)
        with torch.no_grad():
            torch.nn.init.normal_(module.embed.weight, mean=0.0, std=config.d_model ** -0.5)
            module.embed.weight[config.pad_id].zero_()
    return module


def agreement_accuracy(
    module: Transformer, tokenizer: WordTokenizer, sentences: Sequence[Sentence], batch_size: int = 256,
) -> dict:
    """Masked-word accuracy on the agreement items of ``sentences``.

    Each item (a verb, or a number-marked determiner) is replaced by [MASK], one at a
    time, the rest of the sentence as generated. Two measures per kind:
      * ``accuracy``: the correct form scores above its other-number form ("runs" vs
        "run", "this" vs "these"), the usual targeted-agreement test;
      * ``number_accuracy``: the model's top word over the whole vocabulary fits: a verb
        of the subject's number; a determiner of the noun's number, or "the".
    Kinds: "verb", "verb, attractor" (a noun of the other number stands between verb and
    subject), "det".
    """
    rows, items = [], []
    for s in sentences:
        base = [CLS, *(tokenizer.token_id(w) for w in s.words), SEP]
        for (target, _controller, kind), attractor in zip(s.meta["agreement"], s.meta["attractor"]):
            ids = list(base)
            ids[target + 1] = MASK
            right = s.words[target]
            rows.append(ids)
            items.append((kind, attractor, target + 1, tokenizer.token_id(right),
                          tokenizer.token_id(lexicon.OTHER_NUMBER[right]), lexicon.number_of(right)))
    number_of_id = [lexicon.number_of(w) if i >= len(SPECIALS) else None for i, w in enumerate(tokenizer.vocab)]
    pos_of_id = {}
    for i, w in enumerate(tokenizer.vocab):
        if w in lexicon.VERB_NUMBER:
            pos_of_id[i] = "verb"
        elif w in lexicon.DET_NUMBER or w == lexicon.NEUTRAL_DETERMINER:
            pos_of_id[i] = "det"
    stats: dict[str, list[int]] = {}
    was_training = module.training
    module.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            width = max(map(len, chunk))
            ids = torch.full((len(chunk), width), PAD, dtype=torch.long)
            for r, row in enumerate(chunk):
                ids[r, : len(row)] = torch.tensor(row)
            logits = module.lm_head(module.encode(ids))
            for r, (kind, attractor, pos, right, wrong, number) in enumerate(items[start : start + batch_size]):
                row = logits[r, pos]
                ok = bool(row[right] > row[wrong])
                top = int(row.argmax())
                top_ok = pos_of_id.get(top) == kind and number_of_id[top] in (number, None)
                keys = [kind] + ([f"{kind}, attractor"] if kind == "verb" and attractor else [])
                for key in keys:
                    st = stats.setdefault(key, [0, 0, 0])
                    st[0] += 1
                    st[1] += ok
                    st[2] += top_ok
    module.train(was_training)
    return {
        key: {"items": n, "accuracy": round(hits / n, 4), "number_accuracy": round(top / n, 4)}
        for key, (n, hits, top) in sorted(stats.items())
    }


def heads_summary(module: Transformer, tokenizer: WordTokenizer, sentences: Sequence[Sentence]) -> list[dict]:
    """``attnviz.scoring.score_heads(...).table()`` of the model on ``sentences``, as JSON-ready rows."""
    table = score_heads(LoadedModel.from_local("training run", module, tokenizer), sentences).table()
    rows = table.to_dict(orient="records")
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "item"):
                row[key] = value.item()
            if isinstance(row[key], float):
                row[key] = round(row[key], 4)
    return rows




def random_model(seed: int = 0, init: str = "training") -> LoadedModel:
    """The trained model's architecture and tokenizer with random weights drawn with ``seed``:
    the fair "random weights" comparison for the trained model.

    ``init="training"``: the initialisation training starts from (``initial_model``; with
    seed 0, the committed model's own weights before training). ``init="default"``: the
    Transformer's default initialisation, as ``attnviz.local_model`` draws it.
    """
    info = checkpoint_info()
    config = TransformerConfig(**info["config"])
    if init == "training":
        module = initial_model(config, seed)
    elif init == "default":
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = Transformer(config)
    else:
        raise ValueError(f"init must be 'training' or 'default', not {init!r}")
    label = "" if init == "training" else ", default init"
    return LoadedModel.from_local(f"local (random weights, seed {seed}{label}, toy-grammar vocabulary)",
                                  module.eval().requires_grad_(False), WordTokenizer.from_dict(info["tokenizer"]))
