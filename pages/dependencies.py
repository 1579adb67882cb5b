"""Heads vs. syntax: the sentence's dependency tree next to a head's attention, and corpus scores."""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

import attnviz
from attnviz import figures
from attnviz.conllu_io import read_conllu
from attnviz.errors import CoNLLUError, ParserUnavailableError
from attnviz.head_scores import DIRECTIONS
from attnviz.labels import head_label
from attnviz.measures import MeasureUnavailableError
from attnviz.parsing import load_sample
from attnviz.scoring import score_heads
from attnviz.sentence_scores import best_heads, relations_table, sentence_hits
from attnviz.toygrammar.grammar import EVAL_SEED, held_out_corpus
from attnviz.tree import Sentence
from components import controls, data, heavy, hosting
from components.arcs import arc_view
from components.charts import chart
from components.downloads import export_buttons, file_stem
from components.measures import file_tag, mixes_heads, name, noun, value_label
from components.navigation import ensure_app

ensure_app()

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def arrows(x):
    """attnviz's plain "->" shown as "→", the arrow used everywhere in the app (text or a table's cells and headers)."""
    if isinstance(x, pd.DataFrame):
        return x.rename(columns=arrows).replace(r"->", "→", regex=True)
    return str(x).replace("->", "→")

view = controls.sidebar()
s = view.state
st.title("Heads vs. syntax")
st.caption("Do heads follow grammar? Each dependency arc links a word to its syntactic head; a head "
           "*tracks* a relation when the word it attends to most is the other end of the arc "
           "(Clark et al. 2019, “What Does BERT Look At?”). Layers and heads are 1-based: 3-1 = layer 3, head 1.")
text = controls.sentence_box()
#: The measure heads are scored on: attention weights or value-weighted attention. Rollout and flow mix
#: the heads (one map per layer), so there is no head of theirs to score: the weights are scored instead.
measure = s.measure
if mixes_heads(measure):
    st.info(f"Heads vs. syntax scores single heads, and {noun(measure)} mixes every head of the layers: scoring "
            "attention weights instead. Value-weighted attention scores single heads too.", icon=":material/info:")
    measure = "attention"
NAMED = f" ({name(measure)})" if name(measure) else ""


def edited_tree(parsed: Sentence) -> Sentence:
    """The parse, as corrected by the person in the table (1-based heads, 0 = root)."""
    table = pd.DataFrame({
        "word": parsed.words,
        "head": [h + 1 for h in parsed.syntactic_heads],
        "relation": parsed.relations,
    }, index=pd.RangeIndex(1, len(parsed.words) + 1, name="#"))
    with st.expander("Correct the parse (the small parser gets some attachments wrong)"):
        edited = st.data_editor(
            table, key=f"tree_{hashlib.sha1(parsed.text.encode()).hexdigest()[:12]}", disabled=["word"],
            num_rows="fixed", width="stretch",
            column_config={"head": st.column_config.NumberColumn("head (#, 0 = root)", min_value=0,
                                                                 max_value=len(parsed.words), step=1)},
        )
    heads = [int(h) - 1 if pd.notna(h) else -1 for h in edited["head"]]
    relations = [str(r).strip() or "dep" for r in edited["relation"]]
    try:
        tree = Sentence(words=parsed.words, syntactic_heads=heads, relations=relations, text=parsed.text,
                        offsets=parsed.offsets, pos=parsed.pos, meta=parsed.meta)
        # self-heads and cycles always; exactly one root unless the parser found several sentences
        return tree.validate(single_root=sum(h < 0 for h in parsed.syntactic_heads) <= 1)
    except ValueError as exc:
        st.error(controls.literal(f"That correction is not a valid tree: {exc}. Using the parser's tree."))
        return parsed


def sentence_section(run: attnviz.Run) -> None:
    try:
        parser = data.get_parser()
        parsed = data.get_parse(text)
    except ParserUnavailableError as exc:
        st.error(controls.literal(str(exc)))
        return
    except attnviz.EmptyInputError as exc:
        st.info(str(exc))
        return
    st.caption(f"Parsed by {parser.label}.")
    tree = edited_tree(parsed)
    hits = sentence_hits(run, tree)  # every arc against every head, once for this rerun
    alignment_words = tree.words
    n = len(alignment_words)
    syntax = np.zeros((n, n), dtype=np.float32)
    labels = {}
    for d, h, rel in tree.arcs:
        syntax[d, h] = 1.0
        labels[(d, h)] = rel
    st.subheader("Dependency tree")
    arc_view(figures.arcs_svg(alignment_words, syntax, labels=labels, title="dependent → syntactic head").svg, key="dep_syntax")

    units = hits.alignment.attention(run.attention[s.layer - 1, s.head - 1])  # [units, units]
    word_of_unit = [ws[0] for ws in hits.alignment.units]
    head_view = np.zeros((n, n), dtype=np.float32)
    if word_of_unit:
        idx = np.asarray(word_of_unit)
        head_view[np.ix_(idx, idx)] = units
        np.fill_diagonal(head_view, 0.0)
    found = hits.found(s.layer - 1, s.head - 1)
    to_head = int(hits.hits[:, s.layer - 1, s.head - 1, 0].sum())
    label = head_label(s.layer - 1, s.head - 1)
    st.subheader(f"Head {label}: where each word looks most{NAMED}")
    arc_view(figures.arcs_svg(alignment_words, head_view, top_k=1, highlight=found,
                              title=f"head {label}{NAMED}: most-attended word (red: a syntactic arc, either way)").svg,
             key="dep_head")
    st.caption(f"In head {label}, {to_head} of {len(tree.arcs)} words attend most to their syntactic "
               f"head (dependent→head), and {len(found) - to_head} words attend most to one of their own dependents "
               "(head→dependent).")

    st.subheader(f"Which heads track each arc{NAMED}")
    best = best_heads(hits, top=3)
    if not best.empty:
        lines = [f"**{rel}**: " + ", ".join(f"{r['head']} ({arrows(r['direction'])}, {r['predicted']}/{r['arcs']})"
                                           for _, r in group.iterrows())
                 for rel, group in best.groupby("relation", sort=False)]
        st.markdown("Best heads for this sentence — " + " · ".join(lines))
    relations = relations_table(hits)
    st.dataframe(arrows(relations.assign(dependent=relations["dependent"] + 1, head=relations["head"] + 1)),  # 1-based, as above
                 key="dep_relations", hide_index=True, width="content", height="content",
                 column_config={"dependent": st.column_config.NumberColumn("#", help="word position, 1-based"),
                                "head": st.column_config.NumberColumn("head #", help="its syntactic head, 1-based")})


def corpus_section() -> None:
    st.header("Over a corpus")
    source = st.radio("Trees", ["Built-in sample (parsed by spaCy)", "Upload a CoNLL-U file (gold trees)",
                                "Generated corpus (the toy grammar's own trees, no parser)"],
                      key="dep_source", horizontal=True,
                      help="The generated corpus suits the local transformer trained on the toy grammar: "
                           "its trees are known by construction.")
    if source.startswith("Generated"):
        sentences = held_out_corpus(500)
        digest, name = f"toy-{EVAL_SEED}", "the generated corpus"
    elif source.startswith("Upload"):
        limit_mb = MAX_UPLOAD_BYTES // 2**20
        upload = st.file_uploader(f"CoNLL-U file (at most {limit_mb} MB)", type=["conllu", "conll", "txt"],
                                  key="dep_upload", help="Universal Dependencies format: gold trees, one word per line.")
        if upload is None:
            st.info(f"Upload a .conllu file of at most {limit_mb} MB, e.g. a UD treebank's dev split. "
                    "A larger file is refused by the uploader (a red mark on the file; hover it for the reason).")
            return
        parsed = heavy.parsed_upload(upload, lambda raw: read_conllu(raw, max_bytes=MAX_UPLOAD_BYTES), (CoNLLUError,))
        if parsed.error:
            st.error(controls.literal(parsed.error))
            return
        sentences, digest, name = parsed.value, parsed.digest, parsed.name
    else:
        try:
            sentences = load_sample(data.get_parser())
        except ParserUnavailableError as exc:
            st.error(controls.literal(str(exc)))
            return
        digest, name = "sample", "built-in sample"
    hosted = controls.settings().hosted
    most = min(len(sentences), hosting.HOSTED_MAX_SENTENCES) if hosted else len(sentences)
    limit = st.slider("Sentences", 1, most, min(most, 300), key="dep_limit")
    if most < len(sentences):
        st.caption(f"This shared app scores at most {hosting.HOSTED_MAX_SENTENCES} sentences per request, each cut to "
                   f"{hosting.HOSTED_MAX_TOKENS} tokens ({len(sentences):,} in {controls.literal(name)}).")
    key = (s.model, digest, limit, hosted, measure)
    results = st.session_state.setdefault("_dep_scores", {})
    heavy.collect("_dep_job", results)
    if key not in results:
        model, chosen = view.model, sentences[:limit]
        max_tokens = hosting.HOSTED_MAX_TOKENS if hosted else None
        on = measure
        scores = heavy.queued(
            "_dep_job", key, f"Scoring {limit} sentences of {name}{NAMED}",
            lambda progress: score_heads(model, chosen, batch_size=16, progress=progress, max_tokens=max_tokens, measure=on),
            start=lambda: st.button(f"Score all heads on {limit} sentences of {name}{NAMED}", key="dep_run", type="primary"),
            shared=source is not None and not source.startswith("Upload"))
        if scores is None:
            return
        while len(results) >= 4:  # keep the last few results of this session
            results.pop(next(iter(results)))
        results[key] = scores
    scores = results[key]
    st.caption((f"Scored on {noun(measure)}: a head predicts the word with the largest {value_label(measure)}. "
                if name(measure) else "")
               + f"{scores.n_sentences} sentences, {scores.n_words} words, {scores.n_arcs} arcs; "
               f"{scores.meta['seconds']:.1f} s ({scores.n_words / max(scores.meta['seconds'], 1e-9):.0f} words/s).")
    table = scores.table(min_count=5)
    if table.empty:  # a small file: show what there is rather than nothing
        table = scores.table(min_count=1)
        st.warning("Every relation has fewer than 5 arcs in these sentences, so all are shown; "
                   "accuracies over so few arcs say little. Score more sentences for a stable table.")
    st.dataframe(arrows(table), key="dep_table", hide_index=True,  # every accuracy with 3 decimals (0.790, not 0.79)
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in table.select_dtypes("float").columns})
    st.download_button("Table as CSV", scores.to_csv(min_count=1).encode("utf-8"),
                       file_name=file_stem(s.model.split("/")[-1], "heads-vs-relations", file_tag(measure)) + ".csv", mime="text/csv",
                       key="dep_csv", on_click="ignore", icon=":material/table:")
    shown = [r for r in scores.relations if r in set(table["relation"])]
    rows = [scores.relations.index(r) for r in shown]

    def heat():
        return figures.score_heatmap(scores.matrix()[rows], shown, scores.head_labels,
                                     title=f"{s.model.split('/')[-1]}: accuracy per relation and head{NAMED} (better direction)",
                                     counts=scores.counts[rows])

    event = chart(figures.clickable_cells(heat()), key="dep_heatmap", width="content", on_select="rerun",
                  selection_mode="points")
    cell = next((p["customdata"][0] for p in (event.selection.points if event else []) if p.get("customdata")), None)
    if cell and st.session_state.get("_dep_cell") != cell:  # a cell shows its head above (once per click)
        st.session_state["_dep_cell"] = cell
        layer, head = (int(x) for x in cell.split("-"))
        st.session_state["_pending"] = {"layer": layer, "head": head, "all_heads": False}
        st.rerun()
    export_buttons(heat, file_stem(s.model.split("/")[-1], "heads-vs-relations", file_tag(measure)), key="dep_heat")
    st.caption("Click a cell to show that head in the sentence view above. "
               f"Directions: {arrows(DIRECTIONS[0])} (the dependent attends most to its head) and {arrows(DIRECTIONS[1])}.")


run = controls.captured(view, text) if text.strip() else None
if run is not None:
    try:  # scored at token level (alignment maps tokens to the parser's words); value-weighted from the same run
        token_run = data.get_measured(view.model, s.model, text, s.causal, measure)
    except MeasureUnavailableError as exc:
        controls.unavailable(exc)
        measure, NAMED = "attention", ""
        token_run = data.get_run(view.model, s.model, text, s.causal)
    sentence_section(token_run)
corpus_section()
controls.write_url()
