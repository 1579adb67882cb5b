// Page probe (see grid_click_target.js): the traces of the plotly chart under .st-key-{key} as the page holds
// them (each one's name, x and y, as plotly_chart.js gives z: arrays or {dtype, bdata, shape}) and the tick
// labels drawn on its x axes; null while there is none.
(key) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd.data) return null;
  return {traces: gd.data.map(t => ({name: t.name, x: t.x, y: t.y})),
    xticks: [...gd.querySelectorAll(".xaxislayer-above text")].map(t => t.textContent)};
};
