"""The local transformer trained on the toy grammar: checkpoint, loading, and the issue's claims.

Every claim is measured on the committed checkpoint (nothing here retrains it, except the
smoke test of the training script, on a few steps, into a temporary folder), on held-out
generated sentences: the grammar's test split, which training never sees.
"""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

import attnviz
from attnviz.head_scores import DIRECTIONS
from attnviz.local.checkpoint import checkpoint_paths, load_checkpoint
from attnviz.scoring import score_heads
from attnviz.toygrammar import grammar, lexicon
from attnviz.toygrammar.evaluate import agreement_accuracy, initial_model, random_model
from attnviz.toygrammar.grammar import held_out_corpus
from attnviz.toygrammar.train import TrainSettings, save_checkpoint, train
from attnviz.toygrammar.train import main as train_main

HEAD_TO_DEPENDENT = DIRECTIONS.index("head->dependent")


@pytest.fixture(scope="module")
def model() -> attnviz.LoadedModel:
    return attnviz.load_trained()


@pytest.fixture(scope="module")
def corpus():
    return held_out_corpus(1000)


@pytest.fixture(scope="module")
def scores(model, corpus):
    return score_heads(model, corpus)


def best(scores, relation: str, direction: int | None = None) -> tuple[tuple[int, int], float]:
    acc = scores.accuracy[scores.relations.index(relation)]
    acc = acc.max(axis=-1) if direction is None else acc[..., direction]
    layer, head = np.unravel_index(np.nanargmax(acc), acc.shape)
    return (int(layer), int(head)), float(acc[layer, head])


# ---------------------------------------------------------------- the checkpoint


def test_checkpoint_is_committed_small_and_describes_itself():
    weights, meta_path = checkpoint_paths()
    assert weights.is_file() and meta_path.is_file()
    assert weights.stat().st_size < 3_000_000  # "a few MB at most"
    meta = json.loads(meta_path.read_text())
    assert meta["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta["seed"] == 0
    assert meta["vocabulary"] == lexicon.vocabulary()
    assert meta["tokenizer"]["vocab"][:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert meta["config"]["vocab_size"] == len(meta["tokenizer"]["vocab"])
    c = meta["config"]
    assert 64 <= c["d_model"] <= 128 and 2 <= c["num_layers"] <= 4 and c["num_heads"] == 4
    t = meta["training"]
    assert t["command"] == "python -m attnviz.toygrammar.train"  # the default run made the committed files
    assert not t["stopped_early"] and t["steps"] == meta["settings"]["steps"]
    assert t["seconds"] < 600  # at most 10 minutes
    assert t["final_loss"] < t["first_loss"] - 1.0
    assert t["held_out_agreement"]["verb"]["accuracy"] >= 0.95


def test_load_trained_is_named_and_cached(model):
    assert model.name == attnviz.models.TRAINED_NAME == "local (trained on the toy grammar)"
    assert attnviz.load_trained() is model
    assert model.is_local and not model.module.training
    assert (model.n_layers, model.n_heads) == (model.module.config.num_layers, model.module.config.num_heads)
    assert model.tokenizer.vocab[5:] == lexicon.vocabulary()


def test_vocabulary_and_unknown_words(model):
    assert attnviz.load_trained().tokenizer.vocab[5:] == lexicon.vocabulary()
    enc = model.tokenizer.encode("The dogs that the cat sees run to Paris")
    assert enc.unknown == ["to", "Paris"]
    assert enc.tokens == ["[CLS]", "The", "dogs", "that", "the", "cat", "sees", "run", "to", "Paris", "[SEP]"]
    run = attnviz.capture(model, "the dogs that the cat sees run to Paris")
    assert run.attention.shape == (model.n_layers, model.n_heads, 11, 11)
    assert np.allclose(run.attention.sum(-1), 1.0, atol=1e-5)


def test_missing_checkpoint_says_how_to_get_it(tmp_path):
    with pytest.raises(attnviz.ModelLoadError, match="python -m attnviz.toygrammar.train"):
        load_checkpoint(tmp_path)
    weights, meta = checkpoint_paths()
    shutil.copy(meta, tmp_path / meta.name)  # description without weights
    with pytest.raises(attnviz.ModelLoadError, match="weights file is missing"):
        load_checkpoint(tmp_path)
    (tmp_path / weights.name).write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # weights of another run
    with pytest.raises(attnviz.ModelLoadError, match="do not match"):
        load_checkpoint(tmp_path)


def test_missing_checkpoint_through_load_trained(tmp_path, monkeypatch):
    monkeypatch.setattr(attnviz.models, "CHECKPOINT_DIR", tmp_path)
    attnviz.load_trained.cache_clear()
    try:
        with pytest.raises(attnviz.ModelLoadError, match="missing"):
            attnviz.load_trained()
    finally:
        attnviz.load_trained.cache_clear()


# ---------------------------------------------------------------- the claims


def test_masked_word_agreement_on_held_out_sentences(model, corpus):
    figures = agreement_accuracy(model.module, model.tokenizer, corpus)
    assert figures["verb"]["items"] > 1000 and figures["det"]["items"] > 1000
    assert figures["verb"]["accuracy"] >= 0.95
    assert figures["det"]["accuracy"] >= 0.95
    assert figures["verb, attractor"]["items"] > 300
    assert figures["verb, attractor"]["accuracy"] >= 0.95  # across a noun of the other number


def test_a_head_finds_the_subject_of_verbs(model, corpus, scores):
    (layer, head), acc = best(scores, "nsubj", HEAD_TO_DEPENDENT)  # the verb's most-attended word
    assert scores.counts[scores.relations.index("nsubj")] > 1000
    assert acc >= 0.80
    # the same head, across relative clauses and prepositional phrases, and inside relative clauses
    kinds = score_heads(model, grammar.with_nsubj_kinds(corpus), subtypes=True)
    for kind in grammar.NSUBJ_KINDS:
        r = kinds.relations.index(f"nsubj:{kind}")
        assert kinds.counts[r] > 100
        assert kinds.accuracy[r, layer, head, HEAD_TO_DEPENDENT] >= 0.80, kind


def test_a_head_links_determiners_and_nouns(scores):
    _, acc = best(scores, "det")
    assert acc >= 0.90


@pytest.mark.parametrize("init", ["training", "default"])
def test_random_weights_do_not_beat_the_baseline(corpus, init):
    model = random_model(0, init=init)
    assert model.tokenizer.vocab == attnviz.load_trained().tokenizer.vocab
    assert model.module.config == attnviz.load_trained().module.config
    scores = score_heads(model, corpus)
    _, baseline = scores.best_baseline()
    for relation in ("nsubj", "det"):
        r = scores.relations.index(relation)
        _, acc = best(scores, relation)
        assert acc - baseline[r] <= 0.10, (relation, acc, baseline[r])


def test_random_model_is_the_trained_models_starting_point():
    random0 = random_model(0).module.state_dict()
    config = attnviz.load_trained().module.config
    start = initial_model(config, 0).state_dict()
    assert all(torch.equal(random0[k], start[k]) for k in start)
    assert not torch.equal(random0["embed.weight"], attnviz.load_trained().module.state_dict()["embed.weight"])


# ---------------------------------------------------------------- the training script


def test_training_smoke(tmp_path):
    threads = torch.get_num_threads()
    settings = TrainSettings(steps=40, batch_size=32, pool=400, warmup=5, log_every=0)
    result = train(settings, log=None, evaluate=False)
    assert torch.get_num_threads() == threads
    losses = result.losses
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3  # the loss goes down
    again = train(TrainSettings(steps=5, batch_size=32, pool=400, warmup=5, log_every=0), log=None, evaluate=False)
    assert again.losses == losses[:5] or np.allclose(again.losses, losses[:5])  # fixed seeds
    save_checkpoint(result, tmp_path, "smoke", command="test")
    module, tokenizer, info = load_checkpoint(tmp_path, "smoke")
    assert info["training"]["steps"] == 40 and tokenizer.vocab == result.tokenizer.vocab
    ids = torch.tensor([[2, 10, 20, 3]])
    assert torch.allclose(module(ids), result.module(ids))


def test_training_command_line(tmp_path, capsys):
    assert train_main(["--steps", "3", "--pool", "50", "--batch-size", "8", "--eval-sentences", "20",
                       "--out", str(tmp_path), "--name", "cli"]) == 0
    out = capsys.readouterr().out
    assert "held-out verb" in out and "wrote" in out
    info = json.loads((tmp_path / "cli.json").read_text())
    assert info["training"]["command"].endswith("--name cli")
    assert "held_out_heads" in info["training"] and "held_out_agreement" in info["training"]
    assert train_main(["--steps", "0", "--out", str(tmp_path)]) == 2
