"""Weights computed in their place in the recording (attnviz.in_place): bit for bit what eager attention computes,
for BERT's family; every other family, and a module whose in-place result differs, runs its own eager function."""

from __future__ import annotations

import importlib.util
import inspect
import sys
import textwrap
import types
from collections import defaultdict

import numpy as np
import pytest
import torch
from transformers.models.bert import modeling_bert

import attnviz
from attnviz import in_place
from attnviz.hooks import find_sites
from attnviz.projections import projections, stacked_head_norms
from attnviz.recording import model_state
from tests.helpers.hf_families import ENCODER_DECODER, build_hf, hf_inputs

STANDARD = ["bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "bart", "marian"]


def eager_reference(model, inputs: dict, causal_mask: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The model's output and weights on transformers' own eager attention (no attnviz)."""
    current = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            out = model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation(current)
    if "encoder_attentions" in out:
        weights = {"self": out.encoder_attentions, "decoder": out.decoder_attentions, "cross": out.cross_attentions}
    else:
        weights = {"self": out.attentions}
    return out[0], {k: torch.stack(v) for k, v in weights.items()}


@pytest.mark.parametrize("family", STANDARD)
def test_the_weights_and_the_output_are_eagers_bit_for_bit_and_computed_in_place(family):
    model = build_hf(family)
    inputs = hf_inputs(family)  # a padded batch: the additive mask is applied in place too
    assert in_place.adopt(model) and model.config._attn_implementation == in_place.IN_PLACE
    own_out, own = eager_reference(model, inputs)
    for turn in range(2):  # the first call in each mode is also run by eager and compared; the second is not
        with torch.inference_mode(), attnviz.record(model) as rec:
            out = model(**inputs)[0]
        assert torch.equal(out, own_out), turn
        for kind, weights in own.items():
            assert torch.equal(rec.stack(kind), weights), (kind, turn)
    trusted = model_state(model).in_place
    assert trusted and all(trusted.values())  # every site, every mode met: identical
    sites = {name for (name, _), _ in trusted}
    assert len(sites) == len(model_state(model).plan.sites)
    # nothing was copied: each layer's weights are a view of the kind's one array (not ALBERT's: its one shared
    # layer runs twice, so its array, made for one site, holds the first call and the stack is gathered)
    if family != "albert":
        stacked = rec.stack("self").numpy()
        assert all(np.shares_memory(w.numpy(), stacked) for w in rec.weights["self"])


def test_outside_a_recording_a_model_on_in_place_is_eager():
    model = build_hf("bert")
    inputs = hf_inputs("bert")
    own_out, _ = eager_reference(model, inputs)
    in_place.adopt(model)
    with torch.inference_mode():
        assert torch.equal(model(**inputs)[0], own_out)
    assert not model_state(model).in_place


@pytest.mark.parametrize("family", ["llama", "gpt2", "t5"])
def test_other_families_run_their_own_eager_function(family):
    model = build_hf(family)
    inputs = hf_inputs(family)
    in_place.adopt(model)
    own_out, own = eager_reference(model, inputs)
    with torch.inference_mode(), attnviz.record(model) as rec:
        out = model(**inputs)[0]
    assert torch.equal(out, own_out)
    assert torch.equal(rec.stack("self"), own["self"])
    assert not model_state(model).in_place  # never tried: their eager function is not BERT's


def _odd_attention_module(folder) -> types.ModuleType:
    """A module (a file in ``folder``) with BERT's self-attention class and eager function, the same source, in a
    namespace whose softmax is off by one part in a million: the in-place path, which computes its own softmax,
    then differs from the module's own eager function (which its forward calls in eager mode)."""
    forward = textwrap.indent(textwrap.dedent(inspect.getsource(modeling_bert.BertSelfAttention.forward)), "    ")
    path = folder / "attnviz_tests_odd_bert.py"
    path.write_text(
        "from __future__ import annotations\n\nfrom types import SimpleNamespace\n\n"
        "from transformers.models.bert import modeling_bert\n\n"
        "globals().update({k: v for k, v in vars(modeling_bert).items() if not k.startswith('__')})\n"
        "nn = SimpleNamespace(Module=torch.nn.Module, functional=SimpleNamespace(\n"
        "    softmax=lambda x, dim: torch.softmax(x, dim) * (1 + 2**-20), dropout=torch.nn.functional.dropout))\n\n\n"
        + inspect.getsource(modeling_bert.eager_attention_forward)
        + "\n\nclass OddSelfAttention(modeling_bert.BertSelfAttention):\n" + forward, encoding="utf-8")
    name = f"transformers.models.{path.stem}"  # attnviz reads the attention modules of transformers' packages
    spec = importlib.util.spec_from_file_location(name, path)
    odd = importlib.util.module_from_spec(spec)
    sys.modules[name] = odd
    spec.loader.exec_module(odd)
    return odd


def test_a_module_whose_in_place_result_differs_keeps_its_own_eager_weights(tmp_path):
    odd = _odd_attention_module(tmp_path)
    try:
        model = build_hf("bert")
        for layer in model.encoder.layer:
            layer.attention.self.__class__ = odd.OddSelfAttention
        assert in_place._standard(odd.eager_attention_forward)  # same source as BERT's: tried in place
        inputs = hf_inputs("bert")
        in_place.adopt(model)
        own_out, own = eager_reference(model, inputs)  # transformers' eager: the odd module's own function
        for _ in range(2):
            with torch.inference_mode(), attnviz.record(model) as rec:
                out = model(**inputs)[0]
            assert torch.equal(out, own_out)
            assert torch.equal(rec.stack("self"), own["self"])
        trusted = model_state(model).in_place
        assert trusted and not any(trusted.values())  # tried once per site and mode, and refused
    finally:
        sys.modules.pop(odd.__name__, None)


def test_the_default_model_is_loaded_on_in_place_and_captures_what_eager_computes(minilm):
    assert minilm.module.config._attn_implementation == in_place.IN_PLACE
    text = "heavy snow often keeps the children in the house"
    run = attnviz.capture(minilm, text)
    ids = minilm.tokenizer(text, return_tensors="pt")["input_ids"]
    _, own = eager_reference(minilm.module, {"input_ids": ids})
    assert np.array_equal(run.attention, own["self"][:, 0].numpy())


def test_families_with_a_decoder_keep_each_kind_in_its_own_array():
    model = build_hf("bart")
    inputs = hf_inputs("bart")
    in_place.adopt(model)
    with torch.inference_mode(), attnviz.record(model) as rec:
        model(**inputs)
    assert set(rec.kinds) == {"self", "decoder", "cross"} and "bart" in ENCODER_DECODER
    for kind in rec.kinds:
        stacked = rec.stack(kind).numpy()
        assert all(np.shares_memory(w.numpy(), stacked) for w in rec.weights[kind]), kind



@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # float64: each call runs eager's own function
@pytest.mark.parametrize("family", ["bert", "bart"])
def test_bert_family_calls_hand_their_values_with_no_hook_on_the_value_projection(family, dtype):
    """BERT's family hands the values each attention call weighted to the recording (``Target.values``), in place
    of a hook on the value projection: the value norms are those of the value projection's own outputs, read
    here by hooks of the test's own, bit for bit, whether the call was computed in place or by eager."""
    model = build_hf(family).to(dtype)
    in_place.adopt(model)
    sites = find_sites(model)
    kinds = {}
    for site in sites:
        parent = model.get_submodule(site.name.rsplit(".", 1)[0])
        kinds[site.name] = (site.kind, projections(site.module, parent))
    seen = defaultdict(list)  # kind -> [(projections, the value projection's output as values)] in call order
    handles = [p.value.register_forward_hook(lambda m, a, out, k=k, p=p: seen[k].append((p, p.values(out).clone())))
               for k, p in kinds.values()]
    try:
        with torch.inference_mode(), attnviz.record(model, values=True) as rec:
            hooks_during = [len(p.value._forward_hooks) for _, p in kinds.values()]
            model(**hf_inputs(family))
    finally:
        for handle in handles:
            handle.remove()
    assert hooks_during == [1] * len(sites)  # the test's own: attnviz put no hook on a value projection
    assert rec.values_missing is None and sorted(rec.kinds) == sorted(seen)
    for kind, calls in seen.items():
        expected = stacked_head_norms([p for p, _ in calls], [v for _, v in calls])
        assert torch.equal(rec.norms(kind), expected), kind
    assert bool(model_state(model).in_place) == (dtype == torch.float32)  # float64 never runs in place
