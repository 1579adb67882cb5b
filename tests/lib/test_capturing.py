"""What attnviz shows is what the Hugging Face model computes (real MiniLM, offline)."""

import json
import math
import threading

import numpy as np
import pytest
import torch
from transformers import (
    AlbertConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    DistilBertConfig,
    ElectraConfig,
    GPT2Config,
    RobertaConfig,
    XLMRobertaConfig,
)

import attnviz
from attnviz.encoding import plan_batches
from attnviz.models import default_model_path
from tests.helpers.paths import ROOT

LONG = " ".join(
    ["The committee reviewed the unconventional proposal carefully, questioning every assumption twice."] * 20
)
SENTENCES = [
    "heavy snow makes driving more difficult",
    "The quick brown fox jumps over the lazy dog.",
    "Unbelievably, the antidisestablishmentarianism debate continued overnight.",  # many multi-piece words
    "She said: \"I can't believe it's already 2026!\"",
    "Bonjour, ça va? 東京は大きい。",
    LONG,
]


def reference_attentions(model, text):
    tok = model.tokenizer
    enc = tok(text, return_tensors="pt", truncation=True, max_length=model.max_tokens)
    with torch.inference_mode():
        out = model.module(**enc, output_attentions=True)
    return torch.stack(out.attentions)[:, 0].numpy(), out.last_hidden_state


def test_minilm_shape_and_tokens(minilm):
    run = attnviz.capture(minilm, SENTENCES[0])
    assert minilm.n_layers == 6 and minilm.n_heads == 12 and minilm.architecture == "BertModel"
    assert run.tokens == ["[CLS]", "heavy", "snow", "makes", "driving", "more", "difficult", "[SEP]"]
    assert run.attention.shape == (6, 12, 8, 8) and run.attention.dtype == np.float32
    assert run.special.tolist() == [True] + [False] * 6 + [True]
    assert run.mask.all() and not run.causal and run.n_truncated == 0


@pytest.mark.parametrize("text", SENTENCES, ids=lambda t: t[:20])
def test_captured_equals_output_attentions(minilm, text):
    run = attnviz.capture(minilm, text)
    reference, _ = reference_attentions(minilm, text)
    assert run.attention.shape == reference.shape
    assert np.abs(run.attention - reference).max() <= 1e-5
    # the comparison is not vacuous: heads differ from one another and from uniform attention
    n = reference.shape[-1]
    assert np.abs(reference - reference[:1, :1]).max() > 0.1 and np.abs(reference - 1 / n).max() > 0.1


def test_long_sentence_is_long_and_multi_piece_words_exist(minilm):
    assert attnviz.capture(minilm, LONG).n_tokens > 200
    run = attnviz.capture(minilm, SENTENCES[2])
    assert any(len(span) > 1 for span in run.word_spans)


def test_one_head_recomputed_from_hooked_queries_and_keys(minilm):
    layer, head = 3, 5
    attention = minilm.module.encoder.layer[layer].attention.self
    seen = {}
    handles = [
        attention.query.register_forward_hook(lambda m, a, o: seen.__setitem__("q", o)),
        attention.key.register_forward_hook(lambda m, a, o: seen.__setitem__("k", o)),
    ]
    try:
        run = attnviz.capture(minilm, SENTENCES[3])
    finally:
        for h in handles:
            h.remove()
    d = attention.attention_head_size
    q = seen["q"][0].view(-1, minilm.n_heads, d)[:, head]  # (tokens, d_head)
    k = seen["k"][0].view(-1, minilm.n_heads, d)[:, head]
    manual = torch.softmax(q @ k.T / math.sqrt(d), dim=-1).numpy()
    assert np.abs(run.head(layer, head) - manual).max() <= 1e-5


def test_default_sdpa_model_is_captured_and_its_outputs_unchanged():
    path = default_model_path()
    module = AutoModel.from_pretrained(path).eval()  # transformers' default: SDPA, which hands back no weights
    assert module.config._attn_implementation == "sdpa"
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok(SENTENCES[:3], padding=True, return_tensors="pt")
    with torch.inference_mode():
        before = module(**enc).last_hidden_state
        with attnviz.record(module) as rec:
            during = module(**enc).last_hidden_state
        after = module(**enc).last_hidden_state
        module.set_attn_implementation("eager")
        reference = torch.stack(module(**enc, output_attentions=True).attentions)
    # capture computes the model's own function (eager and SDPA differ only by float rounding)
    assert torch.allclose(during, before, rtol=1e-4, atol=5e-5)
    assert torch.equal(before, after)
    assert (rec.stack() - reference).abs().max() <= 1e-5


def test_hidden_states_equal_with_and_without_capture(minilm):
    enc = minilm.tokenizer(SENTENCES[1], return_tensors="pt")
    with torch.inference_mode():
        plain = minilm.module(**enc).last_hidden_state
        with attnviz.record(minilm.module):
            captured = minilm.module(**enc).last_hidden_state
    assert torch.equal(plain, captured)


def test_causal_mask_on_an_encoder(minilm):
    run = attnviz.capture(minilm, SENTENCES[1], causal=True)
    upper = np.triu(run.attention, 1)
    assert (upper == 0).all()
    assert np.allclose(run.attention.sum(-1), 1, atol=1e-5)
    assert run.causal and (run.mask == np.tril(np.ones_like(run.mask))).all()
    plain = attnviz.capture(minilm, SENTENCES[1])
    assert not np.allclose(plain.attention, run.attention)
    # the first query row can only look at itself
    assert np.allclose(run.attention[:, :, 0, 0], 1)


def test_padding_is_masked_in_batches(minilm):
    runs = attnviz.capture_batch(minilm, SENTENCES[:4], batch_size=4)
    for text, run in zip(SENTENCES[:4], runs):
        single = attnviz.capture(minilm, text)
        assert run.tokens == single.tokens
        assert np.abs(run.attention - single.attention).max() <= 1e-5
        assert run.mask.all()


def test_a_batch_is_right_padded_with_the_pad_token_and_masked(minilm):
    """plan_batches: rows of other lengths padded to the longest with the tokenizer's pad id, mask 0 there."""
    texts = ["heavy snow makes driving more difficult", "snow", "heavy snow falls"]
    batch = plan_batches(minilm, texts, batch_size=3)[0]
    lengths = [len(e.ids) for e in batch.encoded]
    assert batch.ids.dtype == batch.attention_mask.dtype == torch.long and batch.ids.shape == (3, max(lengths))
    for row, (e, n) in enumerate(zip(batch.encoded, lengths)):
        assert batch.ids[row, :n].tolist() == e.ids and batch.attention_mask[row].tolist() == [1] * n + [0] * (max(lengths) - n)
        assert (batch.ids[row, n:] == minilm.tokenizer.pad_token_id).all()
    (words,) = plan_batches(minilm, [["heavy", "snow", "falls"]])[0].encoded  # a word list: offsets in the joined words
    assert [words.text[a:b] for (a, b), s in zip(words.offsets, words.special) if not s] == ["heavy", "snow", "falls"]
    assert words.word_ids == [None, 0, 1, 2, None] and words.tokens == ["[CLS]", "heavy", "snow", "falls", "[SEP]"]


def test_word_level_sums_to_and_averages_from(minilm):
    run = attnviz.capture(minilm, "Unbelievably heavy snow")
    spans = run.word_spans
    pieces = spans[0]
    assert len(pieces) > 1  # "unbelievably" is several word pieces
    words = run.to_words()
    assert words.level == "word" and words.tokens[1] == "Unbelievably"
    token = run.attention
    # to the word: sum of its pieces' columns, from the word: mean of its pieces' rows
    expected_to = token[:, :, 0, pieces].sum(-1)
    assert np.allclose(words.attention[:, :, 0, 1], expected_to, atol=1e-6)
    expected_from = token[:, :, pieces, :][..., spans[1][0]].mean(-1)
    assert np.allclose(words.attention[:, :, 1, 2], expected_from, atol=1e-6)
    assert np.allclose(words.attention.sum(-1), 1, atol=1e-5)


def test_special_token_removal_renormalises_rows(minilm):
    run = attnviz.capture(minilm, SENTENCES[0])
    for level in ("token", "word"):
        view = run.view(level, drop_special=True)
        assert view.specials_removed and not view.special.any()
        assert "[CLS]" not in view.tokens and "[SEP]" not in view.tokens
        assert np.allclose(view.attention.sum(-1), 1, atol=1e-5)
    kept = run.attention[..., 1:-1, 1:-1]
    assert np.allclose(run.view("token", True).attention, kept / kept.sum(-1, keepdims=True), atol=1e-6)
    assert not run.specials_removed and run.level == "token"  # options are explicit, never silent


def test_truncation_is_reported(minilm):
    run = attnviz.capture(minilm, "word " * 3000)
    assert run.n_tokens == 512 and run.n_input_tokens == 3002 and run.n_truncated == 2490


def test_empty_text_is_refused(minilm):
    for text in ("", "   \n\t"):
        with pytest.raises(attnviz.EmptyInputError):
            attnviz.capture(minilm, text)


@pytest.mark.slow
def test_eight_threads_get_the_sequential_results(minilm):
    texts = [f"Sentence number {i} says {'very ' * i}different things about snow." for i in range(8)]
    sequential = [attnviz.capture(minilm, t).attention for t in texts]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        for _ in range(3):
            results[i] = attnviz.capture(minilm, texts[i]).attention

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        assert np.array_equal(results[i], sequential[i])


TINY = dict(vocab_size=120, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32)
FAMILY = {
    "bert": BertConfig(**TINY),
    "roberta": RobertaConfig(**TINY, pad_token_id=1),
    "xlm-roberta": XLMRobertaConfig(**TINY, pad_token_id=1),
    "electra": ElectraConfig(**TINY, embedding_size=16),
    "albert": AlbertConfig(**TINY, embedding_size=8),
    "distilbert": DistilBertConfig(vocab_size=120, dim=16, n_layers=2, n_heads=4, hidden_dim=32),
    "gpt2": GPT2Config(vocab_size=120, n_embd=16, n_layer=2, n_head=4),
}


@pytest.mark.parametrize("family", sorted(FAMILY))
def test_family_of_architectures(family):
    torch.manual_seed(0)
    module = AutoModel.from_config(FAMILY[family]).eval()  # default attention implementation
    ids = torch.randint(3, 120, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # padding in the batch
    with torch.inference_mode():
        with attnviz.record(module) as rec:
            module(input_ids=ids, attention_mask=mask)
        with attnviz.record(module, causal=True) as causal:
            module(input_ids=ids, attention_mask=mask)
        module.set_attn_implementation("eager")
        reference = torch.stack(module(input_ids=ids, attention_mask=mask, output_attentions=True).attentions)
    captured = rec.stack()
    assert captured.shape == (2, 2, 4, 9, 9)
    assert (captured - reference).abs().max() <= 1e-5
    assert (captured[:, 1, :, :, 6:] == 0).all()  # padded keys get no attention
    assert (torch.triu(causal.stack(), 1) == 0).all()


def test_load_a_local_folder(tmp_path):
    tok = AutoTokenizer.from_pretrained(default_model_path())
    torch.manual_seed(0)
    AutoModel.from_config(BertConfig(**{**TINY, "vocab_size": tok.vocab_size})).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model = attnviz.load_model(str(tmp_path))
    run = attnviz.capture(model, "heavy snow")
    assert model.n_layers == 2 and run.attention.shape == (2, 4, 4, 4)


def test_refusals_are_clear(tmp_path):
    with pytest.raises(attnviz.ModelLoadError, match="offline|cache|Hub"):
        attnviz.load_model("nobody-has/this-model-xyz")
    with pytest.raises(attnviz.ModelLoadError, match="no model folder"):
        attnviz.load_model("./does/not/exist")
    with pytest.raises(attnviz.ModelLoadError, match="'bad id with spaces' is neither a local folder nor a valid"):
        attnviz.load_model("bad id with spaces")
    # a path that leaves the working folder and names a file: refused as a path, its contents not shown
    with pytest.raises(attnviz.ModelLoadError, match=r"no model folder at '\.\./\.\./etc/passwd'") as refused:
        attnviz.load_model("../../etc/passwd")
    assert "root:" not in str(refused.value)
    with pytest.raises(attnviz.ModelLoadError, match="No model name"):
        attnviz.load_model("  ")
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({
        "model_type": "fancy-custom", "auto_map": {"AutoConfig": "configuration_fancy.FancyConfig",
                                                    "AutoModel": "modeling_fancy.FancyModel"},
    }))
    (remote / "configuration_fancy.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(attnviz.ModelLoadError, match="remote code"):
        attnviz.load_model(str(remote))
    big = tmp_path / "big"
    big.mkdir()  # a config for a ~1.2B-parameter BERT and no weights at all: refused before loading any
    BertConfig(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, intermediate_size=8192).save_pretrained(big)
    with pytest.raises(attnviz.ModelLoadError, match=r"\d+M parameters, above this app's cap of 400M"):
        attnviz.load_model(str(big))
    with pytest.raises(attnviz.ModelLoadError, match="above this app's cap of 1M"):
        attnviz.load_model(attnviz.DEFAULT_MODEL, max_params=1_000_000)


@pytest.mark.slow
def test_default_model_needs_no_network(tmp_path):
    """Import, load the default and capture with every socket connection refused (and no offline flag)."""
    import os
    import subprocess
    import sys

    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network is off in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import attnviz\n"
        "run = attnviz.capture(attnviz.load_model(attnviz.DEFAULT_MODEL), 'heavy snow')\n"
        "print(run.attention.shape)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["PYTHONPATH"] = str(ROOT)
    env["HF_HOME"] = str(tmp_path)  # an empty cache: nothing can come from there either
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(6, 12, 4, 4)" in done.stdout
