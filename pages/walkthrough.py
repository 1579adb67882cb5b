"""From attention to transformers: the mechanism step by step, with live numbers."""

import streamlit as st

import attnviz  # noqa: F401 - the package before its modules (see app.py)
from components import controls, startup
from components.navigation import ensure_app

ensure_app()
startup.ready()  # torch, transformers, attnviz: once per server, before the page's own modules below

import numpy as np
import pandas as pd

from attnviz import figures
from attnviz import walkthrough as wt
from components.charts import chart


def table(matrix: np.ndarray, rows: list[str], prefix: str) -> pd.DataFrame:
    return pd.DataFrame(np.round(matrix, 3), index=rows, columns=[f"{prefix}{i + 1}" for i in range(matrix.shape[1])])


@st.cache_resource(show_spinner=False)
def encoder_decoder() -> wt.EncoderDecoder:
    """The encoder-decoder step's numbers: fixed inputs and seed, so computed once per process (read-only)."""
    return wt.encoder_decoder()


def heat(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, key: str) -> None:
    chart(figures.heatmap(matrix, rows, cols, title=title, side=220), key=key, width="content")


controls.arrive()  # the link's values, or those of the page before (components/session_keys.py)
st.title("From attention to transformers")
st.markdown(
    "Every number on this page is computed live by attnviz's from-scratch transformer "
    "(`attnviz/local/model.py`) and by PyTorch's own modules. Change the settings and watch them move."
)
causal = st.toggle("Look-ahead mask", key="causal",
                   help="The same toggle as the explorer's: position i may attend only to positions ≤ i.")

st.header("1. Queries, keys and values")
c1, c2, c3 = st.columns(3)
d_model = c1.number_input("Embedding size (d_model)", 2, 16, 4, step=1, key="wt_d_model")
num_heads = c2.number_input("Number of heads", 1, 8, 2, step=1, key="wt_heads")
cross = c3.toggle("Cross-attention (K, V from another sentence Z)", key="wt_cross")
error = wt.check_heads(int(d_model), int(num_heads))
if error:
    st.error(f"{error}. For example, d_model={int(d_model)} works with "
             f"{', '.join(str(h) for h in range(1, int(d_model) + 1) if int(d_model) % h == 0)} heads.")
    controls.write_url()
    st.stop()
steps = wt.attention_steps(int(d_model), int(num_heads), causal=causal, cross=cross)
source_words = wt.SOURCE_WORDS if cross else wt.WORDS
st.markdown(
    f"Each of the {len(wt.WORDS)} tokens is a {int(d_model)}-dimensional vector (rows of **X**). "
    "Three learnable matrices map it to a query, a key and a value: **Q = X W_Q**, "
    + ("and, for cross-attention, keys and values come from the other sentence: **K = Z W_K, V = Z W_V**."
       if cross else "**K = X W_K**, **V = X W_V** (self-attention: all three from the same X).")
)
cols = st.columns(2 if cross else 1)
cols[0].dataframe(table(steps.x, wt.WORDS, "x"), key="wt_x")
if cross:
    cols[1].dataframe(table(steps.z, wt.SOURCE_WORDS, "z"), key="wt_z")
q_all = steps.q.transpose(1, 0, 2).reshape(len(wt.WORDS), -1)
k_all = steps.k.transpose(1, 0, 2).reshape(len(source_words), -1)
cols = st.columns(2)
cols[0].markdown("**Q**")
cols[0].dataframe(table(q_all, wt.WORDS, "q"), key="wt_q")
cols[1].markdown("**K**")
cols[1].dataframe(table(k_all, source_words, "k"), key="wt_k")

st.header("2. Scores, scaling, mask, softmax")
demo = wt.scaling_demo()
st.markdown(
    f"The score of query i and key j is their dot product, **Q Kᵀ**. If the d_k entries of a query and a key are "
    f"random with variance 1 (as here), their dot product has variance d_k, so its spread (standard deviation) is "
    f"about √d_k: for d_k = {demo['d_k']} it is {demo['std_unscaled']:.2f}, and softmax then puts "
    f"{demo['max_weight_unscaled']:.0%} of a row on one key. (For vectors of length 1 the spread would be about "
    f"1/√d_k instead: it is the entries' variance that makes it grow.) Dividing by √d_k brings the spread back to "
    f"{demo['std_scaled']:.2f} (max weight {demo['max_weight_scaled']:.0%}), so softmax is not saturated and "
    "gradients keep flowing. "
    + ("The look-ahead mask then sets every score above the diagonal to −∞, so softmax gives those keys exactly 0."
       if causal and not cross else "No mask: every query may look at every key.")
)
h = 0
st.markdown("**Q Kᵀ / √d_k** (head 1)" + (", masked" if causal and not cross else "") + f": {len(wt.WORDS)} queries × "
            f"{len(source_words)} keys")
st.dataframe(table(steps.masked[h], wt.WORDS, "k"), key="wt_scaled", width="content")
c2, c3 = st.columns(2)
with c2:
    heat(steps.weights[h], wt.WORDS, source_words, "softmax (head 1)", "wt_weights")
with c3:
    st.markdown("**Weights × V = head output**")
    st.dataframe(table(steps.head_outputs[h], wt.WORDS, "o"), key="wt_head_out", width="content")
st.caption(f"Rows of the softmax sum to 1: {np.round(steps.weights[h].sum(-1), 4).tolist()}")

st.header("3. Many heads")
shapes = wt.split_example(len(wt.WORDS), int(d_model), int(num_heads))
d_head = int(d_model) // int(num_heads)
st.markdown(
    f"Multi-head attention first projects X to Q, K and V (each {int(d_model)} wide), then splits each token's "
    f"*projected* query, key and value into {int(num_heads)} pieces of {d_head} dims: Q {shapes['X']} → "
    f"{shapes['split into heads']} per head, i.e. {shapes['small vectors'][0]} vectors of {shapes['small vectors'][1]} dims. "
    f"So no head sees only a slice of X: head h computes X W_Q[:, h-th block of {d_head} columns], a projection of "
    "the whole embedding of its own. Each head attends on its own; the head outputs are concatenated back to "
    f"{shapes['concatenated']} and a final linear layer mixes them. Head size = d_model ÷ heads is the usual "
    "*convention* (it keeps the cost of all heads equal to one full-width head and the concatenation d_model wide), "
    "not a law: PyTorch's `nn.MultiheadAttention` takes separate `kdim`/`vdim`, and some models set the head size "
    "apart. This from-scratch module follows the convention, so it asks for a d_model that the number of heads divides."
)
cols = st.columns(min(int(num_heads), 4))
for i in range(int(num_heads)):
    with cols[i % len(cols)]:
        heat(steps.weights[i], wt.WORDS, source_words, f"head {i + 1}", f"wt_head_{i}")
same = float(np.abs(steps.weights - steps.module_weights).max())
st.success(f"The step-by-step weights equal what attnviz's hooks recorded from the module "
           f"(max difference {same:.1e}); the module's output equals concat → linear "
           f"(max difference {float(np.abs(steps.output - steps.module_output).max()):.1e}).")

st.header("4. The rest of a transformer block")
block = wt.block_steps(steps)
st.subheader("Positional encoding")
st.markdown(
    "Attention itself ignores order: shuffle the tokens and each gets the same output, shuffled. So before the first "
    f"layer each token's vector gets its position's **sinusoidal encoding** added: PE(pos, 2i) = sin(pos / 10000^(2i/d)), "
    f"PE(pos, 2i+1) = cos(…). Below, PE for the {len(wt.WORDS)} positions at d_model = {int(d_model)}. Nearby "
    "positions have similar encodings: the cosine similarity of PE(0) with each position is "
    + ", ".join(f"{v:.2f}" for v in block.pe_similarity)
    + (" (with so few dimensions the pattern repeats soon; 64 or 512 dims keep positions apart far longer)." if int(d_model) < 16 else ".")
)
c1, c2 = st.columns(2)
c1.markdown("**PE** (rows: positions)")
c1.dataframe(table(block.pe, [f"{i}: {w}" for i, w in enumerate(wt.WORDS)], "d"), key="wt_pe", width="content")
c2.markdown("**X + PE**: what the first layer reads")
c2.dataframe(table(block.x_plus_pe, wt.WORDS, "d"), key="wt_x_pe", width="content")

st.subheader("Residual connection and layer norm")
st.markdown(
    "The attention output is *added* to its input (a residual connection: the layer learns a change to X, and "
    "gradients reach early layers through the sum), then each token's vector is normalised to mean 0 and "
    "standard deviation 1 (layer norm, followed by a learned scale and shift, here 1 and 0). Row means before: "
    + ", ".join(f"{v:.2f}" for v in block.residual.mean(-1)) + "; after: "
    + ", ".join(f"{abs(v):.2f}" for v in block.normed.mean(-1)) + ". Standard deviations after: "
    + ", ".join(f"{v:.2f}" for v in block.normed.std(-1)) + "."
)
c1, c2 = st.columns(2)
c1.markdown("**X + attention output**")
c1.dataframe(table(block.residual, wt.WORDS, "d"), key="wt_residual", width="content")
c2.markdown("**LayerNorm(X + attention output)**")
c2.dataframe(table(block.normed, wt.WORDS, "d"), key="wt_norm", width="content")

st.subheader("Feed-forward block")
d_ff = block.ff_hidden.shape[1]
st.markdown(
    f"Then every token goes, on its own, through the same two-layer network: {int(d_model)} → {d_ff} (ReLU) → "
    f"{int(d_model)}. Here ReLU zeroes {np.mean(block.ff_hidden == 0):.0%} of the {len(wt.WORDS)} × {d_ff} hidden "
    "values. It is the same network at every position: feeding one token alone gives the same result as feeding "
    f"the whole sentence (max difference {block.ff_per_position_equal:.1e}). Another add & norm follows, and that is "
    "one encoder layer; a model stacks several."
)
c1, c2 = st.columns(2)
c1.markdown(f"**Feed-forward output** ({len(wt.WORDS)} × {int(d_model)})")
c1.dataframe(table(block.ff_out, wt.WORDS, "d"), key="wt_ff", width="content")
c2.markdown("**The block's output**: LayerNorm(that + feed-forward)")
c2.dataframe(table(block.block_out, wt.WORDS, "d"), key="wt_block", width="content")

st.header("5. PyTorch's own modules")
st.table(pd.DataFrame([(k, str(v)) for k, v in wt.torch_shapes().items()], columns=["what", "shape"]))

st.header("6. Encoder and decoder")
ed = encoder_decoder()
st.markdown(
    "The encoder reads the source sentence and lets every token look at every other token: it is never masked "
    "(the look-ahead toggle at the top is for the steps above and for the explorer; an encoder sees all of its input). "
    "The decoder reads its own sentence, the target it is writing (here the German translation, starting from "
    "[CLS]): its self-attention uses the look-ahead mask, then it cross-attends from each target token to the "
    "encoder's output, so cross-attention is target × source and rectangular. "
    f"Below, layer 1, head 1 of the trained toy-grammar model's architecture ({ed.architecture}) at a standard "
    "initialisation (every weight from N(0, 0.02²), as BERT and GPT-2 start)."
)
c1, c2, c3 = st.columns(3)
with c1:
    heat(ed.encoder[0, 0], ed.source, ed.source, "encoder self-attention (unmasked)", "wt_enc")
with c2:
    heat(ed.decoder[0, 0], ed.target, ed.target, "decoder self-attention (masked)", "wt_dec")
with c3:
    heat(ed.cross[0, 0], ed.target, ed.source, "cross-attention: target → source", "wt_cross_attn")
st.markdown(
    "**Untrained attention is diffuse, not sharp.** The mean over rows of the largest weight, on this source: "
    + "; ".join(f"{name}: {value:.3f}" for name, value in ed.row_max.items())
    + ". A fresh model spreads each row almost evenly; the sharp heads in the explorer come from training."
)
c1, c2 = st.columns(2)
with c1:
    heat(ed.encoder[-1, 0], ed.source, ed.source, f"initialised, layer {ed.encoder.shape[0]}, head 1", "wt_enc_init_last")
with c2:
    heat(ed.trained_encoder[-1, 0], ed.source, ed.source, f"trained, layer {ed.encoder.shape[0]}, head 1", "wt_enc_trained")
controls.write_url()
