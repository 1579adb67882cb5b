"""From attention to transformers: the mechanism step by step, with live numbers."""

import numpy as np
import pandas as pd
import streamlit as st

import attnviz
from attnviz import figures
from attnviz import walkthrough as wt
from components import controls, data
from components.navigation import ensure_app

ensure_app()


def table(matrix: np.ndarray, rows: list[str], prefix: str) -> pd.DataFrame:
    return pd.DataFrame(np.round(matrix, 3), index=rows, columns=[f"{prefix}{i + 1}" for i in range(matrix.shape[1])])


def heat(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, key: str) -> None:
    st.plotly_chart(figures.heatmap(matrix, rows, cols, title=title, side=220), key=key, config={"displaylogo": False},
                    width="content")


controls.seed_from_url()
controls.restore_after_page_switch()
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
    f"The score of query i and key j is their dot product, **Q Kᵀ**. With d_k dimensions the dot product "
    f"of random unit vectors has a spread of about √d_k: for d_k = {demo['d_k']} its standard deviation "
    f"is {demo['std_unscaled']:.2f}, and softmax then puts {demo['max_weight_unscaled']:.0%} of a row on one key. "
    f"Dividing by √d_k brings the spread back to {demo['std_scaled']:.2f} (max weight "
    f"{demo['max_weight_scaled']:.0%}), so gradients keep flowing. "
    + ("The look-ahead mask then sets every score above the diagonal to −∞, so softmax gives those keys exactly 0."
       if causal and not cross else "No mask: every query may look at every key.")
)
h = 0
c1, c2, c3 = st.columns(3)
with c1:
    st.markdown("**Q Kᵀ / √d_k** (head 1)" + (", masked" if causal and not cross else ""))
    st.dataframe(table(steps.masked[h], wt.WORDS, "k"), key="wt_scaled")
with c2:
    heat(steps.weights[h], wt.WORDS, source_words, "softmax (head 1)", "wt_weights")
with c3:
    st.markdown("**Weights × V = head output**")
    st.dataframe(table(steps.head_outputs[h], wt.WORDS, "o"), key="wt_head_out")
st.caption(f"Rows of the softmax sum to 1: {np.round(steps.weights[h].sum(-1), 4).tolist()}")

st.header("3. Many heads")
shapes = wt.split_example(len(wt.WORDS), int(d_model), int(num_heads))
st.markdown(
    f"Multi-head attention splits each {int(d_model)}-dim vector into {int(num_heads)} pieces of "
    f"{int(d_model) // int(num_heads)} dims: X {shapes['X']} → {shapes['split into heads']} per head, i.e. "
    f"{shapes['small vectors'][0]} vectors of {shapes['small vectors'][1]} dims. Each head attends on its own; "
    f"the head outputs are concatenated back to {shapes['concatenated']} and a final linear layer mixes them. "
    "That is why the embedding size must divide by the number of heads."
)
cols = st.columns(min(int(num_heads), 4))
for i in range(int(num_heads)):
    with cols[i % len(cols)]:
        heat(steps.weights[i], wt.WORDS, source_words, f"head {i + 1}", f"wt_head_{i}")
same = float(np.abs(steps.weights - steps.module_weights).max())
st.success(f"The step-by-step weights equal what attnviz's hooks recorded from the module "
           f"(max difference {same:.1e}); the module's output equals concat → linear "
           f"(max difference {float(np.abs(steps.output - steps.module_output).max()):.1e}).")

st.header("4. PyTorch's own modules")
st.table(pd.DataFrame([(k, str(v)) for k, v in wt.torch_shapes().items()], columns=["what", "shape"]))

st.header("5. Encoder and decoder")
st.markdown(
    "The encoder lets every token look at every other token; the decoder's self-attention uses the look-ahead "
    "mask, then cross-attends to the encoder's output. Both below come from one run of the local transformer."
)
local = data.get_model(attnviz.LOCAL_MODEL)
run = data.get_run(local, attnviz.LOCAL_MODEL, " ".join(wt.WORDS), causal)
c1, c2, c3 = st.columns(3)
with c1:
    heat(run.attention[0, 0], run.tokens, run.tokens, "encoder self-attention" + (" (masked)" if causal else ""), "wt_enc")
with c2:
    heat(run.decoder_attention[0, 0], run.tokens, run.tokens, "decoder self-attention (masked)", "wt_dec")
with c3:
    heat(run.cross_attention[0, 0], run.tokens, run.tokens, "decoder → encoder cross-attention", "wt_cross_attn")
controls.write_url()
