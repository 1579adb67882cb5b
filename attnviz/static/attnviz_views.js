// attnviz's arc and heatmap views: an SVG from attnviz.figures (arcs_svg or heatmap_svg), made safe and interactive.
//
// The core, mountView(parentElement, data, host), needs only a browser DOM: the Streamlit component
// (components/arcs.py) calls it through the default export at the end of this file; notebook outputs and
// HTML files (attnviz.html_view) inline this file with attnviz_page.js, which calls it the same way. The SVG is parsed as XML, never as HTML;
// anything that is not plain SVG drawing is dropped (other elements, on* and href attributes), and token
// text only ever reaches the page as text nodes. Styles: attnviz_views.css.

const ALLOWED = new Set(["svg", "g", "path", "text", "tspan", "title", "desc", "rect", "line",
  "circle", "ellipse", "polyline", "polygon", "defs", "marker"]);
const PINS = new Map();    // view key -> {index, text}: the pinned token, kept across redraws
const HIDDEN = new Map();  // view key -> Set of hidden heads (legend toggles)

// drop every element that is not plain SVG drawing, and every event-handler or link attribute
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

// the view's three parts under parentElement, made on the first draw and reused by every later one
function frame(parentElement) {
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
  return {root, keyLine, readout};
}

// the SVG text parsed as XML and cleaned, or null when it is not an SVG document
function parseSvg(text) {
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = parsed.documentElement;
  if (svg.localName !== "svg" || parsed.querySelector("parsererror")) return null;
  clean(svg);
  return svg;
}

// a heatmap: the cell under the pointer (found from its x, y) named under the drawing, its tokens marked
function heatmap(shown, cells, keyLine, readout) {
  keyLine.replaceChildren(span("", "Rows: the token attending (query); columns: the token attended to (key). "
    + "Hover a cell for its value."));
  const g = cells.dataset, x0 = +g.x0, y0 = +g.y0, cell = +g.cell;
  const rows = Array.from(shown.querySelectorAll("text.row")), cols = Array.from(shown.querySelectorAll("text.col"));
  let marked = [];
  const mark = (els) => {
    for (const el of marked) el.classList.remove("active");
    marked = els;
    for (const el of els) el.classList.add("active");
  };
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

// the pinned token of a view, found again in a new drawing: same text, nearest position (a string index, or null)
function findPin(words, pin) {
  if (!pin) return null;
  let best = null;
  words.forEach((w, i) => {
    if (w === pin.text && (best === null || Math.abs(i - pin.index) < Math.abs(best - pin.index))) best = i;
  });
  if (best === null && pin.index < words.length) best = pin.index;
  return best === null ? null : String(best);
}

// arcs: hovering a token shows only its links (outgoing orange, incoming blue), a click pins it,
// hovering an arc names its tokens and weight. A token's data-index is its position ("3"), or on a
// cross-attention drawing its row and position ("s3", "t1", with data-position="3")
function arcs(root, readout, key, pins) {
  const tokens = Array.from(root.querySelectorAll("text.token"));
  const keyTokens = Array.from(root.querySelectorAll("text.key-token"));
  const paths = Array.from(root.querySelectorAll("path.arc"));
  const words = tokens.map(t => t.textContent);
  const ids = tokens.map(t => t.dataset.index);
  const named = new Map(tokens.map(t => [t.dataset.index, `${t.textContent} (#${t.dataset.position ?? t.dataset.index})`]));

  const show = (index) => {
    for (const arc of paths) {
      const out = index !== null && arc.dataset.from === index;
      const inc = index !== null && arc.dataset.to === index && !out;
      arc.classList.toggle("out", out);
      arc.classList.toggle("in", inc);
      arc.classList.toggle("dim", index !== null && !out && !inc);
    }
    for (const tok of [...tokens, ...keyTokens]) tok.classList.toggle("active", tok.dataset.index === index);
    if (index !== null) {
      const outs = paths.filter(a => a.dataset.from === index).length;
      const ins = paths.filter(a => a.dataset.to === index && a.dataset.from !== index).length;
      readout.textContent = `${named.get(index)}: ${outs} outgoing, ${ins} incoming link${ins === 1 ? "" : "s"} drawn`;
    } else {
      readout.textContent = "";
    }
  };

  const found = findPin(words, pins.get(key));
  let pinned = found === null ? null : ids[+found];
  const mark = () => { for (const t of tokens) t.classList.toggle("pinned", t.dataset.index === pinned); };
  mark();
  show(pinned);

  for (const tok of [...tokens, ...keyTokens]) {
    tok.addEventListener("mouseenter", () => { if (pinned === null) show(tok.dataset.index); });
    tok.addEventListener("mouseleave", () => { if (pinned === null) show(null); });
    tok.addEventListener("click", () => {
      pinned = pinned === tok.dataset.index ? null : tok.dataset.index;
      const i = ids.indexOf(pinned);
      if (pinned === null) pins.delete(key); else pins.set(key, {index: i, text: words[i]});
      mark();
      show(pinned);
    });
  }
  for (const arc of paths) {
    arc.addEventListener("mouseenter", () => {
      readout.textContent = `${named.get(arc.dataset.from)} → ${named.get(arc.dataset.to)}: ${(+arc.dataset.weight).toFixed(3)}`;
    });
  }
}

// legend entries of "all heads of the layer" hide and show their head; the hidden heads are kept per view
function legend(root, key, hiddenByView) {
  const hidden = hiddenByView.get(key) || new Set();
  hiddenByView.set(key, hidden);
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
}

function arcKey(keyLine, hasLegend) {
  keyLine.replaceChildren(
    span("", "The arrow points to the token attended to. Hover a token: "), span("out", "orange"),
    span("", " = where it looks, "), span("in", "blue"), span("", " = who looks at it. Click a token to pin it."
      + (hasLegend ? " Click a head in the legend to hide or show it." : "")));
}

/**
 * Draw an attnviz SVG into parentElement (an element or a shadow root), or redraw it there.
 *
 * data: {svg: the SVG text, key: the view's name (its pin and hidden heads are kept under it, across redraws)}.
 * host: optional {pins, hidden}, Maps that keep that per-view state (default: shared by every view of the page).
 * Returns the drawing's box (div.attnviz-arcs), or null when the text is not an SVG (a notice is shown instead).
 */
export function mountView(parentElement, data, host = {}) {
  const key = data.key || "arcs";
  const {root, keyLine, readout} = frame(parentElement);
  const svg = parseSvg(data.svg);
  if (!svg) {
    root.textContent = "The arc view could not be drawn.";
    return null;
  }
  const shown = document.importNode(svg, true);
  root.replaceChildren(shown);
  root.classList.toggle("columns", shown.dataset.layout === "columns");
  // Always as wide as the column at most: a wider drawing shrinks (max-width: 100% in the CSS).
  const natural = parseFloat(shown.getAttribute("width")) || 0;
  shown.style.width = natural ? `min(100%, ${natural}px)` : "";
  readout.textContent = "";
  const cells = shown.querySelector("g.cells");
  if (cells) {
    heatmap(shown, cells, keyLine, readout);
    return root;
  }
  arcKey(keyLine, shown.querySelector("g.legend") !== null);
  arcs(root, readout, key, host.pins || PINS);
  legend(root, key, host.hidden || HIDDEN);
  return root;
}

// Streamlit only: after a head was picked lower down the page, bring the drawing's block into view (once per pick)
function scrollIntoViewOnce(parentElement, root, scroll) {
  if (!scroll || root.dataset.scrolled === String(scroll)) return;
  root.dataset.scrolled = String(scroll);
  const host = parentElement.getRootNode().host || root;
  const target = host.closest ? (host.closest('[data-testid="stVerticalBlock"]') || host) : host;
  const bring = () => target.scrollIntoView({block: "start", behavior: "auto"});
  requestAnimationFrame(bring);
  setTimeout(bring, 400);  // again once Streamlit has laid out the rest of the rerun
}

// The number of the drawing each Streamlit component's element shows (data.drawn, growing with every new drawing)
const DRAWN = new WeakMap();

// The Streamlit component (st.components.v2): data = {svg, key, scroll, drawn}, drawn on every rerun. Streamlit
// calls this asynchronously, once per new data, and a call for an older run can come after a newer one: it is
// left out, so the newest drawing stays.
export default function ({data, parentElement}) {
  const shown = DRAWN.get(parentElement);
  if (shown !== undefined && data.drawn < shown) return;
  DRAWN.set(parentElement, data.drawn);
  const root = mountView(parentElement, data);
  if (root) scrollIntoViewOnce(parentElement, root, data.scroll);
}
