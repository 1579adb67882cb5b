"""The arc view and the heatmap view: attnviz's SVGs in a small custom component.

The SVG comes from ``attnviz.figures.arcs_svg`` or ``heatmap_svg`` (token text escaped
there). The component parses it as XML (never as HTML), drops anything that is not plain
SVG drawing (no scripts, no event-handler attributes), and adds behaviour. Heatmap: hovering
a cell writes its query, key and value under the drawing and marks the two tokens. Arcs:

- hovering a token shows only its links: outgoing (where it looks) in orange, incoming
  (who looks at it) in blue; a click pins it. The pin is kept per view (``key``) in the
  page and survives reruns: a new head, layer, model option or sentence finds the same
  token again (same text, nearest position) and isolates it there;
- hovering an arc writes its tokens and weight under the drawing;
- clicking a legend entry of "all heads of the layer" hides or shows that head;
- the drawing always fits its column's width (never a horizontal scroll bar); the
  two-column layout scrolls vertically inside a box at most 640 px high.
"""

from __future__ import annotations

import streamlit as st

OUT_COLOUR, IN_COLOUR = "#e6550d", "#3182bd"

_CSS = f"""
.attnviz-arcs {{ overflow-x: hidden; overflow-y: hidden; padding-bottom: 4px; }}
.attnviz-arcs.columns {{ max-height: 640px; overflow-y: auto; }}
.attnviz-arcs svg {{ display: block; max-width: 100%; height: auto; }}
.attnviz-arcs text.token, .attnviz-arcs text.key-token {{ cursor: pointer; }}
.attnviz-arcs text.active {{ font-weight: 700; fill: #d62728; }}
.attnviz-arcs text.pinned {{ text-decoration: underline; }}
.attnviz-arcs path.arc {{ transition: opacity 120ms; }}
.attnviz-arcs path.arc.dim {{ opacity: 0.04; }}
.attnviz-arcs path.arc.out {{ stroke: {OUT_COLOUR}; stroke-opacity: 0.9; }}
.attnviz-arcs path.arc.in {{ stroke: {IN_COLOUR}; stroke-opacity: 0.9; }}
.attnviz-arcs g.legend {{ cursor: pointer; }}
.attnviz-arcs g.legend.off {{ opacity: 0.3; }}
.attnviz-arcs text.row.active, .attnviz-arcs text.col.active {{ font-weight: 700; fill: #d62728; }}
.attnviz-arcs g.cells rect.active {{ stroke: #d62728; stroke-width: 2; }}
.attnviz-key {{ font: 12px sans-serif; color: #555; margin: 4px 0 0 0; }}
.attnviz-key .out {{ color: {OUT_COLOUR}; font-weight: 600; }}
.attnviz-key .in {{ color: {IN_COLOUR}; font-weight: 600; }}
.attnviz-readout {{ font: 12px sans-serif; color: #222; min-height: 1.3em; margin: 2px 0 0 0; }}
"""

_JS = """
const ALLOWED = new Set(["svg", "g", "path", "text", "tspan", "title", "desc", "rect", "line",
                         "circle", "ellipse", "polyline", "polygon", "defs", "marker"]);
const PINS = new Map();    // view key -> {index, text}: the pinned token, kept across reruns
const HIDDEN = new Map();  // view key -> Set of hidden heads (legend toggles)

function clean(node) {
  for (const el of Array.from(node.querySelectorAll("*"))) {
    if (!ALLOWED.has(el.localName)) { el.remove(); continue; }
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on") || name.includes("href")) el.removeAttribute(attr.name);
    }
  }
}

function span(cls, text) {
  const s = document.createElement("span");
  if (cls) s.className = cls;
  s.textContent = text;
  return s;
}

// a heatmap: the cell under the pointer (found from its x, y) named under the drawing, its tokens marked
function heatmap(shown, cells, keyLine, readout) {
  keyLine.replaceChildren(span("", "Rows: the token attending (query); columns: the token attended to (key). "
    + "Hover a cell for its value."));
  const g = cells.dataset, x0 = +g.x0, y0 = +g.y0, cell = +g.cell;
  const rows = Array.from(shown.querySelectorAll("text.row")), cols = Array.from(shown.querySelectorAll("text.col"));
  let marked = [];
  const mark = (els) => { for (const el of marked) el.classList.remove("active"); marked = els;
                          for (const el of els) el.classList.add("active"); };
  cells.addEventListener("mouseover", (event) => {
    const rect = event.target;
    if (rect.localName !== "rect") return;
    const q = Math.round((+rect.getAttribute("y") - y0) / cell), k = Math.round((+rect.getAttribute("x") - x0) / cell);
    if (!rows[q] || !cols[k]) return;
    mark([rows[q], cols[k], rect]);
    readout.textContent = `query ${rows[q].textContent} (#${q}) → key ${cols[k].textContent} (#${k}): `
      + (+rect.dataset.w).toFixed(4);
  });
  cells.addEventListener("mouseleave", () => { mark([]); readout.textContent = ""; });
}

export default function ({ data, parentElement }) {
  const key = data.key || "arcs";
  let root = parentElement.querySelector(".attnviz-arcs");
  let keyLine = parentElement.querySelector(".attnviz-key");
  let readout = parentElement.querySelector(".attnviz-readout");
  if (!root) {
    root = document.createElement("div");
    root.className = "attnviz-arcs";
    keyLine = document.createElement("p");
    keyLine.className = "attnviz-key";
    readout = document.createElement("p");
    readout.className = "attnviz-readout";
    parentElement.append(root, keyLine, readout);
  }
  const parsed = new DOMParser().parseFromString(data.svg, "image/svg+xml");
  const svg = parsed.documentElement;
  if (svg.localName !== "svg" || parsed.querySelector("parsererror")) {
    root.textContent = "The arc view could not be drawn.";
    return;
  }
  clean(svg);
  const shown = document.importNode(svg, true);
  root.replaceChildren(shown);
  root.classList.toggle("columns", shown.dataset.layout === "columns");
  // Always as wide as the column at most: a wider drawing shrinks (max-width: 100% in the CSS).
  const natural = parseFloat(shown.getAttribute("width")) || 0;
  shown.style.width = natural ? `min(100%, ${natural}px)` : "";
  readout.textContent = "";
  const cells = shown.querySelector("g.cells");
  if (cells) { heatmap(shown, cells, keyLine, readout); return; }
  keyLine.replaceChildren(
    span("", "The arrow points to the token attended to. Hover a token: "), span("out", "orange"),
    span("", " = where it looks, "), span("in", "blue"), span("", " = who looks at it. Click a token to pin it."
      + (shown.querySelector("g.legend") ? " Click a head in the legend to hide or show it." : "")));

  const tokens = Array.from(root.querySelectorAll("text.token"));
  const keyTokens = Array.from(root.querySelectorAll("text.key-token"));
  const arcs = Array.from(root.querySelectorAll("path.arc"));
  const words = tokens.map(t => t.textContent);

  const show = (index) => {
    for (const arc of arcs) {
      const out = index !== null && arc.dataset.from === index;
      const inc = index !== null && arc.dataset.to === index && !out;
      arc.classList.toggle("out", out);
      arc.classList.toggle("in", inc);
      arc.classList.toggle("dim", index !== null && !out && !inc);
    }
    for (const tok of [...tokens, ...keyTokens]) tok.classList.toggle("active", tok.dataset.index === index);
    if (index !== null) {
      const i = +index;
      const outs = arcs.filter(a => a.dataset.from === index).length;
      const ins = arcs.filter(a => a.dataset.to === index && a.dataset.from !== index).length;
      readout.textContent = `${words[i]} (#${i}): ${outs} outgoing, ${ins} incoming link${ins === 1 ? "" : "s"} drawn`;
    } else {
      readout.textContent = "";
    }
  };

  // the pin of this view, found again in the new drawing: same text, nearest position
  let pinned = null;
  const pin = PINS.get(key);
  if (pin) {
    let best = null;
    words.forEach((w, i) => {
      if (w === pin.text && (best === null || Math.abs(i - pin.index) < Math.abs(best - pin.index))) best = i;
    });
    if (best === null && pin.index < words.length) best = pin.index;
    pinned = best === null ? null : String(best);
  }
  const mark = () => { for (const t of tokens) t.classList.toggle("pinned", t.dataset.index === pinned); };
  mark();
  show(pinned);

  for (const tok of [...tokens, ...keyTokens]) {
    tok.addEventListener("mouseenter", () => { if (pinned === null) show(tok.dataset.index); });
    tok.addEventListener("mouseleave", () => { if (pinned === null) show(null); });
    tok.addEventListener("click", () => {
      pinned = pinned === tok.dataset.index ? null : tok.dataset.index;
      if (pinned === null) PINS.delete(key); else PINS.set(key, {index: +pinned, text: words[+pinned]});
      mark();
      show(pinned);
    });
  }
  for (const arc of arcs) {
    arc.addEventListener("mouseenter", () => {
      const q = +arc.dataset.from, k = +arc.dataset.to;
      readout.textContent = `${words[q]} (#${q}) → ${words[k]} (#${k}): ${(+arc.dataset.weight).toFixed(3)}`;
    });
  }

  // legend entries hide and show heads
  const hidden = HIDDEN.get(key) || new Set();
  HIDDEN.set(key, hidden);
  const applyHidden = () => {
    for (const g of root.querySelectorAll("g.head")) g.style.display = hidden.has(g.dataset.head) ? "none" : "";
    for (const g of root.querySelectorAll("g.legend")) g.classList.toggle("off", hidden.has(g.dataset.head));
  };
  for (const g of root.querySelectorAll("g.legend")) {
    g.addEventListener("click", () => {
      if (hidden.has(g.dataset.head)) hidden.delete(g.dataset.head); else hidden.add(g.dataset.head);
      applyHidden();
    });
  }
  applyHidden();

  // after a head was picked lower down the page, bring the drawing into view (once per pick)
  if (data.scroll && root.dataset.scrolled !== String(data.scroll)) {
    root.dataset.scrolled = String(data.scroll);
    const host = parentElement.getRootNode().host || root;
    const target = host.closest ? (host.closest('[data-testid="stVerticalBlock"]') || host) : host;
    const bring = () => target.scrollIntoView({block: "start", behavior: "auto"});
    requestAnimationFrame(bring);
    setTimeout(bring, 400);  // again once Streamlit has laid out the rest of the rerun
  }
}
"""

_mount = st.components.v2.component("attnviz.arcs", css=_CSS, js=_JS)


def heatmap_view(svg: str, key: str) -> None:
    """Show a heatmap SVG (from ``attnviz.figures.heatmap_svg``); hovering a cell names it and its value."""
    _mount(data={"svg": svg, "key": key, "scroll": 0}, key=key)


def arc_view(svg: str, key: str, scroll: int = 0) -> None:
    """Show an arcs SVG (from ``attnviz.figures.arcs_svg``) with hover/click isolation.

    ``scroll``: a new number brings the drawing into view (e.g. after a head was picked below it).
    """
    _mount(data={"svg": svg, "key": key, "scroll": scroll}, key=key)
