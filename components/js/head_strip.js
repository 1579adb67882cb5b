// The first screen's strip: one card per head that follows one of the sentence's dependencies.
//
// Drawn from plain data (components/head_strip.py): every piece of text goes in with textContent,
// never as markup. A card shows the parse above the words (faint; its dependency dark and labelled) and the
// head's attention below them: each word's most-attended word as a blue link, and the link read for
// the dependency in green (the head's top choice is the arc's other end: a hit) or red (a miss,
// drawn to the word it does attend to most). Clicking a card sends its head back to Python.

const SVG = "http://www.w3.org/2000/svg";
const FONT = 13;       // px, the words
const GAP = 7;         // px between words
const TOP = 46;        // room for the parse arcs above the words
const BELOW = 44;      // room for the attention links below

function svg(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

function text(parent, x, y, content, cls) {
  const t = svg("text", {x, y, "text-anchor": "middle", class: cls}, parent);
  t.textContent = content;
  return t;
}

// centre x of each word, measured once the words are in the document
function layoutWords(root, words) {
  const xs = [];
  let x = GAP;
  const nodes = words.map((w, i) => {
    const node = text(root, 0, TOP + FONT, w, "word");
    node.setAttribute("data-index", i);
    return node;
  });
  nodes.forEach((node) => {
    const width = Math.max(node.getComputedTextLength ? node.getComputedTextLength() : 0, FONT * 0.6 * node.textContent.length);
    xs.push(x + width / 2);
    node.setAttribute("x", x + width / 2);
    x += width + GAP;
  });
  return {xs, width: x, nodes};
}

function curve(x1, x2, y, height, up) {
  const dy = up ? -height : height;
  return `M ${x1} ${y} C ${x1} ${y + dy}, ${x2} ${y + dy}, ${x2} ${y}`;
}

function arcHeight(x1, x2) {
  return Math.min(TOP - 16, 8 + Math.abs(x2 - x1) / 4);
}

// the whole parse, faint, and the card's dependency on top of it, labelled, with its arrowhead
function parseArcs(root, xs, card) {
  for (const [d, h] of card.parse) {
    if (d === card.dependent && h === card.head_word) continue;
    svg("path", {d: curve(xs[h], xs[d], TOP, arcHeight(xs[h], xs[d]), true), class: "parse other"}, root);
  }
  const from = xs[card.head_word], to = xs[card.dependent];
  const height = arcHeight(from, to);
  svg("path", {d: curve(from, to, TOP, height, true), class: "parse"}, root);
  svg("path", {d: `M ${to - 4} ${TOP - 7} L ${to} ${TOP - 1} L ${to + 4} ${TOP - 7}`, class: "parse"}, root);
  text(root, (from + to) / 2, TOP - height * 0.75 - 5, card.relation, "relation");
}

function attentionLinks(root, xs, card) {
  const y = TOP + FONT + 6;
  for (const [q, k, w] of card.links) {
    if (q === card.looker) continue;
    const height = Math.min(BELOW - 8, 8 + Math.abs(xs[k] - xs[q]) / 4);
    svg("path", {d: curve(xs[q], xs[k], y, height, false), class: "link", "stroke-opacity": 0.15 + 0.6 * w}, root);
  }
  const k = card.predicted;
  if (k < 0) return;
  const height = Math.min(BELOW - 8, 8 + Math.abs(xs[k] - xs[card.looker]) / 4);
  svg("path", {d: curve(xs[card.looker], xs[k], y, height, false), class: card.hit ? "link hit" : "link miss"}, root);
  svg("circle", {cx: xs[k], cy: y + 1, r: 3, class: card.hit ? "end hit" : "end miss"}, root);
}

function drawCard(card, selected) {
  const box = document.createElement("div");
  box.className = "card" + (card.key === selected ? " selected" : "");
  box.dataset.head = card.key;
  box.setAttribute("role", "button");
  box.setAttribute("tabindex", "0");
  box.title = `Show head ${card.key} in the explorer`;
  const head = document.createElement("div");
  head.className = "title";
  const strong = document.createElement("strong");
  strong.textContent = card.key;
  const badge = document.createElement("span");
  badge.className = "badge " + (card.hit ? "hit" : "miss");
  badge.textContent = card.hit ? "✓ gets it here" : "✗ misses it here";
  head.append(strong, ` follows ${card.relation} `, badge);
  const drawing = svg("svg", {class: "drawing", role: "img"});
  drawing.setAttribute("aria-label", `head ${card.key} on ${card.relation}`);
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.textContent = card.caption;
  box.append(head, drawing, caption);
  return {box, drawing};
}

function fill(drawing, card) {
  const words = [...(card.cut_left ? ["…"] : []), ...card.words, ...(card.cut_right ? ["…"] : [])];
  const {xs: all, width, nodes: allNodes} = layoutWords(drawing, words);
  const shift = card.cut_left ? 1 : 0;  // the leading "…" is not one of the card's words
  const xs = all.slice(shift, shift + card.words.length), nodes = allNodes.slice(shift, shift + card.words.length);
  nodes.forEach((n, i) => {
    if (i === card.dependent || i === card.head_word) n.classList.add("arc-end");
  });
  parseArcs(drawing, xs, card);
  attentionLinks(drawing, xs, card);
  const height = TOP + FONT + BELOW;
  drawing.setAttribute("viewBox", `0 0 ${width} ${height}`);
  drawing.setAttribute("width", width);
  drawing.setAttribute("height", height);
}

// The number of the strip each element shows (data.drawn, components/drawn.py): Streamlit calls this asynchronously,
// once per new data, and a call for an older run can come after a newer one; it is left out.
const DRAWN = new WeakMap();

export default function ({ data, parentElement, setTriggerValue }) {
  const shown = DRAWN.get(parentElement);
  if (shown !== undefined && data.drawn < shown) return;
  DRAWN.set(parentElement, data.drawn);
  let root = parentElement.querySelector(".attnviz-strip");
  if (!root) {
    root = document.createElement("div");
    root.className = "attnviz-strip";
    parentElement.appendChild(root);
  }
  root.replaceChildren();
  for (const card of data.cards) {
    const {box, drawing} = drawCard(card, data.selected);
    root.appendChild(box);
    fill(drawing, card);  // measured in place: the words need the document's font
    const open = () => setTriggerValue("open", card.key);
    box.addEventListener("click", open);
    box.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
  }
}
