// The head map benchmark's end point (benchmarks/bench_head_map.py): true once the head map is drawn again on a new
// corpus, that is when the first point of its first trace is no longer `oldX` and the page's caption names `count`
// sentences; the caption's "Recorded in N s" is then the corpus pass's own time.
([oldX, count]) => {
  const gd = document.querySelector(".st-key-head_map .js-plotly-plot");
  if (!gd || !gd._fullData || !gd._fullData.length || !gd.querySelector("canvas")) return false;
  const caption = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].find(
    c => c.innerText.startsWith(`${count} sentences of`));
  return Boolean(caption) && gd._fullData[0].x[0] !== oldX;
};
