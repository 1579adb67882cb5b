"""The check, paid for once: a full check on the first recording of each (site, look-ahead, mask mode)
of a model, then every value's row sum, sign and finiteness and a sample of rows' masked keys on every
later recording (attnviz.sites "Paying for the check", attnviz.hooks ``_Recorder``).

A wrong reading must raise ``AttentionCheckError`` on the first recording AND on a later recording
of a model that was fully checked before. The misreadings are built as tests/lib/test_hooks_families.py
builds them: the T5 reader pointed at the position bias (``output[1]``), and weights changed by a
forward hook of the test's own on one attention module (registered before attnviz's, so attnviz
reads the changed tensor).
"""

from __future__ import annotations

import copy
import pickle
from contextlib import contextmanager

import pytest
import torch

import attnviz
from attnviz.capturing import run_batch
from attnviz.checks import SAMPLE_EVERY
from attnviz.encoding import plan_batches
from attnviz.errors import AttentionCheckError
from attnviz.recording import model_state
from tests.helpers.hf_families import build_hf, hf_inputs


def recorded(model, inputs, causal: bool = False):
    with torch.inference_mode(), attnviz.record(model, causal=causal) as rec:
        model(**inputs)
    return rec


@contextmanager
def changed_weights(module, change):
    """Inside the block, ``module`` returns ``change(weights)`` as its weights: a forward hook registered
    before ``record``'s own, so it runs first and attnviz reads the changed tensor."""
    handle = module.register_forward_hook(lambda m, a, out: (out[0], change(out[1]), *out[2:]))
    try:
        yield
    finally:
        handle.remove()


def halved(w):
    return w * 0.5


def with_nan(w):
    return w.masked_fill(torch.rand_like(w) < 0.05, float("nan"))


def leaked_to_padding(w):
    """Every row keeps summing to 1 and stays >= 0, but a tenth of it moves onto the last key, which is
    padding in the batch's second row: only the masked-key check can see it."""
    out = w * 0.9
    out[..., -1] += 0.1
    return out


def test_first_recording_checks_in_full_and_later_ones_do_not_repeat_it():
    model = build_hf("bert")
    inputs = hf_inputs("bert")
    state = model_state(model)
    assert state.checked == set()
    first = recorded(model, inputs)
    checked = set(state.checked)
    assert len(checked) == 2  # one key per self-attention layer, in this mask mode
    later = recorded(model, inputs)
    assert state.checked == checked  # nothing new to check in full
    assert torch.equal(first.stack(), later.stack())
    recorded(model, inputs, causal=True)  # another mask mode: checked in full once
    assert len(state.checked) == 4


@pytest.mark.parametrize("change, problem", [(halved, "rows sum"), (with_nan, "NaN"), (leaked_to_padding, "keys the mask forbids")])
@pytest.mark.parametrize("when", ["first", "later"])
def test_changed_weights_are_refused_on_the_first_and_on_a_later_recording(change, problem, when):
    model = build_hf("bert")
    inputs = hf_inputs("bert")
    if when == "later":
        recorded(model, inputs)  # a faithful recording: checked in full once
        assert model_state(model).checked
    with changed_weights(model.encoder.layer[1].attention.self, change):
        with pytest.raises(AttentionCheckError, match=rf"BertSelfAttention at 'encoder\.layer\.1\.attention\.self'.*{problem}"):
            recorded(model, inputs)
    recorded(model, inputs)  # the model itself is fine again


@contextmanager
def changed_in_place(module, change):
    """Inside the block, ``change(weights)`` is applied to ``module``'s weights in place, in the recording's own
    slot (BERT's weights are computed there, ``attnviz.in_place``): the check of a later recording leaves out the
    pass for negative weights there (attnviz's softmax wrote them), and must still refuse what a change leaves."""
    def hook(m, a, out):
        change(out[1])  # in place; the module's output stays what it returned

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.parametrize("change, problem", [
    (lambda w: w.sub_(0.25), "negative"),  # the rows' sums give it away; the check in full then names it
    (lambda w: w.view(-1)[::7].fill_(float("nan")), "NaN"),
    (lambda w: w.mul_(-1), "negative|rows sum"),
])
def test_weights_changed_in_their_slot_are_refused_on_a_later_recording(change, problem):
    model = build_hf("bert")
    inputs = hf_inputs("bert")
    recorded(model, inputs)  # checked in full once; later recordings compute the weights in their slot
    rec = recorded(model, inputs)
    assert rec.weights["self"][1].data_ptr() == rec.stack().numpy()[1].ctypes.data, "computed in the slot"
    with changed_in_place(model.encoder.layer[1].attention.self, change):
        with pytest.raises(AttentionCheckError, match=rf"BertSelfAttention at 'encoder\.layer\.1\.attention\.self'.*({problem})"):
            recorded(model, inputs)
    recorded(model, inputs)


@pytest.mark.parametrize("when", ["first", "later"])
def test_the_old_t5_reading_is_refused_on_the_first_and_on_a_later_recording(monkeypatch, when):
    """Reading output[1] of T5Attention (the position bias, as attnviz once did) fails the check, also after
    the model was recorded and checked in full with the right reading."""
    model = build_hf("t5")
    inputs = hf_inputs("t5")
    if when == "later":
        recorded(model, inputs)
        assert model_state(model).checked
    t5 = next(r for r in attnviz.sites.READERS if r.name == "t5")
    monkeypatch.setattr(t5, "weights_at", 1)
    with pytest.raises(AttentionCheckError, match=r"T5Attention at 'encoder\.block\.0\.layer\.0\.SelfAttention'"):
        recorded(model, inputs)


def test_a_later_recording_samples_other_rows_each_time():
    """A change on one query row only, on keys the mask forbids: the later recordings check the masked
    keys of every 8th row (SAMPLE_EVERY), from another row each time, so exactly one of 8 consecutive
    recordings refuses it (a misreading is wrong on every row: every recording refuses it)."""
    model = build_hf("gpt2")  # a decoder: every row but the last has masked keys (its look-ahead)
    inputs = hf_inputs("gpt2")
    recorded(model, inputs)

    def one_row_leaks(w):
        out = w.clone()
        out[:, :, 2, :] = 1 / w.size(-1)  # query 2 attends uniformly, also to the later keys it may not see
        return out

    with changed_weights(model.h[0].attn, one_row_leaks):
        refused = 0
        for _ in range(SAMPLE_EVERY):
            try:
                recorded(model, inputs)
            except AttentionCheckError as exc:
                assert "GPT2Attention at 'h.0.attn'" in str(exc) and "keys the mask forbids" in str(exc)
                refused += 1
    assert refused == 1


def test_the_state_lives_on_the_model_and_a_copy_starts_afresh():
    model = build_hf("bert")
    other = build_hf("bert")
    recorded(model, hf_inputs("bert"))
    assert model_state(model) is model_state(model) and model_state(model).checked
    assert model_state(other).checked == set()
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert model_state(copied) is not model_state(model) and model_state(copied).checked == set()
        assert torch.equal(recorded(copied, hf_inputs("bert")).stack(), recorded(model, hf_inputs("bert")).stack())


def test_a_replaced_module_is_found_again():
    """The sites are found once per module tree: a model whose attention module was replaced records the new one."""
    model = build_hf("bert")
    inputs = hf_inputs("bert")
    before = recorded(model, inputs).stack()
    layer = model.encoder.layer[0].attention
    layer.self = type(layer.self)(model.config, layer_idx=0).eval()
    after = recorded(model, inputs).stack()
    model.set_attn_implementation("eager")
    with torch.inference_mode():
        reference = torch.stack(model(**inputs, output_attentions=True).attentions)
    assert after.shape == before.shape == reference.shape and not torch.allclose(after[0], before[0])
    assert (after - reference).abs().max() <= 1e-5


def test_a_recording_keeps_one_array_and_a_run_is_a_view_of_it(minilm):
    batch = plan_batches(minilm, ["heavy snow makes driving more difficult"])[0]
    rec = run_batch(minilm, batch)
    stacked = rec.stack()
    assert stacked.data_ptr() == rec.stack().data_ptr() == rec.weights["self"][0].data_ptr()  # no copy
    n = batch.ids.shape[1]
    row = rec.row("self", 0, n, n)
    assert row.flags.c_contiguous and row.ctypes.data == stacked.data_ptr()
    padded = plan_batches(minilm, ["heavy snow", "heavy snow makes driving more difficult"])[0]
    rec = run_batch(minilm, padded)
    short = rec.row("self", 0, 4, 4)  # [CLS] heavy snow [SEP], the padding cut off: a copy
    assert short.flags.c_contiguous and short.shape == (6, 12, 4, 4)
    assert torch.equal(torch.from_numpy(short), rec.stack()[:, 0, :, :4, :4])
