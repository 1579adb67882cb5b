"""Loading encoders, decoders and encoder-decoders; capture_pair and generate; the memory check.

Tiny random models are saved with the offline default model's (BERT WordPiece) tokenizer, so
load_model reads them from a folder as it reads any model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoConfig

import attnviz
from attnviz import memory
from attnviz.ablation import has_lm_head, head_effect
from attnviz.generation import generate
from tests.helpers.tiny_models import IDS, PAD, SEP, TOKENIZER, V, save_models, seq2seq_configs

CONFIGS = {
    "llama": dict(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=32, **IDS),
    **seq2seq_configs(),
    "t5": dict(vocab_size=V, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4, decoder_start_token_id=PAD,
               eos_token_id=SEP, pad_token_id=PAD),
}
SOURCE, TARGET = "heavy snow makes driving difficult", "the snow is heavy"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return save_models(tmp_path_factory.mktemp("models"), CONFIGS)


@pytest.fixture(scope="module")
def loaded(folders):
    return {family: attnviz.load_model(str(folder)) for family, folder in folders.items()}


def test_each_kind_loads_with_its_head(loaded, minilm):
    assert (minilm.kind, minilm.can_generate, minilm.architecture) == ("encoder", False, "BertModel")
    assert (loaded["llama"].kind, loaded["llama"].can_generate, loaded["llama"].architecture) == (
        "decoder", True, "LlamaForCausalLM")
    assert (loaded["gpt2"].kind, loaded["gpt2"].architecture) == ("decoder", "GPT2LMHeadModel")
    assert (loaded["bart"].kind, loaded["bart"].can_generate, loaded["bart"].architecture) == (
        "encoder-decoder", True, "BartForConditionalGeneration")
    assert (loaded["t5"].kind, loaded["t5"].model_type) == ("encoder-decoder", "t5")
    local = attnviz.local_model()
    assert (local.kind, local.can_generate) == ("encoder-decoder", False)


def test_an_encoder_keeps_its_masked_word_head_only_when_the_checkpoint_has_one(tmp_path, tiny, minilm):
    """A BertForMaskedLM checkpoint loads with its head (switching a head off then shows predictions);
    one saved without a head (MiniLM's, or a bare BertModel) loads bare, never with a random head."""
    with_head, bare = tmp_path / "with_head", tmp_path / "bare"
    tiny.module.save_pretrained(with_head)
    tiny.module.base_model.save_pretrained(bare)
    for folder in (with_head, bare):
        TOKENIZER.save_pretrained(folder)
    loaded_head, loaded_bare = attnviz.load_model(str(with_head)), attnviz.load_model(str(bare))
    assert (loaded_head.architecture, has_lm_head(loaded_head)) == ("BertForMaskedLM", True)
    assert (loaded_bare.architecture, has_lm_head(loaded_bare), has_lm_head(minilm)) == ("BertModel", False, False)
    torch.testing.assert_close(loaded_head.module.cls.predictions.transform.dense.weight,
                               tiny.module.cls.predictions.transform.dense.weight)  # the checkpoint's head, not a new one
    run = attnviz.capture(loaded_head, "the snow [MASK] heavy")
    assert run.attention.shape[:2] == (2, 4)
    assert head_effect(loaded_head, "the snow [MASK] heavy", [(1, 2)]).predictions[0].word == "[MASK]"


def test_a_decoder_records_its_own_look_ahead(loaded):
    run = attnviz.capture(loaded["llama"], SOURCE)
    assert run.model_kind == "decoder" and not run.causal and run.look_ahead
    assert (np.triu(run.attention, 1) == 0).all() and np.allclose(run.attention.sum(-1), 1, atol=1e-5)


@pytest.mark.parametrize("family", ["bart", "t5"])
def test_capture_pair_equals_output_attentions(loaded, family):
    model = loaded[family]
    run = attnviz.capture_pair(model, SOURCE, TARGET)
    src = torch.tensor([TOKENIZER(SOURCE)["input_ids"]])
    start = model.module.config.decoder_start_token_id
    tgt = torch.tensor([[start] + TOKENIZER(text_target=TARGET)["input_ids"]])
    with torch.inference_mode():
        ref = model.module(input_ids=src, decoder_input_ids=tgt, output_attentions=True)
    n, t = src.size(1), tgt.size(1)
    assert run.tokens == TOKENIZER.convert_ids_to_tokens(src[0]) and len(run.target.tokens) == t
    assert run.target.special[0] and run.target.tokens[1:] == TOKENIZER.convert_ids_to_tokens(tgt[0, 1:])
    for got, want in ((run.attention, ref.encoder_attentions), (run.decoder_attention, ref.decoder_attentions),
                      (run.cross_attention, ref.cross_attentions)):
        want = torch.stack(want)[:, 0].numpy()
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5
    assert run.cross_attention.shape[-2:] == (t, n) and run.cross_mask.shape == (t, n) and run.decoder_mask.shape == (t, t)
    assert (run.decoder_mask == np.tril(np.ones((t, t), dtype=bool))).all()
    words = run.view("word", drop_special=True)
    assert words.target.tokens == TARGET.split() and words.tokens == SOURCE.split()
    assert words.cross_attention.shape[-2:] == (4, 5) and np.allclose(words.cross_attention.sum(-1), 1, atol=1e-5)
    assert np.allclose(words.decoder_attention.sum(-1), 1, atol=1e-5)


def test_capture_of_an_encoder_decoder_reads_the_source(loaded):
    run = attnviz.capture(loaded["bart"], SOURCE)
    assert run.cross_attention.shape[-2] == 1 and run.target.special.tolist() == [True]


@pytest.mark.parametrize("target", [None, "snow"])
def test_word_level_merges_each_side_by_its_own_words(loaded, target):
    """A target shorter than the source (or only the start token): the decoder's side is merged by the target's
    words, the encoder's by the source's (``Run.to_words`` once raised IndexError here)."""
    model = loaded["bart"]
    run = attnviz.capture(model, SOURCE) if target is None else attnviz.capture_pair(model, SOURCE, target)
    words = run.view("word")
    s, t = len(words.tokens), len(words.target.tokens)
    assert words.tokens[1:-1] == SOURCE.split() and t < s
    assert words.attention.shape[-2:] == (s, s) and words.decoder_attention.shape[-2:] == (t, t)
    assert words.cross_attention.shape[-2:] == (t, s) and words.cross_mask.shape == (t, s)
    assert np.allclose(words.cross_attention.sum(-1), 1, atol=1e-5)
    bare = run.view("word", drop_special=True)
    assert bare.tokens == SOURCE.split() and bare.target.tokens == ([] if target is None else [target])


def test_a_target_for_an_encoder_is_refused(minilm):
    with pytest.raises(ValueError, match="no decoder"):
        attnviz.capture_pair(minilm, SOURCE, TARGET)


def test_generate_decoder_matches_each_step(loaded):
    model = loaded["llama"]
    run = generate(model, SOURCE, max_new_tokens=6)
    steps = run.generated_positions
    prompt = TOKENIZER(SOURCE)["input_ids"][:-1]  # the prompt's trailing [SEP] (the end token) is dropped
    assert 1 <= len(steps) <= 6 and steps[0] == len(prompt) and run.generated.sum() == len(steps)
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        greedy = model.module.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                                       pad_token_id=PAD)
    assert len(run.tokens) == greedy.size(1)  # the same tokens as transformers' own greedy search
    # each generated token's row over everything before it = that step's own forward pass
    with torch.inference_mode():
        for p in steps:
            ref = torch.stack(model.module(input_ids=greedy[:, : p + 1], output_attentions=True).attentions)
            assert np.abs(run.attention[:, :, p, : p + 1] - ref[:, 0, :, -1].numpy()).max() <= 1e-5
            assert (run.attention[:, :, p, p + 1:] == 0).all()
    assert run.predicted_by(steps[0]) == len(prompt) - 1


def test_generate_encoder_decoder(loaded):
    run = generate(loaded["bart"], SOURCE, max_new_tokens=5)
    t = len(run.target.tokens)
    assert run.generated.tolist() == [False] + [True] * (t - 1) and 2 <= t <= 6
    assert run.cross_attention.shape[-2:] == (t, len(run.tokens))
    assert np.allclose(run.cross_attention.sum(-1), 1, atol=1e-5)


def test_generate_refuses_what_it_cannot_do(minilm, loaded):
    with pytest.raises(ValueError, match="cannot generate"):
        generate(minilm, SOURCE)
    for n in (0, 51):
        with pytest.raises(ValueError, match="between 1 and 50"):
            generate(loaded["llama"], SOURCE, max_new_tokens=n)


def test_unreadable_attention_is_refused_by_name(tmp_path):
    AutoConfig.for_model("xlnet", vocab_size=50, d_model=16, n_layer=1, n_head=2, d_inner=32).save_pretrained(tmp_path)
    with pytest.raises(attnviz.ModelLoadError, match="XLNetRelativeAttention"):
        attnviz.load_model(str(tmp_path))


def test_a_model_that_would_not_fit_is_refused_before_loading(folders):
    with pytest.raises(attnviz.ModelLoadError, match=r"needs about \d+ MB of memory .* only 0 MB free"):
        attnviz.load_model(str(folders["llama"]), available_memory=10_000)


# ---------------------------------------------------------------- attnviz.memory


def test_memory_message_and_estimate():
    need = memory.estimate_bytes(100_000_000, dtype_bytes=4, n_layers=12, n_heads=12, hidden=768)
    assert need > 400_000_000  # the weights alone are 400 MB
    memory.check_fits("m", need, available=None)  # unknown: let it try
    memory.check_fits("m", need, available=need)
    with pytest.raises(attnviz.ModelLoadError, match=r"'m' needs about \d+ MB of memory \(its weights and a 512-token run\), "
                                                     r"but this server has only 300 MB free"):
        memory.check_fits("m", need, available=300 * 2**20)


def test_cgroup_v1_v2_and_meminfo(tmp_path):
    proc = tmp_path / "cgroup"
    v1 = tmp_path / "v1"
    (v1 / "memory" / "app").mkdir(parents=True)
    (v1 / "memory" / "app" / "memory.limit_in_bytes").write_text("1000000\n")
    (v1 / "memory" / "app" / "memory.usage_in_bytes").write_text("400000\n")
    proc.write_text("4:memory:/app\n1:name=systemd:/\n")
    assert memory.cgroup_available(v1, proc) == 600_000
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("max\n")  # no limit
    (v2 / "memory.current").write_text("5\n")
    proc.write_text("0::/\n")
    assert memory.cgroup_available(v2, proc) is None
    (v2 / "memory.max").write_text("2000\n")
    assert memory.cgroup_available(v2, proc) == 1995
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable: 50 kB\n")
    assert memory.available_bytes(v2, proc, meminfo) == 1995
    assert memory.available_bytes(tmp_path / "none", proc, meminfo) == 50 * 1024
    assert memory.available_bytes(tmp_path / "none", proc, tmp_path / "none") is None
