// Page probe, shared by tests/e2e and benchmarks/bench_latency.py: each file here is one function
// expression, read as text and passed to playwright's page.evaluate(source, arg).
//
// The click target of trace idx of the all-heads grid (an invisible scatter point over a thumbnail):
// scrolled into view, as a person scrolls to it, then its pixel position from the plotly axes of its
// subplot (the axis _offset + c2p of the point's data coordinates).
(idx) => {
  const gd = document.querySelector(".st-key-heads_grid .js-plotly-plot");
  const t = gd._fullData[idx];
  const axis = (ref, letter) => gd._fullLayout[letter + "axis" + ref.slice(1)];
  const g = [...gd.querySelectorAll("g.trace.scatter")].find(n => n.__data__ && n.__data__[0] && n.__data__[0].trace.index === idx);
  if (g) g.scrollIntoView({block: "center", inline: "center"});
  const xa = axis(t.xaxis, "x"), ya = axis(t.yaxis, "y");
  const box = gd.getBoundingClientRect();
  return {type: t.type, customdata: t.customdata[0], x: box.left + xa._offset + xa.c2p(t.x[0]),
    y: box.top + ya._offset + ya.c2p(t.y[0]), hovertemplate: t.hovertemplate};
};
