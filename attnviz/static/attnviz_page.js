// The page around attnviz's views, in a notebook output or a self-contained HTML file (attnviz.html_view).
//
// attnviz.html_view inlines attnviz_views.js and this file into one <script type="module">, then calls
// mountPage(host, mountView). The host holds the run's drawings, gzipped JSON in base64 made by
// attnviz.view_data (a <script type="application/octet-stream" class="attnviz-packed">); this file unpacks it
// in the browser (DecompressionStream: no network), draws pickers for the kind of attention, the layer and the
// head, shows the picked head's arcs and heatmap with mountView, and the all-heads grid, whose thumbnails pick
// a head. Every text from the data reaches the page as text (textContent) or through mountView's SVG cleaning.

async function unpack(base64) {
  const bytes = Uint8Array.from(atob(base64.trim()), c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function picker(label, options, onChange) {
  const box = el("label", "attnviz-picker", label + " ");
  const select = el("select");
  options.forEach((name, i) => select.append(Object.assign(el("option", "", name), {value: String(i)})));
  select.addEventListener("change", () => onChange(+select.value));
  box.append(select);
  return {box, select};
}

// a grid thumbnail: the head's downsampled map (one byte per cell) painted with the heatmap's colours
function paint(canvas, base64, rows, cols, rgb) {
  canvas.width = cols;
  canvas.height = rows;
  const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(cols, rows);
  bytes.forEach((v, i) => { image.data.set([...rgb[v], 255], 4 * i); });
  ctx.putImageData(image, 0, 0);
}

function grid(kind, rgb, open) {
  const box = el("div", "attnviz-grid");
  box.style.gridTemplateColumns = `repeat(${kind.heads}, minmax(0, 96px))`;
  for (let l = 0; l < kind.layers; l++) {
    for (let h = 0; h < kind.heads; h++) {
      const cell = el("button", "attnviz-thumb");
      cell.type = "button";
      cell.dataset.layer = String(l);
      cell.dataset.head = String(h);
      const canvas = el("canvas");
      paint(canvas, kind.thumbs[l][h], kind.thumb_rows, kind.thumb_cols, rgb);
      cell.append(canvas, el("span", "attnviz-thumb-name", kind.names[l][h]),
        el("span", "attnviz-thumb-pattern", kind.patterns[l][h]));
      cell.title = `Open ${kind.names[l][h]} above`;
      cell.addEventListener("click", () => open(l, h));
      box.append(cell);
    }
  }
  return box;
}

function draw(state, parts, data, mountView, host) {
  const kind = data.kinds[state.kind];
  const {layer, head} = state;
  parts.arcs.dataset.view = `${kind.key} ${layer} ${head}`;
  mountView(parts.arcs, {svg: kind.arcs[layer][head], key: `arcs-${kind.key}`}, host);
  parts.arcsNote.textContent = kind.notes[layer][head];
  if (kind.heatmaps) {
    mountView(parts.heat, {svg: kind.heatmaps[layer][head], key: `heatmap-${kind.key}`}, host);
  }
  parts.heatNote.textContent = kind.heatmap_note;
  for (const t of parts.gridBox.querySelectorAll(".attnviz-thumb")) {
    t.classList.toggle("picked", +t.dataset.layer === layer && +t.dataset.head === head);
  }
}

// the page's parts: pickers, arcs and heatmap side by side (each with its note), the grid, the page's note
function skeleton(mount, note) {
  const controls = el("div", "attnviz-controls");
  const panes = el("div", "attnviz-panes");
  const left = el("div", "attnviz-pane"), right = el("div", "attnviz-pane");
  const parts = {arcs: el("div", "attnviz-view attnviz-arc-view"), arcsNote: el("p", "attnviz-note"),
    heat: el("div", "attnviz-view attnviz-heat-view"), heatNote: el("p", "attnviz-note"), gridBox: el("div")};
  left.append(parts.arcs, parts.arcsNote);
  right.append(parts.heat, parts.heatNote);
  panes.append(left, right);
  const gridTitle = el("p", "attnviz-grid-title");
  mount.replaceChildren(controls, panes, gridTitle, parts.gridBox, el("p", "attnviz-note", note));
  return {controls, gridTitle, parts};
}

/**
 * Unpack the drawings held by host and draw the page into host's .attnviz-mount element.
 * mountView: attnviz_views.js's, inlined beside this file.
 */
export async function mountPage(host, mountView) {
  const mount = host.querySelector(".attnviz-mount");
  const nojs = host.querySelector(".attnviz-nojs");
  let data;
  try {
    data = await unpack(host.querySelector("script.attnviz-packed").textContent);
  } catch (err) {
    mount.textContent = `attnviz could not unpack this view (${err.name}); it needs a browser with `
      + "DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later).";
    return;
  }
  if (nojs) nojs.remove();
  const rgb = data.colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
  const host_ = {pins: new Map(), hidden: new Map()};
  const state = {...data.initial};
  const {controls, gridTitle, parts} = skeleton(mount, data.note);

  const rebuild = () => {
    const kind = data.kinds[state.kind];
    state.layer = Math.min(state.layer, kind.layers - 1);
    state.head = Math.min(state.head, kind.heads - (kind.overlay ? 0 : 1));
    const layers = picker("Layer", Array.from({length: kind.layers}, (_, i) => String(i + 1)), (v) => {
      state.layer = v;
      draw(state, parts, data, mountView, host_);
    });
    const headNames = Array.from({length: kind.heads}, (_, i) => String(i + 1));
    if (kind.overlay) headNames.push("all heads of the layer");  // every head overlaid, a legend to hide them
    const heads = picker("Head", headNames, (v) => {
      state.head = v;
      draw(state, parts, data, mountView, host_);
    });
    layers.select.value = String(state.layer);
    heads.select.value = String(state.head);
    layers.select.classList.add("attnviz-layer");
    heads.select.classList.add("attnviz-head");
    heads.box.hidden = kind.heads === 1;  // a measure that mixes the heads: one map per layer
    const kinds = picker("Attention", data.kinds.map(k => k.label), (v) => { state.kind = v; rebuild(); });
    kinds.select.value = String(state.kind);
    kinds.select.classList.add("attnviz-kind");
    kinds.box.hidden = data.kinds.length === 1;
    controls.replaceChildren(kinds.box, layers.box, heads.box, el("span", "attnviz-note", kind.about));
    gridTitle.textContent = kind.grid_title;
    const open = (l, h) => {
      state.layer = l;
      state.head = h;
      layers.select.value = String(l);
      heads.select.value = String(h);
      draw(state, parts, data, mountView, host_);
      controls.scrollIntoView({block: "nearest"});
    };
    const fresh = grid(kind, rgb, open);
    parts.gridBox.replaceWith(fresh);
    parts.gridBox = fresh;
    draw(state, parts, data, mountView, host_);
  };
  rebuild();
  host.dataset.ready = "1";
}
