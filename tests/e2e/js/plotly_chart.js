// Page probe (see grid_click_target.js): data and layout of the plotly chart under .st-key-{key}, as the
// page holds them (each trace's type and z, the tick labels, the title); null while there is none.
(key) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd.data) return null;
  return {data: gd.data.map(t => ({type: t.type, z: t.z})),
    yticks: gd.layout.yaxis && gd.layout.yaxis.ticktext,
    xticks: gd.layout.xaxis && gd.layout.xaxis.ticktext,
    title: gd.layout.title && gd.layout.title.text};
};
