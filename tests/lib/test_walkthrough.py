"""The walk-through's new numbers: the rest of a block, and an encoder-decoder with its own target sentence."""

from __future__ import annotations

import numpy as np
import torch

from attnviz import walkthrough as wt
from attnviz.local.checkpoint import load_checkpoint


def test_the_decoder_reads_its_own_sentence_so_cross_attention_is_rectangular():
    ed = wt.encoder_decoder()
    s, t = len(ed.source), len(ed.target)
    assert s != t and ed.target[1:] == wt.DECODER_WORDS
    assert ed.encoder.shape[-2:] == (s, s) and ed.decoder.shape[-2:] == (t, t) and ed.cross.shape[-2:] == (t, s)
    assert (np.triu(ed.decoder, 1) == 0).all() and (ed.encoder > 0).all()  # decoder masked, encoder not


def test_the_untrained_model_has_the_trained_architecture_and_diffuse_attention():
    trained, _, _ = load_checkpoint()
    ed = wt.encoder_decoder()
    c = trained.config
    assert ed.encoder.shape[:2] == ed.trained_encoder.shape[:2] == (c.num_layers, c.num_heads)
    uniform = 1 / len(ed.source)
    assert wt.mean_row_max(ed.encoder) < 1.5 * uniform  # as diffuse as a real initialisation
    assert wt.mean_row_max(ed.trained_encoder) > 2 * wt.mean_row_max(ed.encoder)


def test_block_steps_add_and_norm_and_a_shared_feed_forward():
    steps = wt.attention_steps(4, 2)
    block = wt.block_steps(steps)
    assert np.allclose(block.normed.mean(-1), 0, atol=1e-5) and np.allclose(block.normed.std(-1), 1, atol=1e-2)
    assert np.allclose(block.residual, steps.x + steps.output, atol=1e-6)
    assert block.ff_hidden.shape == (7, 16) and (block.ff_hidden >= 0).all()
    assert block.ff_per_position_equal < 1e-5
    assert block.pe_similarity[0] == np.float32(1.0) or abs(block.pe_similarity[0] - 1) < 1e-6


def test_the_new_steps_leave_the_global_rng_alone():
    before = torch.random.get_rng_state()
    wt.encoder_decoder()
    wt.block_steps(wt.attention_steps(4, 2))
    assert torch.equal(torch.random.get_rng_state(), before)
