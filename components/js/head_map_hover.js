// The head map's hover: the token under the pointer, in its sentence, in a box beside the pointer.
//
// The head map (a plotly chart under .st-key-<data.chart>, components/head_map.py) draws no hover label of its own
// (hoverinfo "none"): its points carry only coordinates and token rows, so that 10,000 points on each of 12 heads stay
// a small message. A hover event names the trace's head and kind (its meta: [head, 0 | 1]) and the point's token (its
// customdata: the row of data's token columns); the box is filled from this component's plain data, every piece of
// text with textContent, never as markup. The chart is looked up again every 300 ms: Streamlit may draw a new one.

const KINDS = ["query", "key"];
const CONTEXT = 60;  // characters of the sentence shown on each side of the token
const GAP = 14;  // px between the pointer and the box

function tooltip() {
  const box = document.createElement("div");
  box.className = "attnviz-head-map-tip";
  Object.assign(box.style, {
    position: "fixed", zIndex: "1000", pointerEvents: "none", display: "none", maxWidth: "440px",
    background: "#fff", border: "1px solid #b8bcc6", borderRadius: "4px", padding: "6px 9px",
    font: "13px/1.45 'Source Sans Pro', sans-serif", color: "#222", boxShadow: "0 2px 8px rgba(0, 0, 0, 0.15)",
  });
  document.body.appendChild(box);
  return box;
}

function add(parent, tag, text, className) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  parent.appendChild(el);
  return el;
}

// the sentence with the token marked: [before, token, after], the sentence cut to CONTEXT characters on each side
function marked(text, start, end, token, special) {
  if (special) return ["", token, " " + (text.length > 2 * CONTEXT ? text.slice(0, 2 * CONTEXT) + "…" : text)];
  const from = Math.max(0, start - CONTEXT), to = Math.min(text.length, end + CONTEXT);
  return [(from > 0 ? "…" : "") + text.slice(from, start), text.slice(start, end),
    text.slice(end, to) + (to < text.length ? "…" : "")];
}

function fill(box, data, meta, i) {
  const t = data.tokens;
  box.replaceChildren();
  const head = add(box, "div", undefined, "head");
  add(head, "b", `${data.heads[meta[0]]} ${KINDS[meta[1]]}`);
  head.append(" · ");
  add(head, "span", t.token[i], "token");
  const [before, token, after] = marked(data.texts[t.sentence[i]] || "", t.start[i], t.end[i], t.token[i], t.special[i]);
  const sentence = add(box, "div", undefined, "sentence");
  sentence.append(before);
  const mark = add(sentence, "mark", token);
  Object.assign(mark.style, {background: "#ffe08a", fontWeight: "700", padding: "0 1px"});
  sentence.append(after);
  const tags = [t.pos[i], t.relation[i]].filter(x => typeof x === "string");
  const where = add(box, "div", `sentence ${t.sentence[i] + 1}, token ${t.position[i]}` + (tags.length ? " · " + tags.join(" · ") : ""), "where");
  where.style.color = "#666";
}

function place(box, event) {
  const x = event ? event.clientX : 0, y = event ? event.clientY : 0;
  const w = box.offsetWidth, h = box.offsetHeight;
  box.style.left = `${x + GAP + w > window.innerWidth ? Math.max(0, x - GAP - w) : x + GAP}px`;
  box.style.top = `${y + GAP + h > window.innerHeight ? Math.max(0, y - GAP - h) : y + GAP}px`;
}

export default function ({ data }) {
  const box = tooltip();
  let gd = null;
  const onHover = (e) => {
    const p = e && e.points && e.points[0];
    const meta = p && p.data && p.data.meta;
    if (!Array.isArray(meta) || typeof p.customdata !== "number" || p.customdata >= data.tokens.token.length) return;
    fill(box, data, meta, p.customdata);
    box.style.display = "block";
    place(box, e.event);
  };
  const onUnhover = () => { box.style.display = "none"; };
  const detach = () => {
    if (gd && typeof gd.removeListener === "function") {
      gd.removeListener("plotly_hover", onHover);
      gd.removeListener("plotly_unhover", onUnhover);
    }
    gd = null;
  };
  const attach = () => {
    const found = document.querySelector(`.st-key-${data.chart} .js-plotly-plot`);
    if (found === gd || !found || typeof found.on !== "function") return;
    detach();
    gd = found;
    gd.on("plotly_hover", onHover);
    gd.on("plotly_unhover", onUnhover);
  };
  attach();
  const timer = setInterval(attach, 300);
  return () => {
    clearInterval(timer);
    detach();
    box.remove();
  };
}
