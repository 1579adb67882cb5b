// The head map benchmark (benchmarks/bench_head_map.py): Plotly.newPlot of a figure's JSON into the blank page's
// div #g; the milliseconds until plotly's promise resolves (the figure drawn).
async (json) => {
  const fig = JSON.parse(json);
  const t0 = performance.now();
  await window.Plotly.newPlot("g", fig.data, fig.layout);
  return performance.now() - t0;
};
