// Page probe (see grid_click_target.js): a point of the head map that a click picks for sure. Among the points of
// head `head`'s subplot (every trace whose meta is [head, 0 | 1]: its queries and its keys, one trace per colour), the
// one farthest from every other point (in pixels), after the map is scrolled into view; its trace, index, token row
// (customdata) and pixel position (the axis _offset + l2p of its data coordinates).
(head) => {
  const gd = document.querySelector(".st-key-head_map .js-plotly-plot");
  gd.scrollIntoView({block: "start"});
  const traces = gd._fullData.filter(t => Array.isArray(t.meta) && t.meta[0] === head);
  const axis = (ref, letter) => gd._fullLayout[letter + "axis" + ref.slice(1)];
  const xa = axis(traces[0].xaxis, "x"), ya = axis(traces[0].yaxis, "y");
  const points = [];
  for (const t of traces) {
    for (let i = 0; i < t.x.length; i++) {
      points.push({trace: t.index, index: i, row: t.customdata[i], px: xa._offset + xa.l2p(t.x[i]),
        py: ya._offset + ya.l2p(t.y[i])});
    }
  }
  const inside = p => p.px > xa._offset + 4 && p.px < xa._offset + xa._length - 4 && p.py > ya._offset + 4 &&
    p.py < ya._offset + ya._length - 4;
  let best = null, bestGap = -1;
  for (const p of points.filter(inside)) {
    let gap = Infinity;
    for (const q of points) {
      if (q !== p) gap = Math.min(gap, (p.px - q.px) ** 2 + (p.py - q.py) ** 2);
    }
    if (gap > bestGap) {
      best = p;
      bestGap = gap;
    }
  }
  const box = gd.getBoundingClientRect();
  return {trace: best.trace, index: best.index, row: best.row, kind: gd._fullData[best.trace].meta[1],
    gap: Math.sqrt(bestGap), x: box.left + best.px, y: box.top + best.py};
};
