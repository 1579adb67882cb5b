// The head map benchmark's end point (benchmarks/bench_head_map.py): click the "Colour by" button labelled `label`,
// then check at every animation frame until the head map is drawn again with `label` in its title; the seconds.
(label) => new Promise((resolve) => {
  const button = [...document.querySelectorAll(".st-key-map_colour button")].find(b => b.textContent.trim() === label);
  const t0 = performance.now();
  button.click();
  const check = () => {
    const gd = document.querySelector(".st-key-head_map .js-plotly-plot");
    const title = gd && gd._fullLayout && gd._fullLayout.title ? gd._fullLayout.title.text : "";
    if (title.includes(label) && gd.querySelector("canvas")) resolve((performance.now() - t0) / 1000);
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
});
