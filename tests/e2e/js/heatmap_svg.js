// Page probe (see grid_click_target.js): an SVG heatmap (attnviz.figures.heatmap_svg, drawn by the
// component inside its shadow root under .st-key-{key}) as drawn: its cells' values, row labels and
// title; null while there is none.
(key) => {
  const host = document.querySelector(`.st-key-${key} [data-testid="stBidiComponentIsolated"]`);
  const root = host && host.shadowRoot, g = root && root.querySelector("g.cells");
  if (!g) return null;
  return {rows: +g.dataset.rows, cols: +g.dataset.cols, w: [...g.querySelectorAll("rect")].map(r => r.dataset.w),
    labels: [...root.querySelectorAll("text.row")].map(t => t.textContent),
    title: (root.querySelector("text.title") || {}).textContent || ""};
};
