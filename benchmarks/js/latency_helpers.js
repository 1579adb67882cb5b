// In-page helpers of benchmarks/bench_latency.py, defined once per page (page.evaluate(source)); the
// benchmark's end points call them at every animation frame (through call_helper.js). The arc view lives in
// a component's shadow root under .st-key-explorer_arcs; the explorer's heatmap is an SVG in the same kind of
// component (up to 64 tokens) or a plotly chart (earlier versions, longer inputs): either counts once drawn.
() => {
  const shadow = (key) => {
    const host = document.querySelector(`.st-key-${key} [data-testid="stBidiComponentIsolated"]`);
    return host && host.shadowRoot;
  };
  window.__arcs = () => {
    const root = shadow("explorer_arcs");
    if (!root) return {tokens: [], arcs: ""};
    return {tokens: [...root.querySelectorAll("text.token")].map(t => t.textContent),
      arcs: [...root.querySelectorAll("path.arc")].map(p => p.dataset.from + ">" + p.dataset.to + ":" + p.dataset.weight).join(" ")};
  };
  window.__heatmapDrawn = () => {
    const box = document.querySelector(".st-key-explorer_heatmap");
    if (!box) return false;
    const gd = box.querySelector(".js-plotly-plot");
    if (gd) return !!(box.querySelector(".main-svg") && gd.layout && gd.layout.title);
    const root = shadow("explorer_heatmap");
    return !!(root && root.querySelector("g.cells rect"));
  };
  // the first screen's strip of heads that follow the sentence's dependencies (components/head_strip.py)
  window.__stripDrawn = () => {
    const root = shadow("head_strip");
    return !!(root && root.querySelector(".card svg text.word"));
  };
  // after a click in the all-heads grid: the explorer, with its arcs and heatmap drawn
  window.__explorerDrawn = () => {
    const h = document.querySelector("h1");
    return !!h && h.innerText === "Attention explorer" && window.__arcs().tokens.length > 0 && window.__heatmapDrawn();
  };
  // the arc view shows the token w (the default sentence's "snow": its first run is drawn)
  window.__showsToken = (w) => window.__arcs().tokens.includes(w);
  // the arcs are no longer those read before (a new head's weights)
  window.__arcsChanged = (old) => { const a = window.__arcs().arcs; return a && a !== old; };
  // a new 20-word sentence with the word w is drawn
  window.__showsSentence = (w) => { const t = window.__arcs().tokens; return t.includes(w) && t.length >= 20; };
};
