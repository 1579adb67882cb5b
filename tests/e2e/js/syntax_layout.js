// Page probe (tests/e2e/test_syntax_page.py): Heads vs. syntax as laid out: the main column, every data
// frame's box, the relation x head heatmap's box and its relation labels' boxes.
() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]').getBoundingClientRect();
  const tables = [...document.querySelectorAll('[data-testid="stDataFrame"]')].map(t => {
    const b = t.getBoundingClientRect(); return {left: b.left, right: b.right}; });
  const chart = document.querySelector('.st-key-dep_heatmap .js-plotly-plot');
  const box = chart.getBoundingClientRect();
  const labels = [...chart.querySelectorAll('.ytick text')].map(t => {
    const b = t.getBoundingClientRect(); return {text: t.textContent, left: b.left, right: b.right}; });
  return {main: {left: main.left, right: main.right}, tables, chart: {left: box.left, right: box.right}, labels,
          rows: chart.data[0].y};
}
