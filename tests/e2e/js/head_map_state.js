// Page probe (see grid_click_target.js), shared by tests/e2e/test_head_map.py and benchmarks/bench_head_map.py:
// the head map under .st-key-head_map as plotly holds it once drawn: its title, each trace's type, number of
// points and subplot, whether the layout has a colour axis, and the WebGL canvases drawn; null while there is none.
() => {
  const gd = document.querySelector(".st-key-head_map .js-plotly-plot");
  if (!gd || !gd._fullData || !gd._fullLayout) return null;
  return {
    title: gd._fullLayout.title ? gd._fullLayout.title.text : "",
    traces: gd._fullData.map(t => ({type: t.type, points: t.x ? t.x.length : 0, xaxis: t.xaxis, name: t.name})),
    coloraxis: Boolean(gd._fullLayout.coloraxis),
    canvases: gd.querySelectorAll("canvas").length,
  };
};
